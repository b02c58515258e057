/**
 * `redact_pii_audio` for audio the Worker cannot decode (MP4/AAC, WebM), through the Whisper pool's ffmpeg
 * (docs/pool-contract.md §5), for jobs a managed provider transcribed (the consumer redacts before it stores). The
 * edge runs for real (D1, R2, Queues, its signed `/internal/audio` and `/internal/redactions` routes); the outbound
 * `POST {POOL_URL}/v1/redactions` is intercepted by a stand-in that runs the pool's own redaction step with real ffmpeg
 * (test/helpers/pool-redactions.ts). Jobs the pool transcribed: test/jobs/pii-audio-pool-callback.test.ts.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import type { Env } from "../../src/env.ts";
import { storeFailure } from "../../src/jobs/results.ts";
import { createDb } from "../../src/storage/db.ts";
import { getJobById } from "../../src/storage/jobs.repo.ts";
import { getSealedBytes } from "../../src/storage/sealed-objects.ts";
import { call, callWith, createTenant } from "../helpers/api.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import { jobRow } from "../helpers/jobs.ts";
import { poolRedactions, type PoolSide } from "../helpers/pool-redactions.ts";
import { deliverJobs } from "../helpers/queue.ts";
import {
  compressedAudio,
  type CompressedFixture,
  FIXTURE_SIGNAL,
  maxToneError,
  OPENAI_PHONE,
  readPcm16Wav,
  signalRmsError,
  TONED_PHONE,
  uploadForAudioRedaction,
} from "../helpers/redacted-audio.ts";

const CASES: { name: CompressedFixture; file: string; format: string; rate: number }[] = [
  { name: "aac", file: "call.m4a", format: "mp4", rate: 16_000 },
  { name: "webm", file: "call.webm", format: "webm", rate: 48_000 },
];

describe("redact_pii_audio through the pool's ffmpeg", () => {
  for (const { name, file, format, rate } of CASES) {
    it(`${format}: the stored copy is a WAV with the tone over the number, the original is gone`, async () => {
      const { key, tenantId } = await createTenant(`pii-pool-${name}`);
      const res = await uploadForAudioRedaction(key, compressedAudio(name), file);
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      const originalKey = String((await jobRow(id))!.audio_key);
      expect((await jobRow(id))!.audio_format).toBe(format);
      // a copy an earlier, abandoned attempt left behind goes once this one is stored
      await env.BUCKET.put(`${originalKey}.redacted-01JAAAAAAAAAAAAAAAAAAAAAAA`, "stale copy");
      const side: PoolSide = { requests: [] };
      interceptFetch()
        .on("POST", "https://api.openai.com/v1/audio/transcriptions", () => json(OPENAI_PHONE))
        .on("POST", "https://pool.test/v1/redactions", poolRedactions(side));
      await deliverJobs([id], tenantId);
      const row = (await jobRow(id))!;
      expect(row).toMatchObject({ status: "completed", audio_format: "wav" });
      expect(side.requests.map((r) => [r.jobId, r.uploadStatus, r.spans.length])).toEqual([[id, 200, 1]]);
      expect(side.requests[0]!.spans[0]!.start).toBeCloseTo(TONED_PHONE.start, 9);
      expect(side.requests[0]!.spans[0]!.end).toBeCloseTo(TONED_PHONE.end, 9);
      // the original is deleted; only the copy is left
      expect(await env.BUCKET.head(originalKey)).toBeNull();
      expect((await env.BUCKET.list({ prefix: `audio/${tenantId}/` })).objects.map((o) => o.key)).toEqual([
        row.audio_key,
      ]);
      const stored = (await getSealedBytes(env, tenantId, String(row.audio_key)))!;
      expect(stored.length).toBe(row.audio_bytes);
      const wav = readPcm16Wav(stored);
      expect(wav.sampleRate).toBe(rate);
      expect(wav.channels).toHaveLength(1);
      expect(wav.frames / rate).toBeGreaterThanOrEqual(FIXTURE_SIGNAL.seconds - 0.01);
      expect(wav.frames / rate).toBeLessThan(FIXTURE_SIGNAL.seconds + 0.05);
      // inside the span: the edge's own tone (toneSample), to 16-bit rounding
      expect(maxToneError(wav, TONED_PHONE.start + 0.001, TONED_PHONE.end - 0.001)).toBeLessThanOrEqual(2 / 32767);
      // outside: the original signal within lossy-codec tolerance (away from the start and the span's edges)
      expect(signalRmsError(wav, 0.1, 0.9)).toBeLessThan(0.03);
      expect(signalRmsError(wav, 1.7, 2.9)).toBeLessThan(0.03);
      const job = (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as {
        text: string;
        audio_format: string;
        redaction: { audio_spans: { start: number; end: number }[] };
      };
      expect(job.text).toBe("call me on [PHONE_NUMBER] thanks");
      expect(job.audio_format).toBe("wav");
      expect(job.redaction.audio_spans).toHaveLength(1);
      expect(job.redaction.audio_spans[0]!.start).toBeCloseTo(TONED_PHONE.start, 6);
      expect(job.redaction.audio_spans[0]!.end).toBeCloseTo(TONED_PHONE.end, 6);
    });
  }

  it("audio ffmpeg cannot decode fails the job with audio_redaction_failed; no audio and no transcript are kept", async () => {
    const { key, tenantId } = await createTenant("pii-pool-corrupt");
    // an MP4 header (sniffed as mp4) whose sample data is cut off
    const bytes = compressedAudio("aac").slice(0, 600);
    const res = await uploadForAudioRedaction(key, bytes, "call.m4a");
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const side: PoolSide = { requests: [] };
    interceptFetch()
      .on("POST", "https://api.openai.com/v1/audio/transcriptions", () => json(OPENAI_PHONE))
      .on("POST", "https://pool.test/v1/redactions", poolRedactions(side));
    await deliverJobs([id], tenantId);
    const row = (await jobRow(id))!;
    expect(row).toMatchObject({ status: "failed", error_code: "audio_redaction_failed", audio_key: null, text: null });
    expect(String(row.error_message)).toContain("invalid_audio");
    expect(side.requests.map((r) => r.uploadStatus)).toEqual([null]);
    expect((await env.BUCKET.list({ prefix: `audio/${tenantId}/` })).objects).toHaveLength(0);
    expect((await env.BUCKET.list({ prefix: `transcripts/${tenantId}/` })).objects).toHaveLength(0);
  });

  it("an audio_url job whose fetched audio is WebM is redacted through the pool too", async () => {
    const { key, tenantId } = await createTenant("pii-pool-url");
    const submitted = await call("/v1/transcriptions", {
      method: "POST",
      key,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        audio_url: "https://media.example.com/call.webm",
        provider: "openai",
        redact_pii: true,
        redact_pii_audio: true,
      }),
    });
    expect(submitted.status).toBe(202);
    const { id } = (await submitted.json()) as { id: string };
    const side: PoolSide = { requests: [] };
    interceptFetch()
      .on("GET", "https://media.example.com/call.webm", () => new Response(compressedAudio("webm")))
      .on("POST", "https://api.openai.com/v1/audio/transcriptions", () => json(OPENAI_PHONE))
      .on("POST", "https://pool.test/v1/redactions", poolRedactions(side));
    await deliverJobs([id], tenantId);
    const row = (await jobRow(id))!;
    expect(row).toMatchObject({ status: "completed", audio_format: "wav" });
    const wav = readPcm16Wav((await getSealedBytes(env, tenantId, String(row.audio_key)))!);
    expect(maxToneError(wav, TONED_PHONE.start + 0.001, TONED_PHONE.end - 0.001)).toBeLessThanOrEqual(2 / 32767);
    expect((await env.BUCKET.list({ prefix: `audio/${tenantId}/` })).objects).toHaveLength(1);
  });

  it("a copy of another length than the transcript fails audio_redaction_failed (the tone would miss)", async () => {
    const { key, tenantId } = await createTenant("pii-pool-length");
    const res = await uploadForAudioRedaction(key, compressedAudio("aac"), "call.m4a");
    const { id } = (await res.json()) as { id: string };
    const side: PoolSide = { requests: [] };
    interceptFetch()
      .on("POST", "https://api.openai.com/v1/audio/transcriptions", () => json({ ...OPENAI_PHONE, duration: 10 }))
      .on("POST", "https://pool.test/v1/redactions", poolRedactions(side));
    await deliverJobs([id], tenantId);
    const row = (await jobRow(id))!;
    expect(row).toMatchObject({ status: "failed", error_code: "audio_redaction_failed", audio_key: null });
    expect(String(row.error_message)).toContain("the transcript says 10.00 s");
    expect(side.requests.map((r) => r.uploadStatus)).toEqual([200]);
    expect((await env.BUCKET.list({ prefix: `audio/${tenantId}/` })).objects).toHaveLength(0);
  });

  it("a pool that is down leaves the job to be retried with its audio, and stores nothing", async () => {
    const { key, tenantId } = await createTenant("pii-pool-down");
    const res = await uploadForAudioRedaction(key, compressedAudio("aac"), "call.m4a");
    const { id } = (await res.json()) as { id: string };
    interceptFetch()
      .on("POST", "https://api.openai.com/v1/audio/transcriptions", () => json(OPENAI_PHONE))
      .on("POST", "https://pool.test/v1/redactions", () => json({ code: "redaction_busy" }, 503));
    const delivery = await deliverJobs([id], tenantId);
    expect(delivery.retryMessages).toHaveLength(1);
    const row = (await jobRow(id))!;
    expect(row.status).not.toBe("completed");
    expect((await env.BUCKET.list({ prefix: `audio/${tenantId}/` })).objects).toHaveLength(1);
    expect((await env.BUCKET.list({ prefix: `transcripts/${tenantId}/` })).objects).toHaveLength(0);
    // when the job fails in the end (retries spent), its unredacted audio goes with it
    const job = (await getJobById(createDb(env), id))!;
    expect(await storeFailure(env as unknown as Env, createDb(env), job, "provider_network_error", "gave up")).toBe(
      true,
    );
    expect((await jobRow(id))!).toMatchObject({ status: "failed", audio_key: null });
    expect((await env.BUCKET.list({ prefix: `audio/${tenantId}/` })).objects).toHaveLength(0);
  });

  it("the upload route refuses a bad signature, another job's URL and a job that is not waiting for a copy", async () => {
    const { key } = await createTenant("pii-pool-upload");
    const res = await uploadForAudioRedaction(key, compressedAudio("aac"), "call.m4a");
    const { id } = (await res.json()) as { id: string };
    const exp = Math.floor(Date.now() / 1000) + 300;
    const put = (path: string) =>
      call(path, { method: "PUT", headers: { "content-length": "48" }, body: new Uint8Array(48) });
    const forged = await put(`/internal/redactions/${id}/01JAAAAAAAAAAAAAAAAAAAAAAA?exp=${exp}&kid=a1&sig=00`);
    expect(forged.status).toBe(403);
    expect(((await forged.json()) as { code: string }).code).toBe("invalid_upload_url");
    // an audio URL's signature never passes for an upload's
    const { signAudioUrl, signRedactionUpload } = await import("@vtt/pool-contract");
    const audioSig = await signAudioUrl("audio-url-secret", id, exp);
    const crossed = await put(
      `/internal/redactions/${id}/01JAAAAAAAAAAAAAAAAAAAAAAA?exp=${exp}&kid=a1&sig=${audioSig}`,
    );
    expect(crossed.status).toBe(403);
    const other = await signRedactionUpload("audio-url-secret", "tr_other", "01JAAAAAAAAAAAAAAAAAAAAAAA", exp);
    const otherJob = await put(`/internal/redactions/${id}/01JAAAAAAAAAAAAAAAAAAAAAAA?exp=${exp}&kid=a1&sig=${other}`);
    expect(otherJob.status).toBe(403);
    const good = await signRedactionUpload("audio-url-secret", id, "01JAAAAAAAAAAAAAAAAAAAAAAA", exp);
    const tooSmall = await call(`/internal/redactions/${id}/01JAAAAAAAAAAAAAAAAAAAAAAA?exp=${exp}&kid=a1&sig=${good}`, {
      method: "PUT",
      headers: { "content-length": "4" },
      body: new Uint8Array(4),
    });
    expect(tooSmall.status).toBe(400);
    expect(((await tooSmall.json()) as { code: string }).code).toBe("invalid_redacted_audio");
    // a signed upload that is not audio, or longer than it declared, is refused with a code and stores nothing
    const uploadUrl = `/internal/redactions/${id}/01JAAAAAAAAAAAAAAAAAAAAAAA?exp=${exp}&kid=a1&sig=${good}`;
    const junk = await call(uploadUrl, {
      method: "PUT",
      headers: { "content-length": "64" },
      body: new Uint8Array(64),
    });
    expect(junk.status).toBeGreaterThanOrEqual(400);
    expect(junk.status).toBeLessThan(500);
    expect(((await junk.json()) as { code: string }).code).toBe("unsupported_audio");
    const row = (await jobRow(id))!;
    const keys = (await env.BUCKET.list({ prefix: `audio/${row.tenant_id}/` })).objects.map((o) => o.key);
    expect(keys).toEqual([row.audio_key]);
  });

  it("without a pool, MP4 with redact_pii_audio is still refused at submit (422 invalid_redact_pii_audio)", async () => {
    const { key } = await createTenant("pii-nopool");
    const form = new FormData();
    form.append("provider", "openai");
    form.append("redact_pii", "true");
    form.append("redact_pii_audio", "true");
    form.append("file", new Blob([compressedAudio("webm")]), "call.webm");
    const res = await callWith({ POOL_URL: "" }, "/v1/transcriptions", { method: "POST", key, body: form });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { code: string }).code).toBe("invalid_redact_pii_audio");
  });
});
