import { describe, expect, it } from "vitest";

import {
  amplitudeToDbfs,
  DBFS_FLOOR,
  DRIFT_FEATURE_BINS,
  DRIFT_FEATURES,
  driftValues,
  pcmStats,
  segmentConfidence,
  transcriptionFeatures,
  type TranscriptionInput,
  wavInfo,
} from "../../src/drift/features.ts";
import { compareHistograms, histogram, validateBins } from "../../src/drift/psi.ts";
import { craftedWav, makeWav, riffChunk } from "../helpers/audio.ts";

const hex = (text: string) => new Uint8Array(text.match(/../g)!.map((byte) => parseInt(byte, 16)));

/**
 * Leading bytes (100 and 120) of WAV files written by ffmpeg 5.1 (a LIST chunk sits between `fmt ` and `data`):
 * `ffmpeg -f lavfi -i sine=frequency=440:duration=1 -ar 22050 -ac 2 -c:a pcm_s16le out.wav` (88 278 bytes), and the
 * same at 16 kHz mono `-c:a pcm_f32le -f wav pipe:`, which cannot seek back and leaves both RIFF and data sizes as
 * 0xFFFFFFFF (64 102 bytes, WAVE_FORMAT_EXTENSIBLE).
 */
const FFMPEG_WAV_FILE_HEAD =
  "52494646ce58010057415645666d742010000000010002002256000088580100040010004c4953541a000000494e464f495346540e0000004c61766635392e32372e3130300064617461885801003d003d005e015e01d402d4022304230473057305a006";
const FFMPEG_WAV_PIPE_HEAD =
  "52494646ffffffff57415645666d742028000000feff0100803e000000fa00000400200016002000040000000300000000001000800000aa00389b714c4953541a000000494e464f495346540e0000004c61766635392e32372e3130300064617461ffffffff5c9e843b225caa3c09ba2e3dd89d7c3d4e7b";

/** `seconds` of a sine at `amplitude` (full scale 1.0), integer cycles per 20 ms frame at the rates used here. */
function sine(seconds: number, sampleRate: number, amplitude: number, frequency = 1_000): Float32Array {
  return Float32Array.from(
    { length: Math.round(seconds * sampleRate) },
    (_, i) => amplitude * Math.sin((2 * Math.PI * frequency * i) / sampleRate),
  );
}

describe("pcmStats", () => {
  it("puts a full-scale Float32 sine at −3.01 dBFS RMS and 0 dBFS peak", () => {
    const stats = pcmStats(sine(1, 48_000, 1), 48_000);
    expect(stats.rmsDbfs).toBeCloseTo(20 * Math.log10(Math.SQRT1_2), 4);
    expect(stats.rmsDbfs).toBeCloseTo(-3.0103, 4);
    expect(stats.peakDbfs).toBeCloseTo(0, 6);
    expect(stats.silenceRatio).toBe(0);
    expect(stats.frames).toBe(48_000);
    expect(stats.durationSeconds).toBe(1);
  });

  it("scales Int16 samples by 1/32768", () => {
    const samples = Int16Array.from(sine(1, 16_000, 1), (value) => Math.round(value * 32_767));
    // 20·log10(32767/32768 / √2)
    expect(pcmStats(samples, 16_000).rmsDbfs).toBeCloseTo(-3.0106, 3);
    expect(pcmStats(Int16Array.of(-32_768, 0, 0, 0), 16_000).peakDbfs).toBe(0);
  });

  it("halves the level of a half-amplitude sine (−6.02 dB)", () => {
    expect(pcmStats(sine(0.5, 16_000, 0.5), 16_000).rmsDbfs).toBeCloseTo(-3.0103 - 6.0206, 3);
  });

  it("counts 20 ms frames below −50 dBFS as silent", () => {
    const half = sine(0.5, 16_000, 0.5);
    const samples = new Float32Array(16_000);
    samples.set(half, 8_000); // 25 silent frames, then 25 loud ones
    expect(pcmStats(samples, 16_000).silenceRatio).toBe(0.5);

    // Sines with RMS at −60 and −40 dBFS: amplitude = √2 · 10^(dB/20).
    const quiet = sine(0.2, 16_000, Math.SQRT2 * 10 ** (-60 / 20));
    const audible = sine(0.2, 16_000, Math.SQRT2 * 10 ** (-40 / 20));
    expect(pcmStats(quiet, 16_000).rmsDbfs).toBeCloseTo(-60, 3);
    expect(pcmStats(quiet, 16_000).silenceRatio).toBe(1);
    expect(pcmStats(audible, 16_000).silenceRatio).toBe(0);
  });

  it("reports digital silence at the floor and empty input as not silent", () => {
    expect(pcmStats(new Float32Array(16_000), 16_000)).toMatchObject({
      rmsDbfs: DBFS_FLOOR,
      peakDbfs: DBFS_FLOOR,
      silenceRatio: 1,
    });
    expect(pcmStats(new Float32Array(0), 16_000)).toEqual({
      frames: 0,
      durationSeconds: 0,
      rmsDbfs: DBFS_FLOOR,
      peakDbfs: DBFS_FLOOR,
      silenceRatio: 0,
    });
    expect(amplitudeToDbfs(1e-9)).toBe(DBFS_FLOOR);
  });

  it("judges whole frames only, unless the audio is shorter than one frame", () => {
    const samples = new Float32Array(330); // one 320-sample frame of silence, then 10 loud samples
    samples.fill(0.9, 320);
    expect(pcmStats(samples, 16_000).silenceRatio).toBe(1);
    expect(pcmStats(new Float32Array(100), 16_000).silenceRatio).toBe(1);
    expect(pcmStats(new Float32Array(100).fill(0.5), 16_000).silenceRatio).toBe(0);
  });

  it("averages interleaved channels", () => {
    const left = sine(0.2, 16_000, 1);
    const stereo = new Float32Array(left.length * 2);
    left.forEach((value, i) => (stereo[i * 2] = value)); // right channel silent
    const stats = pcmStats(stereo, 16_000, 2);
    expect(stats.frames).toBe(left.length);
    expect(stats.rmsDbfs).toBeCloseTo(-6.0206, 3); // mean square 1/4
    expect(stats.silenceRatio).toBe(0);
  });

  it("rejects impossible rates and channel counts", () => {
    expect(() => pcmStats(new Float32Array(1), 0)).toThrow(RangeError);
    expect(() => pcmStats(new Float32Array(1), 16_000, 0)).toThrow(RangeError);
  });
});

describe("wavInfo", () => {
  it("reads the header the test fixtures write", () => {
    expect(wavInfo(makeWav(0.5, 16_000).subarray(0, 64))).toEqual({
      encoding: "pcm",
      sampleRate: 16_000,
      channels: 1,
      bitsPerSample: 16,
      blockAlign: 2,
      dataOffset: 44,
      dataBytes: 16_000,
      durationSeconds: 0.5,
    });
  });

  it("skips ffmpeg's LIST chunk", () => {
    expect(wavInfo(hex(FFMPEG_WAV_FILE_HEAD), 88_278)).toEqual({
      encoding: "pcm",
      sampleRate: 22_050,
      channels: 2,
      bitsPerSample: 16,
      blockAlign: 4,
      dataOffset: 78,
      dataBytes: 88_200,
      durationSeconds: 1,
    });
  });

  it("sizes a streamed WAV from the file size, and leaves it unknown without one", () => {
    const head = hex(FFMPEG_WAV_PIPE_HEAD);
    expect(wavInfo(head, 64_102)).toMatchObject({
      encoding: "extensible",
      sampleRate: 16_000,
      channels: 1,
      bitsPerSample: 32,
      dataOffset: 102,
      dataBytes: 64_000,
      durationSeconds: 1,
    });
    expect(wavInfo(head)).toMatchObject({ dataBytes: null, durationSeconds: null });
  });

  it("skips odd-sized chunks with their pad byte and caps a data size larger than the file", () => {
    const junk = riffChunk("JUNK", Uint8Array.of(1, 2, 3)); // 3 bytes + pad
    const head = craftedWav({
      formatTag: 3,
      channels: 2,
      sampleRate: 48_000,
      bitsPerSample: 32,
      dataSize: 384_000,
      beforeData: junk,
    });
    expect(wavInfo(head)).toMatchObject({
      encoding: "float",
      channels: 2,
      blockAlign: 8,
      dataOffset: 56,
      dataBytes: 384_000,
      durationSeconds: 1,
    });
    expect(wavInfo(head, 56 + 38_400)).toMatchObject({ dataBytes: 38_400, durationSeconds: 0.1 });
  });

  it("returns null for non-WAV bytes, truncated heads and inconsistent headers", () => {
    expect(wavInfo(hex("fff338c4000000034800000000fff888cb210f7b041070010cbbf10e"))).toBeNull();
    expect(wavInfo(new Uint8Array())).toBeNull();
    expect(wavInfo(makeWav().subarray(0, 40))).toBeNull();
    expect(wavInfo(craftedWav({ blockAlign: 3, dataSize: 32_000 }))).toBeNull();
    expect(wavInfo(craftedWav({ formatTag: 0x55, dataSize: 32_000 }))).toBeNull();
    expect(wavInfo(craftedWav({ channels: 0, blockAlign: 0, dataSize: 32_000 }))).toBeNull();
  });
});

describe("transcriptionFeatures", () => {
  const input: TranscriptionInput = {
    durationSeconds: 10,
    bytes: 320_000,
    format: "wav",
    sampleRate: 16_000,
    channels: 1,
    requestedLanguage: "EN",
    detectedLanguage: "en",
    pcm: { rmsDbfs: -23.5, silenceRatio: 0.25 },
  };

  it("derives rates, emptiness and segment means", () => {
    const features = transcriptionFeatures(input, {
      text: " Hello there,  general Kenobi. ",
      segments: [{ avg_logprob: Math.log(0.8), no_speech_prob: 0.1 }, { confidence: 0.6, no_speech_prob: 0.3 }, {}],
    });
    expect(features).toMatchObject({
      bytesPerSecond: 32_000,
      requestedLanguage: "en",
      detectedLanguage: "en",
      languageMismatch: false,
      loudnessDbfs: -23.5,
      silenceRatio: 0.25,
      characters: 25,
      words: 4,
      charsPerSecond: 2.5,
      wordsPerSecond: 0.4,
      emptyTranscript: false,
      segmentCount: 3,
    });
    expect(features.meanConfidence).toBeCloseTo(0.7, 12);
    expect(features.meanNoSpeechProb).toBeCloseTo(0.2, 12);
  });

  it("gives null where the inputs do not say", () => {
    const features = transcriptionFeatures(
      { ...input, durationSeconds: null, requestedLanguage: null, pcm: undefined },
      { text: "…", segments: [{ confidence: -0.35 }] },
    );
    expect(features).toMatchObject({
      bytesPerSecond: null,
      charsPerSecond: null,
      wordsPerSecond: null,
      languageMismatch: null,
      loudnessDbfs: null,
      silenceRatio: null,
      emptyTranscript: true,
      meanConfidence: null,
      meanNoSpeechProb: null,
    });
  });

  it("flags a language mismatch and counts CJK characters", () => {
    const features = transcriptionFeatures(
      { ...input, durationSeconds: 2, detectedLanguage: "zh" },
      { text: "今天天气很好。", segments: [] },
    );
    expect(features).toMatchObject({
      languageMismatch: true,
      characters: 7,
      words: 1,
      charsPerSecond: 3.5,
      meanConfidence: null,
    });
  });

  it("reads confidence as a probability first and exp(avg_logprob) second", () => {
    expect(segmentConfidence({ confidence: 0.9, avg_logprob: Math.log(0.5) })).toBe(0.9);
    expect(segmentConfidence({ avg_logprob: Math.log(0.5) })).toBeCloseTo(0.5, 12);
    expect(segmentConfidence({ confidence: 1.2 })).toBeNull();
    expect(segmentConfidence({ avg_logprob: 0.3 })).toBeNull();
  });
});

describe("drift bins", () => {
  it("defines valid bins for every drift feature", () => {
    expect(Object.keys(DRIFT_FEATURE_BINS).sort()).toEqual([...DRIFT_FEATURES].sort());
    for (const feature of DRIFT_FEATURES) {
      expect(DRIFT_FEATURE_BINS[feature].feature).toBe(feature);
      expect(() => validateBins(DRIFT_FEATURE_BINS[feature])).not.toThrow();
    }
  });

  it("turns feature rows into histograms that show a shift in speaking rate", () => {
    const rows = (wordsPerText: number, count: number) =>
      Array.from({ length: count }, (_, i) =>
        transcriptionFeatures(
          {
            durationSeconds: 10,
            bytes: 160_000,
            format: "mp3",
            sampleRate: 16_000,
            channels: 1,
            requestedLanguage: null,
            detectedLanguage: i % 2 ? "en" : "es",
          },
          { text: Array.from({ length: wordsPerText }, () => "word").join(" "), segments: [] },
        ),
      );
    const histogramOf = (feature: (typeof DRIFT_FEATURES)[number], features: ReturnType<typeof rows>) =>
      histogram(
        features.map((row) => driftValues(row)[feature]),
        DRIFT_FEATURE_BINS[feature],
      );
    const baseline = rows(25, 200); // 2.5 words/s
    const current = rows(8, 200); // 0.8 words/s: e.g. a model dropping speech
    expect(
      compareHistograms(histogramOf("wordsPerSecond", baseline), histogramOf("wordsPerSecond", current)).verdict,
    ).toBe("significant");
    expect(
      compareHistograms(histogramOf("detectedLanguage", baseline), histogramOf("detectedLanguage", current)).value,
    ).toBe(0);
    expect(histogramOf("loudnessDbfs", current).missing).toBe(200);
    expect(histogramOf("languageMismatch", current).missing).toBe(200);
  });
});
