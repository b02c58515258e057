/**
 * Streams an upload into R2 without holding more than one part in memory, sniffing the container from the first
 * bytes before anything is written and sealing every part with the tenant's envelope (src/domain/envelope.ts).
 * Every failure path leaves no object behind.
 */
import { SNIFF_BYTES, sniffAudio, type SniffedAudio } from "../domain/audio-format.ts";
import { type ObjectSealer, SEGMENT_BYTES } from "../domain/envelope.ts";
import { concatBytes, takeBytes } from "../lib/bytes.ts";
import { StorageError } from "./errors.ts";

export const audioKey = (tenantId: string, jobId: string) => `audio/${tenantId}/${jobId}`;

export interface StoredAudio {
  bytes: number;
  audio: SniffedAudio;
  /** hex SHA-256 of the bytes, when asked for */
  sha256?: string;
}

export interface StoreAudioOptions {
  maxBytes: number;
  partBytes: number;
  /** also hash the bytes as they stream past (for Idempotency-Key fingerprints) */
  digest?: boolean;
  /** encrypts the parts; the object is never written in plaintext */
  sealer: ObjectSealer;
}

/**
 * Writes `body` to `key`. Throws StorageError `empty_body`, `payload_too_large` or `unsupported_audio`;
 * stream errors propagate after any partial multipart upload is aborted.
 */
export async function storeAudioStream(
  bucket: R2Bucket,
  key: string,
  body: ReadableStream<Uint8Array>,
  options: StoreAudioOptions,
): Promise<StoredAudio> {
  // sealed parts must hold whole segments; all but the last part of an R2 multipart upload share one size
  const partBytes = Math.ceil(options.partBytes / SEGMENT_BYTES) * SEGMENT_BYTES;
  const { sealer } = options;
  const storedMetadata = (audio: SniffedAudio) => ({
    httpMetadata: { contentType: "application/octet-stream" },
    customMetadata: { ...sealer.header, ct: audio.contentType },
  });
  const digest = options.digest ? new crypto.DigestStream("SHA-256") : null;
  const digestWriter = digest?.getWriter() ?? null;
  const reader = body.getReader();
  const pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let total = 0;
  let sniffed: SniffedAudio | null = null;
  let upload: R2MultipartUpload | null = null;
  const parts: R2UploadedPart[] = [];

  const fail = async (error: unknown): Promise<never> => {
    await reader.cancel().catch(() => undefined);
    if (upload) await upload.abort().catch(() => undefined);
    await digestWriter?.abort().catch(() => undefined);
    throw error;
  };

  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!value || value.byteLength === 0) continue;
      total += value.byteLength;
      if (total > options.maxBytes) {
        await fail(
          new StorageError("too_large", "payload_too_large", `Uploads are limited to ${options.maxBytes} bytes.`),
        );
      }
      pending.push(value);
      pendingBytes += value.byteLength;
      if (digestWriter) await digestWriter.write(value);
      if (!sniffed && pendingBytes >= SNIFF_BYTES) {
        sniffed = sniffAudio(concatBytes(pending, pendingBytes).subarray(0, SNIFF_BYTES));
        if (!sniffed) await fail(unsupportedAudio());
      }
      // strictly more than a part: the final segment (sealed as last) always lands in the final part
      while (sniffed && pendingBytes > partBytes) {
        upload ??= await bucket.createMultipartUpload(key, storedMetadata(sniffed));
        const part = takeBytes(pending, partBytes);
        pendingBytes -= partBytes;
        parts.push(await upload.uploadPart(parts.length + 1, await sealer.sealPart(part, false)));
      }
    }
  } catch (error) {
    if (error instanceof StorageError) throw error;
    await fail(error);
  }

  if (total === 0) throw new StorageError("invalid_input", "empty_body", "The audio is empty (0 bytes).");
  if (!sniffed) {
    sniffed = sniffAudio(concatBytes(pending, pendingBytes));
    if (!sniffed) throw unsupportedAudio();
  }
  const rest = await sealer.sealPart(concatBytes(pending, pendingBytes), true);
  try {
    if (!upload) {
      await bucket.put(key, rest, storedMetadata(sniffed));
    } else {
      parts.push(await upload.uploadPart(parts.length + 1, rest));
      await upload.complete(parts);
    }
  } catch (error) {
    if (upload) await upload.abort().catch(() => undefined);
    throw error;
  }
  let sha256: string | undefined;
  if (digest && digestWriter) {
    await digestWriter.close();
    sha256 = [...new Uint8Array(await digest.digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }
  return { bytes: total, audio: sniffed, ...(sha256 ? { sha256 } : {}) };
}

function unsupportedAudio(): StorageError {
  return new StorageError(
    "unsupported",
    "unsupported_audio",
    "The body is not audio in a supported container (WAV, MP3, FLAC, OGG/Opus, WebM, MP4/M4A).",
  );
}
