/**
 * PII redaction end to end: the options on the submit paths (validated up front, stored, shown on the job), the
 * result path for each provider kind (a managed provider's answer in the consumer, Deepgram's native redaction and its
 * labels, the pool's callback), search over a redacted transcript, and audio redaction of a PCM WAV (the stored audio
 * replaced by a toned copy, the original deleted, the spans on the job; other audio refused or failed with a code).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { getSealedBytes } from "../../src/storage/sealed-objects.ts";
import { call, callWith, createTenant, multipartUpload } from "../helpers/api.ts";
import { craftedWav, pcmWav, silenceSamples } from "../helpers/audio.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import { jobRow, seedJob, seedTenant } from "../helpers/jobs.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";
import { deliverAudioRedactions, deliverJobs } from "../helpers/queue.ts";
import { compressedAudio } from "../helpers/redacted-audio.ts";
import { DEEPGRAM_RESPONSE, OPENAI_VERBOSE_JSON } from "../providers/fixtures.ts";

interface Problem {
  code: string;
  detail: string;
  errors?: { field: string; message: string }[];
}
interface Job {
  id: string;
  status: string;
  text: string | null;
  segments: { text: string }[] | null;
  error: { code: string } | null;
  redaction: {
    policies: string[];
    substitution: string;
    audio: boolean;
    entities: Record<string, number> | null;
    audio_spans: { start: number; end: number }[] | null;
  } | null;
}

const getJob = async (id: string, key: string) =>
  (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as Job;

/** Turns on redaction for a seeded job, as an upload with these options would have stored it. */
async function redactSeeded(id: string, options: { policies?: string[]; sub?: string; audio?: boolean } = {}) {
  await env.DB.prepare(
    "update transcriptions set redact_pii = 1, redact_pii_policies = ?, redact_pii_sub = ?, redact_pii_audio = ? where id = ?",
  )
    .bind(
      options.policies ? JSON.stringify(options.policies) : null,
      options.sub ?? "entity_name",
      options.audio ? 1 : 0,
      id,
    )
    .run();
}

const PII_TEXT =
  "Hi, call me on (415) 555-2671 or mail jane.doe@example.com; my card is four one one one one one one one one one one one one one one one.";

const OPENAI_WITH_PII = {
  ...OPENAI_VERBOSE_JSON,
  text: PII_TEXT,
  segments: [
    {
      ...OPENAI_VERBOSE_JSON.segments[0]!,
      start: 0,
      end: 4,
      text: " Hi, call me on (415) 555-2671 or mail jane.doe@example.com;",
    },
    {
      ...OPENAI_VERBOSE_JSON.segments[1]!,
      start: 4,
      end: 11,
      text: " my card is four one one one one one one one one one one one one one one one.",
    },
  ],
  words: [
    { word: "Hi,", start: 0, end: 0.3 },
    { word: "call", start: 0.3, end: 0.6 },
    { word: "me", start: 0.6, end: 0.8 },
    { word: "on", start: 0.8, end: 1 },
    { word: "(415)", start: 1, end: 1.6 },
    { word: "555-2671", start: 1.6, end: 2.4 },
    { word: "or", start: 2.4, end: 2.6 },
  ],
};

describe("redaction options", () => {
  it("are accepted on a multipart upload, stored and shown on the job", async () => {
    const { key } = await createTenant("pii-options");
    const res = await multipartUpload(key, {
      redact_pii: "true",
      redact_pii_policies: "phone_number, email_address",
      redact_pii_sub: "hash",
    });
    expect(res.status).toBe(202);
    const job = (await res.json()) as Job;
    expect(job.redaction).toEqual({
      policies: ["phone_number", "email_address"],
      substitution: "hash",
      audio: false,
      entities: null,
      audio_spans: null,
    });
    expect(await jobRow(job.id)).toMatchObject({
      redact_pii: 1,
      redact_pii_policies: '["phone_number","email_address"]',
      redact_pii_sub: "hash",
      redact_pii_audio: 0,
    });
    expect((await getJob(job.id, key)).redaction?.policies).toEqual(["phone_number", "email_address"]);
  });

  it("default to every entity type and entity names; without redact_pii the job has no redaction", async () => {
    const { key } = await createTenant("pii-defaults");
    const on = (await (await multipartUpload(key, { redact_pii: "true" })).json()) as Job;
    expect(on.redaction).toMatchObject({ substitution: "entity_name", audio: false });
    expect(on.redaction!.policies).toContain("date_of_birth");
    expect(on.redaction!.policies).toHaveLength(8);
    const off = (await (await multipartUpload(key, {})).json()) as Job;
    expect(off.redaction).toBeNull();
    const no = (await (await multipartUpload(key, { redact_pii: "false" })).json()) as Job;
    expect(no.redaction).toBeNull();
  });

  it("are accepted in a JSON body as a boolean and an array", async () => {
    const { key } = await createTenant("pii-json");
    const res = await call("/v1/transcriptions", {
      method: "POST",
      key,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        audio_url: "https://media.example.com/call.wav",
        redact_pii: true,
        redact_pii_policies: ["iban", "credit_card_number"],
        redact_pii_sub: "mask",
      }),
    });
    expect(res.status).toBe(202);
    expect(((await res.json()) as Job).redaction).toMatchObject({
      policies: ["iban", "credit_card_number"],
      substitution: "mask",
    });
  });

  it.each([
    [{ redact_pii: "true", redact_pii_policies: "phone_number,passport" }, "invalid_redact_pii_policies", "passport"],
    [{ redact_pii: "true", redact_pii_policies: "" }, "invalid_redact_pii_policies", "at least one"],
    [
      { redact_pii: "true", redact_pii_policies: "email_address,email_address" },
      "invalid_redact_pii_policies",
      "twice",
    ],
    [{ redact_pii: "true", redact_pii_policies: '["phone_number", 3]' }, "invalid_redact_pii_policies", "JSON array"],
    [{ redact_pii: "yes" }, "invalid_redact_pii", "true"],
    [{ redact_pii: "true", redact_pii_sub: "blur" }, "invalid_redact_pii_sub", "entity_name"],
    [{ redact_pii_policies: "phone_number" }, "invalid_redact_pii_policies", "requires `redact_pii=true`"],
    [{ redact_pii: "false", redact_pii_sub: "hash" }, "invalid_redact_pii_sub", "requires"],
    [{ redact_pii_audio: "true" }, "invalid_redact_pii_audio", "requires"],
  ])("refuses %j with 422 %s naming the field", async (fields, code, words) => {
    const { key } = await createTenant("pii-bad");
    const res = await multipartUpload(key, fields);
    expect(res.status).toBe(422);
    const problem = (await res.json()) as Problem;
    expect(problem.code).toBe(code);
    expect(problem.detail).toContain(code.replace("invalid_", ""));
    expect(problem.detail).toContain(words);
  });

  it("without a pool, refuses audio redaction of audio the edge cannot decode (MP4/AAC) before a job exists", async () => {
    const { key, tenantId } = await createTenant("pii-mp4");
    const form = new FormData();
    form.append("redact_pii", "true");
    form.append("redact_pii_audio", "true");
    form.append("file", new Blob([compressedAudio("aac")], { type: "audio/mp4" }), "call.m4a");
    // with a pool the audio goes to its ffmpeg instead (test/jobs/pii-audio-pool.test.ts)
    const res = await callWith({ POOL_URL: "" }, "/v1/transcriptions", { method: "POST", key, body: form });
    expect(res.status).toBe(422);
    expect(((await res.json()) as Problem).code).toBe("invalid_redact_pii_audio");
    const rows = await env.DB.prepare("select count(*) as n from transcriptions where tenant_id = ?")
      .bind(tenantId)
      .first();
    expect(rows).toEqual({ n: 0 });
    expect((await env.BUCKET.list({ prefix: `audio/${tenantId}/` })).objects).toHaveLength(0);
  });
});

describe("redacted results", () => {
  it("a managed provider's transcript is redacted in text, segments and words before it is stored or indexed", async () => {
    const { key } = await createTenant("pii-openai");
    const upload = (await (await multipartUpload(key, { redact_pii: "true", provider: "openai" })).json()) as Job;
    interceptFetch().on("POST", "https://api.openai.com/v1/audio/transcriptions", () => json(OPENAI_WITH_PII));
    const row0 = (await jobRow(upload.id))!;
    await deliverJobs([upload.id], String(row0.tenant_id));
    const job = await getJob(upload.id, key);
    expect(job.status).toBe("completed");
    expect(job.text).toBe("Hi, call me on [PHONE_NUMBER] or mail [EMAIL_ADDRESS]; my card is [CREDIT_CARD_NUMBER].");
    expect(job.segments!.map((s) => s.text)).toEqual([
      "Hi, call me on [PHONE_NUMBER] or mail [EMAIL_ADDRESS];",
      "my card is [CREDIT_CARD_NUMBER].",
    ]);
    expect(job.redaction!.entities).toEqual({ phone_number: 1, email_address: 1, credit_card_number: 1 });
    const doc = (await (await call(`/v1/transcriptions/${upload.id}/transcript?format=json`, { key })).json()) as {
      words: { word: string; start: number; end: number }[];
    };
    expect(doc.words.slice(4, 6)).toEqual([
      { word: "[PHONE_NUMBER]", start: 1, end: 1.6 },
      { word: "[PHONE_NUMBER]", start: 1.6, end: 2.4 },
    ]);
    // the search index only ever saw the redacted words
    const search = async (q: string) =>
      ((await (await call(`/v1/transcriptions?q=${encodeURIComponent(q)}`, { key })).json()) as { data: unknown[] })
        .data;
    expect(await search("call me")).toHaveLength(1);
    expect(await search("jane.doe@example.com")).toHaveLength(0);
    expect(await search("555-2671")).toHaveLength(0);
  });

  it("Deepgram is asked to redact the job's types, and its labels are mapped to ours", async () => {
    const tenantId = await seedTenant();
    const id = await seedJob(tenantId, { provider: "deepgram" });
    await redactSeeded(id, { policies: ["phone_number", "person_name", "us_social_security_number"] });
    const outbound = interceptFetch().on("POST", "https://api.deepgram.com/v1/listen", () =>
      json({
        ...DEEPGRAM_RESPONSE,
        results: {
          channels: [
            {
              detected_language: "en",
              alternatives: [
                {
                  transcript: "This is [NAME_1], reach me at [PHONE_NUMBER_1]. SSN 123-45-6789.",
                  confidence: 0.9,
                  words: [
                    { word: "this", punctuated_word: "This", start: 0, end: 0.2 },
                    { word: "is", start: 0.2, end: 0.4 },
                    { word: "[NAME_1]", punctuated_word: "[NAME_1],", start: 0.4, end: 0.9 },
                    { word: "[PHONE_NUMBER_1]", punctuated_word: "[PHONE_NUMBER_1].", start: 1.5, end: 3 },
                  ],
                },
              ],
            },
          ],
        },
      }),
    );
    await deliverJobs([id], tenantId);
    const query = outbound.requests[0]!.url.searchParams;
    expect(query.getAll("redact")).toEqual(["phone_number", "name", "ssn"]);
    const row = (await jobRow(id))!;
    expect(row.status).toBe("completed");
    const doc = JSON.parse(
      new TextDecoder().decode((await getSealedBytes(env, tenantId, String(row.transcript_key)))!),
    ) as { text: string; words: { word: string }[] };
    // our own pass ran after Deepgram's: the SSN it left in clear is redacted too
    expect(doc.text).toBe("This is [PERSON_NAME], reach me at [PHONE_NUMBER]. SSN [US_SOCIAL_SECURITY_NUMBER].");
    expect(doc.words.map((w) => w.word)).toEqual(["This", "is", "[PERSON_NAME],", "[PHONE_NUMBER]."]);
    expect(JSON.parse(String(row.pii_entities))).toEqual({
      person_name: 1,
      phone_number: 1,
      us_social_security_number: 1,
    });
  });

  it("a job without redaction asks Deepgram for none and stores the text as given", async () => {
    const tenantId = await seedTenant();
    const id = await seedJob(tenantId, { provider: "deepgram" });
    const outbound = interceptFetch().on("POST", "https://api.deepgram.com/v1/listen", () => json(DEEPGRAM_RESPONSE));
    await deliverJobs([id], tenantId);
    expect(outbound.requests[0]!.url.searchParams.has("redact")).toBe(false);
    expect(await jobRow(id)).toMatchObject({ status: "completed", pii_entities: null, redact_pii: 0 });
  });

  it("the pool's callback is redacted with the job's substitution style", async () => {
    const tenantId = await seedTenant();
    const id = await seedJob(tenantId, { provider: "whisper-pool", status: "processing" });
    await redactSeeded(id, { sub: "mask", policies: ["iban", "date_of_birth"] });
    const text = "Pay GB82 WEST 1234 5698 7654 32 now. I was born on 4 July 1976.";
    const res = await poolCallback(
      completedCallback(id, { text, segments: [{ start: 0, end: 5, text }], words: undefined }),
    );
    expect(((await res.json()) as { applied: boolean }).applied).toBe(true);
    const row = (await jobRow(id))!;
    const doc = JSON.parse(
      new TextDecoder().decode((await getSealedBytes(env, tenantId, String(row.transcript_key)))!),
    ) as { text: string };
    expect(doc.text).toBe("Pay **** **** **** **** **** ** now. I was born on * **** ****.");
  });
});

describe("audio redaction", () => {
  const RATE = 16_000;

  function samplesOf(wav: Uint8Array): Int16Array {
    const data = wav.subarray(44);
    return new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  }

  it("replaces the stored WAV by a copy with a tone over the redacted words, deletes the original, names the spans", async () => {
    const tenantId = await seedTenant();
    const original = pcmWav(silenceSamples({ seconds: 3, sampleRate: RATE }), RATE);
    const id = await seedJob(tenantId, { provider: "whisper-pool", status: "processing", audio: original });
    await redactSeeded(id, { audio: true });
    const originalKey = String((await jobRow(id))!.audio_key);
    const text = "my ip is 203.0.113.7 thanks";
    await poolCallback(
      completedCallback(id, {
        text,
        duration_seconds: 3,
        segments: [{ start: 0, end: 3, text }],
        words: [
          { start: 0, end: 0.4, word: "my" },
          { start: 0.4, end: 0.6, word: "ip" },
          { start: 0.6, end: 0.9, word: "is" },
          { start: 1, end: 1.5, word: "203.0.113.7" },
          { start: 1.6, end: 2, word: "thanks" },
        ],
      }),
    );
    // the callback stores the redacted transcript; the queue message it sent tones the audio and completes the job
    expect((await jobRow(id))!.status).toBe("processing");
    await deliverAudioRedactions([id], tenantId);
    const row = (await jobRow(id))!;
    expect(row.status).toBe("completed");
    expect(String(row.audio_key)).toMatch(new RegExp(`^${originalKey}\\.redacted-`));
    expect(await env.BUCKET.head(originalKey)).toBeNull();
    const redacted = (await getSealedBytes(env, tenantId, String(row.audio_key)))!;
    expect(redacted.byteLength).toBe(original.byteLength);
    expect(row.audio_bytes).toBe(original.byteLength);
    expect(redacted.subarray(0, 44)).toEqual(original.subarray(0, 44));
    const samples = samplesOf(redacted);
    const peak = (from: number, to: number) =>
      samples.subarray(Math.round(from * RATE), Math.round(to * RATE)).reduce((m, s) => Math.max(m, Math.abs(s)), 0);
    // the word's span, padded by 50 ms each side, carries the tone; everything else is still silence
    expect(peak(0.96, 1.54)).toBeGreaterThan(8000);
    expect(peak(0, 0.94)).toBe(0);
    expect(peak(1.56, 3)).toBe(0);
    const job = (await (await call(`/v1/transcriptions/${id}`, { key: await tenantKey(tenantId) })).json()) as Job;
    expect(job.redaction).toMatchObject({
      audio: true,
      entities: { ip_address: 1 },
      audio_spans: [{ start: 0.95, end: 1.55 }],
    });
    expect(job.text).toBe("my ip is [IP_ADDRESS] thanks");
  });

  it("fails the job with audio_redaction_unsupported for a WAV it cannot rewrite, and deletes that audio", async () => {
    const tenantId = await seedTenant();
    // A-law (format 6): a WAV the edge does not decode
    const alaw = craftedWav({ formatTag: 6, bitsPerSample: 8, data: new Uint8Array(16_000).fill(0xd5) });
    const id = await seedJob(tenantId, { provider: "whisper-pool", status: "processing", audio: alaw });
    await redactSeeded(id, { audio: true });
    const audioKey = String((await jobRow(id))!.audio_key);
    const res = await poolCallback(completedCallback(id, { text: "call (415) 555-2671" }));
    expect(res.status).toBe(200);
    await deliverAudioRedactions([id], tenantId);
    const row = (await jobRow(id))!;
    expect(row).toMatchObject({ status: "failed", error_code: "audio_redaction_unsupported", audio_key: null });
    expect(await env.BUCKET.head(audioKey)).toBeNull();
    expect((await env.BUCKET.list({ prefix: `transcripts/${tenantId}/${id}/` })).objects).toHaveLength(0);
  });
});

/** A fresh API key for a seeded tenant. */
async function tenantKey(tenantId: string): Promise<string> {
  const res = await call(`/v1/admin/tenants/${tenantId}/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${env.ADMIN_API_KEY}` },
  });
  return ((await res.json()) as { key: string }).key;
}
