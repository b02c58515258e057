/**
 * What a pool worker does with one transcription job: fetch and decode the audio, cut it into windows, hand the
 * windows to the batch scheduler, stitch the results, and queue the signed callback. Failures are classified:
 * retryable ones go back to BullMQ for another attempt, terminal ones queue a failed callback and end the job.
 */
import { setMaxListeners } from "node:events";

import type { Dispatch } from "@vtt/pool-contract";
import { type Queue, UnrecoverableError } from "bullmq";

import { type DecodeOptions, fetchAndDecode } from "../audio/decode.ts";
import { splitIntoWindows } from "../audio/windows.ts";
import { GarbageLimit } from "../batch/garbage-limit.ts";
import type { BatchScheduler } from "../batch/scheduler.ts";
import { stitchWindows } from "../batch/stitch.ts";
import { type StreamedTranscription, transcribeStream } from "../batch/stream-job.ts";
import type { OptionsRefusal } from "../bridge/options.ts";
import type { CallbackBody } from "../callback/deliver.ts";
import type { PoolSettings } from "../config.ts";
import { type EngineWindowResult, WindowAbortedError } from "../engines/engine.ts";
import { PoolJobError, publicMessage, toPoolJobError } from "../errors.ts";
import { type Logger, traceIdFromTraceparent } from "../log.ts";
import type { PoolMetrics } from "../metrics.ts";
import { type CallbackJobData, enqueueCallback, type TranscriptionJob } from "./queues.ts";

/** What the processor needs. */
export interface JobProcessorDeps {
  settings: PoolSettings;
  scheduler: BatchScheduler;
  callbacks: Queue<CallbackJobData>;
  metrics: PoolMetrics;
  logger: Logger;
  /** `result.model` */
  modelName: string;
  /** Why the engine cannot run this job's model or task (bridge/options.ts); such a job fails at once. */
  refuseOptions?: (
    data: Pick<Dispatch, "model" | "task"> & Partial<Pick<Dispatch, "speakers">>,
  ) => OptionsRefusal | null;
  /** Counts jobs this process holds (metrics). */
  activeJobs: { count: number };
  /** Tells whether a job was erased while it ran (queue/erase.ts); its work is then discarded, never delivered. */
  erasure?: { isErased(jobId: string): Promise<boolean> };
  fetchImpl?: typeof fetch;
}

/** What a transcription job returns to BullMQ (its `returnvalue`). */
export type JobResult = { segments: number } | { discarded: "erased" };

/** Builds the BullMQ processor function for the `transcriptions` queue. */
export function createJobProcessor(deps: JobProcessorDeps): (job: TranscriptionJob) => Promise<JobResult> {
  const { settings, scheduler, metrics } = deps;
  // one for all the jobs of this process: the garbage is the process's
  const garbage =
    settings.gcSlackMib > 0
      ? new GarbageLimit({ slackBytes: settings.gcSlackMib * 2 ** 20, maxTimeShare: settings.gcMaxSharePercent / 100 })
      : undefined;
  return async (job) => {
    const data = job.data;
    const log = deps.logger.child({ job_id: data.job_id, trace_id: traceIdFromTraceparent(data.traceparent) });
    // erased while queued, or while an earlier attempt ran: drop it without touching the (blanked) data
    const erased = async (): Promise<boolean> =>
      data.erased_at !== undefined || ((await deps.erasure?.isErased(job.id ?? data.job_id)) ?? false);
    const discard = (stage: string): JobResult => {
      log.info("job_discarded_erased", { stage });
      return { discarded: "erased" };
    };
    if (await erased()) return discard("start");
    const task = data.task ?? "transcribe";
    const startedAt = Date.now();
    const queueMs = Math.max(0, startedAt - (data.dispatched_at ?? job.timestamp));
    const timeout = new AbortController();
    // every window in flight listens to the job's signal (scheduler, engine, decoder): a bounded number in stream mode
    setMaxListeners(settings.jobWindowsInFlight * 4 + 16, timeout.signal);
    const timer = setTimeout(
      () => timeout.abort(new PoolJobError("timeout", `The job did not finish within ${settings.jobTimeoutMs} ms.`)),
      settings.jobTimeoutMs,
    );
    deps.activeJobs.count++;
    log.info("job_started", { attempt: job.attemptsMade + 1, queue_ms: queueMs });
    try {
      // a dispatch accepted while the model loaded, or one for another pool's model sharing this queue
      const refusal = deps.refuseOptions?.(data);
      if (refusal) throw new PoolJobError(refusal.code, refusal.detail, { retryable: false });
      if (await erased()) return discard("before_inference");
      const decodeOptions = {
        ffmpegPath: settings.ffmpegPath,
        maxAudioBytes: settings.maxAudioBytes,
        maxAudioSeconds: settings.maxAudioSeconds,
        fetchTimeoutMs: settings.audioFetchTimeoutMs,
        urlPolicy: { local: settings.audioFetchLocal, allowedHosts: settings.audioFetchAllowedHosts },
        signal: timeout.signal,
        fetchImpl: deps.fetchImpl,
      };
      const submit = (samples: Float32Array, signal: AbortSignal, ownsBuffer = false): Promise<EngineWindowResult> =>
        scheduler.submit({
          samples,
          ownsBuffer,
          language: data.language,
          prompt: data.prompt,
          // a job dispatched by an older edge (or queued before an upgrade) has none of these
          task,
          temperature: data.temperature ?? null,
          wordTimestamps: data.word_timestamps ?? false,
          signal,
        });
      const streamed =
        settings.decodeMode === "whole"
          ? await transcribeWhole(data.audio_url, decodeOptions, settings.windowSeconds, submit)
          : await transcribeStream(data.audio_url, {
              decode: decodeOptions,
              windows: { maxWindowSeconds: settings.windowSeconds },
              maxWindowsInFlight: settings.jobWindowsInFlight,
              garbage,
              submit,
            });
      const inferenceMs = streamed.inferenceMs;
      const transcript = stitchWindows(
        streamed.placements,
        streamed.results,
        task === "translate" ? "en" : data.language,
      );
      const totalMs = Date.now() - (data.dispatched_at ?? job.timestamp);
      const timings = {
        queue_ms: queueMs,
        fetch_ms: Math.round(streamed.fetchMs),
        decode_ms: Math.round(streamed.decodeMs),
        inference_ms: Math.round(inferenceMs),
        total_ms: totalMs,
      };
      if (await erased()) return discard("after_inference");
      const body: CallbackBody = {
        job_id: data.job_id,
        status: "completed",
        result: {
          ...transcript,
          duration_seconds: round3(streamed.durationSeconds),
          model: deps.modelName,
          task,
          timings,
        },
      };
      await enqueueCallback(
        deps.callbacks,
        { callback_url: data.callback_url, body, traceparent: data.traceparent },
        settings,
      );
      metrics.jobsCompleted.inc();
      metrics.audioSeconds.inc(streamed.durationSeconds);
      metrics.realTimeFactor.observe(inferenceMs / 1000 / streamed.durationSeconds);
      for (const [phase, ms] of [
        ["queue", queueMs],
        ["fetch", timings.fetch_ms],
        ["decode", timings.decode_ms],
        ["inference", inferenceMs],
        ["total", totalMs],
      ] as const) {
        metrics.latency.observe({ phase }, ms / 1000);
      }
      log.info("job_completed", {
        windows: streamed.placements.length,
        segments: transcript.segments.length,
        duration_seconds: streamed.durationSeconds,
        ...timings,
      });
      return { segments: transcript.segments.length };
    } catch (thrown) {
      const error =
        timeout.signal.aborted &&
        (thrown instanceof WindowAbortedError || thrown === timeout.signal.reason || isAbortError(thrown))
          ? (timeout.signal.reason as PoolJobError)
          : toPoolJobError(thrown);
      // an erased job neither retries nor reports its failure
      if (await erased()) return discard("after_failure");
      const terminal = !error.retryable || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      metrics.jobsFailed.inc({ code: error.code, terminal: String(terminal) });
      log.warn("job_failed", { code: error.code, message: error.message, terminal, attempt: job.attemptsMade + 1 });
      if (!terminal) throw error;
      const body: CallbackBody = {
        job_id: data.job_id,
        status: "failed",
        error: { code: error.code, message: publicMessage(error.message), retryable: false },
      };
      await enqueueCallback(
        deps.callbacks,
        { callback_url: data.callback_url, body, traceparent: data.traceparent },
        settings,
      );
      throw new UnrecoverableError(`${error.code}: ${error.message}`);
    } finally {
      clearTimeout(timer);
      deps.activeJobs.count--;
    }
  };
}

/**
 * `DECODE_MODE=whole`: the whole file decoded into memory, then every window queued at once (the path before
 * streaming; kept to compare against, docs/benchmarks.md).
 */
async function transcribeWhole(
  audioUrl: string,
  decodeOptions: DecodeOptions,
  windowSeconds: number,
  submit: (samples: Float32Array, signal: AbortSignal) => Promise<EngineWindowResult>,
): Promise<StreamedTranscription> {
  const decoded = await fetchAndDecode(audioUrl, decodeOptions);
  const windows = splitIntoWindows(decoded.pcm, { maxWindowSeconds: windowSeconds });
  const inferenceStarted = performance.now();
  const outcomes = await Promise.allSettled(windows.map((window) => submit(window.samples, decodeOptions.signal!)));
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
  if (failed) throw failed.reason;
  return {
    placements: windows.map((w) => ({ startSample: w.startSample, sampleCount: w.samples.length })),
    results: outcomes.map((o) => (o as PromiseFulfilledResult<EngineWindowResult>).value),
    durationSeconds: decoded.durationSeconds,
    fetchMs: decoded.fetchMs,
    decodeMs: decoded.decodeMs,
    inferenceMs: performance.now() - inferenceStarted,
  };
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
