/**
 * The pool's composition root: `startPool(options)` wires settings, queues, HTTP server, engine, batch scheduler,
 * lost-job watcher and BullMQ workers, and returns `{ url, stop() }`. Used by `main.ts`, by the pool's tests and by
 * the edge's end-to-end test. Each step records what it opened in a {@link Lifecycle}, which closes it in reverse
 * order on stop, and also when start-up fails half way.
 */
import type http from "node:http";

import { Queue } from "bullmq";
import type { Redis } from "ioredis";

import { redactAudio } from "./audio/redact.ts";
import { SAMPLE_RATE } from "./audio/windows.ts";
import { BatchScheduler } from "./batch/scheduler.ts";
import { refuseOptions, servedModelNames } from "./bridge/options.ts";
import { diarizationConfigured, type PoolOptions, type PoolSettings, resolvePoolSettings } from "./config.ts";
import type { Diarizer } from "./diarization/diarizer.ts";
import { startDiarizer } from "./diarization/start.ts";
import type { TranscriptionEngine } from "./engines/engine.ts";
import { OpenAICompatibleEngine } from "./engines/openai-compatible.ts";
import { WhisperCppEngine } from "./engines/whispercpp.ts";
import { startHttpServer } from "./http/server.ts";
import { Lifecycle, settlesWithin } from "./lifecycle.ts";
import { createLogger, type Logger } from "./log.ts";
import { createPoolMetrics, type PoolMetrics } from "./metrics.ts";
import { resolveModel } from "./models/resolve.ts";
import { closeRedis, connectRedis } from "./queue/connections.ts";
import { JobEraser } from "./queue/erase.ts";
import { watchLostJobs } from "./queue/lost-jobs.ts";
import {
  CALLBACK_QUEUE,
  type CallbackJobData,
  enqueueDispatch,
  TRANSCRIPTION_QUEUE,
  type TranscriptionJobData,
} from "./queue/queues.ts";
import { startWorkers } from "./queue/workers.ts";

/** Bound on each shutdown step other than draining jobs in flight. */
const STOP_STEP_TIMEOUT_MS = 5_000;
/** The same bound while Redis is unreachable. */
const OUTAGE_STOP_STEP_TIMEOUT_MS = 250;
/** How much longer than one job attempt an erasure marker lives when its job never reports back. */
const ERASURE_MARKER_MARGIN_SECONDS = 60;

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

/** The queues' connection, both queues and the eraser that works on them. */
interface PoolQueues {
  connection: Redis;
  transcriptions: Queue<TranscriptionJobData>;
  callbacks: Queue<CallbackJobData>;
  eraser: JobEraser;
}

/**
 * Starts a pool and resolves once it is ready (model loaded, workers consuming).
 * The HTTP server comes up before the engine, so `/healthz` answers and `/readyz` says 503 while the model loads.
 * Opening order: queue connection, queues, HTTP server, engine, lost-job watcher, worker connection, callback
 * worker, transcription worker; {@link Lifecycle.close} undoes it from the end.
 */
export async function startPool(options: PoolOptions & StartPoolHooks): Promise<RunningPool> {
  const { fetchImpl, engineInstance, logger: givenLogger, ...poolOptions } = options;
  const settings = resolvePoolSettings(poolOptions);
  const logger = givenLogger ?? createLogger({ level: settings.logLevel });
  const lifecycle = new Lifecycle(logger);
  const activeJobs = { count: 0 };
  let shuttingDown = false;
  let startupError: string | null = null;
  let engine: TranscriptionEngine | undefined = engineInstance;
  let scheduler: BatchScheduler | undefined;
  let diarizer: Diarizer | undefined;
  let queues: PoolQueues | undefined;
  // with Redis down, BullMQ's close() calls wait on reconnects that never come: do not let each step wait long
  const stepTimeout = (): number =>
    queues?.connection.status === "ready" ? STOP_STEP_TIMEOUT_MS : OUTAGE_STOP_STEP_TIMEOUT_MS;

  let url: string;
  let metrics: PoolMetrics;
  try {
    const { transcriptions, callbacks, eraser, connection } = (queues = await openQueues(
      settings,
      lifecycle,
      stepTimeout,
    ));
    metrics = createPoolMetrics({
      queueCounts: () => transcriptions.getJobCounts("waiting", "prioritized", "active", "delayed", "failed"),
      saturation: () => ({
        busy: scheduler?.runningCount ?? 0,
        capacity: settings.batchSize,
        activeJobs: activeJobs.count,
      }),
    });
    const http = await startHttpServer(settings.host, settings.port, {
      bridgeKeys: settings.bridgeKeys,
      signatureToleranceSeconds: settings.signatureToleranceSeconds,
      enqueue: (dispatch) => enqueueDispatch(transcriptions, callbacks, dispatch, settings, eraser),
      refuseOptions: (dispatch) => {
        const description = engine?.ready ? engine.description : null;
        // a pool with the diarization models configured takes speaker-label jobs while they load (checked again later)
        return refuseOptions(
          dispatch,
          servedModelNames(settings, description),
          description,
          diarizationConfigured(settings),
        );
      },
      erase: (jobId) => eraser.erase(jobId),
      redact: (request) =>
        redactAudio(request, {
          ffmpegPath: settings.ffmpegPath,
          maxAudioBytes: settings.maxAudioBytes,
          maxAudioSeconds: settings.maxAudioSeconds,
          fetchTimeoutMs: settings.audioFetchTimeoutMs,
          urlPolicy: { local: settings.audioFetchLocal, allowedHosts: settings.audioFetchAllowedHosts },
          uploadTimeoutMs: settings.redactionUploadTimeoutMs,
        }),
      maxConcurrentRedactions: settings.maxConcurrentRedactions,
      notReadyReason: () => {
        if (startupError) return `startup failed: ${startupError}`;
        if (shuttingDown) return "shutting down";
        if (!engine?.ready) return "model loading";
        if (connection.status !== "ready") return "redis unreachable";
        return null;
      },
      readinessDetail: () => ({
        engine: engine?.description ?? null,
        batch_size: settings.batchSize,
        ...(diarizer ? { diarization: diarizer.description } : {}),
      }),
      metrics,
      metricsToken: settings.metricsToken,
      logger,
    });
    lifecycle.opened("http server", () => closeServer(http.server));
    url = http.url;
    logger.info("pool_http_listening", { url });

    const startedEngine = (engine ??= await createEngine(settings, logger, metrics, fetchImpl));
    lifecycle.opened("engine", () => startedEngine.close());
    await startedEngine.start();
    scheduler = createScheduler(settings, startedEngine, metrics, logger);
    diarizer = diarizationConfigured(settings)
      ? await startDiarizer(settings, logger, lifecycle, fetchImpl)
      : undefined;

    await watchLostJobs({ settings, transcriptions, callbacks, eraser, logger, lifecycle, stepTimeout });
    await startWorkers({
      settings,
      scheduler,
      callbacks,
      eraser,
      metrics,
      logger,
      modelName: startedEngine.description.model,
      refuseOptions: (data) =>
        refuseOptions(
          data,
          servedModelNames(settings, startedEngine.description),
          startedEngine.description,
          diarizer?.ready ?? false,
        ),
      diarizer,
      activeJobs,
      lifecycle,
      stepTimeout,
      fetchImpl,
    });
  } catch (error) {
    startupError = (error as Error).message;
    logger.error("pool_start_failed", { error, opened: lifecycle.openNames });
    await lifecycle.close();
    throw error;
  }

  const description = engine.description;
  if (description.synthetic) {
    const banner = "!".repeat(96);
    logger.warn("synthetic_model", {
      model: description.model,
      note: "RANDOM WEIGHTS: every transcript this pool produces is MEANINGLESS text.",
    });
    if (settings.logLevel !== "silent")
      console.error(
        `\n${banner}\n!! WHISPER_MODEL=${settings.whisperModel}: synthetic random-weight model. Transcripts are MEANINGLESS. !!\n${banner}\n`,
      );
  }
  logger.info("pool_ready", {
    url,
    engine: description,
    batch_size: settings.batchSize,
    job_concurrency: settings.jobConcurrency,
  });

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
        await lifecycle.close();
        logger.info("pool_stopped");
      })()),
  };
}

/** The queues' connection (fails fast while Redis is down), both queues and the eraser. */
async function openQueues(
  settings: PoolSettings,
  lifecycle: Lifecycle,
  stepTimeout: () => number,
): Promise<PoolQueues> {
  const connection = await connectRedis(settings.redisUrl, {
    // the ingress must fail fast (503) when Redis is down, not queue commands in memory
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
  });
  lifecycle.opened("queue connection", () => closeRedis(connection));
  const transcriptions = new Queue<TranscriptionJobData>(TRANSCRIPTION_QUEUE, {
    connection,
    prefix: settings.queuePrefix,
  });
  const callbacks = new Queue<CallbackJobData>(CALLBACK_QUEUE, { connection, prefix: settings.queuePrefix });
  lifecycle.opened("queues", () =>
    settlesWithin(Promise.all([transcriptions.close(), callbacks.close()]), stepTimeout()),
  );
  const eraser = new JobEraser({
    redis: connection,
    transcriptions,
    callbacks,
    prefix: settings.queuePrefix,
    markerTtlSeconds:
      (Math.max(settings.jobTimeoutMs, settings.callbackTimeoutMs) + settings.lockDurationMs) / 1000 +
      ERASURE_MARKER_MARGIN_SECONDS,
  });
  return { connection, transcriptions, callbacks, eraser };
}

/** The batch scheduler in front of the engine, reporting each batch to metrics and logs. */
function createScheduler(
  settings: PoolSettings,
  engine: TranscriptionEngine,
  metrics: PoolMetrics,
  logger: Logger,
): BatchScheduler {
  return new BatchScheduler({
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
        padding_ratio:
          report.paddedSamples > 0 ? Number((1 - report.audioSamples / report.paddedSamples).toFixed(3)) : 0,
      });
    },
  });
}

async function createEngine(
  settings: PoolSettings,
  logger: Logger,
  metrics: PoolMetrics,
  fetchImpl?: typeof fetch,
): Promise<TranscriptionEngine> {
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
    multilingual: model.multilingual,
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

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
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
