/**
 * The lost-job watcher: a job whose worker died more than `maxStalledCount` times is failed by BullMQ's stalled
 * checker without running any of our code, yet the edge still has to hear about it. The watcher listens to the
 * transcription queue's events and queues a failed callback (`engine_error`) for each such job.
 */
import { type Queue, QueueEvents } from "bullmq";

import type { PoolSettings } from "../config.ts";
import { type Lifecycle, settlesWithin } from "../lifecycle.ts";
import type { Logger } from "../log.ts";
import { closeRedis, connectRedis } from "./connections.ts";
import type { JobEraser } from "./erase.ts";
import { type CallbackJobData, enqueueCallback, TRANSCRIPTION_QUEUE, type TranscriptionJobData } from "./queues.ts";

/** BullMQ's message when the stalled checker gives up on a job (its worker died too often). */
const STALLED_LIMIT_REASON = /stalled more than allowable limit/i;

/** What {@link watchLostJobs} needs. */
export interface LostJobWatcherOptions {
  settings: PoolSettings;
  transcriptions: Queue<TranscriptionJobData>;
  callbacks: Queue<CallbackJobData>;
  eraser: JobEraser;
  logger: Logger;
  lifecycle: Lifecycle;
  /** Bound on closing the watcher (short while Redis is down). */
  stepTimeout: () => number;
}

/** Starts the watcher on its own connection and resolves once it listens; both are recorded in `lifecycle`. */
export async function watchLostJobs(options: LostJobWatcherOptions): Promise<void> {
  const { settings, transcriptions, callbacks, eraser, logger, lifecycle, stepTimeout } = options;
  const connection = await connectRedis(settings.redisUrl, { maxRetriesPerRequest: null });
  lifecycle.opened("lost-job watcher connection", () => closeRedis(connection));
  const events = new QueueEvents(TRANSCRIPTION_QUEUE, { connection, prefix: settings.queuePrefix });
  lifecycle.opened("lost-job watcher", () => settlesWithin(events.close(), stepTimeout()));

  const reportLostJob = async (jobId: string, reason: string): Promise<void> => {
    const job = await transcriptions.getJob(jobId);
    if (!job) return;
    if (job.data.erased_at !== undefined || (await eraser.isErased(jobId))) {
      await eraser.finish(jobId);
      return;
    }
    await enqueueCallback(
      callbacks,
      {
        callback_url: job.data.callback_url,
        traceparent: job.data.traceparent,
        body: {
          job_id: jobId,
          status: "failed",
          error: { code: "engine_error", message: `The pool lost this job repeatedly: ${reason}`, retryable: false },
        },
      },
      settings,
    );
    logger.error("job_lost", { job_id: jobId, reason });
  };
  events.on("failed", ({ jobId, failedReason }) => {
    if (!STALLED_LIMIT_REASON.test(failedReason)) return;
    void reportLostJob(jobId, failedReason).catch((error: unknown) =>
      logger.error("lost_job_report_failed", { job_id: jobId, error }),
    );
  });
  await events.waitUntilReady();
}
