/**
 * Input and output features of a completed transcription, for drift detection (see psi.ts). Pure TypeScript.
 *
 * Inputs describe the audio (length, size, container, sample rate, channels, loudness, silence) and the language
 * asked for and found; outputs describe the transcript (speaking rate, emptiness, confidence, no-speech
 * probability). Each feature has fixed bins in {@link DRIFT_FEATURE_BINS} so daily histograms stay comparable.
 */
import {
  parseWavHeader,
  WAV_FORMAT_EXTENSIBLE,
  WAV_FORMAT_FLOAT,
  WAV_FORMAT_PCM,
  type WavFmt,
} from "../domain/riff.ts";
import type { FeatureBins, FeatureValue } from "./psi.ts";

/** Length of one loudness frame for {@link pcmStats}. */
export const SILENCE_FRAME_SECONDS = 0.02;
/** A frame whose RMS level is below this counts as silent. */
export const SILENCE_THRESHOLD_DBFS = -50;
/** Level reported for digital silence (RMS 0), instead of −∞, so it stays a finite, binnable number. */
export const DBFS_FLOOR = -120;
/** Int16 PCM is scaled by 1/32768 so −32768 maps to −1.0, as most decoders do. */
const INT16_FULL_SCALE = 32768;

/** Streaming writers (e.g. ffmpeg to a pipe) cannot seek back and leave the data size as 0 or 0xFFFFFFFF. */
const WAV_UNKNOWN_DATA_SIZES = new Set([0, 0xffffffff]);
/** The WAV format tags drift decodes, by the name {@link WavInfo.encoding} gives them. */
const WAV_ENCODINGS = new Map<number, WavInfo["encoding"]>([
  [WAV_FORMAT_PCM, "pcm"],
  [WAV_FORMAT_FLOAT, "float"],
  [WAV_FORMAT_EXTENSIBLE, "extensible"],
]);

/** Loudness and silence of decoded PCM. */
export interface PcmStats {
  /** sample frames (samples per channel) */
  frames: number;
  durationSeconds: number;
  /** 20·log10(RMS) over all samples, full scale = 1.0 (a full-scale sine is −3.01); {@link DBFS_FLOOR} for silence */
  rmsDbfs: number;
  /** 20·log10(max |sample|), floored the same way */
  peakDbfs: number;
  /** share of 20 ms frames whose RMS is below {@link SILENCE_THRESHOLD_DBFS}; 0 for empty input */
  silenceRatio: number;
}

/**
 * RMS level, peak level and silence ratio of PCM samples. Float32 samples are taken as is (full scale ±1.0);
 * Int16 samples are divided by 32768. Multi-channel input is interleaved; every channel's samples count toward a
 * frame. Only whole 20 ms frames are judged, unless the audio is shorter than one frame (then it is one frame).
 */
export function pcmStats(samples: Float32Array | Int16Array, sampleRate: number, channels = 1): PcmStats {
  if (!(Number.isInteger(sampleRate) && sampleRate > 0)) throw new RangeError("sampleRate must be a positive integer");
  if (!(Number.isInteger(channels) && channels > 0)) throw new RangeError("channels must be a positive integer");
  const scale = samples instanceof Int16Array ? 1 / INT16_FULL_SCALE : 1;
  const frames = Math.floor(samples.length / channels);
  const used = frames * channels;
  const windowSamples = Math.max(1, Math.round(sampleRate * SILENCE_FRAME_SECONDS)) * channels;
  // A frame is silent when its mean square is below this, which avoids a log per frame.
  const silentMeanSquare = 10 ** (SILENCE_THRESHOLD_DBFS / 10);

  let totalSquares = 0;
  let peak = 0;
  let windowSquares = 0;
  let windowFill = 0;
  let windows = 0;
  let silentWindows = 0;
  for (let i = 0; i < used; i++) {
    const sample = samples[i]! * scale;
    const square = sample * sample;
    totalSquares += square;
    windowSquares += square;
    const magnitude = Math.abs(sample);
    if (magnitude > peak) peak = magnitude;
    if (++windowFill === windowSamples) {
      windows += 1;
      if (windowSquares / windowSamples < silentMeanSquare) silentWindows += 1;
      windowSquares = 0;
      windowFill = 0;
    }
  }
  if (windows === 0 && windowFill > 0) {
    windows = 1;
    if (windowSquares / windowFill < silentMeanSquare) silentWindows = 1;
  }
  return {
    frames,
    durationSeconds: frames / sampleRate,
    rmsDbfs: used === 0 ? DBFS_FLOOR : amplitudeToDbfs(Math.sqrt(totalSquares / used)),
    peakDbfs: amplitudeToDbfs(peak),
    silenceRatio: windows === 0 ? 0 : silentWindows / windows,
  };
}

/** 20·log10(amplitude), never below {@link DBFS_FLOOR}. */
export function amplitudeToDbfs(amplitude: number): number {
  if (!(amplitude > 0)) return DBFS_FLOOR;
  return Math.max(DBFS_FLOOR, 20 * Math.log10(amplitude));
}

/** What a WAV header says about the audio. */
export interface WavInfo {
  encoding: "pcm" | "float" | "extensible";
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  /** bytes per sample frame (all channels) */
  blockAlign: number;
  /** byte offset of the first audio byte */
  dataOffset: number;
  /** audio bytes; null when the header leaves it unknown (streamed WAV) and no total size was given */
  dataBytes: number | null;
  /** dataBytes / (sampleRate · blockAlign); null when dataBytes is null */
  durationSeconds: number | null;
}

/**
 * Reads a RIFF/WAVE header from the leading bytes of an upload (a few hundred bytes is plenty; chunks before
 * `fmt `/`data` such as `LIST` or `bext` are skipped while they fit; see `parseWavHeader`). Returns null when the
 * bytes are not WAV, or the `fmt ` and `data` chunk headers are not both inside `head`, or the format fields are
 * inconsistent.
 *
 * `totalBytes` (the whole file's size) resolves streamed WAVs whose data size is 0 or 0xFFFFFFFF, and caps a data
 * size that claims more bytes than the file has.
 */
export function wavInfo(head: Uint8Array, totalBytes?: number): WavInfo | null {
  const header = parseWavHeader(head);
  if (!header?.data) return null;
  const format = describeFmt(header.fmt);
  if (!format) return null;
  const { offset, size } = header.data;
  let dataBytes: number | null = size;
  const available = totalBytes === undefined ? undefined : Math.max(0, totalBytes - offset);
  if (WAV_UNKNOWN_DATA_SIZES.has(size)) dataBytes = available ?? null;
  else if (available !== undefined && size > available) dataBytes = available;
  return {
    ...format,
    dataOffset: offset,
    dataBytes,
    durationSeconds: dataBytes === null ? null : dataBytes / (format.sampleRate * format.blockAlign),
  };
}

/** Segment fields the features read; field names follow the providers' wire formats. */
export interface SegmentSignals {
  /** a probability in [0, 1] (e.g. Deepgram); values outside that range are ignored rather than guessed at */
  confidence?: number | null;
  /** mean token log-probability (Whisper `avg_logprob`); exp() of it is used when `confidence` is absent */
  avg_logprob?: number | null;
  /** Whisper's probability that the segment holds no speech, in [0, 1] */
  no_speech_prob?: number | null;
}

/** What is known about the request and the audio when a transcription completes. */
export interface TranscriptionInput {
  /** audio length: from {@link wavInfo}, the provider's report, or the decoder; null when unknown */
  durationSeconds: number | null;
  /** uploaded bytes */
  bytes: number;
  /** container or codec, e.g. "wav", "mp3" */
  format: string | null;
  sampleRate: number | null;
  channels: number | null;
  /** ISO 639-1 code the caller asked for, or null for automatic detection */
  requestedLanguage: string | null;
  /** ISO 639-1 code the provider reported */
  detectedLanguage: string | null;
  /** loudness and silence when the PCM was decoded (the pool can; the edge usually cannot) */
  pcm?: Pick<PcmStats, "rmsDbfs" | "silenceRatio"> | null;
}

/** The transcript as produced. */
export interface TranscriptionOutput {
  text: string;
  segments: readonly SegmentSignals[];
}

/** One flat row of drift features; every field maps to a bin set in {@link DRIFT_FEATURE_BINS}. */
export interface TranscriptionFeatures {
  durationSeconds: number | null;
  bytes: number;
  /** bytes / durationSeconds (a bitrate proxy: catches re-encoding upstream); null without a duration */
  bytesPerSecond: number | null;
  format: string | null;
  sampleRate: number | null;
  channels: number | null;
  requestedLanguage: string | null;
  detectedLanguage: string | null;
  /** true when a language was requested and the provider reported a different one; null when either is unknown */
  languageMismatch: boolean | null;
  loudnessDbfs: number | null;
  silenceRatio: number | null;
  /** non-whitespace code points of the transcript */
  characters: number;
  /** whitespace-separated words of the transcript (scripts without spaces count few; see `characters`) */
  words: number;
  charsPerSecond: number | null;
  wordsPerSecond: number | null;
  /** true when the transcript has no letter or digit at all ("", "...", "♪") */
  emptyTranscript: boolean;
  segmentCount: number;
  /** mean of the segments' confidence (or exp(avg_logprob)); null when no segment reports one */
  meanConfidence: number | null;
  /** mean of the segments' no_speech_prob; null when no segment reports one */
  meanNoSpeechProb: number | null;
}

/** Derives the drift features of one completed transcription. */
export function transcriptionFeatures(input: TranscriptionInput, output: TranscriptionOutput): TranscriptionFeatures {
  const duration =
    input.durationSeconds !== null && Number.isFinite(input.durationSeconds) && input.durationSeconds > 0
      ? input.durationSeconds
      : null;
  const text = output.text ?? "";
  const characters = Array.from(text.replace(/\s+/gu, "")).length;
  const trimmed = text.trim();
  const words = trimmed === "" ? 0 : trimmed.split(/\s+/u).length;
  const requested = normaliseLanguageCode(input.requestedLanguage);
  const detected = normaliseLanguageCode(input.detectedLanguage);
  return {
    durationSeconds: input.durationSeconds,
    bytes: input.bytes,
    bytesPerSecond: duration === null ? null : input.bytes / duration,
    format: input.format,
    sampleRate: input.sampleRate,
    channels: input.channels,
    requestedLanguage: requested,
    detectedLanguage: detected,
    languageMismatch: requested === null || detected === null ? null : requested !== detected,
    loudnessDbfs: input.pcm?.rmsDbfs ?? null,
    silenceRatio: input.pcm?.silenceRatio ?? null,
    characters,
    words,
    charsPerSecond: duration === null ? null : characters / duration,
    wordsPerSecond: duration === null ? null : words / duration,
    emptyTranscript: !/[\p{L}\p{N}]/u.test(text),
    segmentCount: output.segments.length,
    meanConfidence: mean(output.segments.map(segmentConfidence)),
    meanNoSpeechProb: mean(output.segments.map((segment) => probability(segment.no_speech_prob))),
  };
}

/** A segment's confidence as a probability: `confidence` when in [0, 1], else exp(`avg_logprob`), else null. */
export function segmentConfidence(segment: SegmentSignals): number | null {
  const direct = probability(segment.confidence);
  if (direct !== null) return direct;
  const logprob = segment.avg_logprob;
  return typeof logprob === "number" && Number.isFinite(logprob) && logprob <= 0 ? Math.exp(logprob) : null;
}

/** Names of the features {@link DRIFT_FEATURE_BINS} covers, in report order. */
export const DRIFT_FEATURES = [
  "durationSeconds",
  "bytesPerSecond",
  "format",
  "sampleRate",
  "channels",
  "requestedLanguage",
  "detectedLanguage",
  "languageMismatch",
  "loudnessDbfs",
  "silenceRatio",
  "charsPerSecond",
  "wordsPerSecond",
  "emptyTranscript",
  "meanConfidence",
  "meanNoSpeechProb",
] as const satisfies readonly (keyof TranscriptionFeatures)[];

export type DriftFeature = (typeof DRIFT_FEATURES)[number];

/** Languages with their own bucket; the rest share "other". Chosen from the languages most traffic is expected in. */
const LANGUAGE_CATEGORIES = [
  "en",
  "es",
  "fr",
  "de",
  "it",
  "pt",
  "nl",
  "ru",
  "zh",
  "ja",
  "ko",
  "ar",
  "hi",
  "tr",
  "pl",
  "uk",
];

/**
 * Fixed bins per drift feature. Edges are set from what speech audio plausibly looks like (human speech runs at
 * roughly 2–3 words or 10–20 characters per second; 16 kHz mono 16-bit PCM is 32 000 bytes/s, compressed speech
 * 2 000–16 000), so a shift moves mass between neighbouring bins instead of leaving everything in one.
 */
export const DRIFT_FEATURE_BINS: Readonly<Record<DriftFeature, FeatureBins>> = {
  durationSeconds: { kind: "numeric", feature: "durationSeconds", edges: [1, 5, 15, 30, 60, 300, 900, 1800] },
  bytesPerSecond: {
    kind: "numeric",
    feature: "bytesPerSecond",
    edges: [2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000],
  },
  format: { kind: "categorical", feature: "format", categories: ["wav", "mp3", "flac", "ogg", "webm", "mp4"] },
  sampleRate: {
    kind: "numeric",
    feature: "sampleRate",
    edges: [8_000, 16_000, 22_050, 32_000, 44_100, 48_000, 96_000],
  },
  channels: { kind: "numeric", feature: "channels", edges: [2, 3] },
  requestedLanguage: { kind: "categorical", feature: "requestedLanguage", categories: LANGUAGE_CATEGORIES },
  detectedLanguage: { kind: "categorical", feature: "detectedLanguage", categories: LANGUAGE_CATEGORIES },
  languageMismatch: { kind: "numeric", feature: "languageMismatch", edges: [1] },
  loudnessDbfs: { kind: "numeric", feature: "loudnessDbfs", edges: [-60, -50, -40, -30, -24, -18, -12, -6] },
  silenceRatio: { kind: "numeric", feature: "silenceRatio", edges: [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9] },
  charsPerSecond: { kind: "numeric", feature: "charsPerSecond", edges: [0.5, 2, 5, 8, 11, 14, 17, 20, 25] },
  wordsPerSecond: { kind: "numeric", feature: "wordsPerSecond", edges: [0.1, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4.5] },
  emptyTranscript: { kind: "numeric", feature: "emptyTranscript", edges: [1] },
  meanConfidence: { kind: "numeric", feature: "meanConfidence", edges: [0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95] },
  meanNoSpeechProb: { kind: "numeric", feature: "meanNoSpeechProb", edges: [0.05, 0.1, 0.2, 0.4, 0.6, 0.8] },
};

/** The value of each drift feature of one row, ready for `histogram(rows.map(r => driftValues(r)[f]), bins)`. */
export function driftValues(features: TranscriptionFeatures): Record<DriftFeature, FeatureValue> {
  const values = {} as Record<DriftFeature, FeatureValue>;
  for (const feature of DRIFT_FEATURES) values[feature] = features[feature];
  return values;
}

/** The format fields drift uses, or null when the encoding is not one we decode or the fields disagree. */
function describeFmt(fmt: WavFmt): Omit<WavInfo, "dataOffset" | "dataBytes" | "durationSeconds"> | null {
  const { formatTag: tag, channels, sampleRate, blockAlign, bitsPerSample } = fmt;
  const encoding = WAV_ENCODINGS.get(tag);
  if (!encoding || channels === 0 || sampleRate === 0 || bitsPerSample === 0) return null;
  // Frames are whole bytes per channel; a header that disagrees with itself would give a wrong duration.
  if (blockAlign !== channels * Math.ceil(bitsPerSample / 8)) return null;
  return { encoding, sampleRate, channels, bitsPerSample, blockAlign };
}

function normaliseLanguageCode(code: string | null): string | null {
  const trimmed = code?.trim().toLowerCase();
  return trimmed ? trimmed : null;
}

function probability(value: number | null | undefined): number | null {
  return typeof value === "number" && value >= 0 && value <= 1 ? value : null;
}

function mean(values: readonly (number | null)[]): number | null {
  let sum = 0;
  let count = 0;
  for (const value of values) {
    if (value === null) continue;
    sum += value;
    count += 1;
  }
  return count === 0 ? null : sum / count;
}
