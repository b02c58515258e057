/**
 * The one interface every transcription engine implements. The batch scheduler hands an engine a batch of
 * right-padded windows; the engine runs them together and settles each one separately.
 */

/** What a window asks of the engine: transcribe in the spoken language, or translate into English. */
export type EngineTask = "transcribe" | "translate";

/** The job's decoding options, carried by each of its windows (every window is its own engine call). */
export interface WindowOptions {
  task: EngineTask;
  /** initial sampling temperature; null = the engine's default (0: greedy) */
  temperature: number | null;
  /** give word timings in the result */
  wordTimestamps: boolean;
}

/** The options of a job that asked for nothing special. */
export const DEFAULT_WINDOW_OPTIONS: WindowOptions = { task: "transcribe", temperature: null, wordTimestamps: false };

/** One window of one job, ready for the engine. */
export interface EngineWindow extends WindowOptions {
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

/** A decoded token with its timing (whisper.cpp's token timestamps), times in ms from the window's start. */
export interface TimedToken {
  text: string;
  startMs: number;
  endMs: number;
}

/** whisper.cpp names its special tokens `[_BEG_]`, `[_TT_123]`, `[_EOT_]`, …; they are no part of any word. */
const SPECIAL_TOKEN = /^\[_.*\]$|^<\|.*\|>$/;

/**
 * Groups tokens into words: a token that starts with a space (BPE's word boundary) starts a word, the others extend
 * it; special tokens are skipped. A word spans its first token's start to its last token's end.
 */
export function wordsFromTokens(tokens: readonly TimedToken[]): EngineWord[] {
  const words: EngineWord[] = [];
  let current: EngineWord | null = null;
  for (const token of tokens) {
    if (SPECIAL_TOKEN.test(token.text) || token.text === "") continue;
    if (current === null || token.text.startsWith(" ")) {
      if (current) words.push(current);
      current = { startMs: token.startMs, endMs: token.endMs, word: token.text };
    } else {
      current.word += token.text;
      current.endMs = Math.max(current.endMs, token.endMs);
    }
  }
  if (current) words.push(current);
  return words
    .map((w) => ({ ...w, word: w.word.trim() }))
    .filter((w) => w.word !== "")
    .map((w) => ({ ...w, endMs: Math.max(w.endMs, w.startMs) }));
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
  /** False when the model is English-only (whisper.cpp: vocabulary under 51865): a translate task is refused. */
  translates: boolean;
  /** Word timings on request (whisper.cpp through smart-whisper, OpenAI-compatible servers); @fugood gives none. */
  wordTimestamps: boolean;
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
