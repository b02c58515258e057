/**
 * The batch scheduler: gathers windows from several jobs (up to `batchSize`, waiting at most `batchWaitMs` after the
 * first one arrives), sorts them by length, right-pads each to the batch's longest and runs them through the engine
 * together. One batch runs at a time; the next one forms while it runs.
 */
import { padInPlace, rightPad, SAMPLE_RATE } from "../audio/windows.ts";
import {
  type EngineWindow,
  type EngineWindowResult,
  type TranscriptionEngine,
  WindowAbortedError,
  type WindowOptions,
} from "../engines/engine.ts";

/**
 * A window handed to the scheduler: unpadded samples plus the job's decoding options. Windows of different tasks,
 * temperatures and word settings share a batch: each is its own engine call (a whisper.cpp state with its own params,
 * or its own server request), so nothing about them has to match; the pool runs one model.
 */
export interface ScheduledWindow extends WindowOptions {
  samples: Float32Array;
  /**
   * The samples' whole `ArrayBuffer` belongs to this window until its promise settles (a streamed job's window
   * buffer, {@link WindowCutter.release}): padding then zero-fills the buffer past the samples instead of allocating
   * a padded copy. Never set it for a view into shared audio (whole-file decode), whose next window would be erased.
   */
  ownsBuffer?: boolean;
  language: string | null;
  prompt: string | null;
  signal?: AbortSignal;
}

/** Reported after every batch (metrics, logs, benchmarks). */
export interface BatchReport {
  size: number;
  /** Samples the engine was given, padding included. */
  paddedSamples: number;
  /** Samples of real audio. */
  audioSamples: number;
  wallMs: number;
  /** How long the batch's oldest window waited to be scheduled. */
  maxWaitMs: number;
}

/** Options for {@link BatchScheduler}. */
export interface BatchSchedulerOptions {
  engine: TranscriptionEngine;
  batchSize: number;
  batchWaitMs: number;
  onBatch?: (report: BatchReport) => void;
}

interface Entry {
  window: ScheduledWindow;
  enqueuedAt: number;
  resolve: (result: EngineWindowResult) => void;
  reject: (error: unknown) => void;
  detach: () => void;
}

/** Forms batches across jobs and feeds them to one engine. */
export class BatchScheduler {
  readonly #engine: TranscriptionEngine;
  readonly #batchSize: number;
  readonly #batchWaitMs: number;
  readonly #onBatch?: (report: BatchReport) => void;
  #pending: Entry[] = [];
  #running: Promise<void> | null = null;
  #runningSize = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(options: BatchSchedulerOptions) {
    if (options.batchSize < 1 || options.batchSize > options.engine.capacity) {
      throw new Error(`batchSize must be between 1 and the engine's capacity (${options.engine.capacity})`);
    }
    this.#engine = options.engine;
    this.#batchSize = options.batchSize;
    this.#batchWaitMs = Math.max(0, options.batchWaitMs);
    this.#onBatch = options.onBatch;
  }

  /** Windows waiting for a batch. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Windows in the batch the engine is running now. */
  get runningCount(): number {
    return this.#runningSize;
  }

  /** Queues one window; resolves with its result, rejects with {@link WindowAbortedError} when its signal aborts. */
  submit(window: ScheduledWindow): Promise<EngineWindowResult> {
    if (window.signal?.aborted) return Promise.reject(new WindowAbortedError(window.signal.reason));
    return new Promise<EngineWindowResult>((resolve, reject) => {
      const entry: Entry = { window, enqueuedAt: performance.now(), resolve, reject, detach: () => undefined };
      if (window.signal) {
        const signal = window.signal;
        const onAbort = (): void => {
          const at = this.#pending.indexOf(entry);
          // a window already in the engine is cancelled by the engine itself
          if (at >= 0) {
            this.#pending.splice(at, 1);
            reject(new WindowAbortedError(signal.reason));
          }
        };
        signal.addEventListener("abort", onAbort, { once: true });
        entry.detach = () => signal.removeEventListener("abort", onAbort);
      }
      this.#pending.push(entry);
      this.#schedule();
    });
  }

  /** Resolves once nothing is pending or running. */
  async drain(): Promise<void> {
    while (this.#running || this.#pending.length > 0) {
      if (this.#running) await this.#running;
      else await new Promise((resolve) => setTimeout(resolve, Math.max(1, this.#batchWaitMs)));
    }
  }

  #schedule(): void {
    if (this.#running || this.#pending.length === 0) return;
    const waitedMs = performance.now() - this.#pending[0]!.enqueuedAt;
    if (this.#pending.length >= this.#batchSize || waitedMs >= this.#batchWaitMs) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = null;
      this.#running = this.#runBatch().finally(() => {
        this.#running = null;
        this.#runningSize = 0;
        this.#schedule();
      });
      return;
    }
    this.#timer ??= setTimeout(() => {
      this.#timer = null;
      this.#schedule();
    }, this.#batchWaitMs - waitedMs);
  }

  async #runBatch(): Promise<void> {
    // oldest first keeps the wait bounded; inside the batch, longest first
    const entries = this.#pending
      .splice(0, this.#batchSize)
      .sort((a, b) => b.window.samples.length - a.window.samples.length);
    this.#runningSize = entries.length;
    const longest = entries[0]!.window.samples.length;
    const started = performance.now();
    const maxWaitMs = Math.max(...entries.map((e) => started - e.enqueuedAt));
    const windows: EngineWindow[] = entries.map(({ window }) => ({
      samples: window.ownsBuffer ? padInPlace(window.samples, longest) : rightPad(window.samples, longest),
      durationMs: Math.round((window.samples.length / SAMPLE_RATE) * 1000),
      language: window.language,
      prompt: window.prompt,
      task: window.task,
      temperature: window.temperature,
      wordTimestamps: window.wordTimestamps,
      signal: window.signal,
    }));
    let outcomes: PromiseSettledResult<EngineWindowResult>[];
    try {
      outcomes = await this.#engine.transcribeBatch(windows);
    } catch (error) {
      outcomes = entries.map(() => ({ status: "rejected", reason: error }));
    }
    entries.forEach((entry, i) => {
      entry.detach();
      const outcome = outcomes[i];
      if (outcome?.status === "fulfilled") entry.resolve(outcome.value);
      else entry.reject(outcome?.reason ?? new Error("the engine returned no result for a window"));
    });
    this.#onBatch?.({
      size: entries.length,
      paddedSamples: longest * entries.length,
      audioSamples: entries.reduce((sum, e) => sum + e.window.samples.length, 0),
      wallMs: performance.now() - started,
      maxWaitMs,
    });
  }
}
