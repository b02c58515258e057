/**
 * Cutting decoded audio into engine windows (pure).
 *
 * Whisper sees at most 30 s at a time. Long audio is cut at the quietest point near each window's end, so a cut
 * rarely splits a word; a window is later right-padded with zeros to its batch's longest window.
 */

/** Whisper's input sample rate. */
export const SAMPLE_RATE = 16_000;
/** Whisper's context: a window never exceeds 30 s. */
export const MAX_WINDOW_SECONDS = 30;
/** How far back from a window's maximum end the quietest cut point is searched. */
export const DEFAULT_CUT_SEARCH_SECONDS = 5;
/** Energy is compared over frames of this length. */
export const ENERGY_FRAME_MS = 20;
/** whisper.cpp skips input shorter than 1 s, so no cut leaves a tail shorter than this. */
export const MIN_TAIL_SECONDS = 1;

/** A slice of a job's audio, in order. */
export interface AudioWindow {
  index: number;
  /** Offset of the first sample in the job's audio. */
  startSample: number;
  samples: Float32Array;
}

/** Options for {@link splitIntoWindows}. */
export interface WindowOptions {
  /** Longest window, ≤ {@link MAX_WINDOW_SECONDS}. */
  maxWindowSeconds?: number;
  cutSearchSeconds?: number;
}

/**
 * Splits mono 16 kHz PCM into windows of at most `maxWindowSeconds`, each cut at the quietest
 * {@link ENERGY_FRAME_MS} frame within the last `cutSearchSeconds` of the window. Windows share the
 * underlying buffer (subarrays, no copies).
 */
export function splitIntoWindows(pcm: Float32Array, options: WindowOptions = {}): AudioWindow[] {
  const maxSeconds = Math.min(options.maxWindowSeconds ?? MAX_WINDOW_SECONDS, MAX_WINDOW_SECONDS);
  const maxSamples = Math.round(maxSeconds * SAMPLE_RATE);
  // every window but the last keeps at least half the maximum length
  const searchSamples = Math.min(
    Math.round((options.cutSearchSeconds ?? DEFAULT_CUT_SEARCH_SECONDS) * SAMPLE_RATE),
    Math.floor(maxSamples / 2),
  );
  const minTail = Math.min(Math.round(MIN_TAIL_SECONDS * SAMPLE_RATE), Math.floor(maxSamples / 2));
  const windows: AudioWindow[] = [];
  let start = 0;
  while (pcm.length - start > maxSamples) {
    const searchEnd = Math.min(start + maxSamples, pcm.length - minTail);
    const searchStart = Math.max(start + 1, start + maxSamples - searchSamples);
    const cut = quietestPoint(pcm, searchStart, searchEnd);
    windows.push({ index: windows.length, startSample: start, samples: pcm.subarray(start, cut) });
    start = cut;
  }
  if (pcm.length > start) windows.push({ index: windows.length, startSample: start, samples: pcm.subarray(start) });
  return windows;
}

/**
 * Cuts PCM that arrives in chunks (ffmpeg's stdout) into exactly the windows {@link splitIntoWindows} gives for the
 * whole audio, sample for sample, while holding at most one window plus {@link MIN_TAIL_SECONDS} plus one chunk.
 *
 * A cut needs the `maxSamples + minTail` samples after the window's start: with those the whole-audio rule
 * (`searchEnd = min(start + maxSamples, length - minTail)`) already equals `start + maxSamples`, whatever follows.
 * The rest is decided by {@link finish}, with the final length. Windows are copies (the buffer is reused), each in a
 * buffer of `maxSamples` (a subarray of it): a consumer that gives a window back with {@link release} once the engine
 * is done with it has its buffer reused for a later window, so a long job allocates a handful of window buffers in
 * all instead of one per window (garbage that V8 collects late, and which made peak RSS grow with the audio's length).
 */
export class WindowCutter {
  readonly #maxSamples: number;
  readonly #searchSamples: number;
  readonly #minTail: number;
  #buffer: Float32Array;
  /** Valid samples in `#buffer`, from `#start`. */
  #length = 0;
  /** Offset of `#buffer[0]` in the job's audio. */
  #start = 0;
  #index = 0;
  #finished = false;
  /** Window buffers given back with {@link release}, each `maxSamples` long. */
  readonly #free: Float32Array[] = [];
  /** Window buffers allocated so far (tests, metrics). */
  #allocated = 0;

  constructor(options: WindowOptions = {}) {
    const maxSeconds = Math.min(options.maxWindowSeconds ?? MAX_WINDOW_SECONDS, MAX_WINDOW_SECONDS);
    this.#maxSamples = Math.round(maxSeconds * SAMPLE_RATE);
    this.#searchSamples = Math.min(
      Math.round((options.cutSearchSeconds ?? DEFAULT_CUT_SEARCH_SECONDS) * SAMPLE_RATE),
      Math.floor(this.#maxSamples / 2),
    );
    this.#minTail = Math.min(Math.round(MIN_TAIL_SECONDS * SAMPLE_RATE), Math.floor(this.#maxSamples / 2));
    this.#buffer = new Float32Array(this.#maxSamples + this.#minTail);
  }

  /** Samples pushed so far. */
  get totalSamples(): number {
    return this.#start + this.#length;
  }

  /** Samples held now (not yet in an emitted window). */
  get bufferedSamples(): number {
    return this.#length;
  }

  /** Window buffers this cutter has allocated: with {@link release}, bounded by the windows held at once. */
  get allocatedBuffers(): number {
    return this.#allocated;
  }

  /**
   * Gives a window's buffer back for reuse: its samples are overwritten by a later window, so call this only once
   * nothing reads them any more. A window not emitted by this cutter (or released twice) is ignored.
   */
  release(window: AudioWindow): void {
    const { buffer, byteOffset } = window.samples;
    if (byteOffset !== 0 || buffer.byteLength !== this.#maxSamples * Float32Array.BYTES_PER_ELEMENT) return;
    if (this.#free.some((free) => free.buffer === buffer)) return;
    this.#free.push(new Float32Array(buffer));
  }

  /** Appends samples; returns the windows that are now final (usually none or one). */
  push(chunk: Float32Array): AudioWindow[] {
    if (this.#finished) throw new Error("push after finish");
    const windows: AudioWindow[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      const room = this.#buffer.length - this.#length;
      const take = Math.min(room, chunk.length - offset);
      this.#buffer.set(chunk.subarray(offset, offset + take), this.#length);
      this.#length += take;
      offset += take;
      // the buffer holds exactly maxSamples + minTail when full: every cut decidable now is made now
      while (this.#length >= this.#maxSamples + this.#minTail) windows.push(this.#cut(this.#maxSamples));
    }
    return windows;
  }

  /** The end of the audio: returns the last window(s). */
  finish(): AudioWindow[] {
    this.#finished = true;
    const windows: AudioWindow[] = [];
    while (this.#length > this.#maxSamples)
      windows.push(this.#cut(Math.min(this.#maxSamples, this.#length - this.#minTail)));
    if (this.#length > 0) windows.push(this.#take(this.#length));
    return windows;
  }

  #cut(searchEnd: number): AudioWindow {
    const searchStart = Math.max(1, this.#maxSamples - this.#searchSamples);
    return this.#take(quietestPoint(this.#buffer, searchStart, searchEnd));
  }

  #take(count: number): AudioWindow {
    // count ≤ maxSamples: a cut is at most maxSamples in, and finish() takes the rest only once it fits
    let backing = this.#free.pop();
    if (!backing) {
      backing = new Float32Array(this.#maxSamples);
      this.#allocated++;
    }
    backing.set(this.#buffer.subarray(0, count));
    const window = { index: this.#index++, startSample: this.#start, samples: backing.subarray(0, count) };
    this.#buffer.copyWithin(0, count, this.#length);
    this.#length -= count;
    this.#start += count;
    return window;
  }
}

/** The centre of the quietest stretch in `[from, to)`: the first run of consecutive lowest-energy frames. */
export function quietestPoint(pcm: Float32Array, from: number, to: number): number {
  const frame = Math.max(1, Math.round((ENERGY_FRAME_MS / 1000) * SAMPLE_RATE));
  if (to - from <= frame) return to;
  let bestEnergy = Number.POSITIVE_INFINITY;
  let runStart = to;
  let runEnd = to;
  for (let frameStart = from; frameStart + frame <= to; frameStart += frame) {
    let energy = 0;
    for (let i = frameStart; i < frameStart + frame; i++) energy += pcm[i]! * pcm[i]!;
    if (energy < bestEnergy) {
      bestEnergy = energy;
      runStart = frameStart;
      runEnd = frameStart + frame;
    } else if (energy === bestEnergy && frameStart === runEnd) {
      runEnd = frameStart + frame;
    }
  }
  return Math.floor((runStart + runEnd) / 2);
}

/** Copies `samples` into a zero-filled buffer of `length` samples (right-padding); returns it unchanged when long enough. */
export function rightPad(samples: Float32Array, length: number): Float32Array {
  if (samples.length >= length) return samples;
  const padded = new Float32Array(length);
  padded.set(samples);
  return padded;
}

/**
 * Right-pads `samples` to `length` inside its own buffer (zeros after the samples) when the buffer has room, and
 * otherwise like {@link rightPad}. Only for a buffer the caller owns: whatever followed the samples is overwritten.
 */
export function padInPlace(samples: Float32Array, length: number): Float32Array {
  if (samples.length >= length) return samples;
  if (samples.byteOffset + length * Float32Array.BYTES_PER_ELEMENT > samples.buffer.byteLength)
    return rightPad(samples, length);
  const padded = new Float32Array(samples.buffer, samples.byteOffset, length);
  padded.fill(0, samples.length);
  return padded;
}

/** Seconds of audio in `sampleCount` samples at 16 kHz. */
export function samplesToSeconds(sampleCount: number): number {
  return sampleCount / SAMPLE_RATE;
}
