/** Persisting a provider's result or failure: shared by the queue consumer and the pool callback. */
import { TEXT_INLINE_LIMIT } from "../config.ts";
import { finaliseSpeakers } from "../domain/speakers.ts";
import { recordCompletionFeatures } from "../drift/drift.ts";
import type { Env } from "../env.ts";
import { ulid } from "../lib/ids.ts";
import { log } from "../lib/log.ts";
import { recordJobOutcome } from "../observability/job-outcome.ts";
import type { NormalisedTranscript } from "../providers/types.ts";
import type { Db } from "../storage/db.ts";
import { completeJob, failJob } from "../storage/jobs.repo.ts";
import type { TranscriptionRow } from "../storage/schema.ts";
import { indexTranscript } from "../storage/transcript-index.ts";
import { putTranscript, sealInlineText, transcriptObjectKey } from "../storage/transcript-store.ts";
import { emitJobEvent } from "../webhooks/events.ts";
import { notifyJobSettled } from "./job-waiter.ts";

/**
 * Writes the transcript document to R2, then flips the row to `completed` only if it is still active.
 * Returns false when another delivery already stored a result (or the job was deleted); that copy is removed.
 */
export async function storeCompletedResult(
  env: Env,
  db: Db,
  job: Pick<TranscriptionRow, "id" | "tenantId" | "webhookUrl"> &
    Partial<Pick<TranscriptionRow, "speakerLabels" | "multichannel">>,
  result: NormalisedTranscript,
): Promise<boolean> {
  const wantsSpeakers = !!job.speakerLabels || !!job.multichannel;
  if (wantsSpeakers && !hasSpeakers(result)) {
    // never a silently unlabelled transcript (e.g. a pool or vendor that ignored the option)
    return storeFailure(
      env,
      db,
      job,
      job.multichannel ? "multichannel_unsupported" : "diarization_unsupported",
      "The provider returned the transcript without speaker labels.",
    );
  }
  const transcript: NormalisedTranscript = wantsSpeakers ? { ...result, ...finaliseSpeakers(result) } : result;
  const key = transcriptObjectKey(job.tenantId, job.id, ulid());
  await putTranscript(env, job.tenantId, key, transcript);
  const inlineText =
    transcript.text.length <= TEXT_INLINE_LIMIT
      ? await sealInlineText(env, job.tenantId, job.id, transcript.text)
      : null;
  const completed = await completeJob(db, job.id, transcript, { transcriptKey: key, inlineText }, Date.now());
  if (!completed) {
    await env.BUCKET.delete(key);
    return false;
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

/** Fails the job if it is still active; only the caller that flips it emits the `transcription.failed` event. */
export async function storeFailure(
  env: Env,
  db: Db,
  job: Pick<TranscriptionRow, "id" | "tenantId" | "webhookUrl">,
  code: string,
  message: string,
): Promise<boolean> {
  const failed = await failJob(db, job.id, code, message, Date.now());
  if (!failed) return false;
  recordJobOutcome(env, failed);
  await notifyJobSettled(env, job.id);
  await emitJobEvent(env, db, job, "transcription.failed");
  return true;
}
