/**
 * `task=translate` on the native submit paths (multipart upload, raw body with query options, JSON `audio_url`, tus
 * `Upload-Metadata`): validated up front, routed only to providers that can translate (the others are skipped, or the
 * submit is refused with 422 `translation_unsupported`), shown on the job, run through the provider's translation
 * (OpenAI's `/v1/audio/translations` here, outbound fetch intercepted) and stored as English. Also the combinations
 * with keyterms, PII redaction and speaker labels, and that a job without `task` is exactly what it was.
 *
 * PROVIDERS in tests: openai (whisper-1), deepgram, whisper-pool without POOL_MODELS (not assumed to translate).
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";

import { call, callWith, createTenant, multipartUpload, rawUpload, storageCounts } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import { jobRow } from "../helpers/jobs.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";
import { deliverJobs } from "../helpers/queue.ts";
import { OPENAI_TRANSLATION_VERBOSE_JSON } from "../providers/fixtures.ts";

interface Job {
  id: string;
  status: string;
  task: string;
  provider: string;
  language: string | null;
  text: string | null;
  error: { code: string } | null;
  keyterms: string[];
  redaction: { entities: Record<string, number> | null } | null;
}
interface Problem {
  status: number;
  code: string;
  detail: string;
  errors?: { field: string; message: string }[];
}

let key: string;
let tenantId: string;

beforeAll(async () => {
  ({ key, tenantId } = await createTenant("translate-native"));
});

const getJob = async (id: string) => (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as Job;

async function formOf(request: { headers: Headers; body: Uint8Array }): Promise<FormData> {
  return new Request("http://x", {
    method: "POST",
    headers: { "content-type": request.headers.get("content-type")! },
    body: request.body,
  }).formData();
}

async function expectRefused(res: Response, code: string, field: string): Promise<Problem> {
  const body = (await res.json()) as Problem;
  expect(res.status, JSON.stringify(body)).toBe(422);
  expect(res.headers.get("content-type")).toContain("application/problem+json");
  expect(body).toMatchObject({ status: 422, code });
  expect(body.errors?.[0]?.field).toBe(field);
  return body;
}

const translations = () =>
  interceptFetch().on("POST", "https://api.openai.com/v1/audio/translations", () =>
    json(OPENAI_TRANSLATION_VERBOSE_JSON),
  );

describe("task=translate on POST /v1/transcriptions", () => {
  it("multipart: the job shows task translate, goes to OpenAI's translations route and is stored as English", async () => {
    const accepted = await multipartUpload(key, { task: "translate", language: "de" });
    expect(accepted.status).toBe(202);
    const created = (await accepted.json()) as Job;
    // the spoken language is the hint until the result says English
    expect(created).toMatchObject({ task: "translate", provider: "openai", status: "queued", language: "de" });

    const outbound = translations();
    await deliverJobs([created.id], tenantId);
    expect(outbound.requests.map((r) => r.url.pathname)).toEqual(["/v1/audio/translations"]);
    const form = await formOf(outbound.requests[0]!);
    // the translations endpoint takes no language and no timestamp granularities
    expect(form.get("language")).toBeNull();
    expect(form.getAll("timestamp_granularities[]")).toEqual([]);
    expect(form.get("response_format")).toBe("verbose_json");

    const done = await getJob(created.id);
    expect(done).toMatchObject({
      status: "completed",
      task: "translate",
      language: "en",
      text: OPENAI_TRANSLATION_VERBOSE_JSON.text,
    });
    const transcript = await call(`/v1/transcriptions/${created.id}/transcript?format=json`, { key });
    expect(await transcript.json()).toMatchObject({ language: "en", text: OPENAI_TRANSLATION_VERBOSE_JSON.text });
  });

  it("without task (or task=transcribe) nothing changes: the job is a transcription on the default provider", async () => {
    for (const fields of [{}, { task: "transcribe" }] as Record<string, string>[]) {
      const res = await multipartUpload(key, fields);
      expect(res.status).toBe(202);
      const job = (await res.json()) as Job;
      expect(job).toMatchObject({ task: "transcribe", provider: "openai" });
      expect(await jobRow(job.id)).toMatchObject({ task: "transcribe" });
    }
  });

  it("a raw body takes task in the query", async () => {
    const res = await rawUpload(key, makeWav(0.2), "?task=translate");
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ task: "translate", provider: "openai" });
  });

  it("routing skips providers that cannot translate: the first enabled one that can gets the job", async () => {
    const res = await callWith({ PROVIDERS: "deepgram,whisper-pool,openai" }, "/v1/transcriptions?task=translate", {
      method: "POST",
      key,
      body: makeWav(0.2),
      headers: { "content-type": "audio/wav" },
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ task: "translate", provider: "openai" });
    // a pool with a multilingual model can translate, and comes first here
    const pool = await callWith(
      { PROVIDERS: "deepgram,whisper-pool,openai", POOL_MODELS: "large-v3-turbo" },
      "/v1/transcriptions?task=translate",
      { method: "POST", key, body: makeWav(0.2), headers: { "content-type": "audio/wav" } },
    );
    expect(await pool.json()).toMatchObject({ task: "translate", provider: "whisper-pool" });
  });

  it("through the pool: dispatched with task translate, and the pool's translated result is stored as English", async () => {
    const vars = { PROVIDERS: "whisper-pool,openai", POOL_MODELS: "large-v3-turbo" };
    const res = await callWith(vars, "/v1/transcriptions?task=translate&language=es", {
      method: "POST",
      key,
      body: makeWav(0.2),
      headers: { "content-type": "audio/wav" },
    });
    const job = (await res.json()) as Job;
    expect(job).toMatchObject({ task: "translate", provider: "whisper-pool" });
    const outbound = interceptFetch().on("POST", "https://pool.test/v1/jobs", () => json({ status: "queued" }, 202));
    await deliverJobs([job.id], tenantId, { env: vars });
    const dispatch = JSON.parse(new TextDecoder().decode(outbound.requests[0]!.body)) as Record<string, unknown>;
    expect(dispatch).toMatchObject({ task: "translate", language: "es" });
    const english = "Good morning, how are you?";
    const callback = completedCallback(job.id, {
      task: "translate",
      text: english,
      segments: [{ start: 0, end: 0.2, text: english }],
      words: [],
      language: "es",
    });
    expect((await poolCallback(callback)).status).toBe(200);
    expect(await getJob(job.id)).toMatchObject({
      status: "completed",
      task: "translate",
      language: "en",
      text: english,
    });
  });

  it("422 translation_unsupported when no enabled provider can translate, or the named one cannot; nothing stored", async () => {
    const before = await storageCounts();
    const none = await callWith({ PROVIDERS: "deepgram,whisper-pool" }, "/v1/transcriptions?task=translate", {
      method: "POST",
      key,
      body: makeWav(0.2),
      headers: { "content-type": "audio/wav" },
    });
    expect((await expectRefused(none, "translation_unsupported", "task")).detail).toContain(
      "no enabled provider can translate",
    );
    const pinned = await multipartUpload(key, { task: "translate", provider: "deepgram" });
    expect((await expectRefused(pinned, "translation_unsupported", "task")).detail).toContain(
      "provider deepgram cannot translate with model nova-3",
    );
    // the pool without POOL_MODELS: its model is unknown to the edge, so it is not assumed to translate
    const pool = await multipartUpload(key, { task: "translate", provider: "whisper-pool" });
    await expectRefused(pool, "translation_unsupported", "task");
    // an English-only pool model cannot translate either
    const english = await callWith(
      { POOL_MODELS: "base.en" },
      "/v1/transcriptions?task=translate&provider=whisper-pool",
      {
        method: "POST",
        key,
        body: makeWav(0.2),
        headers: { "content-type": "audio/wav" },
      },
    );
    await expectRefused(english, "translation_unsupported", "task");
    expect(await storageCounts()).toEqual(before);
  });

  it("422 invalid_task for any other value", async () => {
    for (const bad of ["Translate", "translation", "", "transcribe,translate"]) {
      const res = await multipartUpload(key, { task: bad });
      expect((await expectRefused(res, "invalid_task", "task")).detail).toContain("`transcribe` or `translate`");
    }
  });

  it("JSON audio_url: task travels beside the source and is judged by the same rules", async () => {
    const send = (body: unknown) =>
      call("/v1/transcriptions", {
        method: "POST",
        key,
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const res = await send({ audio_url: "https://media.example.com/call.wav", task: "translate" });
    expect(res.status).toBe(202);
    const job = (await res.json()) as Job;
    expect(job).toMatchObject({ task: "translate", provider: "openai", status: "queued" });
    expect(await jobRow(job.id)).toMatchObject({ task: "translate" });
    await expectRefused(await send({ audio_url: "https://media.example.com/a.wav", task: 1 }), "invalid_task", "task");
    await expectRefused(
      await send({ audio_url: "https://media.example.com/a.wav", task: "translate", provider: "deepgram" }),
      "translation_unsupported",
      "task",
    );
  });
});

describe("task=translate in tus Upload-Metadata", () => {
  const b64 = (text: string) => btoa(text);
  const metadata = (fields: Record<string, string>) =>
    Object.entries(fields)
      .map(([k, v]) => `${k} ${b64(v)}`)
      .join(",");
  const create = (fields: Record<string, string>, body?: Uint8Array<ArrayBuffer>) =>
    call("/v1/uploads", {
      method: "POST",
      key,
      headers: {
        "tus-resumable": "1.0.0",
        "upload-length": String(body?.byteLength ?? 1000),
        "upload-metadata": metadata(fields),
        ...(body ? { "content-type": "application/offset+octet-stream" } : {}),
      },
      ...(body ? { body } : {}),
    });

  it("validated at creation: a bad value or a provider that cannot translate is a 422 before any byte", async () => {
    await expectRefused(await create({ task: "both" }), "invalid_task", "task");
    await expectRefused(await create({ task: "translate", provider: "deepgram" }), "translation_unsupported", "task");
  });

  it("the upload that lands its last byte creates a translate job on a provider that can translate", async () => {
    const wav = makeWav(0.2);
    const res = await create({ filename: "interview.wav", task: "translate", language: "fr" }, wav);
    expect(res.status, await res.clone().text()).toBe(201);
    const jobId = res.headers.get("transcription-id");
    expect(jobId).toMatch(/^tr_/);
    expect(await getJob(jobId!)).toMatchObject({ task: "translate", provider: "openai", language: "fr" });
  });
});

describe("translate with the other options", () => {
  it("keyterms ride on the translation's prompt (OpenAI: an English prompt guides the translation)", async () => {
    const res = await multipartUpload(key, { task: "translate", prompt: "A call about", keyterms: "Acme,Jane Doe" });
    const job = (await res.json()) as Job;
    expect(job).toMatchObject({ task: "translate", keyterms: ["Acme", "Jane Doe"] });
    const outbound = translations();
    await deliverJobs([job.id], tenantId);
    const form = await formOf(outbound.requests[0]!);
    expect(form.get("prompt")).toContain("A call about");
    expect(form.get("prompt")).toContain("Acme");
    expect(form.get("prompt")).toContain("Jane Doe");
  });

  it("redact_pii runs on the English text before it is stored", async () => {
    const res = await multipartUpload(key, { task: "translate", redact_pii: "true" });
    const job = (await res.json()) as Job;
    const english = "Please call me on (415) 555-2671 tomorrow.";
    const outbound = interceptFetch().on("POST", "https://api.openai.com/v1/audio/translations", () =>
      json({
        ...OPENAI_TRANSLATION_VERBOSE_JSON,
        text: english,
        segments: [{ ...OPENAI_TRANSLATION_VERBOSE_JSON.segments[0]!, text: ` ${english}` }],
      }),
    );
    await deliverJobs([job.id], tenantId);
    expect(outbound.requests).toHaveLength(1);
    const done = await getJob(job.id);
    expect(done).toMatchObject({ status: "completed", task: "translate", language: "en" });
    expect(done.text).toBe("Please call me on [PHONE_NUMBER] tomorrow.");
    expect(done.redaction?.entities).toEqual({ phone_number: 1 });
  });

  it("speaker_labels: a provider that can do both gets the job; else a translating one, which fails with the speaker code", async () => {
    // whisper-pool with a multilingual model can translate and label speakers
    const both = await callWith(
      { POOL_MODELS: "large-v3-turbo" },
      "/v1/transcriptions?task=translate&speaker_labels=true",
      { method: "POST", key, body: makeWav(0.2), headers: { "content-type": "audio/wav" } },
    );
    expect(await both.json()).toMatchObject({ task: "translate", provider: "whisper-pool" });

    // here only OpenAI's whisper-1 translates, and it cannot label speakers: the job fails with a code, never
    // an unlabelled translation, and OpenAI is not called
    const res = await multipartUpload(key, { task: "translate", speaker_labels: "true" });
    const job = (await res.json()) as Job;
    expect(job).toMatchObject({ task: "translate", provider: "openai" });
    const outbound = interceptFetch();
    await deliverJobs([job.id], tenantId);
    expect(outbound.requests).toHaveLength(0);
    expect(await getJob(job.id)).toMatchObject({ status: "failed", error: { code: "diarization_unsupported" } });
  });

  it("a translate job stored on a provider that cannot translate fails at the consumer with translation_unsupported", async () => {
    // as if PROVIDERS changed after the job was created: the consumer refuses instead of transcribing
    const res = await multipartUpload(key, { task: "translate" });
    const job = (await res.json()) as Job;
    await env.DB.prepare("update transcriptions set provider = 'deepgram' where id = ?").bind(job.id).run();
    const outbound = interceptFetch();
    await deliverJobs([job.id], tenantId);
    expect(outbound.requests).toHaveLength(0);
    expect(await getJob(job.id)).toMatchObject({ status: "failed", error: { code: "translation_unsupported" } });
  });
});

describe("one boolean rule for every boolean field (BooleanField)", () => {
  it("true/false in any case and with spaces around; anything else is the field's own 422", async () => {
    const on = await multipartUpload(key, { redact_pii: " True ", speaker_labels: "FALSE" });
    expect(on.status).toBe(202);
    const job = (await on.json()) as Job & { speaker_options?: unknown };
    expect(job.redaction).not.toBeNull();
    expect(job.speaker_options).toBeUndefined();
    for (const [field, code] of [
      ["redact_pii", "invalid_redact_pii"],
      ["speaker_labels", "invalid_speaker_labels"],
      ["multichannel", "invalid_multichannel"],
    ]) {
      const res = await multipartUpload(key, { [field!]: "yes" });
      expect((await expectRefused(res, code!, field!)).detail).toContain("must be `true` or `false`");
    }
  });
});
