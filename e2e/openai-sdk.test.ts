/**
 * The OpenAI-compatible API as its users reach it: the real `openai` SDK over HTTP against `wrangler dev`
 * (`new OpenAI({ baseURL: "http://127.0.0.1:PORT/v1", apiKey })`), files sent as `fs.createReadStream`. Jobs complete
 * through a real provider path: the queue consumer calls the Worker's OpenAI provider, pointed (OPENAI_BASE_URL) at a
 * loopback OpenAI-compatible server, and the held request is woken by the JobWaiter Durable Object.
 */
import { createReadStream, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

import { encodeWav16 } from "@vtt/pool-contract";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// plain ESM helpers shared with `npm start`
import { freePort, stopAll } from "../scripts/lib/dev-env.mjs";
import { FAKE_TRANSCRIPT, startFakeOpenAI } from "../scripts/lib/fake-openai.mjs";
import { startWranglerDev } from "./support/wrangler-dev.ts";

const ADMIN = "e2e-admin-key-0123456789abcdef";
let base = "";
let stateDir = "";
let audioPath = "";
let key = "";
let readOnlyKey = "";
let tenantId = "";
let upstream: Awaited<ReturnType<typeof startFakeOpenAI>>;
let client: OpenAI;

async function admin(pathname: string, body: unknown) {
  const res = await fetch(`${base}${pathname}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${pathname}: ${res.status} ${await res.text()}`);
  return res.json();
}

beforeAll(async () => {
  upstream = await startFakeOpenAI();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const vars: Record<string, string> = {
    ENVIRONMENT: "development",
    ADMIN_API_KEY: ADMIN,
    PROVIDERS: "openai,deepgram",
    OPENAI_API_KEY: "sk-e2e-upstream",
    OPENAI_BASE_URL: upstream.baseURL,
    OPENAI_MODEL: "whisper-1",
    DEEPGRAM_API_KEY: "dg-e2e-unused",
    PUBLIC_BASE_URL: base,
    ENCRYPTION_KEYS: "e2e:e2e-master-key-0123456789abcdefghijkl",
  };
  const dev = await startWranglerDev({ label: "openai", port, vars });
  stateDir = dev.stateDir;
  audioPath = path.join(stateDir, "talk.wav");
  const samples = Float32Array.from({ length: 16_000 }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 330 * i) / 16_000));
  writeFileSync(audioPath, encodeWav16(samples, 16_000));
  await dev.ready;

  const tenant = (await admin("/v1/admin/tenants", { name: "e2e-openai" })) as { id: string };
  tenantId = tenant.id;
  key = ((await admin(`/v1/admin/tenants/${tenantId}/keys`, {})) as { key: string }).key;
  readOnlyKey = (
    (await admin(`/v1/admin/tenants/${tenantId}/keys`, { scopes: ["transcriptions:read"] })) as {
      key: string;
    }
  ).key;
  client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key });
});

afterAll(async () => {
  await stopAll();
  await upstream?.close();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

const SEGMENT_TEXTS = FAKE_TRANSCRIPT.segments.map((s) => s.text.trim());

describe("audio.transcriptions.create with a file stream, every response_format", () => {
  it("json", async () => {
    const answer = await client.audio.transcriptions.create({ file: createReadStream(audioPath), model: "whisper-1" });
    expect(answer).toEqual({ text: FAKE_TRANSCRIPT.text, usage: { type: "duration", seconds: 5 } });
    // the provider path was real: the Worker's OpenAI adapter called the upstream over HTTP with our audio
    const call = upstream.requests.at(-1)!;
    expect(call).toMatchObject({ path: "/v1/audio/transcriptions", authorization: "Bearer sk-e2e-upstream" });
    expect(call.fields).toMatchObject({ model: "whisper-1", response_format: "verbose_json" });
  });

  it("text, srt, vtt", async () => {
    const file = () => createReadStream(audioPath);
    expect(
      await client.audio.transcriptions.create({ file: file(), model: "whisper-1", response_format: "text" }),
    ).toBe(`${FAKE_TRANSCRIPT.text}\n`);
    expect(await client.audio.transcriptions.create({ file: file(), model: "whisper-1", response_format: "srt" })).toBe(
      `1\n00:00:00,000 --> 00:00:02,600\n${SEGMENT_TEXTS[0]}\n\n2\n00:00:02,600 --> 00:00:04,200\n${SEGMENT_TEXTS[1]}\n`,
    );
    expect(await client.audio.transcriptions.create({ file: file(), model: "whisper-1", response_format: "vtt" })).toBe(
      `WEBVTT\n\n00:00:00.000 --> 00:00:02.600\n${SEGMENT_TEXTS[0]}\n\n00:00:02.600 --> 00:00:04.200\n${SEGMENT_TEXTS[1]}\n`,
    );
  });

  it("verbose_json with word and segment timestamps", async () => {
    const answer = await client.audio.transcriptions.create({
      file: createReadStream(audioPath),
      model: "openai/whisper-1",
      response_format: "verbose_json",
      timestamp_granularities: ["word", "segment"],
      temperature: 0,
      language: "en",
    });
    expect(answer).toMatchObject({
      task: "transcribe",
      language: "english",
      duration: FAKE_TRANSCRIPT.duration,
      text: FAKE_TRANSCRIPT.text,
      words: FAKE_TRANSCRIPT.words,
    });
    expect(
      answer.segments!.map((s) => [s.id, s.seek, s.start, s.end, s.text, s.avg_logprob, s.no_speech_prob]),
    ).toEqual(
      FAKE_TRANSCRIPT.segments.map((s, id) => [
        id,
        Math.floor(s.start * 100),
        s.start,
        s.end,
        s.text,
        s.avg_logprob,
        s.no_speech_prob,
      ]),
    );
    for (const segment of answer.segments!) {
      expect(segment).toMatchObject({ tokens: [], temperature: 0, compression_ratio: expect.any(Number) });
    }
  });

  it("stream=true answers transcript.text.delta events, then transcript.text.done", async () => {
    const stream = await client.audio.transcriptions.create({
      file: createReadStream(audioPath),
      model: "gpt-4o-transcribe",
      stream: true,
    });
    const events: { type: string; delta?: string; text?: string }[] = [];
    for await (const event of stream) events.push(event);
    expect(events.map((e) => e.type)).toEqual([
      "transcript.text.delta",
      "transcript.text.delta",
      "transcript.text.done",
    ]);
    expect(
      events
        .slice(0, -1)
        .map((e) => e.delta)
        .join(""),
    ).toBe(FAKE_TRANSCRIPT.text);
    expect(events.at(-1)!.text).toBe(FAKE_TRANSCRIPT.text);
  });

  it("translations create a translate job and answer like OpenAI's", async () => {
    const answer = await client.audio.translations.create({
      file: createReadStream(audioPath),
      model: "whisper-1",
      response_format: "verbose_json",
    });
    expect(answer).toMatchObject({ task: "translate", text: FAKE_TRANSCRIPT.text });
    // the OpenAI provider called the upstream's translations endpoint, not its transcriptions one
    expect(upstream.requests.at(-1)).toMatchObject({ path: "/v1/audio/translations", fields: { model: "whisper-1" } });
  });

  it("each request is a normal job: listed by the native API, with its id in x-request-id, and erasable", async () => {
    const { data, response } = await client.audio.transcriptions
      .create({ file: createReadStream(audioPath), model: "whisper-1" })
      .withResponse();
    const id = response.headers.get("x-request-id")!;
    expect(id).toMatch(/^tr_/);
    expect((data as { _request_id?: string | null })._request_id).toBe(id);
    const auth = { authorization: `Bearer ${key}` };
    const job = (await (await fetch(`${base}/v1/transcriptions/${id}`, { headers: auth })).json()) as Record<
      string,
      unknown
    >;
    expect(job).toMatchObject({ id, status: "completed", provider: "openai", text: FAKE_TRANSCRIPT.text });
    const list = (await (await fetch(`${base}/v1/transcriptions?limit=100`, { headers: auth })).json()) as {
      data: { id: string }[];
    };
    expect(list.data.map((j) => j.id)).toContain(id);
    expect((await fetch(`${base}/v1/transcriptions/${id}`, { method: "DELETE", headers: auth })).status).toBe(204);
    expect((await fetch(`${base}/v1/transcriptions/${id}`, { headers: auth })).status).toBe(404);
  });
});

describe("models and errors", () => {
  it("models.list and models.retrieve", async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toEqual([
      "whisper-1",
      "gpt-4o-transcribe",
      "gpt-4o-mini-transcribe",
      "openai/whisper-1",
      "deepgram/nova-3",
    ]);
    expect(await client.models.retrieve("deepgram/nova-3")).toMatchObject({
      id: "deepgram/nova-3",
      object: "model",
      owned_by: "deepgram",
    });
    await expect(client.models.retrieve("whisper-9")).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("the SDK's error classes: AuthenticationError, PermissionDeniedError, BadRequestError", async () => {
    const bad = new OpenAI({ baseURL: `${base}/v1`, apiKey: `vtt_live_${"Z".repeat(43)}` });
    const auth = await bad.models.list().catch((e: unknown) => e);
    expect(auth).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(auth).toMatchObject({ status: 401, code: "invalid_api_key", type: "authentication_error" });

    const readOnly = new OpenAI({ baseURL: `${base}/v1`, apiKey: readOnlyKey });
    const scope = await readOnly.audio.transcriptions
      .create({ file: createReadStream(audioPath), model: "whisper-1" })
      .catch((e: unknown) => e);
    expect(scope).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(scope).toMatchObject({ status: 403, code: "insufficient_scope" });

    const unknown = await client.audio.transcriptions
      .create({ file: createReadStream(audioPath), model: "whisper-9" })
      .catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(OpenAI.BadRequestError);
    expect(unknown).toMatchObject({ status: 400, code: "model_not_found", param: "model" });

    const cannot = await client.audio.translations
      .create({ file: createReadStream(audioPath), model: "deepgram/nova-3" })
      .catch((e: unknown) => e);
    expect(cannot).toBeInstanceOf(OpenAI.BadRequestError);
    expect(cannot).toMatchObject({ code: "translation_unsupported" });
  });
});
