/**
 * Engine adapters that talk to the outside: the OpenAI-compatible engine against the documented
 * `audio/transcriptions` wire format (outbound fetch intercepted), model download with its SHA-256 check, model
 * resolution, and the @fugood binding (its CPU package, installed by `npm run fugood:install -w gpu-worker`; CI
 * installs it and sets REQUIRE_FUGOOD=1, so there the test runs or fails, never skips).
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { encodeWav16 } from "@vtt/pool-contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { SAMPLE_RATE } from "../src/audio/windows.ts";
import { DEFAULT_WINDOW_OPTIONS, type EngineWindowResult } from "../src/engines/engine.ts";
import { OpenAICompatibleEngine } from "../src/engines/openai-compatible.ts";
import { WhisperCppEngine } from "../src/engines/whispercpp.ts";
import { createLogger } from "../src/log.ts";
import { MODEL_CATALOG, modelUrl } from "../src/models/catalog.ts";
import { downloadVerified } from "../src/models/download.ts";
import { resolveModel } from "../src/models/resolve.ts";
import { ensureSyntheticModel } from "../src/models/synthetic.ts";
import { CACHE_DIR, decodeReference, jfkSlice } from "./helpers/audio.ts";
import { waitFor } from "./helpers/wait.ts";

const silent = createLogger({ level: "silent" });

/** A `verbose_json` answer as documented for `POST /v1/audio/transcriptions`. */
function verboseJson(text: string, durationSeconds: number, language = "english"): Record<string, unknown> {
  return {
    task: "transcribe",
    language,
    duration: durationSeconds,
    text,
    segments: [
      {
        id: 0,
        seek: 0,
        start: 0,
        end: durationSeconds / 2,
        text: ` ${text} part one`,
        tokens: [50364, 400],
        temperature: 0,
        avg_logprob: -0.2,
        compression_ratio: 1.1,
        no_speech_prob: 0.01,
      },
      {
        id: 1,
        seek: 0,
        start: durationSeconds / 2,
        end: durationSeconds,
        text: ` ${text} part two`,
        tokens: [50364, 401],
        temperature: 0,
        avg_logprob: -0.2,
        compression_ratio: 1.1,
        no_speech_prob: 0.01,
      },
    ],
    words: [{ word: text, start: 0, end: 0.4 }],
  };
}

describe("openai-compatible engine", () => {
  it("sends each window as a WAV multipart request with verbose_json and runs a batch concurrently", async () => {
    const requests: { url: string; form: FormData }[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const intercept = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const request = new Request(input, init);
      const url = new URL(request.url);
      if (url.pathname === "/v1/models" && request.method === "GET") {
        return Response.json({
          object: "list",
          data: [{ id: "openai/whisper-large-v3-turbo", object: "model", created: 0, owned_by: "vllm" }],
        });
      }
      if (url.pathname !== "/v1/audio/transcriptions" || request.method !== "POST")
        return new Response("unexpected", { status: 599 });
      expect(request.headers.get("authorization")).toBe("Bearer local-key");
      const form = await request.formData();
      requests.push({ url: request.url, form });
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      // hold every request until all three are in flight at once: an engine that sent them one by one times out here
      await waitFor(() => maxInFlight >= 3, { timeoutMs: 4_000, description: "three requests in flight" });
      inFlight--;
      const file = form.get("file") as File;
      const seconds = (file.size - 44) / 2 / SAMPLE_RATE;
      return Response.json(verboseJson(`window of ${seconds.toFixed(1)} s`, seconds));
    };
    const engine = new OpenAICompatibleEngine({
      baseURL: "http://engine.test/v1",
      apiKey: "local-key",
      model: "openai/whisper-large-v3-turbo",
      capacity: 3,
      requestTimeoutMs: 5_000,
      startTimeoutMs: 1_000,
      wordTimestamps: true,
      logger: silent,
      fetch: intercept as typeof fetch,
    });
    await engine.start();
    expect(engine.ready).toBe(true);
    const padded = new Float32Array(3 * SAMPLE_RATE);
    const outcomes = await engine.transcribeBatch([
      { samples: padded, durationMs: 3000, language: "en", prompt: "Kennedy", ...DEFAULT_WINDOW_OPTIONS },
      { samples: padded, durationMs: 2000, language: null, prompt: null, ...DEFAULT_WINDOW_OPTIONS },
      { samples: padded, durationMs: 1000, language: null, prompt: null, ...DEFAULT_WINDOW_OPTIONS },
    ]);
    expect(maxInFlight).toBe(3);
    const first = requests.find((r) => r.form.get("language") === "en")!;
    expect(first.form.get("model")).toBe("openai/whisper-large-v3-turbo");
    expect(first.form.get("response_format")).toBe("verbose_json");
    expect(first.form.getAll("timestamp_granularities[]")).toEqual(["segment", "word"]);
    expect(first.form.get("prompt")).toBe("Kennedy");
    expect(first.form.get("temperature")).toBe("0");
    const file = first.form.get("file") as File;
    expect(file.name).toBe("window.wav");
    // only the real 3 s travel, as 16-bit mono WAV; the right-padding stays home
    expect(
      Buffer.from(await file.arrayBuffer())
        .subarray(0, 4)
        .toString(),
    ).toBe("RIFF");
    expect(file.size).toBe(44 + 3 * SAMPLE_RATE * 2);
    expect(requests.filter((r) => !r.form.has("language"))).toHaveLength(2);
    expect(outcomes[1]).toEqual({
      status: "fulfilled",
      value: {
        segments: [
          { startMs: 0, endMs: 1000, text: " window of 2.0 s part one", avgLogprob: -0.2, noSpeechProb: 0.01 },
          { startMs: 1000, endMs: 2000, text: " window of 2.0 s part two", avgLogprob: -0.2, noSpeechProb: 0.01 },
        ],
        words: [{ startMs: 0, endMs: 400, word: "window of 2.0 s" }],
        language: "en",
      },
    });
  });

  it("reuses its WAV buffers: batch after batch, each request carries exactly its own window's WAV", async () => {
    const files: { language: string; bytes: Buffer }[] = [];
    const intercept = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const request = new Request(input, init);
      if (new URL(request.url).pathname.endsWith("/models")) return Response.json({ object: "list", data: [] });
      const form = await request.formData();
      const language = String(form.get("language"));
      files.push({ language, bytes: Buffer.from(await (form.get("file") as File).arrayBuffer()) });
      // a failed request gives its buffer back too
      return language === "de"
        ? Response.json({ error: { message: "engine overloaded", type: "server_error" } }, { status: 500 })
        : Response.json(verboseJson("ok", 1));
    };
    const engine = new OpenAICompatibleEngine({
      baseURL: "http://engine.test/v1",
      apiKey: "k",
      model: "m",
      capacity: 2,
      requestTimeoutMs: 5_000,
      startTimeoutMs: 1_000,
      wordTimestamps: false,
      logger: silent,
      fetch: intercept as typeof fetch,
    });
    // distinct samples per window; shorter windows after longer ones, so a reused buffer's old tail would show
    const windowOf = (seconds: number, value: number, language: string) => {
      const samples = new Float32Array(30 * SAMPLE_RATE).fill(value, 0, seconds * SAMPLE_RATE);
      return { samples, durationMs: seconds * 1000, language, prompt: null, ...DEFAULT_WINDOW_OPTIONS };
    };
    const batches = [
      [windowOf(30, 0.5, "en"), windowOf(20, -0.25, "de")],
      [windowOf(3, 0.125, "fr"), windowOf(1, -0.75, "es")],
      [windowOf(12, 0.0625, "it"), windowOf(7, 0.375, "nl")],
    ];
    for (const batch of batches) await engine.transcribeBatch(batch);
    expect(files).toHaveLength(6);
    for (const window of batches.flat()) {
      const sent = files.find((f) => f.language === window.language)!;
      const expected = encodeWav16(window.samples.subarray(0, (window.durationMs / 1000) * SAMPLE_RATE));
      expect(sent.bytes.equals(Buffer.from(expected))).toBe(true);
    }
    // two requests at a time: two buffers for all six windows
    expect(engine.allocatedWavBuffers).toBe(2);
  });

  it("fails a window whose request fails, without failing the others", async () => {
    const intercept = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const request = new Request(input, init);
      if (new URL(request.url).pathname.endsWith("/models")) return Response.json({ object: "list", data: [] });
      const form = await request.formData();
      return form.get("language") === "de"
        ? Response.json({ error: { message: "engine overloaded", type: "server_error" } }, { status: 500 })
        : Response.json(verboseJson("ok", 1));
    };
    const engine = new OpenAICompatibleEngine({
      baseURL: "http://engine.test/v1",
      apiKey: "k",
      model: "m",
      capacity: 2,
      requestTimeoutMs: 5_000,
      startTimeoutMs: 1_000,
      wordTimestamps: false,
      logger: silent,
      fetch: intercept as typeof fetch,
    });
    const window = {
      samples: new Float32Array(SAMPLE_RATE),
      durationMs: 1000,
      language: "en",
      prompt: null,
      ...DEFAULT_WINDOW_OPTIONS,
    };
    const [failed, ok] = await engine.transcribeBatch([{ ...window, language: "de" }, window]);
    expect(failed!.status).toBe("rejected");
    expect(String((failed as PromiseRejectedResult).reason)).toMatch(/500/);
    expect(ok!.status).toBe("fulfilled");
  });
});

describe("models", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "vtt-models-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("downloads a model only when its SHA-256 matches, and keeps nothing otherwise", async () => {
    const bytes = Buffer.from("ggml model bytes ".repeat(1000));
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const served: string[] = [];
    const fetchImpl = async (input: string | URL | Request): Promise<Response> => {
      served.push(String(input));
      return new Response(bytes, { headers: { "content-length": String(bytes.length) } });
    };
    const good = path.join(dir, "good.bin");
    await downloadVerified({
      url: "https://huggingface.co/x/good.bin",
      sha256,
      file: good,
      fetchImpl: fetchImpl as typeof fetch,
    });
    expect((await readFile(good)).equals(bytes)).toBe(true);
    const bad = path.join(dir, "bad.bin");
    await expect(
      downloadVerified({
        url: "https://huggingface.co/x/bad.bin",
        sha256: "0".repeat(64),
        file: bad,
        fetchImpl: fetchImpl as typeof fetch,
      }),
    ).rejects.toThrow(/SHA-256 mismatch/);
    expect(existsSync(bad)).toBe(false);
    expect(await (await import("node:fs/promises")).readdir(dir)).toEqual(["good.bin"]);
  });

  it("resolves catalog names to Hugging Face URLs, synthetic shapes offline, and explains bad specs", async () => {
    expect(modelUrl(MODEL_CATALOG["base.en"]!)).toBe(
      "https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-base.en.bin",
    );
    const requested: string[] = [];
    const refuse = async (input: string | URL | Request): Promise<Response> => {
      requested.push(String(input));
      return new Response("not found", { status: 404 });
    };
    await expect(
      resolveModel("tiny.en", { cacheDir: dir, allowDownload: true, fetchImpl: refuse as typeof fetch }),
    ).rejects.toThrow(/answered 404/);
    expect(requested).toEqual(["https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-tiny.en.bin"]);
    await expect(resolveModel("tiny.en", { cacheDir: dir, allowDownload: false })).rejects.toThrow(/model:fetch/);
    await expect(resolveModel("synthetic:huge", { cacheDir: dir, allowDownload: false })).rejects.toThrow(
      /synthetic:mini/,
    );
    await expect(resolveModel("whisper-9000", { cacheDir: dir, allowDownload: false })).rejects.toThrow(
      /large-v3-turbo/,
    );
    await expect(resolveModel("./missing/model.bin", { cacheDir: dir, allowDownload: false })).rejects.toThrow(
      /does not exist/,
    );
    expect(
      await resolveModel("synthetic:mini", { cacheDir: `${CACHE_DIR}/models`, allowDownload: false }),
    ).toMatchObject({ name: "synthetic-mini", synthetic: true });
  });

  it("reports a model file whisper.cpp cannot load as a startup error, not a crash of the pool", async () => {
    const engine = new WhisperCppEngine({
      binding: "smart-whisper",
      modelPath: path.resolve(import.meta.dirname, "../fixtures/jfk.wav"),
      modelName: "not-a-model",
      synthetic: false,
      capacity: 1,
      threads: 1,
      maxTokens: 8,
      temperatureInc: 0,
      bestOf: 1,
      useGpu: false,
      logger: silent,
    });
    await expect(engine.start()).rejects.toThrow(/engine host exited while loading|loading .* failed/);
    expect(engine.ready).toBe(false);
  });
});

/**
 * @fugood/whisper.node is not a dependency (see docs/pool.md): `npm run fugood:install -w gpu-worker` puts its CPU
 * package into gpu-worker/.cache/fugood, where the engine host finds it through FUGOOD_WHISPER_MODULE.
 */
const FUGOOD_CACHE_MODULE = path.resolve(
  import.meta.dirname,
  "../.cache/fugood/node_modules/@fugood/whisper.node/lib/index.js",
);
if (!process.env.FUGOOD_WHISPER_MODULE && existsSync(FUGOOD_CACHE_MODULE)) {
  process.env.FUGOOD_WHISPER_MODULE = FUGOOD_CACHE_MODULE;
}
const fugoodModule = process.env.FUGOOD_WHISPER_MODULE ?? "@fugood/whisper.node";
const hasFugood = await import(fugoodModule).then(
  () => true,
  () => false,
);
/** CI installs the package: there a missing binding is a failure, not a skip. */
const fugoodRequired = process.env.REQUIRE_FUGOOD === "1";

describe("fugood binding", () => {
  // where REQUIRE_FUGOOD=1 (CI) the binding must be there, so the test below runs there instead of skipping
  if (fugoodRequired && !hasFugood) {
    throw new Error(`${fugoodModule} could not be imported (run npm run fugood:install -w gpu-worker)`);
  }

  const title = hasFugood
    ? "transcribes windows in parallel contexts"
    : "transcribes windows in parallel contexts (skipped: @fugood/whisper.node is not installed; run npm run fugood:install -w gpu-worker)";
  it.skipIf(!hasFugood)(title, async () => {
    const engine = new WhisperCppEngine({
      binding: "fugood",
      modelPath: await ensureSyntheticModel({ shape: "mini", cacheDir: `${CACHE_DIR}/models` }),
      modelName: "synthetic-mini",
      synthetic: true,
      capacity: 2,
      threads: 1,
      maxTokens: 0,
      temperatureInc: 0,
      bestOf: 1,
      useGpu: false,
      logger: silent,
    });
    await engine.start();
    try {
      const pcm = await decodeReference(await jfkSlice(0, 4));
      const window = { samples: pcm, durationMs: 4000, language: "en", prompt: null, ...DEFAULT_WINDOW_OPTIONS };
      const [a, b] = await engine.transcribeBatch([window, window]);
      expect(a!.status).toBe("fulfilled");
      expect(b).toEqual(a);
    } finally {
      await engine.close();
    }
  });

  const optionsTitle = hasFugood
    ? "passes translate and temperature per window; gives no word timings"
    : "passes translate and temperature per window (skipped: @fugood/whisper.node is not installed; run npm run fugood:install -w gpu-worker)";
  it.skipIf(!hasFugood)(optionsTitle, async () => {
    const engine = new WhisperCppEngine({
      binding: "fugood",
      modelPath: await ensureSyntheticModel({ shape: "mini-multilingual", cacheDir: `${CACHE_DIR}/models` }),
      modelName: "synthetic-mini-multilingual",
      synthetic: true,
      multilingual: true,
      capacity: 3,
      threads: 1,
      maxTokens: 0,
      temperatureInc: 0,
      bestOf: 1,
      useGpu: false,
      logger: silent,
    });
    expect(engine.description).toMatchObject({ translates: true, wordTimestamps: false });
    await engine.start();
    try {
      const pcm = await decodeReference(await jfkSlice(0, 4));
      const window = { samples: pcm, durationMs: 4000, language: null, prompt: null, ...DEFAULT_WINDOW_OPTIONS };
      const outcomes = await engine.transcribeBatch([
        window,
        { ...window, task: "translate" },
        { ...window, temperature: 1, wordTimestamps: true },
      ]);
      const [plain, translated, warm] = outcomes.map((o) => {
        expect(o.status).toBe("fulfilled");
        return (o as PromiseFulfilledResult<EngineWindowResult>).value;
      });
      const decoded = (r: EngineWindowResult) => r.segments.map((s) => [s.startMs, s.endMs, s.text]);
      // the synthetic text means nothing: the options show in a different decode, not in particular words
      expect(decoded(translated!)).not.toEqual(decoded(plain!));
      expect(decoded(warm!)).not.toEqual(decoded(plain!));
      expect(warm!.words).toBeUndefined();
    } finally {
      await engine.close();
    }
  });
});
