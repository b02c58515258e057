/** Persisting a provider's result or failure: shared by the queue consumer and the pool callback. */
import { TEXT_INLINE_LIMIT } from "../config.ts";
import { redactTranscript } from "../domain/pii/index.ts";
import { finaliseSpeakers } from "../domain/speakers.ts";
import { recordCompletionFeatures } from "../drift/drift.ts";
import type { Env } from "../env.ts";
import { ulid } from "../lib/ids.ts";
import { log } from "../lib/log.ts";
import { recordJobOutcome } from "../observability/job-outcome.ts";
import type { NormalisedTranscript } from "../providers/types.ts";
import type { Db } from "../storage/db.ts";
import { completeJob, failJob, markAudioPurged } from "../storage/jobs.repo.ts";
import type { TranscriptionRow } from "../storage/schema.ts";
import { indexTranscript } from "../storage/transcript-index.ts";
import { putTranscript, sealInlineText, transcriptObjectKey } from "../storage/transcript-store.ts";
import { emitJobEvent } from "../webhooks/events.ts";
import { notifyJobSettled } from "./job-waiter.ts";
import { AudioRedactionError, paddedSpans, removeOtherRedactedCopies, writeRedactedAudio } from "./redact-audio.ts";
import { type RedactionColumns, redactionOptionsOf, serialiseAudioSpans } from "./redaction-options.ts";

/** What storing a result needs of the job: who it belongs to, where its audio is, and the redaction it asked for. */
export type ResultJob = Pick<TranscriptionRow, "id" | "tenantId" | "webhookUrl"> &
  Pick<TranscriptionRow, "audioKey" | "audioFormat" | "audioBytes"> &
  Partial<Pick<TranscriptionRow, "speakerLabels" | "multichannel">> &
  RedactionColumns;

/**
 * Writes the transcript document to R2, then flips the row to `completed` only if it is still active.
 * Returns false when another delivery already stored a result (or the job was deleted); that copy is removed.
 *
 * A job with `redact_pii` is redacted here, first: the transcript object, the inline text, the row, the search index,
 * the drift features and the webhook only ever see the redacted transcript. With `redact_pii_audio` the audio is
 * rewritten with a tone over the redacted spans (a compressed file becomes a 16-bit PCM WAV) and the original is
 * deleted once the result is stored; audio that cannot be rewritten fails the job (its original audio is deleted
 * too: the caller asked not to keep it).
 */
export async function storeCompletedResult(
  env: Env,
  db: Db,
  job: ResultJob,
  provided: NormalisedTranscript,
): Promise<boolean> {
  const wantsSpeakers = !!job.speakerLabels || !!job.multichannel;
  if (wantsSpeakers && !hasSpeakers(provided)) {
    // never a silently unlabelled transcript (e.g. a pool or vendor that ignored the option)
    return storeFailure(
      env,
      db,
      job,
      job.multichannel ? "multichannel_unsupported" : "diarization_unsupported",
      "The provider returned the transcript without speaker labels.",
    );
  }
  // speakers first, so redaction sees (and keeps) the labelled segments and words
  const labelled: NormalisedTranscript = wantsSpeakers ? { ...provided, ...finaliseSpeakers(provided) } : provided;
  const resultId = ulid();
  const redaction = redactionOptionsOf(job);
  let transcript = labelled;
  let pii: Parameters<typeof completeJob>[3]["pii"];
  if (redaction) {
    const redacted = redactTranscript(labelled, redaction);
    transcript = redacted.transcript;
    pii = { entities: JSON.stringify(redacted.entities) };
    if (redaction.audio) {
      const spans = paddedSpans(redacted.audioSpans, transcript.duration_seconds);
      try {
        const audio = await writeRedactedAudio(env, job, spans, resultId, transcript.duration_seconds);
        pii.audio = { ...audio, spans: serialiseAudioSpans(spans) };
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
  const inlineText =
    transcript.text.length <= TEXT_INLINE_LIMIT
      ? await sealInlineText(env, job.tenantId, job.id, transcript.text)
      : null;
  const completed = await completeJob(db, job.id, transcript, { transcriptKey: key, inlineText, pii }, Date.now());
  if (!completed) {
    await env.BUCKET.delete(pii?.audio ? [key, pii.audio.audioKey] : key);
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
  recordJobOutcome(env, failed);
  await notifyJobSettled(env, job.id);
  await emitJobEvent(env, db, job, "transcription.failed");
  return true;
}
