/**
 * `redact_pii_audio` on compressed uploads, end to end in workerd: a real MP3/FLAC/Ogg file (made by ffmpeg from a
 * known sine) is uploaded, a managed provider (OpenAI, intercepted at the network) transcribes it with a phone number
 * at known times, and the stored audio is then a sealed 16-bit PCM WAV as long as the file, the tone exactly over
 * the padded span, the sine elsewhere; the original is gone; the job and the console serve the copy. Audio that
 * cannot be decoded fails the job with a code and leaves no audio; MP4/AAC is refused at submit.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { getSealedBytes } from "../../src/storage/sealed-objects.ts";
import { call, createTenant } from "../helpers/api.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import { jobRow } from "../helpers/jobs.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";
import { deliverAudioRedactions, deliverJobs } from "../helpers/queue.ts";
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

const ORIGIN = { origin: "https://edge.test", "sec-fetch-site": "same-origin" };

async function signIn(key: string): Promise<string> {
  const res = await call("/console/sign-in", {
    method: "POST",
    redirect: "manual",
    headers: ORIGIN,
    body: new URLSearchParams({ api_key: key }),
  });
  expect(res.status).toBe(303);
  return res.headers.get("set-cookie")!.split(";")[0]!;
}

const CASES: { name: CompressedFixture; format: string; rate: number }[] = [
  { name: "mp3", format: "mp3", rate: 16_000 },
  { name: "flac", format: "flac", rate: 16_000 },
  { name: "vorbis", format: "ogg", rate: 16_000 },
  { name: "opus", format: "ogg", rate: 48_000 },
];

describe("redact_pii_audio on compressed audio", { timeout: 60_000 }, () => {
  for (const c of CASES) {
    it(`${c.name}: the stored audio becomes a toned 16-bit WAV of the same length; the original is deleted`, async () => {
      const { key, tenantId } = await createTenant(`pii-${c.name}`);
      const res = await uploadForAudioRedaction(key, compressedAudio(c.name), `call.${c.format}`);
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      const before = (await jobRow(id))!;
      expect(before.audio_format).toBe(c.format);
      const originalKey = String(before.audio_key);
      interceptFetch().on("POST", "https://api.openai.com/v1/audio/transcriptions", () => json(OPENAI_PHONE));
      await deliverJobs([id], tenantId);

      const row = (await jobRow(id))!;
      expect(row.status).toBe("completed");
      expect(row.audio_format).toBe("wav");
      expect(String(row.audio_key)).toMatch(new RegExp(`^${originalKey}\\.redacted-`));
      // the original is gone: only the toned copy is left under the job's prefix
      expect(await env.BUCKET.head(originalKey)).toBeNull();
      const left = (await env.BUCKET.list({ prefix: `audio/${tenantId}/` })).objects.map((o) => o.key);
      expect(left).toEqual([row.audio_key]);

      const stored = (await getSealedBytes(env, tenantId, String(row.audio_key)))!;
      expect(row.audio_bytes).toBe(stored.byteLength);
      const wav = readPcm16Wav(stored);
      expect(wav.sampleRate).toBe(c.rate);
      expect(wav.frames / wav.sampleRate).toBe(FIXTURE_SIGNAL.seconds);
      expect(maxToneError(wav, TONED_PHONE.start, TONED_PHONE.end)).toBeLessThanOrEqual(1 / 32767);
      expect(signalRmsError(wav, TONED_PHONE.start, TONED_PHONE.end)).toBeGreaterThan(0.3);
      const lossless = c.name === "flac";
      for (const [from, to] of [
        [0.1, 0.9],
        [1.7, 2.9],
      ])
        expect(signalRmsError(wav, from!, to!)).toBeLessThan(lossless ? 1.5 / 32767 : 0.02);

      const job = (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as {
        audio_format: string;
        text: string;
        redaction: { audio_spans: { start: number; end: number }[] };
      };
      expect(job.audio_format).toBe("wav");
      expect(job.text).toBe("call me on [PHONE_NUMBER] thanks");
      expect(job.redaction.audio_spans).toEqual([TONED_PHONE]);

      // the console's player gets the copy, as WAV, whole and by range
      const cookie = await signIn(key);
      const whole = await call(`/console/transcripts/${id}/audio`, { headers: { cookie }, redirect: "manual" });
      expect(whole.status).toBe(200);
      expect(whole.headers.get("content-type")).toBe("audio/wav");
      expect(new Uint8Array(await whole.arrayBuffer())).toEqual(stored);
      const head = await call(`/console/transcripts/${id}/audio`, {
        headers: { cookie, range: "bytes=0-11" },
        redirect: "manual",
      });
      expect(head.status).toBe(206);
      expect(new TextDecoder().decode(await head.arrayBuffer())).toMatch(/^RIFF.{4}WAVE$/s);
    });
  }

  it("the pool's result is redacted the same way: its callback's queue message stores the toned WAV copy of an Ogg Opus upload", async () => {
    const { key, tenantId } = await createTenant("pii-pool-opus");
    const res = await uploadForAudioRedaction(key, compressedAudio("opus"), "call.opus", "whisper-pool");
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    interceptFetch().on("POST", "https://pool.test/v1/jobs", () => json({ accepted: true }, 202));
    await deliverJobs([id], tenantId);
    const originalKey = String((await jobRow(id))!.audio_key);
    const applied = await poolCallback(
      completedCallback(id, {
        text: OPENAI_PHONE.text,
        segments: [{ start: 0, end: 3, text: OPENAI_PHONE.text }],
        words: OPENAI_PHONE.words.map(({ word, start, end }) => ({ word, start, end })),
        duration_seconds: 3,
      }),
    );
    expect(applied.status).toBe(200);
    // the callback stores the redacted transcript; the queue message it sent tones the audio and completes the job
    expect((await jobRow(id))!.status).toBe("processing");
    await deliverAudioRedactions([id], tenantId);
    const row = (await jobRow(id))!;
    expect(row).toMatchObject({ status: "completed", audio_format: "wav" });
    expect(await env.BUCKET.head(originalKey)).toBeNull();
    const wav = readPcm16Wav((await getSealedBytes(env, tenantId, String(row.audio_key)))!);
    expect(wav.frames).toBe(3 * 48_000);
    expect(maxToneError(wav, TONED_PHONE.start, TONED_PHONE.end)).toBeLessThanOrEqual(1 / 32767);
    expect(signalRmsError(wav, 1.7, 2.9)).toBeLessThan(0.02);
  });

  it("without a pool, an audio_url job whose fetched audio is MP4 fails with audio_redaction_unsupported before any provider call", async () => {
    const { key, tenantId } = await createTenant("pii-url-mp4");
    const submitted = await call("/v1/transcriptions", {
      method: "POST",
      key,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        audio_url: "https://media.example.com/call.m4a",
        provider: "openai",
        redact_pii: true,
        redact_pii_audio: true,
      }),
    });
    expect(submitted.status).toBe(202);
    const { id } = (await submitted.json()) as { id: string };
    const outbound = interceptFetch().on(
      "GET",
      "https://media.example.com/call.m4a",
      () => new Response(compressedAudio("aac"), { headers: { "content-type": "audio/mp4" } }),
    );
    // with a pool the audio would go to its ffmpeg (test/jobs/pii-audio-pool.test.ts)
    await deliverJobs([id], tenantId, { env: { POOL_URL: "" } });
    const row = (await jobRow(id))!;
    expect(row).toMatchObject({ status: "failed", error_code: "audio_redaction_unsupported", audio_key: null });
    expect(String(row.error_message)).toContain("this audio is mp4");
    expect(outbound.requests.map((r) => r.method)).toEqual(["GET"]);
    expect((await env.BUCKET.list({ prefix: `audio/${tenantId}/` })).objects).toHaveLength(0);
  });

  it("an audio_url job whose fetched audio is MP3 is redacted like an upload", async () => {
    const { key, tenantId } = await createTenant("pii-url-mp3");
    const submitted = await call("/v1/transcriptions", {
      method: "POST",
      key,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        audio_url: "https://media.example.com/call.mp3",
        provider: "openai",
        redact_pii: true,
        redact_pii_audio: true,
      }),
    });
    const { id } = (await submitted.json()) as { id: string };
    interceptFetch()
      .on("GET", "https://media.example.com/call.mp3", () => new Response(compressedAudio("mp3")))
      .on("POST", "https://api.openai.com/v1/audio/transcriptions", () => json(OPENAI_PHONE));
    await deliverJobs([id], tenantId);
    const row = (await jobRow(id))!;
    expect(row).toMatchObject({ status: "completed", audio_format: "wav" });
    const wav = readPcm16Wav((await getSealedBytes(env, tenantId, String(row.audio_key)))!);
    expect(wav.frames).toBe(3 * 16_000);
    expect(maxToneError(wav, TONED_PHONE.start, TONED_PHONE.end)).toBeLessThanOrEqual(1 / 32767);
    expect((await env.BUCKET.list({ prefix: `audio/${tenantId}/` })).objects).toHaveLength(1);
  });

  it("a file that does not decode fails the job with audio_redaction_failed; no audio and no transcript are kept", async () => {
    const { key, tenantId } = await createTenant("pii-corrupt");
    const bytes = compressedAudio("flac");
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    const res = await uploadForAudioRedaction(key, bytes, "call.flac");
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    interceptFetch().on("POST", "https://api.openai.com/v1/audio/transcriptions", () => json(OPENAI_PHONE));
    await deliverJobs([id], tenantId);
    const row = (await jobRow(id))!;
    expect(row).toMatchObject({ status: "failed", error_code: "audio_redaction_failed", audio_key: null, text: null });
    expect((await env.BUCKET.list({ prefix: `audio/${tenantId}/` })).objects).toHaveLength(0);
    expect((await env.BUCKET.list({ prefix: `transcripts/${tenantId}/` })).objects).toHaveLength(0);
    const job = (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as { error: { code: string } };
    expect(job.error.code).toBe("audio_redaction_failed");
  });

  it("without a pool, MP4/AAC is refused at submit with 422 naming redact_pii_audio and the format; nothing is stored", async () => {
    const { key, tenantId } = await createTenant("pii-aac");
    const res = await uploadForAudioRedaction(key, compressedAudio("aac"), "call.m4a", "openai", { POOL_URL: "" });
    expect(res.status).toBe(422);
    const problem = (await res.json()) as {
      code: string;
      detail: string;
      errors: { field: string; message: string }[];
    };
    expect(problem.code).toBe("invalid_redact_pii_audio");
    expect(problem.detail).toContain("mp4");
    expect(problem.errors).toEqual([{ field: "redact_pii_audio", message: "unsupported for mp4 audio" }]);
    const rows = await env.DB.prepare("select count(*) as n from transcriptions where tenant_id = ?")
      .bind(tenantId)
      .first();
    expect(rows).toEqual({ n: 0 });
    expect((await env.BUCKET.list({ prefix: `audio/${tenantId}/` })).objects).toHaveLength(0);
  });
});
