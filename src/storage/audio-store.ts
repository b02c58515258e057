/**
 * Streams an upload into R2, sniffing the container from the first bytes before anything is written and sealing
 * every 64 KiB segment with the tenant's envelope (src/domain/envelope.ts) as soon as the bytes after it arrive.
 * What it holds: less than one segment of plaintext (plus the chunk being read) and the sealed segments of the part
 * being filled, at most one part (R2 needs each part's length up front, and whether a part is full or the last one is
 * known only when the bytes after it arrive). A full part goes to R2 as a stream over those segments, each released
 * as R2 reads it: no part is ever copied into one buffer. Every failure path leaves no object behind.
 */
import { SNIFF_BYTES, sniffAudio, type SniffedAudio } from "../domain/audio-format.ts";
import { type ObjectSealer, sealedSize, SEGMENT_BYTES } from "../domain/envelope.ts";
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
  /**
   * Hands the isolate back to the event loop after this many bytes (`STORE_YIELD_BYTES`; 0: never). A body that is
   * always buffered and sealing that resolves at once make the loop a chain of promise reactions that never leaves
   * the isolate: without a turn of the event loop, no other request, message or inspector command is served by the
   * same isolate until the whole body is stored.
   */
  yieldEveryBytes: number;
}

/** One turn of workerd's event loop (a zero-delay timer), so events queued behind this request get to run. */
const yieldToEventLoop = (): Promise<void> => scheduler.wait(0);

/**
 * A stream of `length` bytes over `chunks`, each dropped from the array as it is read (so R2 reading a part frees it
 * segment by segment), through a FixedLengthStream so R2 knows the length.
 */
function drainingStream(chunks: Uint8Array[], length: number): ReadableStream<Uint8Array> {
  const source = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const next = chunks.shift();
        if (next) controller.enqueue(next);
        else controller.close();
      },
    },
    { highWaterMark: 0 },
  );
  return source.pipeThrough(new FixedLengthStream(length));
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
  // sealed parts hold whole segments; all but the last part of an R2 multipart upload share one size
  const segmentsPerPart = Math.ceil(options.partBytes / SEGMENT_BYTES);
  const sealedPartBytes = sealedSize(segmentsPerPart * SEGMENT_BYTES);
  const { sealer } = options;
  const storedMetadata = (audio: SniffedAudio) => ({
    httpMetadata: { contentType: "application/octet-stream" },
    customMetadata: { ...sealer.header, ct: audio.contentType },
  });
  const digest = options.digest ? new crypto.DigestStream("SHA-256") : null;
  const digestWriter = digest?.getWriter() ?? null;
  const reader = body.getReader();
  /** plaintext not sealed yet: sealed only once a byte after it arrives, so the final segment is known as final */
  const pending: Uint8Array[] = [];
  let pendingBytes = 0;
  /** the sealed segments of the part being filled */
  const partSegments: Uint8Array[] = [];
  let total = 0;
  let sinceYield = 0;
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
      sinceYield += value.byteLength;
      if (options.yieldEveryBytes > 0 && sinceYield >= options.yieldEveryBytes) {
        sinceYield = 0;
        await yieldToEventLoop();
      }
      if (!sniffed && pendingBytes >= SNIFF_BYTES) {
        sniffed = sniffAudio(concatBytes(pending, pendingBytes).subarray(0, SNIFF_BYTES));
        if (!sniffed) await fail(unsupportedAudio());
      }
      // strictly more than a segment: the final segment (sealed as last) is sealed after the body ends
      while (sniffed && pendingBytes > SEGMENT_BYTES) {
        const plain = takeBytes(pending, SEGMENT_BYTES);
        pendingBytes -= SEGMENT_BYTES;
        partSegments.push(await sealer.sealPart(plain, false));
        // a full part with bytes still after it: never the last part, so it has the common part size
        if (partSegments.length === segmentsPerPart) {
          upload ??= await bucket.createMultipartUpload(key, storedMetadata(sniffed));
          const part = drainingStream(partSegments, sealedPartBytes);
          parts.push(await upload.uploadPart(parts.length + 1, part));
        }
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
  partSegments.push(await sealer.sealPart(concatBytes(pending, pendingBytes), true));
  const restBytes = partSegments.reduce((n, segment) => n + segment.byteLength, 0);
  try {
    if (!upload) {
      await bucket.put(key, drainingStream(partSegments, restBytes), storedMetadata(sniffed));
    } else {
      parts.push(await upload.uploadPart(parts.length + 1, drainingStream(partSegments, restBytes)));
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
