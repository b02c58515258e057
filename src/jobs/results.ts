/** Persisting a provider's result or failure: shared by the queue consumer and the pool callback. */
import { TEXT_INLINE_LIMIT } from "../config.ts";
import { type PiiEntityType, redactTranscript } from "../domain/pii/index.ts";
import { finaliseSpeakers } from "../domain/speakers.ts";
import type { ToneSpan } from "../domain/wav-tone.ts";
import { recordCompletionFeatures } from "../drift/drift.ts";
import type { Env } from "../env.ts";
import { ulid } from "../lib/ids.ts";
import { log } from "../lib/log.ts";
import { recordJobOutcome } from "../observability/job-outcome.ts";
import type { NormalisedTranscript } from "../providers/types.ts";
import type { Db } from "../storage/db.ts";
import { completeJob, failJob, getJobById, markAudioPurged, setPendingAudioRedaction } from "../storage/jobs.repo.ts";
import type { TranscriptionRow } from "../storage/schema.ts";
import { indexTranscript } from "../storage/transcript-index.ts";
import { getTranscript, putTranscript, sealInlineText, transcriptObjectKey } from "../storage/transcript-store.ts";
import { emitJobEvent } from "../webhooks/events.ts";
import { enqueueAudioRedaction } from "./enqueue.ts";
import { notifyJobSettled } from "./job-waiter.ts";
import {
  AudioRedactionError,
  paddedSpans,
  type RedactedAudio,
  removeOtherRedactedCopies,
  writeRedactedAudio,
} from "./redact-audio.ts";
import {
  type RedactionColumns,
  redactionOptionsOf,
  serialiseAudioSpans,
  serialisePendingAudioRedaction,
  storedPendingAudioRedaction,
} from "./redaction-options.ts";
import { isTerminal } from "./state.ts";

/** What storing a result needs of the job: who it belongs to, where its audio is, and the redaction it asked for. */
export type ResultJob = Pick<TranscriptionRow, "id" | "tenantId" | "webhookUrl"> &
  Pick<TranscriptionRow, "audioKey" | "audioFormat" | "audioBytes"> &
  Partial<Pick<TranscriptionRow, "speakerLabels" | "multichannel">> &
  RedactionColumns;

/** A provider's result made ready to store: labelled, redacted, under a fresh result id. */
interface PreparedResult {
  resultId: string;
  transcript: NormalisedTranscript;
  /** entity counts of a redacted job; null when it asked for no redaction */
  entities: Partial<Record<PiiEntityType, number>> | null;
  /** the padded spans to tone with `redact_pii_audio`; null without */
  spans: ToneSpan[] | null;
}

/**
 * Labels speakers, then redacts (so redaction sees, and keeps, the labelled segments and words). A job that asked
 * for speakers gets a failure instead of a silently unlabelled transcript (a pool or vendor that ignored the option).
 */
function prepareResult(
  job: ResultJob,
  provided: NormalisedTranscript,
): PreparedResult | { failure: string; message: string } {
  const wantsSpeakers = !!job.speakerLabels || !!job.multichannel;
  if (wantsSpeakers && !hasSpeakers(provided)) {
    return {
      failure: job.multichannel ? "multichannel_unsupported" : "diarization_unsupported",
      message: "The provider returned the transcript without speaker labels.",
    };
  }
  const labelled: NormalisedTranscript = wantsSpeakers ? { ...provided, ...finaliseSpeakers(provided) } : provided;
  const resultId = ulid();
  const redaction = redactionOptionsOf(job);
  if (!redaction) return { resultId, transcript: labelled, entities: null, spans: null };
  const redacted = redactTranscript(labelled, redaction);
  const spans = redaction.audio ? paddedSpans(redacted.audioSpans, redacted.transcript.duration_seconds) : null;
  return { resultId, transcript: redacted.transcript, entities: redacted.entities, spans };
}

/**
 * Writes the transcript document to R2, then flips the row to `completed` only if it is still active.
 * Returns false when another delivery already stored a result (or the job was deleted); that copy is removed.
 *
 * A job with `redact_pii` is redacted here, first: the transcript object, the inline text, the row, the search index,
 * the drift features and the webhook only ever see the redacted transcript. With `redact_pii_audio` the audio is
 * rewritten with a tone over the redacted spans (a compressed file becomes a 16-bit PCM WAV) and the original is
 * deleted once the result is stored; audio that cannot be rewritten fails the job (its original audio is deleted
 * too: the caller asked not to keep it). The pool's callback does not wait for that rewrite: it stores the result
 * with {@link storeResultAwaitingAudio}, and the queue consumer finishes it with {@link finishAudioRedaction}.
 */
export async function storeCompletedResult(
  env: Env,
  db: Db,
  job: ResultJob,
  provided: NormalisedTranscript,
): Promise<boolean> {
  const prepared = prepareResult(job, provided);
  if ("failure" in prepared) return storeFailure(env, db, job, prepared.failure, prepared.message);
  const { resultId, transcript } = prepared;
  let pii: StoredPii | undefined;
  if (prepared.entities) {
    pii = { entities: JSON.stringify(prepared.entities) };
    if (prepared.spans) {
      try {
        const audio = await writeRedactedAudio(env, job, prepared.spans, resultId, transcript.duration_seconds);
        pii.audio = { ...audio, spans: serialiseAudioSpans(prepared.spans) };
      } catch (error) {
        if (!(error instanceof AudioRedactionError)) throw error;
        log("audio_redaction_failed", { job_id: job.id, code: error.code });
        await failAudioRedaction(env, db, job, error.code, error.message);
        return false;
      }
    }
  }
  const key = transcriptObjectKey(job.tenantId, job.id, resultId);
  await putTranscript(env, job.tenantId, key, transcript);
  // a losing duplicate's result is its own: its transcript and its copy of the audio go
  return commitResult(env, db, job, transcript, key, pii, pii?.audio ? [key, pii.audio.audioKey] : [key]);
}

/** What a completed row records of a redaction (src/storage/jobs.repo.ts completeJob). */
type StoredPii = NonNullable<Parameters<typeof completeJob>[3]["pii"]>;

/**
 * Flips the row to `completed` with a stored transcript, then does what follows a completion once: the original
 * audio of a redacted copy goes, waiters are woken, the search index and drift features are fed, the webhook is
 * queued. A loser deletes `discardOnLoss` (what only it wrote) and returns false.
 */
async function commitResult(
  env: Env,
  db: Db,
  job: ResultJob,
  transcript: NormalisedTranscript,
  key: string,
  pii: StoredPii | undefined,
  discardOnLoss: string[],
): Promise<boolean> {
  const inlineText =
    transcript.text.length <= TEXT_INLINE_LIMIT
      ? await sealInlineText(env, job.tenantId, job.id, transcript.text)
      : null;
  const completed = await completeJob(db, job.id, transcript, { transcriptKey: key, inlineText, pii }, Date.now());
  if (!completed) {
    if (discardOnLoss.length) await env.BUCKET.delete(discardOnLoss);
    return false;
  }
  // the row points at the toned copy now: the original goes, and any copy an abandoned attempt left
  if (pii?.audio && job.audioKey) {
    await env.BUCKET.delete(job.audioKey);
    await removeOtherRedactedCopies(env, job.audioKey, pii.audio.audioKey);
  }
  recordJobOutcome(env, completed);
  // held requests (OpenAI-compatible routes, `Prefer: wait`) answer as soon as the row says completed
  await notifyJobSettled(env, job.id);
  // search tokens and drift features: logged and swallowed on failure, never fail the job
  await indexTranscript(env, db, job, transcript.text).catch((error: unknown) =>
    log("search_index_failed", { job_id: job.id, error: error instanceof Error ? error.name : "unknown" }),
  );
  await recordCompletionFeatures(env, db, completed, transcript);
  await emitJobEvent(env, db, job, "transcription.completed", transcript.speakers);
  return true;
}

/** Thrown by {@link storeResultAwaitingAudio} when the result is stored but its queue message could not be sent. */
export class AudioRedactionNotQueued extends Error {
  constructor() {
    super("The result is stored but its audio redaction could not be queued.");
    this.name = "AudioRedactionNotQueued";
  }
}

/**
 * The pool's callback for a `redact_pii_audio` job: stores the text-redacted transcript (sealed in R2, under a fresh
 * result id) and records it on the row as waiting for its audio (`pending_audio_redaction`), then sends the job a
 * jobs-queue message (`kind: "audio_redaction"`) whose consumer redacts the audio and completes the job
 * ({@link finishAudioRedaction}). The job stays active meanwhile: no `completed` status, inline text, webhook or search
 * tokens before the audio is redacted, and the callback answers at once instead of waiting for the redaction.
 *
 * Idempotent: of duplicate callbacks the first records its result and the others delete theirs; each sends the
 * message again (an earlier send may have failed; the consumer runs a pending redaction to completion once). Returns
 * whether this call recorded its result. A failed send throws {@link AudioRedactionNotQueued} (the callback is
 * answered 503 and retried by the pool; the sweeper would also resend once the job passes its processing deadline).
 */
export async function storeResultAwaitingAudio(
  env: Env,
  db: Db,
  job: ResultJob & Pick<TranscriptionRow, "traceparent">,
  provided: NormalisedTranscript,
): Promise<boolean> {
  const prepared = prepareResult(job, provided);
  if ("failure" in prepared) return storeFailure(env, db, job, prepared.failure, prepared.message);
  if (!prepared.entities || !prepared.spans) return storeCompletedResult(env, db, job, provided);
  const key = transcriptObjectKey(job.tenantId, job.id, prepared.resultId);
  await putTranscript(env, job.tenantId, key, prepared.transcript);
  const pending = serialisePendingAudioRedaction({
    resultId: prepared.resultId,
    entities: prepared.entities,
    spans: prepared.spans,
  });
  const recorded = await setPendingAudioRedaction(db, job.id, pending, Date.now());
  if (!recorded) {
    await env.BUCKET.delete(key);
    const now = await getJobById(db, job.id);
    // settled or deleted meanwhile: nothing is left to send
    if (!now || isTerminal(now.status) || !now.pendingAudioRedaction) return false;
  }
  try {
    await enqueueAudioRedaction(env, { id: job.id, tenantId: job.tenantId, traceparent: job.traceparent });
  } catch (error) {
    // the error's name only: a binding's message may echo request data
    log("enqueue_failed", { job_id: job.id, error: error instanceof Error ? error.name : "unknown" });
    throw new AudioRedactionNotQueued();
  }
  log("audio_redaction_pending", { job_id: job.id, tenant_id: job.tenantId, recorded, spans: prepared.spans.length });
  return recorded;
}

/**
 * The queue consumer's half of {@link storeResultAwaitingAudio}: rewrites the job's audio with a tone over the
 * recorded spans (through the pool's ffmpeg for audio the edge cannot decode, waiting up to
 * `POOL_REDACTION_TIMEOUT_MS`), then completes the job with the stored transcript as {@link storeCompletedResult}
 * does: the row points at the copy, the original goes, the webhook is sent once. Each attempt writes its copy under
 * its own id, so a retried or duplicated message never touches another attempt's copy; the attempt that completes the
 * job removes the others'. Audio that cannot be redacted fails the job `audio_redaction_failed` (or
 * `audio_redaction_unsupported`) and deletes it; a pool that is down or busy throws {@link PoolRedactionUnavailable}
 * (the message is retried; once the retries are spent the dead-letter consumer fails the job so). Returns whether
 * this attempt completed the job.
 */
export async function finishAudioRedaction(env: Env, db: Db, job: TranscriptionRow): Promise<boolean> {
  const pending = storedPendingAudioRedaction(job.pendingAudioRedaction);
  const key = pending ? transcriptObjectKey(job.tenantId, job.id, pending.resultId) : null;
  const transcript = key ? await getTranscript(env, job.tenantId, key) : null;
  if (!pending || !key || !transcript) {
    // never written so; a result that cannot be read back must not leave the audio unredacted
    await failAudioRedaction(env, db, job, "audio_redaction_failed", "The stored result could not be read back.");
    return false;
  }
  const attemptId = ulid();
  let audio: RedactedAudio;
  try {
    audio = await writeRedactedAudio(env, job, pending.spans, attemptId, transcript.duration_seconds);
  } catch (error) {
    if (!(error instanceof AudioRedactionError)) throw error;
    log("audio_redaction_failed", { job_id: job.id, code: error.code });
    await failAudioRedaction(env, db, job, error.code, error.message);
    return false;
  }
  const pii: StoredPii = {
    entities: JSON.stringify(pending.entities),
    audio: { ...audio, spans: serialiseAudioSpans(pending.spans) },
  };
  // a loser keeps its hands off the transcript: the winner's row points at the same object
  return commitResult(env, db, job, transcript, key, pii, [audio.audioKey]);
}

/** Whether every segment with text carries a speaker (an empty transcript has nothing to label). */
function hasSpeakers(transcript: NormalisedTranscript): boolean {
  return transcript.segments.every((segment) => segment.speaker !== undefined || segment.text.trim() === "");
}

/**
 * Fails a job whose audio could not be redacted, and deletes that audio: the caller asked not to keep it unredacted.
 * Returns false when another outcome came first (the audio is then that outcome's business).
 */
export async function failAudioRedaction(
  env: Env,
  db: Db,
  job: Pick<TranscriptionRow, "id" | "tenantId" | "webhookUrl" | "audioKey">,
  code: string,
  message: string,
): Promise<boolean> {
  const failed = await storeFailure(env, db, job, code, message);
  if (failed && job.audioKey) {
    await env.BUCKET.delete(job.audioKey);
    await markAudioPurged(db, [job.id], Date.now());
  }
  return failed;
}

/**
 * Fails the job if it is still active; only the caller that flips it emits the `transcription.failed` event. A job
 * with `redact_pii_audio` loses its audio with the failure.
 */
export async function storeFailure(
  env: Env,
  db: Db,
  job: Pick<TranscriptionRow, "id" | "tenantId" | "webhookUrl">,
  code: string,
  message: string,
): Promise<boolean> {
  const failed = await failJob(db, job.id, code, message, Date.now());
  if (!failed) return false;
  // a job that asked for audio redaction never keeps its unredacted audio, whatever failed it (a pool that stayed
  // down until the retries ran out, a provider error)
  if (failed.redactPii && failed.redactPiiAudio && failed.audioKey) {
    await env.BUCKET.delete(failed.audioKey);
    await markAudioPurged(db, [failed.id], Date.now());
  }
  // a result that waited for its audio redaction is not kept by a failed job
  const pending = storedPendingAudioRedaction(failed.pendingAudioRedaction);
  if (pending) await env.BUCKET.delete(transcriptObjectKey(failed.tenantId, failed.id, pending.resultId));
  recordJobOutcome(env, failed);
  await notifyJobSettled(env, job.id);
  await emitJobEvent(env, db, job, "transcription.failed");
  return true;
}
