/**
 * `redact_pii_audio` for a job the Whisper pool transcribed (docs/pool-contract.md §5 "How the job waits"): the pool's
 * result callback stores the text-redacted transcript and answers at once; a jobs-queue message
 * (`kind: "audio_redaction"`) has the consumer ask the pool for the redaction, wait for the upload and complete the
 * job. Everything of the edge runs for real (D1, R2, the queue consumer, the signed `/internal/audio` and
 * `/internal/redactions` routes); the pool's `POST /v1/jobs` and `POST /v1/redactions` are intercepted, the latter by
 * a stand-in that runs the pool's own redaction step with real ffmpeg (test/helpers/pool-redactions.ts).
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";

import type { JobMessage } from "../../src/env.ts";
import { getSealedBytes } from "../../src/storage/sealed-objects.ts";
import { getTranscript } from "../../src/storage/transcript-store.ts";
import { call, createTenant } from "../helpers/api.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import { jobRow } from "../helpers/jobs.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";
import { poolRedactions, type PoolSide } from "../helpers/pool-redactions.ts";
import { deliver, deliverDeadLetters, deliverJobs, QUEUES } from "../helpers/queue.ts";
import {
  compressedAudio,
  maxToneError,
  PHONE_TEXT,
  PHONE_WORDS,
  readPcm16Wav,
  signalRmsError,
  TONED_PHONE,
} from "../helpers/redacted-audio.ts";

afterEach(() => vi.restoreAllMocks());

/** The pool's gpu-worker default `CALLBACK_TIMEOUT_MS`: a callback slower than this is abandoned and retried. */
const POOL_CALLBACK_TIMEOUT_MS = 10_000;

/** The pool's transcript of the fixture: a phone number said from 1.0 s to 1.6 s of the 3 s file. */
const RESULT = {
  text: PHONE_TEXT,
  segments: [{ start: 0, end: 3, text: PHONE_TEXT }],
  words: PHONE_WORDS,
  duration_seconds: 3,
};
const REDACTED_TEXT = "call me on [PHONE_NUMBER] thanks";

/** Every jobs-queue message the Worker sends from now on (still sent on to the real queue). */
function captureJobMessages(): JobMessage[] {
  const sent: JobMessage[] = [];
  const send = env.JOBS.send.bind(env.JOBS);
  vi.spyOn(env.JOBS, "send").mockImplementation(async (body, options) => {
    sent.push(body as JobMessage);
    return send(body, options);
  });
  return sent;
}

async function webhookEvents(id: string): Promise<string[]> {
  const rows = await env.DB.prepare("select type from webhook_events where job_id = ? order by created_at")
    .bind(id)
    .all<{ type: string }>();
  return rows.results.map((r) => r.type);
}

const objectKeys = async (prefix: string) => (await env.BUCKET.list({ prefix })).objects.map((o) => o.key);

/** An M4A (AAC) upload with `redact_pii_audio` and a webhook, on the pool. */
async function poolJob(name: string) {
  const { key, tenantId } = await createTenant(name);
  const form = new FormData();
  form.append("provider", "whisper-pool");
  form.append("redact_pii", "true");
  form.append("redact_pii_audio", "true");
  form.append("webhook_url", "https://hooks.example.com/vtt");
  form.append("file", new Blob([compressedAudio("aac")], { type: "application/octet-stream" }), "call.m4a");
  const res = await call("/v1/transcriptions", { method: "POST", key, body: form });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  const side: PoolSide = { requests: [] };
  return { key, tenantId, id, side };
}

/** The consumer dispatches the job to the pool (`POST /v1/jobs`); the pool's redactions are answered by `handler`. */
async function dispatch(
  job: { id: string; tenantId: string },
  handler: Parameters<ReturnType<typeof interceptFetch>["on"]>[2],
) {
  interceptFetch()
    .on("POST", "https://pool.test/v1/jobs", () => json({ job_id: job.id, status: "queued", duplicate: false }, 202))
    .on("POST", "https://pool.test/v1/redactions", handler);
  const delivery = await deliverJobs([job.id], job.tenantId);
  expect(delivery.explicitAcks).toEqual(delivery.ids);
  expect((await jobRow(job.id))!.dispatched_at).not.toBeNull();
  return String((await jobRow(job.id))!.audio_key);
}

describe(
  "a pool-transcribed redact_pii_audio job: the callback stores, a queue message redacts",
  { timeout: 60_000 },
  () => {
    it("the callback answers at once without redacting; the message tones the audio and completes the job", async () => {
      const job = await poolJob("pii-pool-cb");
      const originalKey = await dispatch(job, poolRedactions(job.side));
      const sent = captureJobMessages();

      const started = Date.now();
      const callback = await poolCallback(completedCallback(job.id, RESULT));
      const elapsed = Date.now() - started;
      expect(callback.status).toBe(200);
      expect(await callback.json()).toEqual({ ok: true, applied: true });
      // the callback never waited for a redaction: the pool was not asked, and it answered well inside its timeout
      expect(job.side.requests).toHaveLength(0);
      expect(elapsed).toBeLessThan(POOL_CALLBACK_TIMEOUT_MS / 2);
      expect(sent).toEqual([
        { v: 1, job_id: job.id, tenant_id: job.tenantId, kind: "audio_redaction", traceparent: expect.any(String) },
      ]);

      // in between: the job is not completed, nothing but the redacted transcript is stored, no webhook went out
      const waiting = (await jobRow(job.id))!;
      expect(waiting).toMatchObject({ status: "processing", text: null, transcript_key: null, audio_key: originalKey });
      const pending = JSON.parse(String(waiting.pending_audio_redaction)) as { result_id: string; spans: number[][] };
      expect(pending.spans).toHaveLength(1);
      expect(pending.spans[0]![0]).toBeCloseTo(TONED_PHONE.start, 9);
      expect(pending.spans[0]![1]).toBeCloseTo(TONED_PHONE.end, 9);
      const transcripts = await objectKeys(`transcripts/${job.tenantId}/${job.id}/`);
      expect(transcripts).toEqual([`transcripts/${job.tenantId}/${job.id}/${pending.result_id}.json`]);
      const stored = (await getTranscript(env, job.tenantId, transcripts[0]!))!;
      expect(stored.text).toBe(REDACTED_TEXT);
      expect(JSON.stringify(stored)).not.toMatch(/415|555|2671/);
      expect(await webhookEvents(job.id)).toEqual([]);
      const shown = (await (await call(`/v1/transcriptions/${job.id}`, { key: job.key })).json()) as Record<
        string,
        unknown
      >;
      expect(shown).toMatchObject({ status: "processing", text: null, audio_format: "mp4" });

      // the message: the consumer asks the pool, waits for the upload and completes the job
      const delivery = await deliver(QUEUES.jobs, [{ body: sent[0] }]);
      expect(delivery.explicitAcks).toEqual(delivery.ids);
      expect(job.side.requests.map((r) => [r.jobId, r.uploadStatus, r.spans.length])).toEqual([[job.id, 200, 1]]);
      const row = (await jobRow(job.id))!;
      expect(row).toMatchObject({
        status: "completed",
        audio_format: "wav",
        pending_audio_redaction: null,
        transcript_key: transcripts[0],
      });
      expect(await env.BUCKET.head(originalKey)).toBeNull();
      expect(await objectKeys(`audio/${job.tenantId}/`)).toEqual([row.audio_key]);
      const wav = readPcm16Wav((await getSealedBytes(env, job.tenantId, String(row.audio_key)))!);
      expect(wav.frames).toBe(Number(row.audio_bytes) / 2 - 22);
      expect(maxToneError(wav, TONED_PHONE.start + 0.001, TONED_PHONE.end - 0.001)).toBeLessThanOrEqual(2 / 32767);
      expect(signalRmsError(wav, 1.7, 2.9)).toBeLessThan(0.03);
      const done = (await (await call(`/v1/transcriptions/${job.id}`, { key: job.key })).json()) as {
        text: string;
        redaction: { audio_spans: { start: number; end: number }[] };
      };
      expect(done.text).toBe(REDACTED_TEXT);
      expect(done.redaction.audio_spans).toEqual([{ start: TONED_PHONE.start, end: TONED_PHONE.end }]);
      expect(await webhookEvents(job.id)).toEqual(["transcription.completed"]);
    });

    it("retries are idempotent: a busy pool retries the message, a duplicate callback and message change nothing", async () => {
      const job = await poolJob("pii-pool-cb-retry");
      let busy = true;
      const redact = poolRedactions(job.side);
      const originalKey = await dispatch(job, (request) =>
        busy ? json({ code: "redaction_busy" }, 503, { "retry-after": "5" }) : redact(request),
      );
      const sent = captureJobMessages();
      expect((await poolCallback(completedCallback(job.id, RESULT))).status).toBe(200);
      // the pool did not hear the answer and calls back again: its result is dropped, the message is sent again
      const again = await poolCallback(completedCallback(job.id, { ...RESULT, model: "another-attempt" }));
      expect(await again.json()).toEqual({ ok: true, applied: false });
      expect(sent.map((m) => m.kind)).toEqual(["audio_redaction", "audio_redaction"]);
      const pendingTranscripts = await objectKeys(`transcripts/${job.tenantId}/${job.id}/`);
      expect(pendingTranscripts).toHaveLength(1);

      // the pool is busy: the message is retried with a delay; the job waits with its audio, nothing else is kept
      const first = await deliver(QUEUES.jobs, [{ body: sent[0] }]);
      expect(first.retried).toEqual(first.ids);
      // with the usual backoff (full jitter: any delay from 0 up)
      expect(first.retryDelays.get(first.ids[0]!)).toEqual(expect.any(Number));
      expect((await jobRow(job.id))!).toMatchObject({ status: "processing", audio_key: originalKey, text: null });
      expect(await objectKeys(`audio/${job.tenantId}/`)).toEqual([originalKey]);
      expect(await objectKeys(`transcripts/${job.tenantId}/${job.id}/`)).toEqual(pendingTranscripts);
      expect(await webhookEvents(job.id)).toEqual([]);

      // the retry (and, at once, the duplicate message): one completion, one copy, one webhook
      busy = false;
      const retried = await deliver(QUEUES.jobs, [
        { body: sent[0], attempts: 2 },
        { body: sent[1], attempts: 1 },
      ]);
      expect(retried.explicitAcks).toEqual(retried.ids);
      const row = (await jobRow(job.id))!;
      expect(row).toMatchObject({ status: "completed", audio_format: "wav", transcript_key: pendingTranscripts[0] });
      expect(row.model).not.toBe("another-attempt");
      expect(await objectKeys(`audio/${job.tenantId}/`)).toEqual([row.audio_key]);
      expect(await objectKeys(`transcripts/${job.tenantId}/${job.id}/`)).toEqual(pendingTranscripts);
      const wav = readPcm16Wav((await getSealedBytes(env, job.tenantId, String(row.audio_key)))!);
      expect(maxToneError(wav, TONED_PHONE.start + 0.001, TONED_PHONE.end - 0.001)).toBeLessThanOrEqual(2 / 32767);

      // a late redelivery, and a sweeper-style resend without a kind, are acknowledged and ignored
      const calls = job.side.requests.length;
      const late = await deliver(QUEUES.jobs, [
        { body: sent[0], attempts: 3 },
        { body: { ...sent[0], kind: undefined } },
      ]);
      expect(late.explicitAcks).toEqual(late.ids);
      expect(job.side.requests).toHaveLength(calls);
      expect((await jobRow(job.id))!.audio_key).toBe(row.audio_key);
      expect(await webhookEvents(job.id)).toEqual(["transcription.completed"]);
    });

    it("a failed queue send is answered 503 enqueue_failed; the pool's retried callback sends it again", async () => {
      const job = await poolJob("pii-pool-cb-send");
      await dispatch(job, poolRedactions(job.side));
      const sent: JobMessage[] = [];
      const send = env.JOBS.send.bind(env.JOBS);
      let failSend = true;
      vi.spyOn(env.JOBS, "send").mockImplementation(async (body, options) => {
        if (failSend) throw new Error("queue unavailable");
        sent.push(body as JobMessage);
        return send(body, options);
      });
      const refused = await poolCallback(completedCallback(job.id, RESULT));
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { code: string }).code).toBe("enqueue_failed");
      // the result is kept, the job waits
      expect((await jobRow(job.id))!).toMatchObject({ status: "processing", text: null });
      expect(await objectKeys(`transcripts/${job.tenantId}/${job.id}/`)).toHaveLength(1);
      failSend = false;
      const retried = await poolCallback(completedCallback(job.id, RESULT));
      expect(retried.status).toBe(200);
      expect(await retried.json()).toEqual({ ok: true, applied: false });
      expect(sent.map((m) => m.kind)).toEqual(["audio_redaction"]);
      await deliver(QUEUES.jobs, [{ body: sent[0] }]);
      expect((await jobRow(job.id))!).toMatchObject({ status: "completed", audio_format: "wav" });
      expect(await objectKeys(`transcripts/${job.tenantId}/${job.id}/`)).toHaveLength(1);
      expect(await webhookEvents(job.id)).toEqual(["transcription.completed"]);
    });

    it("a resend without a kind (the sweeper's, a re-drive's) finishes a pending redaction too", async () => {
      const job = await poolJob("pii-pool-cb-sweep");
      await dispatch(job, poolRedactions(job.side));
      const sent = captureJobMessages();
      expect((await poolCallback(completedCallback(job.id, RESULT))).status).toBe(200);
      expect(sent).toHaveLength(1);
      // the message was lost; the sweeper re-queued the job and sent a plain message
      await env.DB.prepare("update transcriptions set status = 'queued', dispatched_at = null where id = ?")
        .bind(job.id)
        .run();
      await deliverJobs([job.id], job.tenantId);
      expect(job.side.requests).toHaveLength(1);
      expect((await jobRow(job.id))!).toMatchObject({ status: "completed", audio_format: "wav" });
      expect(await webhookEvents(job.id)).toEqual(["transcription.completed"]);
    });

    it("a pending redaction that cannot be read back fails the job audio_redaction_failed and deletes its audio", async () => {
      const job = await poolJob("pii-pool-cb-unreadable");
      await dispatch(job, poolRedactions(job.side));
      const sent = captureJobMessages();
      expect((await poolCallback(completedCallback(job.id, RESULT))).status).toBe(200);
      // the stored transcript is gone (an operator's cleanup, a bucket rule): never complete without it, nor keep audio
      for (const key of await objectKeys(`transcripts/${job.tenantId}/${job.id}/`)) await env.BUCKET.delete(key);
      await deliver(QUEUES.jobs, [{ body: sent[0] }]);
      expect(job.side.requests).toHaveLength(0);
      expect((await jobRow(job.id))!).toMatchObject({
        status: "failed",
        error_code: "audio_redaction_failed",
        audio_key: null,
      });
      expect(await objectKeys(`audio/${job.tenantId}/`)).toEqual([]);
    });

    it("a redaction the pool refuses fails the job audio_redaction_failed and keeps neither audio nor transcript", async () => {
      const job = await poolJob("pii-pool-cb-refused");
      await dispatch(job, (request) => {
        job.side.requests.push({ jobId: job.id, spans: [], uploadStatus: null });
        void request;
        return json({ code: "invalid_audio", message: "ffmpeg could not decode the audio" }, 422);
      });
      const sent = captureJobMessages();
      expect((await poolCallback(completedCallback(job.id, RESULT))).status).toBe(200);
      const delivery = await deliver(QUEUES.jobs, [{ body: sent[0] }]);
      expect(delivery.explicitAcks).toEqual(delivery.ids);
      expect(job.side.requests).toHaveLength(1);
      const row = (await jobRow(job.id))!;
      expect(row).toMatchObject({
        status: "failed",
        error_code: "audio_redaction_failed",
        audio_key: null,
        text: null,
      });
      expect(String(row.error_message)).toContain("invalid_audio");
      expect(await objectKeys(`audio/${job.tenantId}/`)).toEqual([]);
      expect(await objectKeys(`transcripts/${job.tenantId}/`)).toEqual([]);
      expect(await webhookEvents(job.id)).toEqual(["transcription.failed"]);
    });

    it("a pool that stays down until the retries are spent: the dead letter fails the job and deletes the audio", async () => {
      const job = await poolJob("pii-pool-cb-down");
      await dispatch(job, () => json({ code: "engine_error" }, 502));
      const sent = captureJobMessages();
      expect((await poolCallback(completedCallback(job.id, RESULT))).status).toBe(200);
      for (let attempt = 1; attempt <= 5; attempt++) {
        const delivery = await deliver(QUEUES.jobs, [{ body: sent[0], attempts: attempt }]);
        expect(delivery.retried).toEqual(delivery.ids);
      }
      expect((await jobRow(job.id))!.status).toBe("processing");
      await deliverDeadLetters([job.id], job.tenantId);
      const row = (await jobRow(job.id))!;
      expect(row).toMatchObject({
        status: "failed",
        error_code: "audio_redaction_failed",
        audio_key: null,
        text: null,
      });
      expect(await objectKeys(`audio/${job.tenantId}/`)).toEqual([]);
      expect(await objectKeys(`transcripts/${job.tenantId}/`)).toEqual([]);
      expect(await webhookEvents(job.id)).toEqual(["transcription.failed"]);
    });
  },
);
