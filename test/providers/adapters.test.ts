import { parseKeyRing, signAudioUrl, verifySignedRequest } from "@vtt/pool-contract";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import type { Env } from "../../src/env.ts";
import { DeepgramTranscriptionService } from "../../src/providers/deepgram.ts";
import { OpenAITranscriptionService } from "../../src/providers/openai.ts";
import {
  createTranscriptionService,
  defaultProvider,
  isProviderEnabled,
  parseProviderList,
} from "../../src/providers/registry.ts";
import { ProviderError, type TranscriptionRequest } from "../../src/providers/types.ts";
import { WhisperPoolService } from "../../src/providers/whisper-pool.ts";
import { WorkersAITranscriptionService } from "../../src/providers/workers-ai.ts";
import { makeWav } from "../helpers/audio.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import {
  DEEPGRAM_PARAGRAPHS_ONLY_RESPONSE,
  DEEPGRAM_RESPONSE,
  OPENAI_TRANSLATION_VERBOSE_JSON,
  OPENAI_VERBOSE_JSON,
  transcriptionRequest,
  WORKERS_AI_OUTPUT,
} from "./fixtures.ts";

const WAV = makeWav(0.25);

const request = (overrides: Partial<TranscriptionRequest> = {}) => transcriptionRequest(WAV, overrides);

/** The multipart form an intercepted request carried. */
async function sentForm(sent: { headers: Headers; body: Uint8Array }): Promise<FormData> {
  return new Request("http://x", {
    method: "POST",
    headers: { "content-type": sent.headers.get("content-type")! },
    body: sent.body,
  }).formData();
}

async function expectProviderError(promise: Promise<unknown>, code: string, retryable: boolean) {
  const error = await promise.then(
    () => null,
    (e) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  expect({ code: error.code, retryable: error.retryable }).toEqual({ code, retryable });
  return error as ProviderError;
}

describe("openai", () => {
  it("sends multipart with model, verbose_json, both granularities, language and prompt; normalises segments and words", async () => {
    const outbound = interceptFetch().on("POST", "https://api.openai.com/v1/audio/transcriptions", () =>
      json(OPENAI_VERBOSE_JSON),
    );
    const service = new OpenAITranscriptionService(env);
    const outcome = await service.transcribe(request({ prompt: "Kennedy", wordTimestamps: true }));
    const sent = outbound.requests[0]!;
    expect(sent.headers.get("authorization")).toBe("Bearer sk-test-openai-key");
    const form = await new Request("http://x", {
      method: "POST",
      headers: { "content-type": sent.headers.get("content-type")! },
      body: sent.body,
    }).formData();
    expect(form.get("model")).toBe("whisper-1");
    expect(form.get("response_format")).toBe("verbose_json");
    expect(form.getAll("timestamp_granularities[]")).toEqual(["segment", "word"]);
    expect(form.get("language")).toBe("en");
    expect(form.get("prompt")).toBe("Kennedy");
    const file = form.get("file") as File;
    expect(file.name).toBe("tr_01JD7Y7W8Q3N5X6T2R9M4K1B0C.wav");
    expect(new Uint8Array(await file.arrayBuffer())).toEqual(WAV);
    expect(outcome).toEqual({
      kind: "completed",
      transcript: {
        text: OPENAI_VERBOSE_JSON.text,
        segments: [
          { start: 0, end: 3.5, text: "And so, my fellow Americans,", avg_logprob: -0.21, no_speech_prob: 0.01 },
          {
            start: 3.5,
            end: 11,
            text: "ask not what your country can do for you.",
            avg_logprob: -0.18,
            no_speech_prob: 0.02,
          },
        ],
        words: [
          { start: 0, end: 0.32, word: "And" },
          { start: 0.32, end: 0.6, word: "so" },
        ],
        language: "en",
        duration_seconds: 11,
        model: "whisper-1",
      },
    });
  });

  it("asks for segment granularity only unless words are wanted; a named model and a temperature go along", async () => {
    const outbound = interceptFetch().on("POST", "https://api.openai.com/v1/audio/transcriptions", () =>
      json({ ...OPENAI_VERBOSE_JSON, words: undefined }),
    );
    const outcome = await new OpenAITranscriptionService(env).transcribe(
      request({ model: "whisper-large-v3", temperature: 0.4 }),
    );
    const form = await sentForm(outbound.requests[0]!);
    expect(form.get("model")).toBe("whisper-large-v3");
    expect(form.get("temperature")).toBe("0.4");
    expect(form.get("response_format")).toBe("verbose_json");
    expect(form.getAll("timestamp_granularities[]")).toEqual(["segment"]);
    expect(outcome).toMatchObject({ transcript: { model: "whisper-large-v3" } });
    expect((outcome as { transcript: object }).transcript).not.toHaveProperty("words");
  });

  it("translates through POST /v1/audio/translations: no language, no granularities, English out", async () => {
    const outbound = interceptFetch().on("POST", "https://api.openai.com/v1/audio/translations", () =>
      json(OPENAI_TRANSLATION_VERBOSE_JSON),
    );
    const outcome = await new OpenAITranscriptionService(env).transcribe(
      request({ task: "translate", language: "de", prompt: "Guten Morgen", temperature: 0.3, wordTimestamps: true }),
    );
    expect(outbound.requests.map((r) => r.url.pathname)).toEqual(["/v1/audio/translations"]);
    const form = await sentForm(outbound.requests[0]!);
    expect(form.get("model")).toBe("whisper-1");
    expect(form.get("response_format")).toBe("verbose_json");
    expect(form.get("prompt")).toBe("Guten Morgen");
    expect(form.get("temperature")).toBe("0.3");
    expect(form.get("language")).toBeNull();
    expect(form.getAll("timestamp_granularities[]")).toEqual([]);
    expect(new Uint8Array(await (form.get("file") as File).arrayBuffer())).toEqual(WAV);
    expect(outcome).toEqual({
      kind: "completed",
      transcript: {
        text: "Good morning, how are you?",
        segments: [{ start: 0, end: 4, text: "Good morning, how are you?", avg_logprob: -0.3, no_speech_prob: 0.02 }],
        language: "en",
        duration_seconds: 4,
        model: "whisper-1",
      },
    });
  });

  it("refuses to translate with a gpt-4o model (no translations route) without calling OpenAI", async () => {
    const outbound = interceptFetch();
    await expectProviderError(
      new OpenAITranscriptionService(env).transcribe(request({ task: "translate", model: "gpt-4o-transcribe" })),
      "translation_unsupported",
      false,
    );
    expect(outbound.requests).toHaveLength(0);
  });

  it("uses json for gpt-4o-transcribe and any OpenAI-compatible base URL", async () => {
    const outbound = interceptFetch().on("POST", "http://speaches.local:8000/v1/audio/transcriptions", () =>
      json({ text: "hello there" }),
    );
    const service = new OpenAITranscriptionService({
      ...env,
      OPENAI_MODEL: "gpt-4o-transcribe",
      OPENAI_BASE_URL: "http://speaches.local:8000/v1",
    } as Env);
    const outcome = await service.transcribe(request({ language: null }));
    const sent = outbound.requests[0]!;
    const form = await new Request("http://x", {
      method: "POST",
      headers: { "content-type": sent.headers.get("content-type")! },
      body: sent.body,
    }).formData();
    expect(form.get("response_format")).toBe("json");
    expect(form.get("language")).toBeNull();
    expect(outcome).toMatchObject({
      transcript: {
        text: "hello there",
        segments: [{ start: 0, end: 0, text: "hello there" }],
        model: "gpt-4o-transcribe",
        language: null,
      },
    });
  });

  it.each([
    [400, "provider_bad_request", false],
    [401, "provider_auth_failed", false],
    [413, "provider_rejected_audio", false],
    [415, "provider_rejected_audio", false],
    [429, "provider_rate_limited", true],
    [500, "provider_unavailable", true],
    [503, "provider_unavailable", true],
  ])("classifies HTTP %i as %s (retryable: %s)", async (status, code, retryable) => {
    interceptFetch().on("POST", "https://api.openai.com/", () =>
      json({ error: { message: "nope", type: "invalid_request_error" } }, status, { "retry-after": "7" }),
    );
    const error = await expectProviderError(new OpenAITranscriptionService(env).transcribe(request()), code, retryable);
    if (status === 429) expect(error.retryAfterSeconds).toBe(7);
  });

  it("classifies network errors and timeouts as retryable", async () => {
    interceptFetch().on("POST", "https://api.openai.com/", () => {
      throw new TypeError("fetch failed");
    });
    await expectProviderError(
      new OpenAITranscriptionService(env).transcribe(request()),
      "provider_network_error",
      true,
    );
    interceptFetch().on("POST", "https://api.openai.com/", () => new Promise<Response>(() => undefined));
    await expectProviderError(
      new OpenAITranscriptionService({ ...env, OPENAI_TIMEOUT_MS: "50" } as Env).transcribe(request()),
      "provider_timeout",
      true,
    );
  });

  it("refuses audio over 25 MB without calling OpenAI, and needs its key", async () => {
    const outbound = interceptFetch();
    await expectProviderError(
      new OpenAITranscriptionService(env).transcribe(request({ bytes: 26 * 1024 * 1024 })),
      "audio_too_large_for_provider",
      false,
    );
    expect(outbound.requests).toHaveLength(0);
    expect(() => new OpenAITranscriptionService({ ...env, OPENAI_API_KEY: "" } as Env)).toThrow(ProviderError);
  });
});

describe("deepgram", () => {
  it("streams the audio to /v1/listen with model, language detection, utterances and smart_format", async () => {
    const outbound = interceptFetch().on("POST", "https://api.deepgram.com/v1/listen", () => json(DEEPGRAM_RESPONSE));
    const outcome = await new DeepgramTranscriptionService(env).transcribe(request({ language: null }));
    const sent = outbound.requests[0]!;
    expect(sent.headers.get("authorization")).toBe("Token dg-test-key");
    expect(sent.headers.get("content-type")).toBe("audio/wav");
    expect(Object.fromEntries(sent.url.searchParams)).toEqual({
      model: "nova-3",
      smart_format: "true",
      punctuate: "true",
      utterances: "true",
      detect_language: "true",
    });
    expect(sent.body).toEqual(WAV);
    expect(outcome).toEqual({
      kind: "completed",
      transcript: {
        // detect_language=true: Deepgram names the language and its confidence
        language_probability: 0.99,
        text: "And so, my fellow Americans, ask not what your country can do for you.",
        segments: [
          { start: 0.08, end: 3.4, text: "And so, my fellow Americans,", confidence: 0.97, speaker: "0" },
          { start: 3.6, end: 10.9, text: "ask not what your country can do for you.", confidence: 0.98, speaker: "0" },
        ],
        words: [
          { start: 0.08, end: 0.32, word: "And", confidence: 0.99 },
          { start: 0.32, end: 0.64, word: "so,", confidence: 0.97 },
        ],
        language: "en",
        duration_seconds: 11,
        model: "nova-3 (general-nova-3)",
      },
    });
  });

  it("sends a named model; words come back whether asked or not; a temperature is not sent", async () => {
    const outbound = interceptFetch().on("POST", "https://api.deepgram.com/v1/listen", () => json(DEEPGRAM_RESPONSE));
    const outcome = await new DeepgramTranscriptionService(env).transcribe(
      request({ model: "nova-2", temperature: 0.7 }),
    );
    const query = outbound.requests[0]!.url.searchParams;
    expect(query.get("model")).toBe("nova-2");
    expect(query.has("temperature")).toBe(false);
    const transcript = (outcome as { transcript: { model: string; words?: unknown[] } }).transcript;
    expect(transcript.model).toMatch(/^nova-2/);
    expect(transcript.words?.length).toBeGreaterThan(0);
  });

  it("cannot translate: fails with translation_unsupported before sending anything", async () => {
    const outbound = interceptFetch();
    await expectProviderError(
      new DeepgramTranscriptionService(env).transcribe(request({ task: "translate" })),
      "translation_unsupported",
      false,
    );
    expect(outbound.requests).toHaveLength(0);
  });

  it("passes a fixed language instead of detection", async () => {
    const outbound = interceptFetch().on("POST", "https://api.deepgram.com/v1/listen", () => json(DEEPGRAM_RESPONSE));
    await new DeepgramTranscriptionService(env).transcribe(request({ language: "pt" }));
    expect(outbound.requests[0]!.url.searchParams.get("language")).toBe("pt");
    expect(outbound.requests[0]!.url.searchParams.has("detect_language")).toBe(false);
  });

  it.each([
    [400, "provider_bad_request", false],
    [402, "provider_bad_request", false],
    [403, "provider_auth_failed", false],
    [429, "provider_rate_limited", true],
    [502, "provider_unavailable", true],
    [504, "provider_timeout", true],
  ])("classifies HTTP %i as %s", async (status, code, retryable) => {
    interceptFetch().on("POST", "https://api.deepgram.com/", () => json({ err_code: "X", err_msg: "no" }, status));
    await expectProviderError(new DeepgramTranscriptionService(env).transcribe(request()), code, retryable);
  });

  it("falls back to paragraph sentences when the answer has no utterances", async () => {
    interceptFetch().on("POST", "https://api.deepgram.com/v1/listen", () => json(DEEPGRAM_PARAGRAPHS_ONLY_RESPONSE));
    const outcome = await new DeepgramTranscriptionService(env).transcribe(request());
    expect(outcome).toMatchObject({
      transcript: {
        segments: [
          { start: 0.08, end: 3.4, text: "And so, my fellow Americans,", speaker: "0" },
          { start: 3.6, end: 10.9, text: "ask not what your country can do for you.", speaker: "0" },
        ],
      },
    });
  });

  it("keeps Retry-After on 429; network errors and its own deadline are retryable", async () => {
    interceptFetch().on("POST", "https://api.deepgram.com/", () =>
      json({ err_code: "TOO_MANY_REQUESTS" }, 429, { "retry-after": "12" }),
    );
    const limited = await expectProviderError(
      new DeepgramTranscriptionService(env).transcribe(request()),
      "provider_rate_limited",
      true,
    );
    expect(limited.retryAfterSeconds).toBe(12);
    interceptFetch().on("POST", "https://api.deepgram.com/", () => {
      throw new TypeError("Network connection lost.");
    });
    await expectProviderError(
      new DeepgramTranscriptionService(env).transcribe(request()),
      "provider_network_error",
      true,
    );
    interceptFetch().on("POST", "https://api.deepgram.com/", () => new Promise<Response>(() => undefined));
    await expectProviderError(
      new DeepgramTranscriptionService({ ...env, DEEPGRAM_TIMEOUT_MS: "50" } as Env).transcribe(request()),
      "provider_timeout",
      true,
    );
  });

  it("treats a body that is not Deepgram's shape as a bad response", async () => {
    interceptFetch().on("POST", "https://api.deepgram.com/", () => json({ results: {} }));
    await expectProviderError(
      new DeepgramTranscriptionService(env).transcribe(request()),
      "provider_bad_response",
      true,
    );
  });
});

describe("workers-ai", () => {
  function fakeAi(run: (model: string, input: Record<string, unknown>) => unknown) {
    const calls: { model: string; input: Record<string, unknown> }[] = [];
    const ai = {
      run: async (model: string, input: Record<string, unknown>) => (calls.push({ model, input }), run(model, input)),
    };
    return { calls, env: { ...env, AI: ai as unknown as Ai } as Env };
  }

  it("sends base64 audio, language and prompt to whisper-large-v3-turbo and normalises its output", async () => {
    const { calls, env: aiEnv } = fakeAi(() => WORKERS_AI_OUTPUT);
    const outcome = await new WorkersAITranscriptionService(aiEnv).transcribe(request({ prompt: "Kennedy" }));
    expect(calls[0]!.model).toBe("@cf/openai/whisper-large-v3-turbo");
    expect(calls[0]!.input.language).toBe("en");
    expect(calls[0]!.input.initial_prompt).toBe("Kennedy");
    expect(Uint8Array.from(atob(calls[0]!.input.audio as string), (c) => c.charCodeAt(0))).toEqual(WAV);
    expect(outcome).toMatchObject({
      transcript: {
        segments: [
          { start: 0, end: 3.5, text: "And so, my fellow Americans,", avg_logprob: -0.2, no_speech_prob: 0.01 },
          { start: 3.5, end: 11 },
        ],
        words: [
          { start: 0, end: 0.3, word: "And" },
          { start: 3.5, end: 3.8, word: "ask" },
        ],
        language: "en",
        duration_seconds: 11,
        model: "@cf/openai/whisper-large-v3-turbo",
      },
    });
  });

  it("translates with whisper-large-v3-turbo's task input and reports English", async () => {
    const { calls, env: aiEnv } = fakeAi(() => WORKERS_AI_OUTPUT);
    const outcome = await new WorkersAITranscriptionService(aiEnv).transcribe(
      request({ task: "translate", language: "de", model: "@cf/openai/whisper-large-v3-turbo", temperature: 0.5 }),
    );
    expect(calls[0]!.model).toBe("@cf/openai/whisper-large-v3-turbo");
    expect(calls[0]!.input).toMatchObject({ task: "translate", language: "de" });
    // the model has no temperature input
    expect(calls[0]!.input).not.toHaveProperty("temperature");
    expect(outcome).toMatchObject({ transcript: { language: "en" } });
    // a transcription sends no task at all (the model's default)
    await new WorkersAITranscriptionService(aiEnv).transcribe(request());
    expect(calls[1]!.input).not.toHaveProperty("task");
  });

  it("refuses a model it does not know, and translation with a model that has no task input", async () => {
    const { calls, env: aiEnv } = fakeAi(() => WORKERS_AI_OUTPUT);
    await expectProviderError(
      new WorkersAITranscriptionService(aiEnv).transcribe(request({ model: "@cf/openai/whisper-tiny-en" })),
      "provider_model_unavailable",
      false,
    );
    const custom = { ...aiEnv, WORKERS_AI_MODEL: "@cf/acme/whisper-custom" } as Env;
    await expectProviderError(
      new WorkersAITranscriptionService(custom).transcribe(request({ task: "translate" })),
      "translation_unsupported",
      false,
    );
    expect(calls).toHaveLength(0);
  });

  it.each([
    ["AiError: 3010: Invalid or incomplete input for the model", "provider_rejected_audio", false],
    ["AiError: 3040: Out of capacity for this model", "provider_unavailable", true],
    ["AiError: 3007: Request timeout", "provider_timeout", true],
  ])("maps %s", async (message, code, retryable) => {
    const { env: aiEnv } = fakeAi(() => {
      throw new Error(message);
    });
    await expectProviderError(new WorkersAITranscriptionService(aiEnv).transcribe(request()), code, retryable);
  });

  it("is not configured without the AI binding (local development)", () => {
    expect(() => new WorkersAITranscriptionService({ ...env, AI: undefined } as Env)).toThrow(/AI binding/);
  });
});

describe("whisper-pool", () => {
  it("dispatches a signed job with a per-job signed audio URL and the callback URL", async () => {
    const outbound = interceptFetch().on("POST", "https://pool.test/v1/jobs", () =>
      json({ job_id: "x", status: "queued", duplicate: false }, 202),
    );
    const outcome = await new WhisperPoolService(env).transcribe(
      request({ prompt: "Kennedy", traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }),
    );
    expect(outcome).toEqual({ kind: "dispatched" });
    const sent = outbound.requests[0]!;
    const raw = new TextDecoder().decode(sent.body);
    expect(await verifySignedRequest(parseKeyRing("e1:edge-to-pool-secret"), sent.headers, raw)).toEqual({
      ok: true,
      keyId: "e1",
    });
    const body = JSON.parse(raw);
    expect(body).toMatchObject({
      job_id: request().jobId,
      language: "en",
      prompt: "Kennedy",
      callback_url: "https://edge.test/internal/pool/callback",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    });
    const audioUrl = new URL(body.audio_url);
    expect(audioUrl.origin + audioUrl.pathname).toBe(`https://edge.test/internal/audio/${request().jobId}`);
    expect(Number(audioUrl.searchParams.get("exp"))).toBe(body.audio_expires_at);
    expect(body.audio_expires_at - Date.now() / 1000).toBeGreaterThan(500);
    expect(body.audio_expires_at - Date.now() / 1000).toBeLessThanOrEqual(600);
    expect(audioUrl.searchParams.get("sig")).toBe(
      await signAudioUrl("audio-url-secret", request().jobId, body.audio_expires_at),
    );
  });

  it("dispatches the job options: task, model, temperature, word timestamps", async () => {
    const outbound = interceptFetch().on("POST", "https://pool.test/v1/jobs", () =>
      json({ job_id: "x", status: "queued", duplicate: false }, 202),
    );
    const poolEnv = { ...env, POOL_MODELS: "large-v3-turbo, base.en" } as Env;
    await new WhisperPoolService(poolEnv).transcribe(
      request({ task: "translate", model: "large-v3-turbo", temperature: 0.2, wordTimestamps: true }),
    );
    await new WhisperPoolService(poolEnv).transcribe(request());
    const [translate, plain] = outbound.requests.map((r) => JSON.parse(new TextDecoder().decode(r.body)));
    expect(translate).toMatchObject({
      task: "translate",
      model: "large-v3-turbo",
      temperature: 0.2,
      word_timestamps: true,
    });
    expect(plain).toMatchObject({ task: "transcribe", model: null, temperature: null, word_timestamps: false });
  });

  it("refuses a model outside POOL_MODELS without dispatching; maps the pool's refusals to stable codes", async () => {
    const outbound = interceptFetch();
    await expectProviderError(
      new WhisperPoolService({ ...env, POOL_MODELS: "base.en" } as Env).transcribe(request({ model: "large-v3" })),
      "provider_model_unavailable",
      false,
    );
    expect(outbound.requests).toHaveLength(0);
    const problem = (code: string) =>
      new Response(JSON.stringify({ type: "about:blank", status: 400, code }), {
        status: 400,
        headers: { "content-type": "application/problem+json" },
      });
    interceptFetch().on("POST", "https://pool.test/", () => problem("translation_unsupported"));
    await expectProviderError(
      new WhisperPoolService(env).transcribe(request({ task: "translate" })),
      "translation_unsupported",
      false,
    );
    interceptFetch().on("POST", "https://pool.test/", () => problem("model_unavailable"));
    await expectProviderError(new WhisperPoolService(env).transcribe(request()), "provider_model_unavailable", false);
    interceptFetch().on("POST", "https://pool.test/", () => problem("invalid_dispatch"));
    await expectProviderError(new WhisperPoolService(env).transcribe(request()), "provider_bad_request", false);
  });

  it("pool down is retryable (pool_unreachable); a 400 is permanent", async () => {
    interceptFetch().on("POST", "https://pool.test/", () => {
      throw new TypeError("connection refused");
    });
    await expectProviderError(new WhisperPoolService(env).transcribe(request()), "pool_unreachable", true);
    interceptFetch().on("POST", "https://pool.test/", () => json({ code: "redis" }, 503));
    await expectProviderError(new WhisperPoolService(env).transcribe(request()), "pool_unreachable", true);
    interceptFetch().on("POST", "https://pool.test/", () => new Promise<Response>(() => undefined));
    await expectProviderError(
      new WhisperPoolService({ ...env, POOL_DISPATCH_TIMEOUT_MS: "50" } as Env).transcribe(request()),
      "pool_unreachable",
      true,
    );
    interceptFetch().on("POST", "https://pool.test/", () => json({ code: "bad" }, 400));
    await expectProviderError(new WhisperPoolService(env).transcribe(request()), "provider_bad_request", false);
  });
});

describe("registry", () => {
  it("reads the ordered provider list and ignores unknown names", () => {
    expect(parseProviderList(env)).toEqual(["openai", "deepgram", "whisper-pool"]);
    expect(parseProviderList({ ...env, PROVIDERS: "deepgram, nope ,openai,deepgram" } as Env)).toEqual([
      "deepgram",
      "openai",
    ]);
    expect(defaultProvider({ ...env, PROVIDERS: "" } as Env)).toBe("whisper-pool");
    expect(defaultProvider({ ...env, PROVIDERS: "", POOL_URL: "" } as Env)).toBe("openai");
    expect(isProviderEnabled(env, "workers-ai")).toBe(false);
  });

  it("a provider without its secret is not configured (permanent)", () => {
    const error = (() => {
      try {
        createTranscriptionService("deepgram", { ...env, DEEPGRAM_API_KEY: undefined } as Env);
      } catch (e) {
        return e as ProviderError;
      }
    })();
    expect(error).toMatchObject({ code: "provider_not_configured", retryable: false });
  });
});

describe("keyterms and detected-language probability, per adapter's wire format", () => {
  const keyterms = ["Acme", "Jane Doe"];

  it("deepgram: one keyterm query parameter per term on Nova-3, before terms taken from a prompt", async () => {
    const outbound = interceptFetch().on("POST", "https://api.deepgram.com/v1/listen", () => json(DEEPGRAM_RESPONSE));
    await new DeepgramTranscriptionService(env).transcribe(request({ keyterms, prompt: "Kennedy" }));
    expect(outbound.requests[0]!.url.searchParams.getAll("keyterm")).toEqual(["Acme", "Jane Doe", "Kennedy"]);
  });

  it("deepgram: keywords (single words only) on an older model", async () => {
    const outbound = interceptFetch().on("POST", "https://api.deepgram.com/v1/listen", () => json(DEEPGRAM_RESPONSE));
    await new DeepgramTranscriptionService(env).transcribe(request({ keyterms, model: "nova-2" }));
    const params = outbound.requests[0]!.url.searchParams;
    expect(params.getAll("keywords")).toEqual(["Acme"]);
    expect(params.getAll("keyterm")).toEqual([]);
  });

  it("deepgram: no language_probability when the language was given", async () => {
    interceptFetch().on("POST", "https://api.deepgram.com/v1/listen", () => json(DEEPGRAM_RESPONSE));
    const outcome = await new DeepgramTranscriptionService(env).transcribe(request({ language: "en" }));
    expect(outcome.kind === "completed" && outcome.transcript).not.toHaveProperty("language_probability");
  });

  it("openai: keyterms follow the caller's prompt in the prompt field", async () => {
    const outbound = interceptFetch().on("POST", "https://api.openai.com/v1/audio/transcriptions", () =>
      json(OPENAI_VERBOSE_JSON),
    );
    const outcome = await new OpenAITranscriptionService(env).transcribe(
      request({ prompt: "Kennedy", keyterms, language: null }),
    );
    const form = await sentForm(outbound.requests[0]!);
    expect(form.get("prompt")).toBe("Kennedy Acme, Jane Doe");
    // verbose_json names the language but gives no probability
    expect(outcome.kind === "completed" && outcome.transcript).not.toHaveProperty("language_probability");
  });

  it("workers-ai: keyterms in initial_prompt; transcription_info.language_probability on detection", async () => {
    const calls: Record<string, unknown>[] = [];
    const ai = {
      run: async (_model: string, input: Record<string, unknown>) => {
        calls.push(input);
        return {
          ...WORKERS_AI_OUTPUT,
          transcription_info: { language: "en", language_probability: 0.93, duration: 11 },
        };
      },
    };
    const aiEnv = { ...env, AI: ai as unknown as Ai } as Env;
    const outcome = await new WorkersAITranscriptionService(aiEnv).transcribe(request({ keyterms, language: null }));
    expect(calls[0]!.initial_prompt).toBe("Acme, Jane Doe");
    expect(outcome).toMatchObject({ transcript: { language: "en", language_probability: 0.93 } });
    const forced = await new WorkersAITranscriptionService(aiEnv).transcribe(request({ language: "en" }));
    expect(forced.kind === "completed" && forced.transcript).not.toHaveProperty("language_probability");
  });

  it("whisper-pool: keyterms reach the dispatch's prompt (whisper.cpp's initial prompt)", async () => {
    const outbound = interceptFetch().on("POST", "https://pool.test/v1/jobs", () =>
      json({ job_id: "x", status: "queued", duplicate: false }, 202),
    );
    await new WhisperPoolService(env).transcribe(request({ prompt: "Kennedy", keyterms }));
    expect(JSON.parse(new TextDecoder().decode(outbound.requests[0]!.body)).prompt).toBe("Kennedy Acme, Jane Doe");
  });
});
