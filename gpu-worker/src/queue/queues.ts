/**
 * The pool's two BullMQ queues and their job data (documented in docs/storage-schema.md and docs/pool.md):
 * - `transcriptions`: one job per transcription, job id = the edge's transcription id (dedupe for free);
 * - `callbacks`: one job per result to deliver, same id; it lives until the edge acknowledges.
 */
import { type Job, type Queue } from "bullmq";

import type { Dispatch } from "../bridge/dispatch.ts";
import type { CallbackBody } from "../callback/deliver.ts";
import type { PoolSettings } from "../config.ts";
import type { JobEraser } from "./erase.ts";

export const TRANSCRIPTION_QUEUE = "transcriptions";
export const CALLBACK_QUEUE = "callbacks";
/** Failed transcription jobs are kept this long for inspection (and the `failed` queue-depth gauge). */
const FAILED_JOB_RETENTION_SECONDS = 24 * 3600;
/** Callbacks the edge refused for good are kept this long for an operator to look at. */
const REJECTED_CALLBACK_RETENTION_SECONDS = 7 * 24 * 3600;

/** The transcription job's data: the validated dispatch plus when it arrived. */
export interface TranscriptionJobData extends Dispatch {
  /** ms since epoch when the bridge accepted it (queue latency starts here). */
  dispatched_at: number;
  /** Set (and every other field blanked) when the job was erased while it ran: discard it (queue/erase.ts). */
  erased_at?: number;
}

/** The callback job's data. */
export interface CallbackJobData {
  callback_url: string;
  body: CallbackBody;
  traceparent: string | null;
  /** Set (and the URL and result blanked) when the job was erased while its callback was delivered: drop it. */
  erased_at?: number;
}

export type TranscriptionJob = Job<TranscriptionJobData>;
export type CallbackJob = Job<CallbackJobData>;

/** Outcome of {@link enqueueDispatch}. */
export interface EnqueueOutcome {
  duplicate: boolean;
}

/**
 * Adds a transcription job unless the pool already holds this id: waiting, active, delayed, or finished with a
 * callback not yet acknowledged. A job whose outcome the edge already acknowledged may be dispatched again.
 */
export async function enqueueDispatch(
  transcriptions: Queue<TranscriptionJobData>,
  callbacks: Queue<CallbackJobData>,
  dispatch: Dispatch,
  settings: Pick<PoolSettings, "jobAttempts" | "jobBackoffMs">,
  eraser?: Pick<JobEraser, "clearMarker">,
): Promise<EnqueueOutcome> {
  const id = dispatch.job_id;
  const pendingCallback = await callbacks.getJob(id);
  if (pendingCallback && !(await pendingCallback.isFailed())) return { duplicate: true };
  const existing = await transcriptions.getJob(id);
  if (existing) {
    const state = await existing.getState();
    if (state !== "failed" && state !== "completed" && state !== "unknown") return { duplicate: true };
    await existing.remove();
  }
  // nothing of an earlier job with this id runs any more: a leftover erasure marker must not discard the new one
  await eraser?.clearMarker(id);
  await transcriptions.add(
    "transcribe",
    { ...dispatch, dispatched_at: Date.now() },
    {
      jobId: id,
      attempts: settings.jobAttempts,
      backoff: { type: "exponential", delay: settings.jobBackoffMs },
      removeOnComplete: true,
      removeOnFail: { age: FAILED_JOB_RETENTION_SECONDS },
    },
  );
  return { duplicate: false };
}

/** Queues a result for delivery (idempotent per job id: a second result for the same job is dropped). */
export async function enqueueCallback(
  callbacks: Queue<CallbackJobData>,
  data: CallbackJobData,
  settings: Pick<PoolSettings, "callbackAttempts">,
): Promise<void> {
  const id = data.body.job_id;
  const previous = await callbacks.getJob(id);
  // a callback the edge refused earlier must not block the result of a new dispatch of the same id
  if (previous && (await previous.isFailed())) await previous.remove();
  await callbacks.add("callback", data, {
    jobId: id,
    attempts: settings.callbackAttempts,
    backoff: { type: "custom" },
    removeOnComplete: true,
    removeOnFail: { age: REJECTED_CALLBACK_RETENTION_SECONDS },
  });
}
