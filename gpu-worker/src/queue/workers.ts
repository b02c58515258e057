/**
 * The pool's two BullMQ workers on one connection: `transcriptions` (fetch, decode, batch, stitch: process-job.ts)
 * and `callbacks` (signed delivery to the edge until acknowledged). The callback worker is opened first so that,
 * closed in reverse order, it keeps delivering while the transcription worker drains.
 */
import { type Queue, UnrecoverableError, Worker } from "bullmq";

import type { BatchScheduler } from "../batch/scheduler.ts";
import { callbackBackoffMs, deliverCallback } from "../callback/deliver.ts";
import type { PoolSettings } from "../config.ts";
import { type Lifecycle, settlesWithin } from "../lifecycle.ts";
import { type Logger, traceIdFromTraceparent } from "../log.ts";
import type { PoolMetrics } from "../metrics.ts";
import { closeRedis, connectRedis } from "./connections.ts";
import type { JobEraser } from "./erase.ts";
import { createJobProcessor, type JobProcessorDeps } from "./process-job.ts";
import {
  CALLBACK_QUEUE,
  type CallbackJob,
  type CallbackJobData,
  TRANSCRIPTION_QUEUE,
  type TranscriptionJobData,
} from "./queues.ts";

/** Callback deliveries one process makes at once. */
const CALLBACK_CONCURRENCY = 16;
/** A repeated worker error (Redis down) is logged at most once per this interval. */
const REPEATED_ERROR_LOG_INTERVAL_MS = 30_000;

/** What {@link startWorkers} needs. */
export interface WorkersOptions {
  settings: PoolSettings;
  scheduler: BatchScheduler;
  callbacks: Queue<CallbackJobData>;
  eraser: JobEraser;
  metrics: PoolMetrics;
  logger: Logger;
  modelName: string;
  /** Why the loaded engine cannot run a job's options, or null (bridge/options.ts). */
  refuseOptions: JobProcessorDeps["refuseOptions"];
  /** The diarization stage, when configured. */
  diarizer?: JobProcessorDeps["diarizer"];
  /** Jobs being processed now (shared with readiness and metrics). */
  activeJobs: { count: number };
  lifecycle: Lifecycle;
  /** Bound on each close step (short while Redis is down). */
  stepTimeout: () => number;
  fetchImpl?: typeof fetch;
}

/** Starts both workers and resolves once they consume; the connection and each worker are recorded in `lifecycle`. */
export async function startWorkers(options: WorkersOptions): Promise<void> {
  const { settings, eraser, metrics, logger, activeJobs, lifecycle, stepTimeout, fetchImpl } = options;
  const connection = await connectRedis(settings.redisUrl, { maxRetriesPerRequest: null });
  lifecycle.opened("worker connection", () => closeRedis(connection));

  const callbackWorker = new Worker<CallbackJobData>(
    CALLBACK_QUEUE,
    (job) => deliver(job, settings, metrics, logger, eraser, fetchImpl),
    {
      connection,
      prefix: settings.queuePrefix,
      concurrency: CALLBACK_CONCURRENCY,
      settings: {
        backoffStrategy: (attemptsMade: number) =>
          callbackBackoffMs(attemptsMade, settings.callbackBackoffMs, settings.callbackBackoffCapMs),
      },
    },
  );
  lifecycle.opened("callback worker", () => settlesWithin(callbackWorker.close(), stepTimeout()));

  const transcriptionWorker = new Worker<TranscriptionJobData>(
    TRANSCRIPTION_QUEUE,
    createJobProcessor({
      settings,
      scheduler: options.scheduler,
      callbacks: options.callbacks,
      metrics,
      logger,
      modelName: options.modelName,
      refuseOptions: options.refuseOptions,
      diarizer: options.diarizer,
      activeJobs,
      erasure: eraser,
      fetchImpl,
    }),
    {
      connection,
      prefix: settings.queuePrefix,
      concurrency: settings.jobConcurrency,
      lockDuration: settings.lockDurationMs,
      stalledInterval: settings.stalledIntervalMs,
      maxStalledCount: settings.maxStalledCount,
    },
  );
  lifecycle.opened("transcription worker", async () => {
    // finish what is in flight, take nothing new; past the deadline, force-close (the jobs stall and another
    // replica picks them up after lockDuration)
    const deadline = activeJobs.count > 0 ? settings.shutdownTimeoutMs : stepTimeout();
    if (!(await settlesWithin(transcriptionWorker.close(), deadline))) {
      logger.warn("shutdown_timeout", { active_jobs: activeJobs.count });
      await settlesWithin(transcriptionWorker.close(true), stepTimeout());
    }
  });

  for (const worker of [transcriptionWorker, callbackWorker] as Worker[]) {
    // during a Redis outage BullMQ reports every reconnect attempt: log a repeated error once per interval
    let last = { message: "", at: 0 };
    worker.on("error", (error) => {
      const now = Date.now();
      if (error.message === last.message && now - last.at < REPEATED_ERROR_LOG_INTERVAL_MS) return;
      last = { message: error.message, at: now };
      logger.error("worker_error", { queue: worker.name, error });
    });
    // a job erased while it ran leaves its blanked hash, events and marker until it finishes: remove them then
    worker.on("completed", (job, result) => finishErasure(eraser, logger, job.id, result));
    worker.on("failed", (job) => finishErasure(eraser, logger, job?.id));
  }
  transcriptionWorker.on("stalled", (jobId) => logger.warn("job_stalled", { job_id: jobId }));
  await Promise.all([transcriptionWorker.waitUntilReady(), callbackWorker.waitUntilReady()]);
}

function finishErasure(eraser: JobEraser, logger: Logger, jobId: string | undefined, result?: unknown): void {
  if (!jobId) return;
  const discarded = (result as { discarded?: unknown } | undefined)?.discarded === "erased";
  void eraser
    .finish(jobId, discarded)
    .then((erased) => erased && logger.info("job_erasure_finished", { job_id: jobId }))
    .catch((error: unknown) => logger.error("job_erasure_finish_failed", { job_id: jobId, error }));
}

/** One callback delivery attempt as a BullMQ job: acknowledged → done, retryable → backoff, refused → give up. */
async function deliver(
  job: CallbackJob,
  settings: PoolSettings,
  metrics: PoolMetrics,
  logger: Logger,
  eraser: JobEraser,
  fetchImpl?: typeof fetch,
): Promise<{ discarded: "erased" } | undefined> {
  const { callback_url: url, body, traceparent } = job.data;
  const log = logger.child({ job_id: body.job_id, trace_id: traceIdFromTraceparent(traceparent) });
  // erased while waiting for (another) delivery: never post it; the job completes and `finish` removes it
  const erased = async (): Promise<boolean> =>
    job.data.erased_at !== undefined || (await eraser.isErased(job.id ?? body.job_id));
  if (await erased()) {
    log.info("callback_discarded_erased", { stage: "before_delivery" });
    return { discarded: "erased" };
  }
  const outcome = await deliverCallback(url, body, {
    keys: settings.callbackKeys,
    timeoutMs: settings.callbackTimeoutMs,
    traceparent,
    fetchImpl,
  });
  if (outcome.kind !== "acknowledged" && (await erased())) {
    log.info("callback_discarded_erased", { stage: "after_attempt", http_status: outcome.status });
    return { discarded: "erased" };
  }
  if (outcome.kind === "acknowledged") {
    metrics.callbacks.inc({ outcome: "acknowledged" });
    log.info("callback_acknowledged", {
      status: body.status,
      http_status: outcome.status,
      attempt: job.attemptsMade + 1,
    });
    return undefined;
  }
  if (outcome.kind === "rejected") {
    metrics.callbacks.inc({ outcome: "rejected" });
    log.error("callback_rejected", { http_status: outcome.status, detail: outcome.message });
    throw new UnrecoverableError(`the edge refused the callback with ${outcome.status}: ${outcome.message}`);
  }
  metrics.callbacks.inc({ outcome: "retry" });
  log.warn("callback_retry", { http_status: outcome.status, detail: outcome.message, attempt: job.attemptsMade + 1 });
  throw new Error(`callback not acknowledged (${outcome.status ?? "network"}): ${outcome.message}`);
}
