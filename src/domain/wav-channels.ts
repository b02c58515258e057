/**
 * Channel split for PCM WAV in one streaming pass per channel (multichannel jobs on providers that take one channel
 * at a time): the stored file is read from its first byte, the header and everything outside the `data` chunk are
 * dropped, and one channel's samples are copied out of each frame into a new mono WAV with a canonical 44-byte header
 * whose sizes are exact, so its length is known before the first byte is read (a `FixedLengthStream` body).
 *
 * Integer PCM of 8, 16, 24 and 32 bits and IEEE float of 32 and 64 bits, plain or WAVE_FORMAT_EXTENSIBLE; samples
 * are copied byte for byte in the file's own format (nothing is decoded or resampled). Anything else (ADPCM, µ-law,
 * an extensible sub-format that is neither PCM nor float) is refused with {@link ChannelSplitError}. Pure: a
 * web-standard TransformStream, no bindings. (npm's WAV libraries — `wavefile`, `wav` — hold the whole file or need
 * Node streams; this needs neither.)
 */
import {
  isRiffWave,
  parseWavHeader,
  riffChunks,
  WAV_FORMAT_EXTENSIBLE,
  WAV_FORMAT_FLOAT,
  WAV_FORMAT_PCM,
} from "./riff.ts";

/** The header of every channel's mono WAV: RIFF (12) + `fmt ` (8 + 16) + `data` (8). */
export const MONO_WAV_HEADER_BYTES = 44;

/** The `data` chunk must begin within this many leading bytes (a header after 1 MiB of metadata is refused). */
export const MAX_CHANNEL_SPLIT_HEADER_BYTES = 1024 * 1024;

/** Why a WAV cannot be split into channels; the message names the reason (shown on the failed job). */
export class ChannelSplitError extends Error {
  readonly code = "multichannel_unsupported" as const;
  constructor(message: string) {
    super(message);
    this.name = "ChannelSplitError";
  }
}

/** What the split needs to know of a WAV file, from its header and its stored size. */
export interface WavChannelLayout {
  channels: number;
  sampleRate: number;
  /** `pcm` (integer; 8-bit is unsigned) or `float` (IEEE), after resolving WAVE_FORMAT_EXTENSIBLE's sub-format */
  encoding: "pcm" | "float";
  /** bits of one sample as stored (the container size: 8, 16, 24, 32 or 64) */
  bitsPerSample: number;
  /** bytes of one sample of one channel */
  sampleBytes: number;
  /** bytes of one frame (every channel's sample) */
  blockAlign: number;
  /** offset of the first audio byte in the file */
  dataOffset: number;
  /** whole frames in the `data` chunk (as declared, or to the end of the file when the size is open or runs long) */
  frames: number;
}

/** The sub-format of a WAVE_FORMAT_EXTENSIBLE `fmt ` chunk: the first two bytes of its GUID (body offset 24). */
function extensibleSubFormat(head: Uint8Array): number | null {
  for (const chunk of riffChunks(head)) {
    if (chunk.id !== "fmt ") continue;
    const at = chunk.bodyOffset + 24;
    return chunk.size >= 26 && at + 2 <= head.length ? head[at]! | (head[at + 1]! << 8) : null;
  }
  return null;
}

const INTEGER_BITS = new Set([8, 16, 24, 32]);
const FLOAT_BITS = new Set([32, 64]);

/**
 * The layout of the WAV whose leading bytes are `head` and whose whole stored size is `totalBytes`. Null while the
 * `data` chunk's header lies beyond `head` (read more, up to {@link MAX_CHANNEL_SPLIT_HEADER_BYTES}); throws
 * {@link ChannelSplitError} when the bytes are not a WAV whose samples can be split.
 */
export function wavChannelLayout(head: Uint8Array, totalBytes: number): WavChannelLayout | null {
  if (head.length >= 12 && !isRiffWave(head)) throw new ChannelSplitError("The audio is not a RIFF/WAVE file.");
  const header = parseWavHeader(head);
  if (!header?.data) {
    if (head.length >= Math.min(totalBytes, MAX_CHANNEL_SPLIT_HEADER_BYTES))
      throw new ChannelSplitError("The WAV file has no `data` chunk (within its first 1 MiB).");
    return null;
  }
  const { fmt } = header;
  const tag = fmt.formatTag === WAV_FORMAT_EXTENSIBLE ? extensibleSubFormat(head) : fmt.formatTag;
  const encoding =
    tag === WAV_FORMAT_PCM && INTEGER_BITS.has(fmt.bitsPerSample)
      ? "pcm"
      : tag === WAV_FORMAT_FLOAT && FLOAT_BITS.has(fmt.bitsPerSample)
        ? "float"
        : null;
  const sampleBytes = fmt.bitsPerSample / 8;
  if (!encoding || fmt.channels < 1 || fmt.sampleRate < 1 || fmt.blockAlign !== sampleBytes * fmt.channels) {
    throw new ChannelSplitError(
      `WAV format ${fmt.formatTag} with ${fmt.bitsPerSample}-bit samples cannot be split into channels ` +
        "(PCM 8/16/24/32-bit or 32/64-bit float only).",
    );
  }
  // streaming writers leave the size 0 or 0xFFFFFFFF: then the data runs to the end of the file; a truncated file
  // (declared size past its end) holds what it holds
  const stored = Math.max(0, totalBytes - header.data.offset);
  const open = header.data.size === 0 || header.data.size === 0xffffffff;
  const dataBytes = open ? stored : Math.min(header.data.size, stored);
  return {
    channels: fmt.channels,
    sampleRate: fmt.sampleRate,
    encoding,
    bitsPerSample: fmt.bitsPerSample,
    sampleBytes,
    blockAlign: fmt.blockAlign,
    dataOffset: header.data.offset,
    frames: Math.floor(dataBytes / fmt.blockAlign),
  };
}

/** Audio bytes of one channel's mono WAV (without the pad byte an odd size takes). */
function channelDataBytes(layout: WavChannelLayout): number {
  return layout.frames * layout.sampleBytes;
}

/** The exact size of each channel's mono WAV: header, samples, and RIFF's pad byte after an odd-sized `data`. */
export function monoWavBytes(layout: WavChannelLayout): number {
  const data = channelDataBytes(layout);
  return MONO_WAV_HEADER_BYTES + data + (data % 2);
}

/** The canonical header of a channel's mono WAV (PCM or IEEE float, the file's own sample size). */
export function monoWavHeader(layout: WavChannelLayout): Uint8Array {
  const data = channelDataBytes(layout);
  const riffSize = monoWavBytes(layout) - 8;
  if (riffSize > 0xffffffff) throw new ChannelSplitError("One channel of this audio is over the 4 GiB a WAV can hold.");
  const out = new Uint8Array(MONO_WAV_HEADER_BYTES);
  const view = new DataView(out.buffer);
  const ascii = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) out[offset + i] = text.charCodeAt(i);
  };
  ascii(0, "RIFF");
  view.setUint32(4, riffSize, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, layout.encoding === "float" ? WAV_FORMAT_FLOAT : WAV_FORMAT_PCM, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, layout.sampleRate, true);
  view.setUint32(28, layout.sampleRate * layout.sampleBytes, true);
  view.setUint16(32, layout.sampleBytes, true);
  view.setUint16(34, layout.bitsPerSample, true);
  ascii(36, "data");
  view.setUint32(40, data, true);
  return out;
}

/**
 * A stream that turns the whole stored WAV (from its first byte) into channel `channel`'s mono WAV of exactly
 * {@link monoWavBytes} bytes. Chunks may break anywhere (inside the header, a frame or a sample). Errors with
 * {@link ChannelSplitError} when the file ends before the frames its layout promised.
 */
export function wavChannelTransform(
  layout: WavChannelLayout,
  channel: number,
): TransformStream<Uint8Array, Uint8Array> {
  if (!Number.isInteger(channel) || channel < 0 || channel >= layout.channels)
    throw new RangeError(`channel ${channel} is not one of the file's ${layout.channels}`);
  const { blockAlign, sampleBytes, dataOffset } = layout;
  const dataEnd = dataOffset + layout.frames * blockAlign;
  // the channel's bytes within each frame: [first, first + sampleBytes)
  const first = channel * sampleBytes;
  const last = first + sampleBytes;
  // absolute position of the next input byte, and of that byte within its frame (once inside the data chunk)
  let position = 0;
  let inFrame = 0;
  let started = false;
  /** The channel's bytes among the first `offset` bytes of the data chunk. */
  const channelBytesBefore = (offset: number) =>
    Math.floor(offset / blockAlign) * sampleBytes + Math.min(sampleBytes, Math.max(0, (offset % blockAlign) - first));

  /** The channel's bytes of `bytes`, which lie wholly inside the data chunk from `offset` on (exactly allocated). */
  const take = (bytes: Uint8Array, offset: number): Uint8Array => {
    const out = new Uint8Array(channelBytesBefore(offset + bytes.length) - channelBytesBefore(offset));
    let o = 0;
    let i = 0;
    const n = bytes.length;
    while (i < n) {
      if (inFrame < first) {
        const skip = Math.min(first - inFrame, n - i);
        i += skip;
        inFrame += skip;
      } else if (inFrame < last) {
        const count = Math.min(last - inFrame, n - i);
        for (let k = 0; k < count; k++) out[o++] = bytes[i + k]!;
        i += count;
        inFrame += count;
      } else {
        const skip = Math.min(blockAlign - inFrame, n - i);
        i += skip;
        inFrame += skip;
      }
      if (inFrame === blockAlign) inFrame = 0;
    }
    return out;
  };

  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      if (!started) {
        started = true;
        controller.enqueue(monoWavHeader(layout));
      }
      const start = position;
      position += chunk.length;
      const from = Math.max(start, dataOffset);
      const to = Math.min(position, dataEnd);
      if (to > from) {
        const out = take(chunk.subarray(from - start, to - start), from - dataOffset);
        if (out.length) controller.enqueue(out);
      }
    },
    flush(controller) {
      if (position < dataEnd)
        throw new ChannelSplitError(
          `The WAV file ended after ${position} bytes; its data chunk runs to byte ${dataEnd}.`,
        );
      if (!started) controller.enqueue(monoWavHeader(layout));
      if (channelDataBytes(layout) % 2) controller.enqueue(new Uint8Array(1));
    },
  });
}
