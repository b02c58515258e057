/**
 * `redact_pii_audio`: the job's stored audio is rewritten to a new sealed object with a tone over the redacted spans;
 * the caller points the row at it and deletes the original once the result is stored. PCM WAV is rewritten in one
 * streaming pass in its own sample format (decrypt → tone → seal, src/domain/wav-tone.ts). MP3, FLAC and Ogg
 * (Opus, Vorbis, FLAC) are decoded by WASM decoders and re-encoded as 16-bit PCM WAV in two streaming passes
 * (measure, then decode → tone → encode → seal, src/domain/audio-decode/). Any other container (MP4/AAC, WebM) goes
 * to the Whisper pool's ffmpeg when a pool is configured (`POST {POOL_URL}/v1/redactions`, docs/pool-contract.md §5):
 * the pool fetches the audio through a signed URL and PUTs the toned 16-bit WAV to a signed edge URL, which seals it
 * here ({@link storePoolRedactedAudio}); the call waits for that (always in the queue consumer: the pool's result
 * callback leaves a job's audio redaction to a queue message, src/jobs/results.ts storeResultAwaitingAudio). Without a pool such audio fails the job with
 * `audio_redaction_unsupported` (uploads are refused at once, src/api/accept-upload.ts).
 */
import { storeYieldBytes, UPLOAD_PART_BYTES } from "../config.ts";
import {
  DECODABLE_CONTAINERS,
  type DecodableContainer,
  DURATION_TOLERANCE_SECONDS,
  measureDecoded,
  redactedWavBytes,
  toneWavStream,
} from "../domain/audio-decode/tone-wav.ts";
import { AudioRedactionError, type ToneSpan, wavToneTransform } from "../domain/wav-tone.ts";
import type { Env } from "../env.ts";
import { log } from "../lib/log.ts";
import { poolRedactsAudio, requestPoolRedaction } from "../providers/whisper-pool.ts";
import { storeAudioStream } from "../storage/audio-store.ts";
import type { TranscriptionRow } from "../storage/schema.ts";
import { getSealedStream, objectSealer } from "../storage/sealed-objects.ts";

export { AudioRedactionError };

/** Seconds added before and after each redacted word: word timings are estimates, a clipped digit is still heard. */
export const AUDIO_REDACTION_PADDING_SECONDS = 0.05;

/** The containers the edge can rewrite: WAV in place, the compressed ones decoded to WAV. */
export const AUDIO_REDACTION_FORMATS: ReadonlySet<string> = new Set(["wav", ...DECODABLE_CONTAINERS]);

/** The message of `audio_redaction_unsupported` for a container outside {@link AUDIO_REDACTION_FORMATS}. */
export const unsupportedRedactionMessage = (format: string) =>
  `Without a Whisper pool, audio redaction rewrites WAV, MP3, FLAC and Ogg (Opus, Vorbis, FLAC) only; this audio is ${format}.`;

/** Whether the edge can redact audio of this container: itself, or (any other container) through the pool. */
export function canRedactAudio(env: Env, format: string): boolean {
  return AUDIO_REDACTION_FORMATS.has(format) || poolRedactsAudio(env);
}

/** Largest redacted copy the pool may upload: a WAV's sizes are 32-bit. */
export const MAX_POOL_REDACTED_BYTES = 0xffff_ffff;

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

/** The stored copy: where it is, its plaintext size, and its container (`wav` for every rewrite). */
export interface RedactedAudio {
  audioKey: string;
  audioBytes: number;
  audioFormat: "wav";
}

type RedactedJob = Pick<TranscriptionRow, "id" | "tenantId" | "audioKey" | "audioFormat" | "audioBytes">;

/** Writes the toned copy; throws {@link AudioRedactionError} when the audio cannot be rewritten. */
export async function writeRedactedAudio(
  env: Env,
  job: RedactedJob,
  spans: readonly ToneSpan[],
  resultId: string,
  /** the transcript's duration: a decode of another length is refused (the spans would miss) */
  expectedSeconds: number | null = null,
): Promise<RedactedAudio> {
  if (!AUDIO_REDACTION_FORMATS.has(job.audioFormat)) {
    if (!poolRedactsAudio(env))
      throw new AudioRedactionError("audio_redaction_unsupported", unsupportedRedactionMessage(job.audioFormat));
    return redactThroughPool(env, job, spans, resultId, expectedSeconds);
  }
  const open = async () => {
    const opened = job.audioKey ? await getSealedStream(env, job.tenantId, job.audioKey) : null;
    if (!opened) throw new AudioRedactionError("audio_redaction_failed", "The audio is no longer stored.");
    return opened.body;
  };
  const key = redactedAudioKey(job.audioKey!, resultId);
  let body: ReadableStream<Uint8Array>;
  let maxBytes: number;
  if (job.audioFormat === "wav") {
    body = (await open()).pipeThrough(wavToneTransform(spans));
    // the copy is as long as the original: no limit below it may refuse it
    maxBytes = Math.max(job.audioBytes, 1);
  } else {
    const container = job.audioFormat as DecodableContainer;
    // pass one decodes everything before anything is written: a corrupt frame fails the job with no copy made
    const layout = await measureDecoded(container, await open(), { expectedSeconds });
    body = toneWavStream(container, await open(), layout, spans);
    maxBytes = redactedWavBytes(layout);
  }
  try {
    const stored = await storeAudioStream(env.BUCKET, key, body, {
      maxBytes,
      partBytes: UPLOAD_PART_BYTES,
      sealer: await objectSealer(env, job.tenantId, key),
      yieldEveryBytes: storeYieldBytes(env),
    });
    return { audioKey: key, audioBytes: stored.bytes, audioFormat: "wav" };
  } catch (error) {
    // an audio the transform refused is terminal; storage trouble propagates and the delivery is retried
    await env.BUCKET.delete(key).catch(() => undefined);
    throw error;
  }
}

/** Thrown when the pool could not redact for a passing reason (down, busy, timed out): the delivery is retried. */
export class PoolRedactionUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PoolRedactionUnavailable";
  }
}

/**
 * The pool's ffmpeg path: asks the pool and waits until it has stored the copy through
 * {@link storePoolRedactedAudio}. A refusal of the audio (it does not decode, it is gone) is terminal
 * (`audio_redaction_failed`); a pool that is down or busy throws {@link PoolRedactionUnavailable}. Either way a copy
 * half-written by this attempt is removed.
 */
async function redactThroughPool(
  env: Env,
  job: RedactedJob,
  spans: readonly ToneSpan[],
  resultId: string,
  expectedSeconds: number | null,
): Promise<RedactedAudio> {
  if (!job.audioKey) throw new AudioRedactionError("audio_redaction_failed", "The audio is no longer stored.");
  const key = redactedAudioKey(job.audioKey, resultId);
  // no spans is still a rewrite: the job keeps a 16-bit WAV, as the edge's decodes do
  const outcome = await requestPoolRedaction(env, job.id, resultId, spans);
  const stored = outcome.ok ? await env.BUCKET.head(key) : null;
  // as for the edge's decodes: a copy of another length than the transcript would put the tone on the wrong audio
  const seconds = outcome.ok ? outcome.answer.duration_seconds : 0;
  const misfit =
    !!expectedSeconds && expectedSeconds > 0 && Math.abs(seconds - expectedSeconds) > DURATION_TOLERANCE_SECONDS;
  if (outcome.ok && stored && !misfit) return { audioKey: key, audioBytes: outcome.answer.bytes, audioFormat: "wav" };
  await env.BUCKET.delete(key).catch(() => undefined);
  if (outcome.ok && stored)
    throw new AudioRedactionError(
      "audio_redaction_failed",
      `The pool decoded ${seconds.toFixed(2)} s of audio; the transcript says ${expectedSeconds!.toFixed(2)} s.`,
    );
  if (outcome.ok) throw new PoolRedactionUnavailable("The pool answered but the redacted copy is not stored.");
  log("pool_redaction_failed", { job_id: job.id, code: outcome.code, terminal: outcome.terminal });
  if (!outcome.terminal) throw new PoolRedactionUnavailable(outcome.message);
  throw new AudioRedactionError("audio_redaction_failed", `The pool could not redact the audio (${outcome.code}).`);
}

/**
 * Removes copies other attempts left beside the audio (an attempt that timed out while the pool's redaction went on
 * and stored its copy under that attempt's id). Called by the delivery whose result was stored, so `keep` is the copy
 * the row points at; a concurrent loser's copy may go too (it deletes its own anyway).
 */
export async function removeOtherRedactedCopies(env: Env, audioKey: string, keep: string): Promise<void> {
  const listed = await env.BUCKET.list({ prefix: redactedAudioKey(audioKey, "") });
  const stale = listed.objects.map((o) => o.key).filter((k) => k !== keep);
  if (stale.length) await env.BUCKET.delete(stale);
}

/** Why {@link storePoolRedactedAudio} refused an upload. */
export type PoolUploadRefusal = "job_not_redactable";

/**
 * Seals and stores the WAV the pool uploads for `resultId` beside the job's audio (the key {@link writeRedactedAudio}
 * then points the row at). Only while the job is still waiting for its result and asked for audio redaction.
 * Returns the plaintext bytes stored, or a refusal.
 */
export async function storePoolRedactedAudio(
  env: Env,
  job: RedactedJob & Pick<TranscriptionRow, "redactPiiAudio">,
  resultId: string,
  body: ReadableStream<Uint8Array>,
  declaredBytes: number,
): Promise<{ bytes: number } | PoolUploadRefusal> {
  if (!job.redactPiiAudio || !job.audioKey || AUDIO_REDACTION_FORMATS.has(job.audioFormat)) {
    await body.cancel().catch(() => undefined);
    return "job_not_redactable";
  }
  const key = redactedAudioKey(job.audioKey, resultId);
  try {
    const stored = await storeAudioStream(env.BUCKET, key, body, {
      maxBytes: declaredBytes,
      partBytes: UPLOAD_PART_BYTES,
      sealer: await objectSealer(env, job.tenantId, key),
      yieldEveryBytes: storeYieldBytes(env),
    });
    return { bytes: stored.bytes };
  } catch (error) {
    await env.BUCKET.delete(key).catch(() => undefined);
    throw error;
  }
}
