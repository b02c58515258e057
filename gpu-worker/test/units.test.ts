/** Pure parts: windows, padding, stitching, dispatch validation, settings, backoff, WAV, languages, model bytes. */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";

import { encodeWav16, encodeWav16Into, languageCode, parseKeyRing, wav16Bytes } from "@vtt/pool-contract";
import { describe, expect, it } from "vitest";

import { quietestPoint, rightPad, SAMPLE_RATE, splitIntoWindows } from "../src/audio/windows.ts";
import { stitchWindows } from "../src/batch/stitch.ts";
import { validateDispatch } from "../src/bridge/dispatch.ts";
import { callbackBackoffMs } from "../src/callback/deliver.ts";
import { ConfigError, poolOptionsFromEnv, resolvePoolSettings } from "../src/config.ts";
import { traceIdFromTraceparent } from "../src/log.ts";
import { buildSyntheticModel, DEFAULT_HEADER_FILE, float32ToFloat16Bits } from "../src/models/synthetic.ts";
import { REDIS_INSTALL_HINT, startPrivateRedis } from "../src/redis-server.ts";

/** Loud noise with silent gaps at the given seconds (each gap 0.2 s). */
function noiseWithGaps(seconds: number, gapsAt: number[]): Float32Array {
  const pcm = new Float32Array(Math.round(seconds * SAMPLE_RATE));
  let seed = 7;
  for (let i = 0; i < pcm.length; i++) {
    seed = (seed * 16807) % 2147483647;
    pcm[i] = (seed / 2147483647 - 0.5) * 0.8;
  }
  for (const at of gapsAt) pcm.fill(0, Math.round(at * SAMPLE_RATE), Math.round((at + 0.2) * SAMPLE_RATE));
  return pcm;
}

describe("splitIntoWindows", () => {
  it("keeps audio up to the window length in one window", () => {
    const pcm = noiseWithGaps(30, []);
    const windows = splitIntoWindows(pcm);
    expect(windows).toHaveLength(1);
    expect(windows[0]!.samples.length).toBe(pcm.length);
  });

  it("cuts long audio at the quiet point inside the search range, never past 30 s", () => {
    const pcm = noiseWithGaps(70, [27.0, 54.0]);
    const windows = splitIntoWindows(pcm);
    expect(windows.map((w) => w.startSample / SAMPLE_RATE)).toEqual([
      0,
      expect.closeTo(27.1, 1),
      expect.closeTo(54.1, 1),
    ]);
    for (const w of windows) expect(w.samples.length).toBeLessThanOrEqual(30 * SAMPLE_RATE);
    expect(windows.reduce((sum, w) => sum + w.samples.length, 0)).toBe(pcm.length);
    // windows are views of the decoded buffer, not copies
    expect(windows[1]!.samples.buffer).toBe(pcm.buffer);
  });

  it("leaves no tail shorter than 1 s (whisper.cpp skips those)", () => {
    const pcm = noiseWithGaps(30.3, [29.9]);
    const windows = splitIntoWindows(pcm);
    expect(windows).toHaveLength(2);
    expect(windows[1]!.samples.length).toBeGreaterThanOrEqual(SAMPLE_RATE);
  });

  it("honours a smaller window setting, cutting inside the gaps and never leaving slivers", () => {
    const windows = splitIntoWindows(noiseWithGaps(11, [3.5, 7.0]), { maxWindowSeconds: 4 });
    const cuts = windows.slice(1).map((w) => w.startSample / SAMPLE_RATE);
    expect(cuts).toHaveLength(2);
    expect(cuts[0]).toBeGreaterThanOrEqual(3.5);
    expect(cuts[0]).toBeLessThanOrEqual(3.7);
    expect(cuts[1]).toBeGreaterThanOrEqual(7.0);
    expect(cuts[1]).toBeLessThanOrEqual(7.2);
    for (const w of windows.slice(0, -1)) expect(w.samples.length).toBeGreaterThanOrEqual(2 * SAMPLE_RATE);
  });

  it("finds the quietest frame", () => {
    const pcm = noiseWithGaps(2, [1.2]);
    expect(quietestPoint(pcm, 0, pcm.length) / SAMPLE_RATE).toBeCloseTo(1.3, 1);
  });
});

describe("rightPad", () => {
  it("pads with zeros and keeps the samples", () => {
    const padded = rightPad(Float32Array.of(0.5, -0.5), 5);
    expect([...padded]).toEqual([0.5, -0.5, 0, 0, 0]);
  });
  it("returns a long-enough window unchanged", () => {
    const samples = Float32Array.of(1, 2, 3);
    expect(rightPad(samples, 2)).toBe(samples);
  });
});

describe("stitchWindows", () => {
  it("shifts each window by its offset, clamps to the window and keeps order", () => {
    const transcript = stitchWindows(
      [
        { startSample: 0, sampleCount: 4 * SAMPLE_RATE },
        { startSample: 4 * SAMPLE_RATE, sampleCount: 2 * SAMPLE_RATE },
      ],
      [
        {
          segments: [
            { startMs: 240, endMs: 17080, text: " first" },
            { startMs: 500, endMs: 400, text: " back" },
          ],
          language: "en",
        },
        {
          segments: [
            { startMs: 100, endMs: 900, text: " second " },
            { startMs: 1000, endMs: 1200, text: "  " },
          ],
          language: "de",
        },
      ],
      null,
    );
    expect(transcript).toEqual({
      text: "first back second",
      segments: [
        { start: 0.24, end: 4, text: "first" },
        { start: 0.5, end: 0.5, text: "back" },
        { start: 4.1, end: 4.9, text: "second" },
      ],
      language: "en",
    });
  });

  it("prefers the requested language and carries words when the engine gives them", () => {
    const transcript = stitchWindows(
      [{ startSample: SAMPLE_RATE, sampleCount: SAMPLE_RATE }],
      [
        {
          segments: [{ startMs: 0, endMs: 500, text: "hi" }],
          words: [{ startMs: 0, endMs: 300, word: " hi" }],
          language: "en",
        },
      ],
      "fr",
    );
    expect(transcript.language).toBe("fr");
    expect(transcript.words).toEqual([{ start: 1, end: 1.3, word: "hi" }]);
  });

  it("reports a detected language outside the contract's language list as unknown (the edge would refuse it)", () => {
    const place = [{ startSample: 0, sampleCount: SAMPLE_RATE }];
    // whisper.cpp knows Hawaiian ("haw"), the contract's list does not
    const unknown = stitchWindows(
      place,
      [{ segments: [{ startMs: 0, endMs: 500, text: "aloha" }], language: "haw" }],
      null,
    );
    expect(unknown.language).toBeNull();
    const known = stitchWindows(
      place,
      [{ segments: [{ startMs: 0, endMs: 500, text: "hallo" }], language: "de" }],
      null,
    );
    expect(known.language).toBe("de");
  });
});

describe("validateDispatch", () => {
  const valid = {
    job_id: "tr_01JD7Y7W8Q3N5X6T2R9M4K1B0C",
    language: "en",
    prompt: null,
    audio_url: "https://edge.example/internal/audio/tr_1?exp=1&kid=a&sig=b",
    audio_expires_at: 1_900_000_000,
    callback_url: "https://edge.example/internal/pool/callback",
    traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    future_field: true,
  };

  it("accepts the contract's body and ignores unknown fields", () => {
    const result = validateDispatch(valid);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.dispatch).not.toHaveProperty("future_field");
  });

  it("lists every bad field", () => {
    const result = validateDispatch({
      ...valid,
      job_id: "a:b",
      language: "english",
      audio_url: "ftp://x",
      audio_expires_at: "soon",
      callback_url: 3,
    });
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.errors.map((e) => e.field)).toEqual([
        "job_id",
        "language",
        "audio_url",
        "audio_expires_at",
        "callback_url",
      ]);
  });

  it("rejects ids BullMQ cannot take and non-objects", () => {
    expect(validateDispatch({ ...valid, job_id: "12345" }).ok).toBe(false);
    expect(validateDispatch([valid]).ok).toBe(false);
  });
});

describe("settings", () => {
  const env = { BRIDGE_KEYS: "e2:new,e1:old", CALLBACK_KEYS: "p1:s", REDIS_URL: "redis://127.0.0.1:1" };

  it("reads env vars into typed settings with defaults", () => {
    const settings = resolvePoolSettings(
      poolOptionsFromEnv({ ...env, BATCH_SIZE: "8", WHISPER_USE_GPU: "true", ENGINE: "openai-compatible" }),
    );
    expect(settings).toMatchObject({
      batchSize: 8,
      jobConcurrency: 16,
      whisperUseGpu: true,
      engine: "openai-compatible",
      batchWaitMs: 50,
    });
    expect(settings.bridgeKeys).toEqual(parseKeyRing("e2:new,e1:old"));
  });

  it("listens on loopback unless HOST says otherwise, and reads METRICS_TOKEN", () => {
    expect(resolvePoolSettings(poolOptionsFromEnv(env))).toMatchObject({ host: "127.0.0.1", metricsToken: null });
    const exposed = resolvePoolSettings(
      poolOptionsFromEnv({ ...env, HOST: "0.0.0.0", METRICS_TOKEN: "scrape-token-0123456789" }),
    );
    expect(exposed).toMatchObject({ host: "0.0.0.0", metricsToken: "scrape-token-0123456789" });
    expect(() => resolvePoolSettings(poolOptionsFromEnv({ ...env, METRICS_TOKEN: "short" }))).toThrow(/METRICS_TOKEN/);
  });

  it("reports malformed values instead of guessing", () => {
    expect(() => poolOptionsFromEnv({ ...env, BATCH_SIZE: "eight", WHISPER_USE_GPU: "maybe" })).toThrow(ConfigError);
    expect(() => resolvePoolSettings(poolOptionsFromEnv({ ...env, BATCH_SIZE: "0" }))).toThrow(/batchSize/);
    expect(() => resolvePoolSettings(poolOptionsFromEnv({ REDIS_URL: "redis://x" }))).toThrow(
      /BRIDGE_KEYS[\s\S]*CALLBACK_KEYS/,
    );
    expect(() => resolvePoolSettings(poolOptionsFromEnv({ ...env, WINDOW_SECONDS: "45" }))).toThrow(/windowSeconds/);
    // callbacks carry times within the contract's 7 days only
    expect(() => resolvePoolSettings(poolOptionsFromEnv({ ...env, MAX_AUDIO_SECONDS: "700000" }))).toThrow(
      /maxAudioSeconds/,
    );
  });
});

describe("small helpers", () => {
  it("backs callbacks off exponentially up to the cap", () => {
    expect([1, 2, 3, 4, 10].map((n) => callbackBackoffMs(n, 1000, 5000))).toEqual([1000, 2000, 4000, 5000, 5000]);
  });

  it("encodes 16-bit mono WAV", () => {
    const wav = encodeWav16(Float32Array.of(0, 1, -1, 2));
    const view = new DataView(wav.buffer);
    expect(Buffer.from(wav.subarray(0, 4)).toString()).toBe("RIFF");
    expect(view.getUint32(24, true)).toBe(16_000);
    expect([
      view.getInt16(44, true),
      view.getInt16(46, true),
      view.getInt16(48, true),
      view.getInt16(50, true),
    ]).toEqual([0, 32767, -32768, 32767]);
  });

  it("encodes the same WAV into a reused buffer, as a view of its first bytes, and refuses one too small", () => {
    const buffer = new Uint8Array(wav16Bytes(8)).fill(0xff);
    const long = encodeWav16Into(Float32Array.of(0.5, -0.5, 0.25, 1, -1, 0, 0.1, 0.2), buffer);
    expect(
      Buffer.from(long).equals(Buffer.from(encodeWav16(Float32Array.of(0.5, -0.5, 0.25, 1, -1, 0, 0.1, 0.2)))),
    ).toBe(true);
    // shorter after longer: the header says 3 samples and the view is 3 samples long
    const short = encodeWav16Into(Float32Array.of(0, 1, -1), buffer);
    expect(short.buffer).toBe(buffer.buffer);
    expect(Buffer.from(short).equals(Buffer.from(encodeWav16(Float32Array.of(0, 1, -1))))).toBe(true);
    expect(() => encodeWav16Into(new Float32Array(9), buffer)).toThrow(RangeError);
  });

  it("maps server language names to codes", () => {
    expect([
      languageCode("english"),
      languageCode("EN"),
      languageCode("haitian creole"),
      languageCode("klingon"),
      languageCode(null),
    ]).toEqual(["en", "en", "ht", null, null]);
  });

  it("extracts the trace id from a traceparent", () => {
    expect(traceIdFromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")).toBe(
      "4bf92f3577b34da6a3ce929d0e0e4736",
    );
    expect(traceIdFromTraceparent("garbage")).toBeUndefined();
  });

  it("says how to install Redis when the binary is missing", async () => {
    await expect(startPrivateRedis({ binary: "/nonexistent/redis-server" })).rejects.toThrow(REDIS_INSTALL_HINT);
  });
});

describe("synthetic model", () => {
  it("writes the GGML layout whisper.cpp expects, deterministically", async () => {
    const header = await readFile(DEFAULT_HEADER_FILE);
    const model = buildSyntheticModel(header, "mini");
    expect(model.length).toBe(8_020_136);
    expect(model.readUInt32LE(0)).toBe(0x67676d6c);
    expect([
      model.readInt32LE(12),
      model.readInt32LE(16),
      model.readInt32LE(20),
      model.readInt32LE(28),
      model.readInt32LE(36),
    ]).toEqual([64, 2, 1, 64, 1]);
    // the vocabulary is copied byte for byte after the hparams
    expect(model.subarray(48, header.length).equals(header.subarray(48))).toBe(true);
    const digest = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");
    expect(digest(buildSyntheticModel(header, "mini"))).toBe(digest(model));
    expect(digest(buildSyntheticModel(header, "mini", 2))).not.toBe(digest(model));
  });

  it("converts to half precision with round-to-nearest-even", () => {
    expect([1, -2, 0.5, 65504, 1e-8, 0.1].map(float32ToFloat16Bits)).toEqual([
      0x3c00, 0xc000, 0x3800, 0x7bff, 0, 0x2e66,
    ]);
  });
});
