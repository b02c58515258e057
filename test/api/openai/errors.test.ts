/**
 * The OpenAI-compatible routes' failure paths through the real `openai` SDK: every refusal is OpenAI's error body
 * with the right status (so the SDK raises the right class), stores nothing, and a held request that outlives
 * SYNC_WAIT_SECONDS or whose job fails is answered so the SDK does not upload again.
 */
import { env } from "cloudflare:workers";
import OpenAI, { type APIError } from "openai";
import { beforeAll, describe, expect, it } from "vitest";

import { call, callWith, createTenant, storageCounts } from "../../helpers/api.ts";
import { makeWav } from "../../helpers/audio.ts";
import { interceptFetch, json } from "../../helpers/fetch-interceptor.ts";
import { jobRow } from "../../helpers/jobs.ts";
import { completeThroughPool, failThroughPool, jobIdsOf, newJobOf, openaiClient } from "../../helpers/openai.ts";
import { deliverJobs } from "../../helpers/queue.ts";
import { OPENAI_VERBOSE_JSON } from "../../providers/fixtures.ts";

let tenant: { tenantId: string; key: string; keyId: string };
let client: OpenAI;

beforeAll(async () => {
  tenant = await createTenant("openai-errors");
  client = openaiClient(tenant.key);
});

const POOL_MODEL = "whisper-pool/default";
const wavFile = () => new File([makeWav(0.3)], "clip.wav", { type: "audio/wav" });

/** The SDK's error for a request that is refused before any job exists; asserts nothing was stored. */
async function refused(request: () => Promise<unknown>): Promise<APIError> {
  const before = await storageCounts();
  const error = await request().then(
    () => {
      throw new Error("the request was not refused");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OpenAI.APIError);
  expect(await storageCounts(), "a refused request stores nothing").toEqual(before);
  return error as APIError;
}

describe("refusals before a job exists", () => {
  type ErrorClass = abstract new (...args: never[]) => APIError;
  const cases: [string, () => Record<string, unknown>, ErrorClass, number, string, string | null][] = [
    ["no model", () => ({ file: wavFile(), model: "" }), OpenAI.BadRequestError, 400, "missing_model", "model"],
    [
      "unknown model",
      () => ({ file: wavFile(), model: "whisper-2" }),
      OpenAI.BadRequestError,
      400,
      "model_not_found",
      "model",
    ],
    [
      "bad response_format",
      () => ({ file: wavFile(), model: POOL_MODEL, response_format: "docx" }),
      OpenAI.BadRequestError,
      400,
      "invalid_response_format",
      "response_format",
    ],
    [
      "temperature above 1",
      () => ({ file: wavFile(), model: POOL_MODEL, temperature: 1.5 }),
      OpenAI.BadRequestError,
      400,
      "invalid_temperature",
      "temperature",
    ],
    [
      "an unknown timestamp granularity",
      () => ({ file: wavFile(), model: POOL_MODEL, timestamp_granularities: ["char"] }),
      OpenAI.BadRequestError,
      400,
      "invalid_timestamp_granularities",
      "timestamp_granularities[]",
    ],
    [
      "a language Whisper does not know",
      () => ({ file: wavFile(), model: POOL_MODEL, language: "xx" }),
      OpenAI.BadRequestError,
      400,
      "invalid_language",
      "language",
    ],
    [
      "a field OpenAI has but we do not (include[])",
      () => ({ file: wavFile(), model: POOL_MODEL, include: ["logprobs"] }),
      OpenAI.BadRequestError,
      400,
      "unknown_field",
      "include[]",
    ],
    [
      "`provider` beside `model`",
      () => ({ file: wavFile(), model: POOL_MODEL, provider: "openai" }),
      OpenAI.BadRequestError,
      400,
      "unknown_field",
      "provider",
    ],
    [
      "bytes that are not audio",
      () => ({ file: new File(["hello, not audio ".repeat(20)], "speech.wav"), model: POOL_MODEL }),
      OpenAI.BadRequestError,
      400,
      "unsupported_audio",
      "file",
    ],
    [
      "our metadata extension, malformed",
      () => ({ file: wavFile(), model: POOL_MODEL, metadata: "{nope" }),
      OpenAI.BadRequestError,
      400,
      "invalid_metadata",
      "metadata",
    ],
  ];
  for (const [name, body, errorClass, status, code, param] of cases) {
    it(`${name} → ${status} ${code}`, async () => {
      const error = await refused(() => client.audio.transcriptions.create(body() as never));
      expect(error).toBeInstanceOf(errorClass);
      expect(error).toMatchObject({ status, code, param, type: "invalid_request_error" });
      expect(error.error).toEqual({ message: expect.any(String), type: "invalid_request_error", param, code });
    });
  }

  it("translations through a provider that cannot translate are a 400 that says so", async () => {
    const error = await refused(() => client.audio.translations.create({ file: wavFile(), model: "deepgram/nova-3" }));
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({ code: "translation_unsupported", param: "model" });
    expect(error.message).toContain("cannot translate");
  });

  it("keys: unknown → AuthenticationError, missing scopes → PermissionDeniedError, operator key → tenant_required", async () => {
    const unknown = await refused(() =>
      openaiClient(`vtt_live_${"B".repeat(43)}`).audio.transcriptions.create({ file: wavFile(), model: POOL_MODEL }),
    );
    expect(unknown).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(unknown).toMatchObject({ status: 401, code: "invalid_api_key", type: "authentication_error" });
    for (const scopes of [["transcriptions:read"], ["transcriptions:write"]]) {
      const limited = await createTenant("openai-scoped", scopes);
      const error = await refused(() =>
        openaiClient(limited.key).audio.transcriptions.create({ file: wavFile(), model: POOL_MODEL }),
      );
      expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
      expect(error).toMatchObject({ status: 403, code: "insufficient_scope", type: "permission_error" });
    }
    const operator = await refused(() =>
      openaiClient(env.ADMIN_API_KEY).audio.transcriptions.create({ file: wavFile(), model: POOL_MODEL }),
    );
    expect(operator).toMatchObject({ status: 403, code: "tenant_required" });
  });

  it("rate limits are a RateLimitError with Retry-After", async () => {
    const limited = await createTenant("openai-rate");
    const sdk = openaiClient(limited.key, { env: { RATE_LIMIT_REQUESTS_PER_MINUTE: "1" } });
    await sdk.models.list();
    const error = await refused(() => sdk.audio.transcriptions.create({ file: wavFile(), model: POOL_MODEL }));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error).toMatchObject({ status: 429, code: "rate_limited", type: "rate_limit_error" });
    expect(Number(error.headers?.get("retry-after"))).toBeGreaterThan(0);
  });

  it("raw (non-multipart) bodies, oversize bodies and unknown routes are OpenAI-shaped too", async () => {
    const raw = await call("/v1/audio/transcriptions", {
      method: "POST",
      key: tenant.key,
      body: makeWav(0.1),
      headers: { "content-type": "audio/wav" },
    });
    expect(raw.status).toBe(400);
    expect(await raw.json()).toEqual({
      error: {
        message: "Send multipart/form-data with a `file` part.",
        type: "invalid_request_error",
        param: null,
        code: "unsupported_media_type",
      },
    });
    const big = await callWith({ MAX_UPLOAD_BYTES: "1000" }, "/v1/audio/transcriptions", {
      method: "POST",
      key: tenant.key,
      body: makeWav(0.1),
      headers: { "content-type": "multipart/form-data; boundary=x", "content-length": String(200_000) },
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe("payload_too_large");
    const missing = await call("/v1/audio/speech", { method: "POST", key: tenant.key });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toContain("application/json");
    expect(await missing.json()).toMatchObject({ error: { type: "invalid_request_error", code: "not_found" } });
  });
});

describe("held requests whose job does not complete", () => {
  it("after SYNC_WAIT_SECONDS: 504 transcription_pending naming the job, Location, and no SDK retry", async () => {
    const sdk = openaiClient(tenant.key, { env: { SYNC_WAIT_SECONDS: "1" }, maxRetries: 2 });
    const before = await jobIdsOf(tenant.tenantId);
    const started = Date.now();
    const error = (await sdk.audio.transcriptions
      .create({ file: wavFile(), model: POOL_MODEL })
      .catch((e: unknown) => e)) as APIError;
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    const created = (await jobIdsOf(tenant.tenantId)).filter((id) => !before.includes(id));
    expect(created, "the SDK did not upload again").toHaveLength(1);
    const id = created[0]!;
    expect(error).toMatchObject({ status: 504, code: "transcription_pending", type: "server_error" });
    expect(error.message).toContain(id);
    expect(error.headers?.get("location")).toBe(`/v1/transcriptions/${id}`);
    expect(error.headers?.get("x-should-retry")).toBe("false");
    // the job carries on and is read by the native API once it finishes
    await completeThroughPool(id);
    const job = (await (await call(`/v1/transcriptions/${id}`, { key: tenant.key })).json()) as { status: string };
    expect(job.status).toBe("completed");
  });

  it("a job that fails on its audio is a BadRequestError; one that fails at the provider a 502, not retried", async () => {
    const sdk = openaiClient(tenant.key, { maxRetries: 2 });
    for (const [code, status, errorClass] of [
      ["invalid_audio", 400, OpenAI.BadRequestError],
      ["engine_error", 502, OpenAI.InternalServerError],
    ] as const) {
      const before = await jobIdsOf(tenant.tenantId);
      const pending = sdk.audio.transcriptions.create({ file: wavFile(), model: POOL_MODEL }).catch((e: unknown) => e);
      const id = await newJobOf(tenant.tenantId, before);
      await failThroughPool(id, code, "could not decode the audio");
      const error = (await pending) as APIError;
      expect(error).toBeInstanceOf(errorClass);
      expect(error).toMatchObject({ status, code });
      expect(error.message).toContain(id);
      expect((await jobIdsOf(tenant.tenantId)).filter((j) => !before.includes(j))).toEqual([id]);
    }
  });

  it("a job deleted while its request waits is a 404 transcription_deleted", async () => {
    const before = await jobIdsOf(tenant.tenantId);
    const pending = client.audio.transcriptions.create({ file: wavFile(), model: POOL_MODEL }).catch((e: unknown) => e);
    const id = await newJobOf(tenant.tenantId, before);
    expect((await call(`/v1/transcriptions/${id}`, { method: "DELETE", key: tenant.key })).status).toBe(204);
    const error = (await pending) as APIError;
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(error).toMatchObject({ code: "transcription_deleted" });
  });

  it("with stream=true, a failure after the stream began arrives as an error event the SDK raises", async () => {
    const before = await jobIdsOf(tenant.tenantId);
    const stream = client.audio.transcriptions.create({ file: wavFile(), model: POOL_MODEL, stream: true });
    const id = await newJobOf(tenant.tenantId, before);
    await failThroughPool(id, "engine_error", "the engine crashed");
    const events: unknown[] = [];
    const error = await (async () => {
      for await (const event of await stream) events.push(event);
    })().catch((e: unknown) => e);
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as APIError).error).toMatchObject({ code: "engine_error", type: "server_error" });
  });
});

describe("jobs made by the OpenAI routes are normal jobs", () => {
  it("the same Idempotency-Key waits on the same job instead of creating another", async () => {
    const before = await jobIdsOf(tenant.tenantId);
    const headers = { "Idempotency-Key": "openai-idempotent-1" };
    const file = makeWav(0.3);
    const first = client.audio.transcriptions
      .create({ file: new File([file], "a.wav"), model: POOL_MODEL }, { headers })
      .withResponse();
    const id = await newJobOf(tenant.tenantId, before);
    await completeThroughPool(id);
    const firstAnswer = await first;
    expect(firstAnswer.response.headers.get("x-request-id")).toBe(id);
    const replay = await client.audio.transcriptions
      .create({ file: new File([file], "a.wav"), model: POOL_MODEL, response_format: "text" }, { headers })
      .withResponse();
    expect(replay.response.headers.get("x-request-id")).toBe(id);
    expect(replay.response.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.data).toBe(`${firstAnswer.data.text}\n`);
    expect((await jobIdsOf(tenant.tenantId)).filter((j) => !before.includes(j))).toEqual([id]);
  });

  it("translations through the pool are jobs with task translate, and verbose_json says so", async () => {
    // a pool whose model is multilingual can translate (src/providers/capabilities.ts)
    const sdk = openaiClient(tenant.key, { env: { POOL_MODELS: "base" } });
    const before = await jobIdsOf(tenant.tenantId);
    const pending = sdk.audio.translations.create({
      file: wavFile(),
      model: "whisper-pool/base",
      response_format: "verbose_json",
    });
    const id = await newJobOf(tenant.tenantId, before);
    expect(await jobRow(id)).toMatchObject({ task: "translate", provider: "whisper-pool", requested_model: "base" });
    // the pool says which task it ran: a translate job completed untranslated would fail
    await completeThroughPool(id, { language: "en", task: "translate" });
    expect(await pending).toMatchObject({ task: "translate", language: "english" });
  });

  it("an alias translates through the first provider that can; a pool of unknown model is not assumed to", async () => {
    const env = { PROVIDERS: "deepgram,whisper-pool", POOL_MODELS: "large-v3" };
    const before = await jobIdsOf(tenant.tenantId);
    const pending = openaiClient(tenant.key, { env }).audio.translations.create({
      file: wavFile(),
      model: "whisper-1",
    });
    const id = await newJobOf(tenant.tenantId, before);
    expect(await jobRow(id)).toMatchObject({ task: "translate", provider: "whisper-pool", requested_model: null });
    await completeThroughPool(id, { task: "translate" });
    expect(await pending).toMatchObject({ text: expect.any(String) });
    const refused = await openaiClient(tenant.key, { env: { PROVIDERS: "deepgram,whisper-pool" } })
      .audio.translations.create({ file: wavFile(), model: "whisper-1" })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect(refused).toMatchObject({ code: "translation_unsupported", param: "model" });
  });

  it("whisper-1 is the default provider (openai here), run by the queue consumer like any job", async () => {
    const outbound = interceptFetch().on("POST", "https://api.openai.com/v1/audio/transcriptions", () =>
      json(OPENAI_VERBOSE_JSON),
    );
    const before = await jobIdsOf(tenant.tenantId);
    const pending = client.audio.transcriptions.create({
      file: wavFile(),
      model: "whisper-1",
      response_format: "verbose_json",
      timestamp_granularities: ["word"],
    });
    const id = await newJobOf(tenant.tenantId, before);
    expect(await jobRow(id)).toMatchObject({ provider: "openai", requested_model: null, word_timestamps: 1 });
    await deliverJobs([id], tenant.tenantId);
    expect(outbound.requests).toHaveLength(1);
    const answer = await pending;
    expect(answer).toMatchObject({ text: OPENAI_VERBOSE_JSON.text, language: "english", duration: 11 });
    expect(answer.words).toEqual(OPENAI_VERBOSE_JSON.words);
  });

  it("our webhook_url extension gives the job its webhook", async () => {
    const before = await jobIdsOf(tenant.tenantId);
    const pending = client.audio.transcriptions.create({
      file: wavFile(),
      model: POOL_MODEL,
      webhook_url: "https://hooks.example.com/openai",
      metadata: JSON.stringify({ source: "sdk" }),
    } as never);
    const id = await newJobOf(tenant.tenantId, before);
    await completeThroughPool(id);
    await pending;
    expect(await jobRow(id)).toMatchObject({
      webhook_url: "https://hooks.example.com/openai",
      metadata: '{"source":"sdk"}',
    });
    const events = await env.DB.prepare("select type from webhook_events where job_id = ?").bind(id).all();
    expect(events.results).toEqual([{ type: "transcription.completed" }]);
  });
});
