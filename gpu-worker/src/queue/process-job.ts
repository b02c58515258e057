/**
 * What a pool worker does with one transcription job: fetch and decode the audio, cut it into windows, hand the
 * windows to the batch scheduler, stitch the results, and queue the signed callback. Failures are classified:
 * retryable ones go back to BullMQ for another attempt, terminal ones queue a failed callback and end the job.
 */
import { setMaxListeners } from "node:events";

import type { Dispatch } from "@vtt/pool-contract";
import { type Queue, UnrecoverableError } from "bullmq";

import { type DecodeOptions, fetchAndDecode } from "../audio/decode.ts";
import { probeChannels } from "../audio/probe.ts";
import { splitIntoWindows } from "../audio/windows.ts";
import { mergeChannels, transcribeChannels, windowsPerChannel } from "../batch/channels.ts";
import { GarbageLimit } from "../batch/garbage-limit.ts";
import type { BatchScheduler } from "../batch/scheduler.ts";
import { type StitchedTranscript, stitchWindows } from "../batch/stitch.ts";
import { type StreamedTranscription, transcribeStream } from "../batch/stream-job.ts";
import type { OptionsRefusal } from "../bridge/options.ts";
import type { CallbackBody } from "../callback/deliver.ts";
import type { PoolSettings } from "../config.ts";
import type { Diarizer } from "../diarization/diarizer.ts";
import { JobDiarization } from "../diarization/job-stage.ts";
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
  /** The diarization stage, when this pool has its models (speaker-label jobs; src/diarization/). */
  diarizer?: Diarizer;
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
    // (a multichannel job: up to one more window per channel, and each channel's decoder)
    setMaxListeners((settings.jobWindowsInFlight + settings.maxAudioChannels) * 4 + 16, timeout.signal);
    const timer = setTimeout(
      () => timeout.abort(new PoolJobError("timeout", `The job did not finish within ${settings.jobTimeoutMs} ms.`)),
      settings.jobTimeoutMs,
    );
    deps.activeJobs.count++;
    log.info("job_started", { attempt: job.attemptsMade + 1, queue_ms: queueMs });
    let diarization: JobDiarization | null = null;
    try {
      // a dispatch accepted while the model loaded, or one for another pool's model sharing this queue
      const refusal = deps.refuseOptions?.(data);
      if (refusal) throw new PoolJobError(refusal.code, refusal.detail, { retryable: false });
      if (await erased()) return discard("before_inference");
      if (data.speakers?.labels && deps.diarizer) {
        diarization = await JobDiarization.start(deps.diarizer, data.speakers, settings.maxDiarizationSeconds);
      }
      const decodeOptions = {
        ffmpegPath: settings.ffmpegPath,
        maxAudioBytes: settings.maxAudioBytes,
        maxAudioSeconds: settings.maxAudioSeconds,
        fetchTimeoutMs: settings.audioFetchTimeoutMs,
        urlPolicy: { local: settings.audioFetchLocal, allowedHosts: settings.audioFetchAllowedHosts },
        signal: timeout.signal,
        fetchImpl: deps.fetchImpl,
      };
      const submit = (samples: Float32Array, signal: AbortSignal, ownsBuffer = false): Promise<EngineWindowResult> => {
        // a speaker-label job keeps its samples for the diarization stage (before the scheduler pads the buffer)
        const tooLong = diarization?.append(samples);
        if (tooLong) return Promise.reject(tooLong);
        return scheduler.submit({
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
      };
      // the windows always run under the job's own signal (its timeout): cancelling a running window kills the engine
      // host, which a failed sibling channel must not do to the other jobs in its batch
      const transcribeAudio = (decode: DecodeOptions, maxWindowsInFlight: number): Promise<StreamedTranscription> =>
        settings.decodeMode === "whole"
          ? transcribeWhole(data.audio_url, decode, settings.windowSeconds, (samples) =>
              submit(samples, timeout.signal),
            )
          : transcribeStream(data.audio_url, {
              decode,
              windows: { maxWindowSeconds: settings.windowSeconds },
              maxWindowsInFlight,
              garbage,
              submit: (samples, _signal, ownsBuffer) => submit(samples, timeout.signal, ownsBuffer),
            });
      const language = task === "translate" ? "en" : data.language;
      const {
        streamed,
        transcript: stitched,
        probeMs,
      } = data.speakers?.multichannel
        ? await transcribeMultichannel(data.audio_url, decodeOptions, settings, transcribeAudio, language)
        : await transcribeAudio(decodeOptions, settings.jobWindowsInFlight).then((single) => ({
            streamed: single,
            transcript: stitchWindows(single.placements, single.results, language),
            probeMs: null,
          }));
      const inferenceMs = streamed.inferenceMs;
      let transcript = stitched;
      const diarized = diarization ? await diarization.label(transcript, timeout.signal) : null;
      if (diarized) {
        transcript = diarized.transcript;
        log.info("job_diarized", { ...diarized.report });
      }
      const totalMs = Date.now() - (data.dispatched_at ?? job.timestamp);
      const timings = {
        queue_ms: queueMs,
        ...(probeMs !== null ? { probe_ms: Math.round(probeMs) } : {}),
        fetch_ms: Math.round(streamed.fetchMs),
        decode_ms: Math.round(streamed.decodeMs),
        inference_ms: Math.round(inferenceMs),
        total_ms: totalMs,
        ...(diarized ? { diarization_ms: diarized.report.ms } : {}),
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
      await diarization?.dispose();
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
  submit: (samples: Float32Array) => Promise<EngineWindowResult>,
): Promise<StreamedTranscription> {
  const decoded = await fetchAndDecode(audioUrl, decodeOptions);
  const windows = splitIntoWindows(decoded.pcm, { maxWindowSeconds: windowSeconds });
  const inferenceStarted = performance.now();
  const outcomes = await Promise.allSettled(windows.map((window) => submit(window.samples)));
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

/**
 * A multichannel job (`speakers.multichannel`): ffprobe counts the channels, each channel is decoded and transcribed
 * on its own (at once, sharing the job's window budget), and the transcripts are merged by time with the channel as
 * the speaker. Mono audio is one channel: decoded as any job, every segment labelled `ch0`. The duration is the
 * audio's (every channel has it), so `MAX_AUDIO_SECONDS` caps audio seconds, not channels × seconds.
 */
async function transcribeMultichannel(
  audioUrl: string,
  decodeOptions: DecodeOptions,
  settings: PoolSettings,
  transcribeAudio: (decode: DecodeOptions, maxWindowsInFlight: number) => Promise<StreamedTranscription>,
  language: string | null,
): Promise<{ streamed: StreamedTranscription; transcript: StitchedTranscript; probeMs: number }> {
  const { channels, probeMs } = await probeChannels(audioUrl, { ...decodeOptions, ffprobePath: settings.ffprobePath });
  if (channels > settings.maxAudioChannels) {
    throw new PoolJobError(
      "invalid_audio",
      `The audio has ${channels} channels; this pool transcribes at most ${settings.maxAudioChannels} separately.`,
    );
  }
  const perChannel =
    channels === 1
      ? [await transcribeAudio(decodeOptions, settings.jobWindowsInFlight)]
      : await transcribeChannels(channels, (channel, stop) =>
          transcribeAudio(
            {
              ...decodeOptions,
              channel,
              signal: decodeOptions.signal ? AbortSignal.any([decodeOptions.signal, stop]) : stop,
            },
            windowsPerChannel(settings.jobWindowsInFlight, channels),
          ),
        );
  const transcript = mergeChannels(perChannel.map((c) => stitchWindows(c.placements, c.results, language)));
  const longest = (pick: (c: StreamedTranscription) => number): number => Math.max(...perChannel.map(pick));
  return {
    streamed: {
      placements: perChannel.flatMap((c) => c.placements),
      results: perChannel.flatMap((c) => c.results),
      durationSeconds: longest((c) => c.durationSeconds),
      fetchMs: longest((c) => c.fetchMs),
      decodeMs: longest((c) => c.decodeMs),
      inferenceMs: longest((c) => c.inferenceMs),
    },
    transcript,
    probeMs,
  };
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
