/** Encoding PCM as a WAV file (pure): for engines that take files over HTTP, and for test fixtures. */

/** Whisper's input sample rate, the default here. */
const DEFAULT_SAMPLE_RATE = 16_000;

const WAV_HEADER_BYTES = 44;

/** Bytes of a 16-bit mono WAV of `sampleCount` samples ({@link encodeWav16Into} needs a buffer this long). */
export function wav16Bytes(sampleCount: number): number {
  return WAV_HEADER_BYTES + sampleCount * 2;
}

/** 16-bit little-endian mono WAV of float samples in [-1, 1] (clipped). */
export function encodeWav16(samples: Float32Array, sampleRate = DEFAULT_SAMPLE_RATE): Uint8Array<ArrayBuffer> {
  return encodeWav16Into(samples, new Uint8Array(wav16Bytes(samples.length)), sampleRate);
}

/**
 * {@link encodeWav16} into `out` (at least {@link wav16Bytes} long, e.g. a buffer reused for every window): returns
 * the WAV as a view of `out`'s first bytes.
 */
export function encodeWav16Into<T extends ArrayBufferLike>(
  samples: Float32Array,
  out: Uint8Array<T>,
  sampleRate = DEFAULT_SAMPLE_RATE,
): Uint8Array<T> {
  const dataBytes = samples.length * 2;
  if (out.length < WAV_HEADER_BYTES + dataBytes) throw new RangeError("the WAV does not fit the buffer");
  const view = new DataView(out.buffer, out.byteOffset, WAV_HEADER_BYTES + dataBytes);
  const ascii = (offset: number, text: string): void => {
    for (let i = 0; i < text.length; i++) out[offset + i] = text.charCodeAt(i);
  };
  ascii(0, "RIFF");
  view.setUint32(4, 36 + dataBytes, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  ascii(36, "data");
  view.setUint32(40, dataBytes, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]!));
    view.setInt16(WAV_HEADER_BYTES + 2 * i, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return out.subarray(0, WAV_HEADER_BYTES + dataBytes);
}
