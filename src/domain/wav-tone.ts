/**
 * Audio redaction for PCM WAV in one streaming pass: the header and every byte outside the given time spans pass
 * through unchanged; inside a span each sample of every channel is replaced by a sine tone (decode position → mix →
 * encode in the file's own sample format). Integer PCM of 8, 16, 24 and 32 bits and 32-bit float, plain or
 * WAVE_FORMAT_EXTENSIBLE; anything else (ADPCM, µ-law, compressed containers) is refused with
 * `audio_redaction_unsupported`. Pure: a web-standard TransformStream, no bindings.
 */
import { isRiffWave, parseWavHeader, WAV_FORMAT_EXTENSIBLE, WAV_FORMAT_FLOAT, WAV_FORMAT_PCM } from "./riff.ts";

/** A stretch of audio to cover, in seconds. */
export interface ToneSpan {
  start: number;
  end: number;
}

export type AudioRedactionErrorCode =
  "audio_redaction_unsupported" | "audio_redaction_failed" | "audio_redaction_too_large";

/** Why audio could not be redacted; the code is the job's failure code. */
export class AudioRedactionError extends Error {
  readonly code: AudioRedactionErrorCode;
  constructor(code: AudioRedactionErrorCode, message: string) {
    super(message);
    this.name = "AudioRedactionError";
    this.code = code;
  }
}

export interface ToneOptions {
  /** 1000 Hz: the usual "bleep" */
  frequencyHz?: number;
  /** peak amplitude as a share of full scale (0.25 ≈ −12 dBFS) */
  amplitude?: number;
}

/** The tone's sample (in [-1, 1]) at `frame` of audio sampled at `rate`: the one generator of both rewrites. */
export function toneSample(frame: number, rate: number, options: ToneOptions = {}): number {
  return (options.amplitude ?? 0.25) * Math.sin((2 * Math.PI * (options.frequencyHz ?? 1000) * frame) / rate);
}

/** The header must fit in this many leading bytes (a `data` chunk after 1 MiB of metadata is refused). */
export const MAX_WAV_HEADER_BYTES = 1024 * 1024;

interface SampleCodec {
  bytes: number;
  write(view: DataView, offset: number, sample: number): void;
}

function codecFor(formatTag: number, bits: number): SampleCodec | null {
  if (formatTag === WAV_FORMAT_FLOAT && bits === 32) return { bytes: 4, write: (v, o, s) => v.setFloat32(o, s, true) };
  if (formatTag !== WAV_FORMAT_PCM) return null;
  if (bits === 8) return { bytes: 1, write: (v, o, s) => v.setUint8(o, Math.round(128 + s * 127)) };
  if (bits === 16) return { bytes: 2, write: (v, o, s) => v.setInt16(o, Math.round(s * 32767), true) };
  if (bits === 24)
    return {
      bytes: 3,
      write: (v, o, s) => {
        const x = Math.round(s * 8388607) & 0xffffff;
        v.setUint8(o, x & 0xff);
        v.setUint8(o + 1, (x >> 8) & 0xff);
        v.setUint8(o + 2, (x >> 16) & 0xff);
      },
    };
  if (bits === 32) return { bytes: 4, write: (v, o, s) => v.setInt32(o, Math.round(s * 2147483647), true) };
  return null;
}

/** The sub-format of a WAVE_FORMAT_EXTENSIBLE `fmt ` chunk: the first two bytes of its GUID (body offset 24). */
function extensibleSubFormat(head: Uint8Array): number | null {
  for (let i = 12; i + 8 <= head.length;) {
    const id = String.fromCharCode(head[i]!, head[i + 1]!, head[i + 2]!, head[i + 3]!);
    const size = (head[i + 4]! | (head[i + 5]! << 8) | (head[i + 6]! << 16) | (head[i + 7]! << 24)) >>> 0;
    if (id === "fmt ") return size >= 26 && i + 8 + 26 <= head.length ? head[i + 32]! | (head[i + 33]! << 8) : null;
    i += 8 + size + (size % 2);
  }
  return null;
}

const notWav = () =>
  new AudioRedactionError("audio_redaction_unsupported", "The audio is not a WAV file this service can rewrite.");

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * A stream that copies a WAV file with a tone over `spans`. Errors the stream with {@link AudioRedactionError} when
 * the bytes are not a WAV it can rewrite.
 */
export function wavToneTransform(
  spans: readonly ToneSpan[],
  options: ToneOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  const sorted = [...spans].filter((s) => s.end > s.start).sort((a, b) => a.start - b.start);
  let head: Uint8Array = new Uint8Array(0);
  let layout: { codec: SampleCodec; channels: number; blockAlign: number; rate: number; dataEnd: number } | null = null;
  // bytes of the data chunk already passed, and a partial frame carried to the next chunk
  let dataPos = 0;
  let carry: Uint8Array = new Uint8Array(0);
  let spanIndex = 0;

  const processData = (bytes: Uint8Array): Uint8Array => {
    const l = layout!;
    const inData = Math.max(0, Math.min(bytes.length, l.dataEnd - dataPos));
    const whole = inData - (inData % l.blockAlign);
    const out = new Uint8Array(bytes.length - (inData - whole));
    out.set(bytes.subarray(0, whole));
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    const firstFrame = dataPos / l.blockAlign;
    for (let f = 0; f < whole / l.blockAlign; f++) {
      const frame = firstFrame + f;
      const t = frame / l.rate;
      while (spanIndex < sorted.length && sorted[spanIndex]!.end <= t) spanIndex += 1;
      const span = sorted[spanIndex];
      if (!span || t < span.start) continue;
      const sample = toneSample(frame, l.rate, options);
      for (let ch = 0; ch < l.channels; ch++) l.codec.write(view, f * l.blockAlign + ch * l.codec.bytes, sample);
    }
    dataPos += whole;
    // a partial frame: kept for the next chunk, unless the data chunk itself ends in it (then kept as it was)
    if (whole < inData && inData < l.dataEnd - (dataPos - whole)) {
      // a partial frame: kept for the next chunk; bytes after the data chunk follow it unchanged
      carry = bytes.slice(whole);
      return out.subarray(0, whole);
    }
    out.set(bytes.subarray(whole), whole);
    dataPos += bytes.length - whole;
    return out;
  };

  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      if (!layout) {
        head = concat(head, chunk);
        const header = parseWavHeader(head);
        if (!header?.data) {
          if ((head.length >= 12 && !isRiffWave(head)) || head.length > MAX_WAV_HEADER_BYTES) throw notWav();
          return;
        }
        const { fmt } = header;
        const tag = fmt.formatTag === WAV_FORMAT_EXTENSIBLE ? extensibleSubFormat(head) : fmt.formatTag;
        const codec = tag === null ? null : codecFor(tag, fmt.bitsPerSample);
        if (!codec || fmt.channels < 1 || fmt.sampleRate < 1 || fmt.blockAlign !== codec.bytes * fmt.channels)
          throw new AudioRedactionError(
            "audio_redaction_unsupported",
            `WAV format ${fmt.formatTag} with ${fmt.bitsPerSample}-bit samples cannot be redacted (PCM 8/16/24/32-bit or 32-bit float only).`,
          );
        // streaming writers leave the size 0 or 0xFFFFFFFF: then the data runs to the end of the file
        const open = header.data.size === 0 || header.data.size === 0xffffffff;
        layout = {
          codec,
          channels: fmt.channels,
          blockAlign: fmt.blockAlign,
          rate: fmt.sampleRate,
          dataEnd: open ? Number.MAX_SAFE_INTEGER : header.data.size,
        };
        controller.enqueue(head.slice(0, header.data.offset));
        const rest = head.subarray(header.data.offset);
        head = new Uint8Array(0);
        if (rest.length) controller.enqueue(processData(rest));
        return;
      }
      const bytes = carry.length ? concat(carry, chunk) : chunk;
      carry = new Uint8Array(0);
      controller.enqueue(processData(bytes));
    },
    flush(controller) {
      if (!layout) throw notWav();
      // a trailing partial frame (a truncated file) is kept as it was
      if (carry.length) controller.enqueue(carry);
    },
  });
}
