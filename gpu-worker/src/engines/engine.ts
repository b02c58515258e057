/**
 * The one interface every transcription engine implements. The batch scheduler hands an engine a batch of
 * right-padded windows; the engine runs them together and settles each one separately.
 */

/** One window of one job, ready for the engine. */
export interface EngineWindow {
  /** 16 kHz mono float PCM, possibly right-padded with zeros beyond `durationMs`. */
  samples: Float32Array;
  /** The real (unpadded) length; the engine must not transcribe past it. */
  durationMs: number;
  /** ISO 639-1 code, or null to detect. */
  language: string | null;
  prompt: string | null;
  /** Aborted when the job times out or is cancelled: the engine must stop work on this window and free its slot. */
  signal?: AbortSignal;
}

/** A segment relative to the start of its window, in milliseconds. */
export interface EngineSegment {
  startMs: number;
  endMs: number;
  text: string;
  /** mean log-probability of the segment's tokens (≤ 0), when the engine gives token probabilities */
  avgLogprob?: number;
  /** probability that the segment holds no speech, when the engine reports it */
  noSpeechProb?: number;
}

/** Mean natural-log probability of tokens, or undefined without usable probabilities. */
export function meanLogprob(probabilities: readonly number[]): number | undefined {
  const usable = probabilities.filter((p) => Number.isFinite(p) && p > 0 && p <= 1);
  if (!usable.length) return undefined;
  return usable.reduce((sum, p) => sum + Math.log(p), 0) / usable.length;
}

/** A word relative to the start of its window, in milliseconds. */
export interface EngineWord {
  startMs: number;
  endMs: number;
  word: string;
}

/** What an engine returns for one window. */
export interface EngineWindowResult {
  segments: EngineSegment[];
  words?: EngineWord[];
  /** Detected or forced language (ISO 639-1), when the engine reports one. */
  language: string | null;
}

/** What a deployment sees of an engine in logs, `/readyz` and results. */
export interface EngineDescription {
  engine: "whispercpp" | "openai-compatible";
  /** The Node binding (whispercpp) or the server URL (openai-compatible). */
  backend: string;
  /** Reported as `result.model`. */
  model: string;
  /** True when the model has random weights and its text means nothing. */
  synthetic: boolean;
}

/** A transcription engine; one per pool process. */
export interface TranscriptionEngine {
  readonly description: EngineDescription;
  /** Most windows the engine runs at once (the batch size). */
  readonly capacity: number;
  /** True once the model is loaded and the engine can take work. */
  readonly ready: boolean;
  /** Loads the model; resolves when ready. */
  start(): Promise<void>;
  /** Runs the windows together; each settles on its own (a failed or aborted window does not fail the others). */
  transcribeBatch(windows: EngineWindow[]): Promise<PromiseSettledResult<EngineWindowResult>[]>;
  /** Frees the model; the pool calls it once its jobs drained, and windows still in flight then fail. */
  close(): Promise<void>;
}

/** Thrown for a window whose signal aborted. */
export class WindowAbortedError extends Error {
  constructor(reason?: unknown) {
    super("The window was cancelled.", { cause: reason });
    this.name = "WindowAbortedError";
  }
}
