/**
 * The OpenAI-compatible audio routes driven by the real `openai` SDK: each request creates a normal job (provider
 * whisper-pool here, finished by a signed pool callback while the request is held) and is answered in the requested
 * format exactly as OpenAI answers.
 */
import { env } from "cloudflare:workers";
import OpenAI from "openai";
import { beforeAll, describe, expect, it } from "vitest";

import { call, createTenant } from "../../helpers/api.ts";
import { makeWav } from "../../helpers/audio.ts";
import { jobRow } from "../../helpers/jobs.ts";
import { completeThroughPool, jobIdsOf, newJobOf, openaiClient } from "../../helpers/openai.ts";

let tenant: { tenantId: string; key: string; keyId: string };
let client: OpenAI;

beforeAll(async () => {
  tenant = await createTenant("openai-sdk");
  client = openaiClient(tenant.key);
});

const POOL_MODEL = "whisper-pool/default";
const wavFile = (seconds = 0.5, name = "clip.wav") => new File([makeWav(seconds)], name, { type: "audio/wav" });

const SEGMENTS = [
  { start: 0, end: 3.5, text: "And so my fellow Americans,", avg_logprob: -0.25, no_speech_prob: 0.01 },
  { start: 3.5, end: 11.0, text: "ask not what your country can do for you.", avg_logprob: -0.4, no_speech_prob: 0.02 },
];
const TEXT = "And so my fellow Americans, ask not what your country can do for you.";
const WORDS = [
  { start: 0, end: 0.4, word: "And" },
  { start: 0.4, end: 0.6, word: "so" },
];

/** Sends `request`, finishes the job it creates through the pool, and returns the SDK's answer and the job id. */
async function held<T>(
  request: () => Promise<T>,
  result: Record<string, unknown> = {},
): Promise<{ answer: T; id: string }> {
  const known = await jobIdsOf(tenant.tenantId);
  const pending = request();
  // attach a handler now: an early rejection must surface below, not as an unhandled rejection
  pending.catch(() => undefined);
  const id = await newJobOf(tenant.tenantId, known);
  await completeThroughPool(id, { text: TEXT, segments: SEGMENTS, words: WORDS, duration_seconds: 11, ...result });
  return { answer: await pending, id };
}

describe("POST /v1/audio/transcriptions through the openai SDK", () => {
  it("json (the default): {text, usage}; the job is a normal job, listed by the native API", async () => {
    const { answer, id } = await held(() => client.audio.transcriptions.create({ file: wavFile(), model: POOL_MODEL }));
    expect(answer).toEqual({ text: TEXT, usage: { type: "duration", seconds: 11 } });
    const row = await jobRow(id);
    expect(row).toMatchObject({
      status: "completed",
      provider: "whisper-pool",
      task: "transcribe",
      tenant_id: tenant.tenantId,
    });
    const listed = (await (await call("/v1/transcriptions", { key: tenant.key })).json()) as { data: { id: string }[] };
    expect(listed.data.map((j) => j.id)).toContain(id);
  });

  it("text, srt and vtt come back as the SDK's strings", async () => {
    const text = await held(() =>
      client.audio.transcriptions.create({ file: wavFile(), model: POOL_MODEL, response_format: "text" }),
    );
    expect(text.answer).toBe(`${TEXT}\n`);
    const srt = await held(() =>
      client.audio.transcriptions.create({ file: wavFile(), model: POOL_MODEL, response_format: "srt" }),
    );
    expect(srt.answer).toBe(
      "1\n00:00:00,000 --> 00:00:03,500\nAnd so my fellow Americans,\n\n" +
        "2\n00:00:03,500 --> 00:00:11,000\nask not what your country can do for you.\n",
    );
    const vtt = await held(() =>
      client.audio.transcriptions.create({ file: wavFile(), model: POOL_MODEL, response_format: "vtt" }),
    );
    expect(vtt.answer).toBe(
      "WEBVTT\n\n00:00:00.000 --> 00:00:03.500\nAnd so my fellow Americans,\n\n" +
        "00:00:03.500 --> 00:00:11.000\nask not what your country can do for you.\n",
    );
  });

  it("verbose_json with word and segment timestamps: OpenAI's fields, filled honestly", async () => {
    const { answer, id } = await held(() =>
      client.audio.transcriptions.create({
        file: wavFile(),
        model: POOL_MODEL,
        response_format: "verbose_json",
        timestamp_granularities: ["word", "segment"],
        temperature: 0.2,
        language: "en",
      }),
    );
    expect(answer).toMatchObject({
      task: "transcribe",
      language: "english",
      duration: 11,
      text: TEXT,
      words: [
        { word: "And", start: 0, end: 0.4 },
        { word: "so", start: 0.4, end: 0.6 },
      ],
      usage: { type: "duration", seconds: 11 },
    });
    expect(answer.segments).toHaveLength(2);
    expect(answer.segments![1]).toEqual({
      id: 1,
      seek: 350,
      start: 3.5,
      end: 11,
      text: " ask not what your country can do for you.",
      tokens: [],
      temperature: 0.2,
      avg_logprob: -0.4,
      compression_ratio: expect.any(Number),
      no_speech_prob: 0.02,
    });
    expect(answer.segments![1]!.compression_ratio).toBeGreaterThan(0.8);
    expect(await jobRow(id)).toMatchObject({ temperature: 0.2, word_timestamps: 1, requested_language: "en" });
  });

  it("verbose_json with only word timestamps has words and no segments", async () => {
    const { answer } = await held(() =>
      client.audio.transcriptions.create({
        file: wavFile(),
        model: POOL_MODEL,
        response_format: "verbose_json",
        timestamp_granularities: ["word"],
      }),
    );
    expect(answer.words).toHaveLength(2);
    expect(answer.segments).toBeUndefined();
  });

  it("stream=true: transcript.text.delta per segment, then transcript.text.done", async () => {
    const { answer } = await held(() =>
      client.audio.transcriptions.create({ file: wavFile(), model: POOL_MODEL, stream: true }),
    );
    const events: unknown[] = [];
    for await (const event of answer) events.push(event);
    expect(events).toEqual([
      { type: "transcript.text.delta", delta: "And so my fellow Americans," },
      { type: "transcript.text.delta", delta: " ask not what your country can do for you." },
      { type: "transcript.text.done", text: TEXT },
    ]);
  });
});

describe("models", () => {
  it("models.list: the OpenAI aliases of the default provider, then one id per enabled provider", async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) {
      expect(model).toMatchObject({ object: "model", created: expect.any(Number), owned_by: expect.any(String) });
      ids.push(model.id);
    }
    expect(ids).toEqual([
      "whisper-1",
      "gpt-4o-transcribe",
      "gpt-4o-mini-transcribe",
      "openai/whisper-1",
      "deepgram/nova-3",
      "whisper-pool/default",
    ]);
    expect(await client.models.retrieve("deepgram/nova-3")).toMatchObject({
      id: "deepgram/nova-3",
      owned_by: "deepgram",
    });
    await expect(client.models.retrieve("nope/none")).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("lists every model each provider offers (OPENAI_MODELS, POOL_MODELS), and a named one becomes the job's model", async () => {
    const sdk = openaiClient(tenant.key, {
      env: { OPENAI_MODELS: "gpt-4o-transcribe", POOL_MODELS: "large-v3,base.en" },
    });
    const ids: string[] = [];
    for await (const model of sdk.models.list()) ids.push(model.id);
    expect(ids.slice(3)).toEqual([
      "openai/whisper-1",
      "openai/gpt-4o-transcribe",
      "deepgram/nova-3",
      "whisper-pool/large-v3",
      "whisper-pool/base.en",
    ]);
    const { id } = await held(() =>
      sdk.audio.transcriptions.create({ file: wavFile(), model: "whisper-pool/base.en" }),
    );
    expect(await jobRow(id)).toMatchObject({ provider: "whisper-pool", requested_model: "base.en" });
    // an English-only pool model cannot translate, named or not
    const refused = await sdk.audio.translations
      .create({ file: wavFile(), model: "whisper-pool/base.en" })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 400, code: "translation_unsupported", param: "model" });
  });
});

describe("errors are OpenAI's error classes", () => {
  it("an unknown model is a BadRequestError naming `model`, and nothing is stored", async () => {
    const before = await jobIdsOf(tenant.tenantId);
    const objects = (await env.BUCKET.list()).objects.length;
    const error = await client.audio.transcriptions.create({ file: wavFile(), model: "whisper-9" }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({
      status: 400,
      code: "model_not_found",
      param: "model",
      type: "invalid_request_error",
    });
    expect(await jobIdsOf(tenant.tenantId)).toEqual(before);
    expect((await env.BUCKET.list()).objects.length).toBe(objects);
  });

  it("a bad key is an AuthenticationError", async () => {
    const error = await openaiClient(`vtt_live_${"A".repeat(43)}`)
      .audio.transcriptions.create({ file: wavFile(), model: POOL_MODEL })
      .catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(error).toMatchObject({ status: 401, code: "invalid_api_key", type: "authentication_error" });
  });
});
