/**
 * What the drift features can learn from the first bytes of an upload, cheaply. Pure TypeScript.
 *
 * Only WAV is decoded (its header states sample rate and channels, and PCM needs no codec): loudness and silence are
 * measured over at most {@link PROBE_MAX_SECONDS} of it. Compressed containers (MP3, FLAC, OGG, WebM, MP4) would need
 * a decoder the edge does not have, so their audio statistics stay null — a missing value, which drift counts too.
 */
import { type PcmStats, pcmStats, wavInfo } from "./features.ts";

/** Bytes of (decrypted) audio read at completion for the probe: one bounded R2 read, whatever the upload's size. */
export const PROBE_MAX_BYTES = 2 * 1024 * 1024;
/** Seconds of PCM analysed at most; loudness and silence describe this prefix, not the whole recording. */
export const PROBE_MAX_SECONDS = 30;

export interface AudioProbe {
  sampleRate: number | null;
  channels: number | null;
  /** from the WAV header (null for other formats or a header without a usable data size) */
  durationSeconds: number | null;
  /** loudness and silence of the analysed prefix; null when it could not be decoded */
  pcm: Pick<PcmStats, "rmsDbfs" | "silenceRatio"> | null;
}

const NOTHING: AudioProbe = { sampleRate: null, channels: null, durationSeconds: null, pcm: null };

/**
 * Probes the leading bytes `head` of an upload of `totalBytes` bytes. Never throws: anything it cannot read is null.
 */
export function probeAudio(head: Uint8Array, totalBytes: number, maxSeconds = PROBE_MAX_SECONDS): AudioProbe {
  const info = wavInfo(head, totalBytes);
  if (!info) return NOTHING;
  const frameBytes = info.blockAlign;
  const available = Math.max(
    0,
    Math.min(head.byteLength - info.dataOffset, info.dataBytes ?? Number.POSITIVE_INFINITY),
  );
  const frames = Math.min(Math.floor(available / frameBytes), Math.floor(maxSeconds * info.sampleRate));
  const samples =
    frames > 0
      ? decodeSamples(
          head.subarray(info.dataOffset, info.dataOffset + frames * frameBytes),
          info.encoding,
          info.bitsPerSample,
        )
      : null;
  let pcm: AudioProbe["pcm"] = null;
  if (samples) {
    const stats = pcmStats(samples, info.sampleRate, info.channels);
    pcm = { rmsDbfs: stats.rmsDbfs, silenceRatio: stats.silenceRatio };
  }
  return { sampleRate: info.sampleRate, channels: info.channels, durationSeconds: info.durationSeconds, pcm };
}

/**
 * Interleaved samples as Float32 (full scale ±1.0): integer PCM of 8 (unsigned), 16, 24 or 32 bits and IEEE float of
 * 32 or 64 bits. WAVE_FORMAT_EXTENSIBLE is taken as integer PCM for 8–24 bits (a float subformat needs 32 or 64);
 * an extensible 32- or 64-bit stream is ambiguous without its subformat GUID and is left undecoded (null).
 */
export function decodeSamples(
  bytes: Uint8Array,
  encoding: "pcm" | "float" | "extensible",
  bitsPerSample: number,
): Float32Array | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const integer = encoding === "pcm" || (encoding === "extensible" && bitsPerSample <= 24);
  if (integer) {
    const width = bitsPerSample / 8;
    if (![1, 2, 3, 4].includes(width)) return null;
    const count = Math.floor(bytes.byteLength / width);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const at = i * width;
      if (width === 1) out[i] = (bytes[at]! - 128) / 128;
      else if (width === 2) out[i] = view.getInt16(at, true) / 32768;
      else if (width === 3)
        out[i] = (((bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16)) << 8) >> 8) / 8388608;
      else out[i] = view.getInt32(at, true) / 2147483648;
    }
    return out;
  }
  if (encoding !== "float") return null;
  if (bitsPerSample === 32) {
    const count = Math.floor(bytes.byteLength / 4);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  if (bitsPerSample === 64) {
    const count = Math.floor(bytes.byteLength / 8);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
    return out;
  }
  return null;
}
