/**
 * A job's audio as a stream of windows: ffmpeg's samples are cut into windows as they arrive ({@link WindowCutter})
 * and each window goes to the engine (through the batch scheduler) as soon as it is final. A job holds at most
 * `maxWindowsInFlight` windows (queued or running); while it holds that many, the decoder is not read, so ffmpeg and
 * the audio download wait too. Memory per job is therefore bounded by the window size, not the audio's length, and
 * so is its garbage: a window's buffer goes back to the cutter once its result is in and is reused for a later window
 * (about `maxWindowsInFlight` + 1 buffers per job in all).
 */
import { type DecodeOptions, fetchAndDecodeStream } from "../audio/decode.ts";
import { type AudioWindow, WindowCutter, type WindowOptions } from "../audio/windows.ts";
import type { EngineWindowResult } from "../engines/engine.ts";
import type { GarbageLimit } from "./garbage-limit.ts";
import type { WindowPlacement } from "./stitch.ts";

/** Options for {@link transcribeStream}. */
export interface StreamJobOptions {
  decode: DecodeOptions;
  windows: WindowOptions;
  /** Windows one job may hold at once (≥ 1); ≥ the batch size lets one job fill a batch (intra-job batching). */
  maxWindowsInFlight: number;
  /**
   * Runs one window (the batch scheduler's `submit`, with the job's options); `signal` is the job's timeout.
   * `ownsBuffer` is true: the samples' buffer belongs to this window alone until the promise settles (the scheduler
   * may pad the window in place: `ScheduledWindow.ownsBuffer`).
   */
  submit: (samples: Float32Array, signal: AbortSignal, ownsBuffer: boolean) => Promise<EngineWindowResult>;
  /** The process's bound on uncollected garbage: told about every decoded chunk (none: V8's own pace). */
  garbage?: GarbageLimit;
  /** Called whenever the number of windows the job holds changes (tests, metrics). */
  onHeldWindows?: (held: number) => void;
}

/** The windows and their results, in order, plus timings. */
export interface StreamedTranscription {
  placements: WindowPlacement[];
  results: EngineWindowResult[];
  durationSeconds: number;
  fetchMs: number;
  decodeMs: number;
  /** From the first window's submission to the last result. */
  inferenceMs: number;
}

/**
 * Decodes `audioUrl` as a stream and transcribes its windows as they come. The first failure (decode or window)
 * stops ffmpeg and is rethrown once none of the job's windows is queued or running any more.
 */
export async function transcribeStream(audioUrl: string, options: StreamJobOptions): Promise<StreamedTranscription> {
  const limit = Math.max(1, Math.floor(options.maxWindowsInFlight));
  const stop = new AbortController();
  const jobSignal = options.decode.signal ?? stop.signal;
  const signal = options.decode.signal ? AbortSignal.any([options.decode.signal, stop.signal]) : stop.signal;
  const cutter = new WindowCutter(options.windows);
  const placements: WindowPlacement[] = [];
  const results: EngineWindowResult[] = [];
  const running = new Set<Promise<void>>();
  const state: { failure: { error: unknown } | null } = { failure: null };
  let inferenceStarted: number | null = null;
  let wake: (() => void) | null = null;

  const fail = (error: unknown): void => {
    state.failure ??= { error };
    stop.abort(error);
  };
  const start = (window: AudioWindow): void => {
    inferenceStarted ??= performance.now();
    placements[window.index] = { startSample: window.startSample, sampleCount: window.samples.length };
    // the job's own signal (timeout), not `stop`: cancelling a running window kills the engine host, which a failed
    // sibling window must not do to the other jobs in its batch; the job's queued windows (≤ the limit) still run
    const task = options.submit(window.samples, jobSignal, true).then(
      (result) => {
        results[window.index] = result;
      },
      (error: unknown) => fail(error),
    );
    const tracked = task.finally(() => {
      // the engine is done with the samples (settled: run, failed or aborted before it ran): reuse the buffer
      cutter.release(window);
      running.delete(tracked);
      options.onHeldWindows?.(running.size);
      wake?.();
    });
    running.add(tracked);
    options.onHeldWindows?.(running.size);
  };
  /** Resolves once the job may hold one more window (or it must stop). */
  const room = (): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (running.size < limit || signal.aborted) {
          wake = null;
          signal.removeEventListener("abort", check);
          resolve();
        } else wake = check;
      };
      signal.addEventListener("abort", check);
      check();
    });
  const emit = async (windows: AudioWindow[]): Promise<void> => {
    for (const window of windows) {
      await room();
      if (signal.aborted) throw state.failure?.error ?? signal.reason;
      start(window);
    }
  };

  let decoded: Awaited<ReturnType<typeof fetchAndDecodeStream>> | undefined;
  try {
    decoded = await fetchAndDecodeStream(audioUrl, { ...options.decode, signal }, (samples) => {
      options.garbage?.note(samples.byteLength);
      return emit(cutter.push(samples));
    });
    await emit(cutter.finish());
  } catch (error) {
    fail(error);
  }
  while (running.size > 0) await Promise.all(running);
  // a window's failure is the cause; the decoder's abort that followed it is only its echo
  if (state.failure) throw state.failure.error;
  return {
    placements,
    results,
    durationSeconds: decoded!.durationSeconds,
    fetchMs: decoded!.fetchMs,
    decodeMs: decoded!.decodeMs,
    inferenceMs: inferenceStarted === null ? 0 : performance.now() - inferenceStarted,
  };
}
