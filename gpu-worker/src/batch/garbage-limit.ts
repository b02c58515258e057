/**
 * Bounds the garbage a streamed job leaves behind for V8 to collect. A long job retains a bounded set (its windows,
 * the read-ahead, the cutter), but it turns over gigabytes of short-lived Buffers: ffmpeg's pipe reads, the body's
 * chunks, each window's copy to the engine (structured clone to the whisper.cpp host, WAV and multipart for a
 * server). V8 collects ArrayBuffer memory only once it has grown about 64 MiB past what its last collection left,
 * so the peak RSS of a long job sat that far above a short one's (docs/benchmarks.md). This collects as soon as
 * ArrayBuffer memory has grown `slackBytes` past the last collection's level instead: the peak then follows the
 * live set plus the slack, whatever the audio's length.
 *
 * A forced collection is a full, atomic one on the main thread (about 40–160 ms for the pool's heap on the loaded
 * test machine), so the limit also caps the share of time spent in them (`maxTimeShare`): after a collection of
 * d ms the next waits at least d × (1 / share − 1). A pipeline that turns buffers over faster than that (an instant engine,
 * docs/benchmarks.md) then holds more garbage, never more than V8's own pace would; at inference speeds the cap is
 * not reached.
 */
import v8 from "node:v8";
import { runInNewContext } from "node:vm";

/** Decoded bytes between two looks at the process's ArrayBuffer memory (a look costs about 50 µs). */
export const GARBAGE_CHECK_BYTES = 1024 * 1024;
/** Default of {@link GarbageLimitOptions.maxTimeShare}. */
export const DEFAULT_MAX_TIME_SHARE = 0.05;

/** Options for {@link GarbageLimit}; the defaults are the process's own. */
export interface GarbageLimitOptions {
  /** Growth of ArrayBuffer memory past the last collection's level that triggers a collection (> 0). */
  slackBytes: number;
  /** Largest share of wall time spent in these collections, 0–1 (default {@link DEFAULT_MAX_TIME_SHARE}). */
  maxTimeShare?: number;
  /** Milliseconds now (default `performance.now()`). */
  now?: () => number;
  /** Bytes of decoded audio between two looks (default {@link GARBAGE_CHECK_BYTES}). */
  checkEveryBytes?: number;
  /** ArrayBuffer memory now (default `process.memoryUsage().arrayBuffers`). */
  arrayBuffers?: () => number;
  /** A full, synchronous collection (default V8's `gc`, see {@link exposedGc}). */
  collect?: () => void;
}

/** One per process: every streamed job reports its decoded bytes to it (`stream-job.ts`). */
export class GarbageLimit {
  readonly #slack: number;
  readonly #checkEvery: number;
  readonly #arrayBuffers: () => number;
  readonly #collect: () => void;
  readonly #share: number;
  readonly #now: () => number;
  /** No collection before this time (the time share). */
  #notBefore = 0;
  #collectingMs = 0;
  #sinceCheck = 0;
  #floor: number;
  #collections = 0;

  constructor(options: GarbageLimitOptions) {
    if (!(options.slackBytes > 0)) throw new Error("slackBytes must be positive");
    this.#slack = options.slackBytes;
    this.#checkEvery = options.checkEveryBytes ?? GARBAGE_CHECK_BYTES;
    this.#arrayBuffers = options.arrayBuffers ?? (() => process.memoryUsage().arrayBuffers);
    this.#collect = options.collect ?? exposedGc();
    this.#share = options.maxTimeShare ?? DEFAULT_MAX_TIME_SHARE;
    if (!(this.#share > 0 && this.#share <= 1)) throw new Error("maxTimeShare must be in (0, 1]");
    this.#now = options.now ?? (() => performance.now());
    this.#floor = this.#arrayBuffers();
  }

  /** Collections this limit has run (tests, metrics). */
  get collections(): number {
    return this.#collections;
  }

  /** Time spent in those collections, ms. */
  get collectingMs(): number {
    return this.#collectingMs;
  }

  /** Counts `bytes` of decoded audio; every `checkEveryBytes` compares ArrayBuffer memory with the slack. */
  note(bytes: number): void {
    this.#sinceCheck += bytes;
    if (this.#sinceCheck < this.#checkEvery) return;
    this.#sinceCheck %= this.#checkEvery;
    const now = this.#arrayBuffers();
    // a collection by V8 itself (or a job's buffers let go) lowers the level: follow it down
    if (now < this.#floor) this.#floor = now;
    if (now - this.#floor < this.#slack) return;
    const started = this.#now();
    if (started < this.#notBefore) return;
    this.#collect();
    const ended = this.#now();
    this.#collectingMs += ended - started;
    // d ms collecting, then at least d × (1 / share − 1) without: at most `share` of the time
    this.#notBefore = ended + (ended - started) * (1 / this.#share - 1);
    this.#collections++;
    this.#floor = this.#arrayBuffers();
  }
}

/**
 * V8's `gc()`: the global one when Node runs with `--expose-gc`, otherwise the one a fresh context gets once the flag
 * is set (the flag is cleared again, so no later context sees a `gc` global).
 */
export function exposedGc(): () => void {
  const global = (globalThis as { gc?: unknown }).gc;
  if (typeof global === "function") return global as () => void;
  v8.setFlagsFromString("--expose-gc");
  try {
    return runInNewContext("gc") as () => void;
  } finally {
    v8.setFlagsFromString("--no-expose-gc");
  }
}
