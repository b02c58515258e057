/**
 * Audio fixtures built in code: 16-bit PCM WAV files of a tone, silence or noise at a given rate, channel count and
 * length, and RIFF/WAVE files crafted field by field for the parsers' odd and broken cases. Every edge test that
 * needs WAV bytes takes them from here.
 */
import { encodeWav16 } from "@vtt/pool-contract";

import { seededRandom } from "./random.ts";

/** Shape of a generated WAV file; every channel carries the same signal. */
export interface WavOptions {
  /** default 0.5 */
  seconds?: number;
  /** default 16 000 (Whisper's rate) */
  sampleRate?: number;
  /** default 1 */
  channels?: number;
}

/** A sine: default 440 Hz at amplitude 0.25 (full scale 1), i.e. −15.05 dBFS RMS. */
export interface ToneOptions extends WavOptions {
  frequency?: number;
  amplitude?: number;
}

/** Uniform white noise in [−amplitude, amplitude] (default 0.25); the same seed gives the same noise. */
export interface NoiseOptions extends WavOptions {
  amplitude?: number;
  /** default 1 */
  seed?: number;
}

const DEFAULT_SECONDS = 0.5;
const DEFAULT_SAMPLE_RATE = 16_000;
/** Byte offsets of the `fmt ` fields that depend on the channel count, in the 44-byte header `encodeWav16` writes. */
const FMT_CHANNELS_AT = 22;
const FMT_BYTE_RATE_AT = 28;
const FMT_BLOCK_ALIGN_AT = 32;
const PCM16_BYTES = 2;

/**
 * A 16-bit PCM WAV of interleaved samples in [-1, 1] (clipped), through the production encoder. `encodeWav16` writes
 * mono; interleaved samples are the same bytes, so only the channel-dependent `fmt ` fields are rewritten.
 */
export function pcmWav(samples: Float32Array, sampleRate = DEFAULT_SAMPLE_RATE, channels = 1): Uint8Array<ArrayBuffer> {
  if (!Number.isInteger(channels) || channels < 1 || samples.length % channels !== 0) {
    throw new RangeError(`${samples.length} samples do not interleave into ${channels} channels`);
  }
  const wav = encodeWav16(samples, sampleRate);
  const view = new DataView(wav.buffer);
  view.setUint16(FMT_CHANNELS_AT, channels, true);
  view.setUint32(FMT_BYTE_RATE_AT, sampleRate * channels * PCM16_BYTES, true);
  view.setUint16(FMT_BLOCK_ALIGN_AT, channels * PCM16_BYTES, true);
  return wav;
}

/**
 * A 16-bit PCM WAV with its own signal on each channel: `channels[c]` holds channel c's samples (all the same
 * length), interleaved frame by frame. A multichannel recording whose channels differ (call-centre agent and caller).
 */
export function channelsWav(
  channels: readonly Float32Array[],
  sampleRate = DEFAULT_SAMPLE_RATE,
): Uint8Array<ArrayBuffer> {
  const frames = channels[0]?.length ?? 0;
  if (channels.some((c) => c.length !== frames)) throw new RangeError("every channel needs the same number of samples");
  const samples = new Float32Array(frames * channels.length);
  for (let frame = 0; frame < frames; frame++)
    for (let c = 0; c < channels.length; c++) samples[frame * channels.length + c] = channels[c]![frame]!;
  return pcmWav(samples, sampleRate, channels.length);
}

/** Interleaved samples of a sine, the same on every channel; see {@link ToneOptions}. */
export function toneSamples(options: ToneOptions = {}): Float32Array {
  const { frequency = 440, amplitude = 0.25 } = options;
  const { sampleRate } = shape(options);
  return interleaved(options, (frame) => amplitude * Math.sin((2 * Math.PI * frequency * frame) / sampleRate));
}

/** Interleaved digital silence. */
export function silenceSamples(options: WavOptions = {}): Float32Array {
  return interleaved(options, () => 0);
}

/** Interleaved seeded white noise, the same on every channel; see {@link NoiseOptions}. */
export function noiseSamples(options: NoiseOptions = {}): Float32Array {
  const { amplitude = 0.25, seed = 1 } = options;
  const random = seededRandom(seed);
  return interleaved(options, () => amplitude * (2 * random() - 1));
}

/** A WAV of a sine tone; see {@link toneSamples}. */
export function toneWav(options: ToneOptions = {}): Uint8Array<ArrayBuffer> {
  const { sampleRate, channels } = shape(options);
  return pcmWav(toneSamples(options), sampleRate, channels);
}

/** A WAV of digital silence. */
export function silenceWav(options: WavOptions = {}): Uint8Array<ArrayBuffer> {
  const { sampleRate, channels } = shape(options);
  return pcmWav(silenceSamples(options), sampleRate, channels);
}

/** A WAV of seeded white noise; see {@link noiseSamples}. */
export function noiseWav(options: NoiseOptions = {}): Uint8Array<ArrayBuffer> {
  const { sampleRate, channels } = shape(options);
  return pcmWav(noiseSamples(options), sampleRate, channels);
}

/** The usual upload fixture: `seconds` of a 440 Hz tone, mono 16-bit PCM. Short form of {@link toneWav}. */
export function makeWav(
  seconds = DEFAULT_SECONDS,
  sampleRate = DEFAULT_SAMPLE_RATE,
  frequency = 440,
): Uint8Array<ArrayBuffer> {
  return toneWav({ seconds, sampleRate, frequency });
}

/** Fields of a crafted RIFF/WAVE file. Each defaults to a consistent 16 kHz mono 16-bit PCM value. */
export interface CraftedWavOptions {
  /** `fmt ` format tag: 1 PCM (default), 3 float, 0xFFFE extensible */
  formatTag?: number;
  channels?: number;
  sampleRate?: number;
  bitsPerSample?: number;
  /** default channels · ⌈bitsPerSample / 8⌉ */
  blockAlign?: number;
  /** default sampleRate · blockAlign */
  byteRate?: number;
  /** size the `fmt ` chunk declares (default 16); at least 16 bytes of body are written, zero-padded up to it */
  fmtSize?: number;
  /** chunks between `WAVE` and `fmt ` (see {@link riffChunk}) */
  beforeFmt?: Uint8Array;
  /** chunks between `fmt ` and `data` */
  beforeData?: Uint8Array;
  /** size the `data` chunk declares (default: the length of `data`) */
  dataSize?: number;
  /** audio bytes after the `data` chunk header (default none: a header only) */
  data?: Uint8Array;
}

/** A RIFF/WAVE file put together field by field, for tests of headers no encoder would write. */
export function craftedWav(options: CraftedWavOptions = {}): Uint8Array<ArrayBuffer> {
  const channels = options.channels ?? 1;
  const bitsPerSample = options.bitsPerSample ?? 16;
  const sampleRate = options.sampleRate ?? 16_000;
  const blockAlign = options.blockAlign ?? channels * Math.ceil(bitsPerSample / 8);
  const fmtSize = options.fmtSize ?? 16;
  const fmt = new DataView(new ArrayBuffer(Math.max(fmtSize, 16)));
  fmt.setUint16(0, options.formatTag ?? 1, true);
  fmt.setUint16(2, channels, true);
  fmt.setUint32(4, sampleRate, true);
  fmt.setUint32(8, options.byteRate ?? sampleRate * blockAlign, true);
  fmt.setUint16(12, blockAlign, true);
  fmt.setUint16(14, bitsPerSample, true);
  const data = options.data ?? new Uint8Array();
  const chunks = concat(
    ascii("WAVE"),
    options.beforeFmt ?? new Uint8Array(),
    riffChunk("fmt ", new Uint8Array(fmt.buffer), fmtSize),
    options.beforeData ?? new Uint8Array(),
    ascii("data"),
    u32le(options.dataSize ?? data.length),
    data,
  );
  return concat(ascii("RIFF"), u32le(chunks.length), chunks);
}

/**
 * One RIFF chunk: four-character id, little-endian size, body, and the pad byte an odd-sized body needs.
 * `declaredSize` (default the body's length) is what the size field says, to craft chunks that lie about it.
 */
export function riffChunk(id: string, body: Uint8Array, declaredSize = body.length): Uint8Array<ArrayBuffer> {
  if (id.length !== 4) throw new RangeError(`a chunk id has four characters, not "${id}"`);
  return concat(ascii(id), u32le(declaredSize), body, new Uint8Array(body.length % 2));
}

/** A ReadableStream that yields `bytes` in chunks of `chunkSize`. */
export function chunkedStream(bytes: Uint8Array, chunkSize = 4096): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}

function shape(options: WavOptions): Required<WavOptions> {
  return {
    seconds: options.seconds ?? DEFAULT_SECONDS,
    sampleRate: options.sampleRate ?? DEFAULT_SAMPLE_RATE,
    channels: options.channels ?? 1,
  };
}

/** `channels` copies of `sample(frame)` per frame, interleaved. */
function interleaved(options: WavOptions, sample: (frame: number) => number): Float32Array {
  const { seconds, sampleRate, channels } = shape(options);
  const frames = Math.round(seconds * sampleRate);
  const out = new Float32Array(frames * channels);
  for (let frame = 0; frame < frames; frame++) out.fill(sample(frame), frame * channels, (frame + 1) * channels);
  return out;
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (char) => char.charCodeAt(0));
}

function u32le(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, true);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
