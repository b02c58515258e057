/**
 * A job's options reach whisper.cpp: translate, temperature and word timestamps, through the real engine (smart-whisper)
 * and the real pool (Redis, HTTP, ffmpeg). The synthetic models' text means nothing, so these tests assert structure
 * and that the decode changes with the option, never the words. `synthetic:mini-multilingual` has a multilingual
 * vocabulary size, so whisper.cpp puts the translate token in its prompt; `synthetic:mini` is English-only.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { refuseOptions, servedModelNames } from "../src/bridge/options.ts";
import {
  DEFAULT_WINDOW_OPTIONS,
  type EngineDescription,
  type EngineWindow,
  type EngineWindowResult,
  wordsFromTokens,
} from "../src/engines/engine.ts";
import { WhisperCppEngine } from "../src/engines/whispercpp.ts";
import { createLogger } from "../src/log.ts";
import { resolveModel } from "../src/models/resolve.ts";
import type { RunningPool } from "../src/pool.ts";
import { type PrivateRedis, startPrivateRedis } from "../src/redis-server.ts";
import { bytesOf, CACHE_DIR, decodeReference, jfkSlice } from "./helpers/audio.ts";
import { dispatch, type FakeEdge, startFakeEdge } from "./helpers/edge.ts";
import { startTestPool } from "./helpers/pool.ts";

const MODELS_DIR = `${CACHE_DIR}/models`;

describe("words from token timings (pure)", () => {
  it("joins BPE pieces into words at leading spaces and skips whisper.cpp's special tokens", () => {
    expect(
      wordsFromTokens([
        { text: "[_BEG_]", startMs: 0, endMs: 0 },
        { text: " And", startMs: 0, endMs: 300 },
        { text: " so", startMs: 300, endMs: 500 },
        { text: ",", startMs: 500, endMs: 520 },
        { text: " Amer", startMs: 600, endMs: 800 },
        { text: "icans", startMs: 800, endMs: 1100 },
        { text: "[_TT_55]", startMs: 1100, endMs: 1100 },
        { text: "<|endoftext|>", startMs: 1100, endMs: 1100 },
        { text: " ", startMs: 1100, endMs: 1150 },
      ]),
    ).toEqual([
      { startMs: 0, endMs: 300, word: "And" },
      { startMs: 300, endMs: 520, word: "so," },
      { startMs: 600, endMs: 1100, word: "Americans" },
    ]);
    // a first token without a leading space still starts a word; an end before the start is clamped
    expect(wordsFromTokens([{ text: "hi", startMs: 40, endMs: 10 }])).toEqual([{ startMs: 40, endMs: 40, word: "hi" }]);
  });
});

describe("which dispatches a pool can honour (pure)", () => {
  const english: EngineDescription = {
    engine: "whispercpp",
    backend: "smart-whisper",
    model: "ggml-base.en",
    synthetic: false,
    translates: false,
    wordTimestamps: true,
  };
  const settings = { engine: "whispercpp", whisperModel: "base.en", openaiModel: "x" } as const;

  it("serves its WHISPER_MODEL name and the loaded model's name; refuses others", () => {
    const names = servedModelNames(settings, english);
    expect(names).toEqual(["base.en", "ggml-base.en"]);
    expect(refuseOptions({ model: null, task: "transcribe" }, names, english)).toBeNull();
    expect(refuseOptions({ model: "ggml-base.en", task: "transcribe" }, names, english)).toBeNull();
    expect(refuseOptions({ model: "large-v3", task: "transcribe" }, names, english)?.code).toBe("model_unavailable");
    expect(servedModelNames({ ...settings, engine: "openai-compatible" }, null)).toEqual(["x"]);
  });

  it("refuses translation on an English-only model, and leaves it to the job while the model loads", () => {
    const names = servedModelNames(settings, english);
    expect(refuseOptions({ model: null, task: "translate" }, names, english)?.code).toBe("translation_unsupported");
    expect(refuseOptions({ model: null, task: "translate" }, names, { ...english, translates: true })).toBeNull();
    expect(refuseOptions({ model: null, task: "translate" }, names, null)).toBeNull();
  });

  it("refuses speaker labels (no diarization models) at once, not multichannel; no speakers changes nothing", () => {
    const names = servedModelNames(settings, english);
    const speakers = { labels: true, expected: null, min: null, max: null, multichannel: false };
    expect(refuseOptions({ model: null, task: "transcribe", speakers }, names, english)?.code).toBe(
      "diarization_unavailable",
    );
    // every pool splits channels with ffmpeg (multichannel.test.ts)
    expect(
      refuseOptions(
        { model: null, task: "transcribe", speakers: { ...speakers, labels: false, multichannel: true } },
        names,
        null,
      ),
    ).toBeNull();
    expect(refuseOptions({ model: null, task: "transcribe", speakers: null }, names, english)).toBeNull();
  });
});

describe("the whisper.cpp engine takes each window's options", () => {
  let engine: WhisperCppEngine;
  let samples: Float32Array;

  beforeAll(async () => {
    const model = await resolveModel("synthetic:mini-multilingual", { cacheDir: MODELS_DIR, allowDownload: false });
    expect(model).toMatchObject({ name: "synthetic-mini-multilingual", synthetic: true, multilingual: true });
    engine = new WhisperCppEngine({
      binding: "smart-whisper",
      modelPath: model.path,
      modelName: model.name,
      synthetic: true,
      multilingual: model.multilingual,
      capacity: 4,
      threads: 1,
      maxTokens: 24,
      temperatureInc: 0,
      bestOf: 1,
      useGpu: false,
      logger: createLogger({ level: "silent" }),
    });
    [samples] = await Promise.all([decodeReference(await jfkSlice(0, 5)), engine.start()]);
  });
  afterAll(async () => {
    await engine?.close();
  });

  const window = (options: Partial<EngineWindow> = {}): EngineWindow => ({
    samples,
    durationMs: 5000,
    language: null,
    prompt: null,
    ...DEFAULT_WINDOW_OPTIONS,
    ...options,
  });
  const fulfilled = (outcome: PromiseSettledResult<EngineWindowResult> | undefined): EngineWindowResult => {
    expect(outcome?.status).toBe("fulfilled");
    return (outcome as PromiseFulfilledResult<EngineWindowResult>).value;
  };
  const decoded = (result: EngineWindowResult) => result.segments.map((s) => [s.startMs, s.endMs, s.text]);

  it("reports the model as translating, and runs windows of different tasks in one batch", async () => {
    expect(engine.description).toMatchObject({ translates: true, wordTimestamps: true });
    const [plain, again, translated, warm] = (
      await engine.transcribeBatch([window(), window(), window({ task: "translate" }), window({ temperature: 1 })])
    ).map(fulfilled);
    // greedy decoding is deterministic: the same window twice decodes the same
    expect(decoded(again!)).toEqual(decoded(plain!));
    // the translate token in the decoder's prompt and a sampling temperature each change the decode
    expect(decoded(translated!)).not.toEqual(decoded(plain!));
    expect(decoded(warm!)).not.toEqual(decoded(plain!));
    expect(plain!.words).toBeUndefined();
  });

  it("gives word timings inside the window when asked, and none otherwise", async () => {
    const [withWords, without] = (await engine.transcribeBatch([window({ wordTimestamps: true }), window()])).map(
      fulfilled,
    );
    expect(without!.words).toBeUndefined();
    expect(withWords!.words!.length).toBeGreaterThan(0);
    // token timestamps do not change the segments
    expect(decoded(withWords!)).toEqual(decoded(without!));
    for (const word of withWords!.words!) {
      expect(word.word).toBe(word.word.trim());
      expect(word.word).not.toBe("");
      expect(word.word).not.toMatch(/^\[_/);
      expect(word.endMs).toBeGreaterThanOrEqual(word.startMs);
      expect(word.startMs).toBeGreaterThanOrEqual(0);
    }
  });
});

describe("the pool end to end", () => {
  let redis: PrivateRedis;
  let edge: FakeEdge;
  let multilingual: RunningPool;
  let englishOnly: RunningPool;
  let audio: Buffer;

  beforeAll(async () => {
    [redis, edge, audio] = await Promise.all([startPrivateRedis(), startFakeEdge(), jfkSlice(0, 4).then(bytesOf)]);
    [multilingual, englishOnly] = await Promise.all([
      startTestPool(redis.url, { whisperModel: "synthetic:mini-multilingual" }),
      startTestPool(redis.url),
    ]);
  });
  afterAll(async () => {
    await Promise.all([multilingual?.stop(), englishOnly?.stop()]);
    await edge?.close();
    await redis?.stop();
  });

  it("translates with word timings when asked: the callback says so, in English, with words in the audio", async () => {
    const body = await edge.addJob("tr_options_translate", audio, { language: null });
    const options = {
      task: "translate",
      model: "synthetic:mini-multilingual",
      temperature: 0.2,
      word_timestamps: true,
    };
    expect((await dispatch(multilingual.url, { ...body, ...options })).status).toBe(202);
    const callback = await edge.waitForCallback("tr_options_translate");
    expect(callback.body.status).toBe("completed");
    if (callback.body.status !== "completed") return;
    const { result } = callback.body;
    expect(result).toMatchObject({ task: "translate", language: "en", model: "synthetic-mini-multilingual" });
    expect(result.words!.length).toBeGreaterThan(0);
    for (const word of result.words!) {
      expect(word.start).toBeGreaterThanOrEqual(0);
      expect(word.end).toBeGreaterThanOrEqual(word.start);
      expect(word.end).toBeLessThanOrEqual(4);
    }
  });

  it("a plain dispatch (an edge without the new fields) transcribes without words", async () => {
    const body = await edge.addJob("tr_options_plain", audio);
    expect((await dispatch(englishOnly.url, body)).status).toBe(202);
    const callback = await edge.waitForCallback("tr_options_plain");
    if (callback.body.status !== "completed") throw new Error("expected a completed callback");
    expect(callback.body.result.task).toBe("transcribe");
    expect(callback.body.result).not.toHaveProperty("words");
  });

  it("refuses at submit what it cannot honour: a translation on an English-only model, another model", async () => {
    const body = await edge.addJob("tr_options_refused", audio);
    const translate = await dispatch(englishOnly.url, { ...body, task: "translate" });
    expect(translate.status).toBe(400);
    expect(await translate.json()).toMatchObject({ code: "translation_unsupported" });
    const model = await dispatch(englishOnly.url, { ...body, model: "large-v3" });
    expect(model.status).toBe(400);
    expect(await model.json()).toMatchObject({ code: "model_unavailable" });
    // the names it does serve pass
    expect((await dispatch(englishOnly.url, { ...body, model: "synthetic-mini" })).status).toBe(202);
    expect((await edge.waitForCallback("tr_options_refused")).body.status).toBe("completed");
  });
});
