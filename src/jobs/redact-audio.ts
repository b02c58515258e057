/**
 * `redact_pii_audio`: the job's stored audio is rewritten, in one streaming pass (decrypt → tone over the redacted
 * spans → seal), to a new object; the caller points the row at it and deletes the original once the result is
 * stored. Only PCM WAV can be rewritten at the edge; any other container fails the job with
 * `audio_redaction_unsupported` (uploads are refused at once, src/api/accept-upload.ts).
 */
import { UPLOAD_PART_BYTES } from "../config.ts";
import { AudioRedactionError, type ToneSpan, wavToneTransform } from "../domain/wav-tone.ts";
import type { Env } from "../env.ts";
import { storeAudioStream } from "../storage/audio-store.ts";
import type { TranscriptionRow } from "../storage/schema.ts";
import { getSealedStream, objectSealer } from "../storage/sealed-objects.ts";

export { AudioRedactionError };

/** Seconds added before and after each redacted word: word timings are estimates, a clipped digit is still heard. */
export const AUDIO_REDACTION_PADDING_SECONDS = 0.05;

/** The containers the edge can rewrite. */
export const AUDIO_REDACTION_FORMATS: ReadonlySet<string> = new Set(["wav"]);

/** The R2 key of a job's redacted audio: beside the original, one per result (a losing duplicate removes its own). */
export const redactedAudioKey = (originalKey: string, resultId: string) => `${originalKey}.redacted-${resultId}`;

/** Pads each span and clamps it at 0 (and at the duration when known), merging spans that then overlap. */
export function paddedSpans(spans: readonly ToneSpan[], duration: number | null): ToneSpan[] {
  const out: ToneSpan[] = [];
  for (const s of [...spans].sort((a, b) => a.start - b.start)) {
    const start = Math.max(0, s.start - AUDIO_REDACTION_PADDING_SECONDS);
    const end =
      duration === null
        ? s.end + AUDIO_REDACTION_PADDING_SECONDS
        : Math.min(duration, s.end + AUDIO_REDACTION_PADDING_SECONDS);
    const last = out[out.length - 1];
    if (last && start <= last.end) last.end = Math.max(last.end, end);
    else if (end > start) out.push({ start, end });
  }
  return out;
}

/** Writes the toned copy; throws {@link AudioRedactionError} when the audio cannot be rewritten. */
export async function writeRedactedAudio(
  env: Env,
  job: Pick<TranscriptionRow, "tenantId" | "audioKey" | "audioFormat" | "audioBytes">,
  spans: readonly ToneSpan[],
  resultId: string,
): Promise<{ audioKey: string; audioBytes: number }> {
  if (!AUDIO_REDACTION_FORMATS.has(job.audioFormat))
    throw new AudioRedactionError(
      "audio_redaction_unsupported",
      `Audio redaction rewrites PCM WAV only; this audio is ${job.audioFormat}.`,
    );
  const opened = job.audioKey ? await getSealedStream(env, job.tenantId, job.audioKey) : null;
  if (!opened) throw new AudioRedactionError("audio_redaction_failed", "The audio is no longer stored.");
  const key = redactedAudioKey(job.audioKey!, resultId);
  try {
    const stored = await storeAudioStream(env.BUCKET, key, opened.body.pipeThrough(wavToneTransform(spans)), {
      // the copy is as long as the original: no limit below it may refuse it
      maxBytes: Math.max(job.audioBytes, 1),
      partBytes: UPLOAD_PART_BYTES,
      sealer: await objectSealer(env, job.tenantId, key),
    });
    return { audioKey: key, audioBytes: stored.bytes };
  } catch (error) {
    // an audio the transform refused is terminal; storage trouble propagates and the delivery is retried
    await env.BUCKET.delete(key).catch(() => undefined);
    throw error;
  }
}
