/**
 * The pool's composition root: `startPool(options)` wires settings, engine, batch scheduler, BullMQ workers and the
 * HTTP server, and returns `{ url, stop() }`. Used by `main.ts`, by the pool's tests and by the edge's end-to-end test.
 */
import { Queue, QueueEvents, UnrecoverableError, Worker } from "bullmq";
import { Redis, type RedisOptions } from "ioredis";
import type http from "node:http";
import { SAMPLE_RATE } from "./audio/windows.ts";
import { BatchScheduler } from "./batch/scheduler.ts";
import { callbackBackoffMs, deliverCallback } from "./callback/deliver.ts";
import { resolvePoolSettings, type PoolOptions, type PoolSettings } from "./config.ts";
import type { TranscriptionEngine } from "./engines/engine.ts";
import { OpenAICompatibleEngine } from "./engines/openai-compatible.ts";
import { WhisperCppEngine } from "./engines/whispercpp.ts";
import { startHttpServer } from "./http/server.ts";
import { createLogger, traceIdFromTraceparent, type Logger } from "./log.ts";
import { createPoolMetrics, type PoolMetrics } from "./metrics.ts";
import { resolveModel } from "./models/resolve.ts";
import { JobEraser } from "./queue/erase.ts";
import { createJobProcessor } from "./queue/process-job.ts";
import {
  CALLBACK_QUEUE,
  enqueueCallback,
  enqueueDispatch,
  TRANSCRIPTION_QUEUE,
  type CallbackJob,
  type CallbackJobData,
  type TranscriptionJobData,
} from "./queue/queues.ts";

/** Callback deliveries one process makes at once. */
const CALLBACK_CONCURRENCY = 16;
/** Bound on each shutdown step other than draining jobs in flight. */
const STOP_STEP_TIMEOUT_MS = 5_000;
/** The same bound while Redis is unreachable. */
const OUTAGE_STOP_STEP_TIMEOUT_MS = 250;
/** A repeated worker error (Redis down) is logged at most once per this interval. */
const REPEATED_ERROR_LOG_INTERVAL_MS = 30_000;
/** How much longer than one job attempt an erasure marker lives when its job never reports back. */
const ERASURE_MARKER_MARGIN_SECONDS = 60;
/** BullMQ's message when the stalled checker gives up on a job (its worker died too often). */
const STALLED_LIMIT_REASON = /stalled more than allowable limit/i;

/** Extra hooks for tests and embedding; production uses none of them. */
export interface StartPoolHooks {
  /** Replaces the global fetch for audio, callbacks and model downloads. */
  fetchImpl?: typeof fetch;
  /** A ready-made engine instead of the one the settings describe. */
  engineInstance?: TranscriptionEngine;
  logger?: Logger;
}

/** A running pool. */
export interface RunningPool {
  /** Base URL of the HTTP server, e.g. `http://127.0.0.1:8788`. */
  url: string;
  settings: PoolSettings;
  engine: TranscriptionEngine;
  metrics: PoolMetrics;
  scheduler: BatchScheduler;
  /** Graceful stop: take nothing new, finish the jobs in flight (bounded by shutdownTimeoutMs), free the model. */
  stop(): Promise<void>;
}

/**
 * Starts a pool and resolves once it is ready (model loaded, workers consuming).
 * The HTTP server comes up first, so `/healthz` answers and `/readyz` says 503 while the model loads.
 */
export async function startPool(options: PoolOptions & StartPoolHooks): Promise<RunningPool> {
  const { fetchImpl, engineInstance, logger: givenLogger, ...poolOptions } = options;
  const settings = resolvePoolSettings(poolOptions);
  const logger = givenLogger ?? createLogger({ level: settings.logLevel });
  const activeJobs = { count: 0 };
  let shuttingDown = false;
  let startupError: string | null = null;

  const queueConnection = await connectRedis(settings.redisUrl, {
    // the ingress must fail fast (503) when Redis is down, not queue commands in memory
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
  });
  const transcriptions = new Queue<TranscriptionJobData>(TRANSCRIPTION_QUEUE, { connection: queueConnection, prefix: settings.queuePrefix });
  const callbacks = new Queue<CallbackJobData>(CALLBACK_QUEUE, { connection: queueConnection, prefix: settings.queuePrefix });
  const eraser = new JobEraser({
    redis: queueConnection,
    transcriptions,
    callbacks,
    prefix: settings.queuePrefix,
    markerTtlSeconds: (Math.max(settings.jobTimeoutMs, settings.callbackTimeoutMs) + settings.lockDurationMs) / 1000 + ERASURE_MARKER_MARGIN_SECONDS,
  });

  let engine: TranscriptionEngine | undefined = engineInstance;
  let scheduler: BatchScheduler | undefined;
  const metrics = createPoolMetrics({
    queueCounts: () => transcriptions.getJobCounts("waiting", "prioritized", "active", "delayed", "failed"),
    saturation: () => ({ busy: scheduler?.runningCount ?? 0, capacity: settings.batchSize, activeJobs: activeJobs.count }),
  });

  const { server, url } = await startHttpServer(settings.host, settings.port, {
    bridgeKeys: settings.bridgeKeys,
    signatureToleranceSeconds: settings.signatureToleranceSeconds,
    enqueue: (dispatch) => enqueueDispatch(transcriptions, callbacks, dispatch, settings, eraser),
    erase: (jobId) => eraser.erase(jobId),
    notReadyReason: () => {
      if (startupError) return `startup failed: ${startupError}`;
      if (shuttingDown) return "shutting down";
      if (!engine?.ready) return "model loading";
      if (queueConnection.status !== "ready") return "redis unreachable";
      return null;
    },
    readinessDetail: () => ({ engine: engine?.description ?? null, batch_size: settings.batchSize }),
    metrics,
    metricsToken: settings.metricsToken,
    logger,
  });
  logger.info("pool_http_listening", { url });

  const closers: (() => Promise<unknown>)[] = [];
  /** What startup created so far, undone in reverse if a later step fails. */
  const undo: (() => Promise<unknown>)[] = [];
  // with Redis down, BullMQ's close() calls wait on reconnects that never come: do not let each step wait long
  const stepTimeout = (): number => (queueConnection.status === "ready" ? STOP_STEP_TIMEOUT_MS : OUTAGE_STOP_STEP_TIMEOUT_MS);
  try {
    engine ??= await createEngine(settings, logger, metrics, fetchImpl);
    const startedEngine = engine;
    undo.push(() => startedEngine.close());
    await engine.start();
    scheduler = new BatchScheduler({
      engine,
      batchSize: settings.batchSize,
      batchWaitMs: settings.batchWaitMs,
      onBatch: (report) => {
        metrics.batchSize.observe(report.size);
        metrics.batchPadding.inc((report.paddedSamples - report.audioSamples) / SAMPLE_RATE);
        // one line per engine batch; the jobs in it log their own lines with their trace ids
        logger.info("batch_done", {
          size: report.size,
          wall_ms: Math.round(report.wallMs),
          max_wait_ms: Math.round(report.maxWaitMs),
          padding_ratio: report.paddedSamples > 0 ? Number((1 - report.audioSamples / report.paddedSamples).toFixed(3)) : 0,
        });
      },
    });

    const workerConnection = await connectRedis(settings.redisUrl, { maxRetriesPerRequest: null });
    undo.push(async () => workerConnection.disconnect());
    const transcriptionWorker = new Worker<TranscriptionJobData>(
      TRANSCRIPTION_QUEUE,
      createJobProcessor({
        settings,
        scheduler,
        callbacks,
        metrics,
        logger,
        modelName: engine.description.model,
        activeJobs,
        erasure: eraser,
        fetchImpl: fetchImpl,
      }),
      {
        connection: workerConnection,
        prefix: settings.queuePrefix,
        concurrency: settings.jobConcurrency,
        lockDuration: settings.lockDurationMs,
        stalledInterval: settings.stalledIntervalMs,
        maxStalledCount: settings.maxStalledCount,
      },
    );
    const callbackWorker = new Worker<CallbackJobData>(CALLBACK_QUEUE, (job) => deliver(job, settings, metrics, logger, eraser, fetchImpl), {
      connection: workerConnection,
      prefix: settings.queuePrefix,
      concurrency: CALLBACK_CONCURRENCY,
      settings: { backoffStrategy: (attemptsMade: number) => callbackBackoffMs(attemptsMade, settings.callbackBackoffMs, settings.callbackBackoffCapMs) },
    });
    undo.push(
      () => settlesWithin(transcriptionWorker.close(true), stepTimeout()),
      () => settlesWithin(callbackWorker.close(true), stepTimeout()),
    );
    for (const worker of [transcriptionWorker, callbackWorker]) {
      // during a Redis outage BullMQ reports every reconnect attempt: log a repeated error once per interval
      let last = { message: "", at: 0 };
      worker.on("error", (error) => {
        const now = Date.now();
        if (error.message === last.message && now - last.at < REPEATED_ERROR_LOG_INTERVAL_MS) return;
        last = { message: error.message, at: now };
        logger.error("worker_error", { queue: worker.name, error });
      });
    }
    transcriptionWorker.on("stalled", (jobId) => logger.warn("job_stalled", { job_id: jobId }));
    // a job erased while it ran leaves its blanked hash, events and marker until it finishes: remove them then
    const finishErasure = (jobId: string | undefined, result?: unknown): void => {
      if (!jobId) return;
      const discarded = (result as { discarded?: unknown } | undefined)?.discarded === "erased";
      void eraser
        .finish(jobId, discarded)
        .then((erased) => erased && logger.info("job_erasure_finished", { job_id: jobId }))
        .catch((error: unknown) => logger.error("job_erasure_finish_failed", { job_id: jobId, error }));
    };
    for (const worker of [transcriptionWorker, callbackWorker] as Worker[]) {
      worker.on("completed", (job, result) => finishErasure(job.id, result));
      worker.on("failed", (job) => finishErasure(job?.id));
    }

    // a job whose worker died more than maxStalledCount times is failed by BullMQ without running our code:
    // the edge still has to hear about it
    const eventsConnection = await connectRedis(settings.redisUrl, { maxRetriesPerRequest: null });
    const queueEvents = new QueueEvents(TRANSCRIPTION_QUEUE, { connection: eventsConnection, prefix: settings.queuePrefix });
    undo.push(
      () => settlesWithin(queueEvents.close(), stepTimeout()),
      async () => eventsConnection.disconnect(),
    );
    queueEvents.on("failed", ({ jobId, failedReason }) => {
      if (!STALLED_LIMIT_REASON.test(failedReason)) return;
      void reportLostJob(jobId, failedReason).catch((error: unknown) => logger.error("lost_job_report_failed", { job_id: jobId, error }));
    });
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
          body: { job_id: jobId, status: "failed", error: { code: "engine_error", message: `The pool lost this job repeatedly: ${reason}`, retryable: false } },
        },
        settings,
      );
      logger.error("job_lost", { job_id: jobId, reason });
    };

    await Promise.all([transcriptionWorker.waitUntilReady(), callbackWorker.waitUntilReady(), queueEvents.waitUntilReady()]);
    closers.push(
      async () => {
        // finish what is in flight, take nothing new; past the deadline, force-close (the jobs stall and another
        // replica picks them up after lockDuration)
        const deadline = activeJobs.count > 0 ? settings.shutdownTimeoutMs : stepTimeout();
        if (!(await settlesWithin(transcriptionWorker.close(), deadline))) {
          logger.warn("shutdown_timeout", { active_jobs: activeJobs.count });
          await settlesWithin(transcriptionWorker.close(true), stepTimeout());
        }
      },
      () => settlesWithin(callbackWorker.close(), stepTimeout()),
      () => settlesWithin(queueEvents.close(), stepTimeout()),
      () => engine!.close(),
      () => closeRedis(workerConnection),
      () => closeRedis(eventsConnection),
    );
  } catch (error) {
    startupError = (error as Error).message;
    logger.error("pool_start_failed", { error });
    for (const step of undo.reverse()) await step().catch(() => undefined);
    await closeServer(server);
    await Promise.all([transcriptions.close(), callbacks.close()]).catch(() => undefined);
    queueConnection.disconnect();
    throw error;
  }

  const description = engine.description;
  if (description.synthetic) {
    const banner = "!".repeat(96);
    logger.warn("synthetic_model", { model: description.model, note: "RANDOM WEIGHTS: every transcript this pool produces is MEANINGLESS text." });
    if (settings.logLevel !== "silent") console.error(`\n${banner}\n!! WHISPER_MODEL=${settings.whisperModel}: synthetic random-weight model. Transcripts are MEANINGLESS. !!\n${banner}\n`);
  }
  logger.info("pool_ready", { url, engine: description, batch_size: settings.batchSize, job_concurrency: settings.jobConcurrency });

  let stopping: Promise<void> | null = null;
  return {
    url,
    settings,
    engine,
    metrics,
    scheduler: scheduler!,
    stop: () =>
      (stopping ??= (async () => {
        shuttingDown = true;
        logger.info("pool_stopping", { active_jobs: activeJobs.count });
        for (const close of closers) await close().catch((error: unknown) => logger.error("shutdown_step_failed", { error }));
        await settlesWithin(Promise.all([transcriptions.close(), callbacks.close()]), stepTimeout());
        await closeRedis(queueConnection);
        await closeServer(server);
        logger.info("pool_stopped");
      })()),
  };
}

async function createEngine(settings: PoolSettings, logger: Logger, metrics: PoolMetrics, fetchImpl?: typeof fetch): Promise<TranscriptionEngine> {
  if (settings.engine === "openai-compatible") {
    return new OpenAICompatibleEngine({
      baseURL: settings.openaiBaseUrl,
      apiKey: settings.openaiApiKey,
      model: settings.openaiModel,
      capacity: settings.batchSize,
      requestTimeoutMs: settings.openaiRequestTimeoutMs,
      startTimeoutMs: settings.engineStartTimeoutMs,
      wordTimestamps: settings.openaiWordTimestamps,
      logger,
      fetch: fetchImpl,
    });
  }
  const model = await resolveModel(settings.whisperModel, {
    cacheDir: settings.modelCacheDir,
    allowDownload: settings.modelAutoFetch,
    fetchImpl,
    onProgress: throttledProgress(logger, settings.whisperModel),
  });
  return new WhisperCppEngine({
    binding: settings.whisperBinding,
    modelPath: model.path,
    modelName: model.name,
    synthetic: model.synthetic,
    capacity: settings.batchSize,
    threads: settings.whisperThreads,
    maxTokens: settings.whisperMaxTokens,
    temperatureInc: settings.whisperTemperatureInc,
    bestOf: settings.whisperBestOf,
    useGpu: settings.whisperUseGpu,
    logger,
    onHostRestart: (reason) => metrics.engineRestarts.inc({ reason }),
  });
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
  const erased = async (): Promise<boolean> => job.data.erased_at !== undefined || (await eraser.isErased(job.id ?? body.job_id));
  if (await erased()) {
    log.info("callback_discarded_erased", { stage: "before_delivery" });
    return { discarded: "erased" };
  }
  const outcome = await deliverCallback(url, body, { keys: settings.callbackKeys, timeoutMs: settings.callbackTimeoutMs, traceparent, fetchImpl });
  if (outcome.kind !== "acknowledged" && (await erased())) {
    log.info("callback_discarded_erased", { stage: "after_attempt", http_status: outcome.status });
    return { discarded: "erased" };
  }
  if (outcome.kind === "acknowledged") {
    metrics.callbacks.inc({ outcome: "acknowledged" });
    log.info("callback_acknowledged", { status: body.status, http_status: outcome.status, attempt: job.attemptsMade + 1 });
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

async function connectRedis(url: string, overrides: RedisOptions): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, ...overrides });
  redis.on("error", () => undefined); // reconnects on its own; readiness and 503s report the outage
  await redis.connect();
  return redis;
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

/** True when `promise` settles within `ms`; a rejection counts as settled (shutdown goes on regardless). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** QUIT when Redis answers, otherwise drop the socket (an outage must not hold up shutdown). */
async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === "ready" && (await settlesWithin(redis.quit(), STOP_STEP_TIMEOUT_MS))) return;
  redis.disconnect();
}

function throttledProgress(logger: Logger, model: string): (received: number, total: number | null) => void {
  let lastLogged = 0;
  return (received, total) => {
    const now = Date.now();
    if (now - lastLogged < 5_000) return;
    lastLogged = now;
    logger.info("model_download_progress", { model, received_bytes: received, total_bytes: total });
  };
}
