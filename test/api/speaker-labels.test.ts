/**
 * Speaker labels through the API: the options on the native upload (stored on the job, routed to a provider that
 * can), Deepgram's diarized and multichannel answers (outbound fetch intercepted) stored as `A`, `B`, … with talk
 * times, the transcript formats (txt turns, SRT prefix, JSON fields), the webhook event, and jobs without the
 * options unchanged.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { call, createTenant, multipartUpload } from "../helpers/api.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import { jobRow, seedJob, seedTenant } from "../helpers/jobs.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";
import { deliverJobs } from "../helpers/queue.ts";
import { DEEPGRAM_RESPONSE } from "../providers/fixtures.ts";
import { DEEPGRAM_DIARIZED_RESPONSE, DEEPGRAM_MULTICHANNEL_RESPONSE } from "../providers/speaker-fixtures.ts";

type Job = Record<string, unknown> & { id: string };

async function jobOf(id: string, key: string): Promise<Job> {
  return (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as Job;
}

async function transcript(id: string, key: string, format: string): Promise<string> {
  const response = await call(`/v1/transcriptions/${id}/transcript?format=${format}`, { key });
  expect(response.status).toBe(200);
  return response.text();
}

describe("speaker labels on the native upload", () => {
  it("speaker_labels goes to the first provider that can diarize, is stored on the job and echoed", async () => {
    const { key } = await createTenant("speakers-upload");
    const response = await multipartUpload(key, { speaker_labels: "true", min_speakers: "2", max_speakers: "3" });
    expect(response.status).toBe(202);
    const job = (await response.json()) as Job;
    // PROVIDERS in tests is openai (whisper-1: cannot diarize), deepgram, whisper-pool
    expect(job).toMatchObject({
      provider: "deepgram",
      speaker_options: {
        speaker_labels: true,
        speakers_expected: null,
        min_speakers: 2,
        max_speakers: 3,
        multichannel: false,
      },
    });
    expect(await jobRow(job.id)).toMatchObject({
      speaker_labels: 1,
      min_speakers: 2,
      max_speakers: 3,
      multichannel: 0,
    });
  });

  it("a JSON submission by URL takes the options as JSON booleans and integers", async () => {
    const { key } = await createTenant("speakers-url");
    const response = await call("/v1/transcriptions", {
      method: "POST",
      key,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ audio_url: "https://media.example.com/call.wav", multichannel: true }),
    });
    expect(response.status).toBe(202);
    const job = (await response.json()) as Job;
    expect(job.speaker_options).toMatchObject({ multichannel: true, speaker_labels: false });
    expect(job.provider).toBe("deepgram");
  });

  it("a request with none of the options is as before: no speaker fields on the job", async () => {
    const { key } = await createTenant("speakers-none");
    const job = (await (await multipartUpload(key)).json()) as Job;
    expect(job.provider).toBe("openai");
    expect(job).not.toHaveProperty("speaker_options");
    expect(job).not.toHaveProperty("speakers");
  });

  it("names the field in the 422: min > max, expected with min, counts without speaker_labels", async () => {
    const { key } = await createTenant("speakers-invalid");
    const cases: [Record<string, string>, string][] = [
      [{ speaker_labels: "true", min_speakers: "3", max_speakers: "2" }, "min_speakers"],
      [{ speaker_labels: "true", speakers_expected: "2", max_speakers: "4" }, "speakers_expected"],
      [{ speakers_expected: "2" }, "speakers_expected"],
      [{ speaker_labels: "true", max_speakers: "99" }, "max_speakers"],
      [{ speaker_labels: "true", multichannel: "true" }, "multichannel"],
    ];
    for (const [fields, field] of cases) {
      const response = await multipartUpload(key, fields);
      expect(response.status).toBe(422);
      const problem = (await response.json()) as { errors: { field: string }[]; detail: string };
      expect(problem.errors[0]!.field).toBe(field);
      expect(problem.detail).toContain(field);
    }
  });
});

describe("a diarized job end to end (Deepgram)", () => {
  it("stores A, B by first appearance with talk times; txt turns, SRT prefix, JSON fields, webhook speakers", async () => {
    const { tenantId, key } = await createTenant("speakers-e2e");
    const id = await seedJob(tenantId, {
      provider: "deepgram",
      speakerLabels: true,
      webhookUrl: "https://hooks.example.com/speakers",
    });
    const outbound = interceptFetch().on("POST", "https://api.deepgram.com/v1/listen", () =>
      json(DEEPGRAM_DIARIZED_RESPONSE),
    );
    await deliverJobs([id], tenantId);
    expect(outbound.requests[0]!.url.searchParams.get("diarize")).toBe("true");
    const job = await jobOf(id, key);
    expect(job.status).toBe("completed");
    // Deepgram's speaker 1 speaks first: it is A
    expect((job.segments as { speaker: string }[]).map((s) => s.speaker)).toEqual(["A", "B"]);
    expect(job.speakers).toEqual([
      { label: "A", talk_time_seconds: 1.4 },
      { label: "B", talk_time_seconds: 1.8 },
    ]);

    expect(await transcript(id, key, "txt")).toBe("A: Hello, how can I help?\nB: My card was charged twice.\n");
    expect(await transcript(id, key, "srt")).toBe(
      "1\n00:00:00,100 --> 00:00:01,500\nA: Hello, how can I help?\n\n" +
        "2\n00:00:02,000 --> 00:00:03,800\nB: My card was charged twice.\n",
    );
    const doc = JSON.parse(await transcript(id, key, "json")) as {
      words: { speaker: string }[];
      speakers: unknown[];
    };
    expect(doc.words.map((w) => w.speaker)).toEqual(["A", "A", "A", "A", "A", "B", "B", "B", "B", "B"]);
    expect(doc.speakers).toEqual(job.speakers);

    const event = await env.DB.prepare("select payload from webhook_events where job_id = ?")
      .bind(id)
      .first<{ payload: string }>();
    expect(JSON.parse(event!.payload)).toMatchObject({
      type: "transcription.completed",
      data: { id, speakers: job.speakers },
    });
  });

  it("multichannel: the channels are the speakers, merged by time", async () => {
    const { tenantId, key } = await createTenant("speakers-channels");
    const id = await seedJob(tenantId, { provider: "deepgram", multichannel: true });
    interceptFetch().on("POST", "https://api.deepgram.com/v1/listen", () => json(DEEPGRAM_MULTICHANNEL_RESPONSE));
    await deliverJobs([id], tenantId);
    expect(await transcript(id, key, "txt")).toBe(
      "A: Hello, how can I help?\nB: My card was charged twice.\nA: Sure.\n",
    );
    expect((await jobOf(id, key)).speakers).toEqual([
      { label: "A", talk_time_seconds: 1.8 },
      { label: "B", talk_time_seconds: 1.8 },
    ]);
  });

  it("multichannel on the pool: accepted for it, its channels (ch0, ch1) stored as A, B by first appearance", async () => {
    const { key } = await createTenant("speakers-pool-channels");
    const response = await multipartUpload(key, { provider: "whisper-pool", multichannel: "true" });
    expect(response.status).toBe(202);
    const job = (await response.json()) as Job;
    expect(job).toMatchObject({ provider: "whisper-pool", speaker_options: { multichannel: true } });
    // the pool's merged channels (gpu-worker/src/batch/channels.ts): the caller on channel 1 speaks first
    const callback = completedCallback(job.id, {
      text: "Hello? Hi, how can I help? My card.",
      segments: [
        { start: 0.2, end: 1.5, text: "Hello?", speaker: "ch1" },
        { start: 1.6, end: 3.0, text: "Hi, how can I help?", speaker: "ch0" },
        { start: 3.2, end: 4.0, text: "My card.", speaker: "ch1" },
      ],
      words: [
        { start: 0.2, end: 1.5, word: "Hello?", speaker: "ch1" },
        { start: 1.6, end: 1.9, word: "Hi,", speaker: "ch0" },
      ],
      duration_seconds: 4,
    });
    expect((await poolCallback(callback)).status).toBe(200);
    expect(await transcript(job.id, key, "txt")).toBe("A: Hello?\nB: Hi, how can I help?\nA: My card.\n");
    const stored = await jobOf(job.id, key);
    expect(stored.status).toBe("completed");
    expect(stored.speakers).toEqual([
      { label: "A", talk_time_seconds: 2.1 },
      { label: "B", talk_time_seconds: 1.4 },
    ]);
    const doc = JSON.parse(await transcript(job.id, key, "json")) as { words: { speaker: string }[] };
    expect(doc.words.map((w) => w.speaker)).toEqual(["A", "B"]);
  });

  it("a job without speaker options keeps today's formats even when the vendor names a speaker", async () => {
    const { tenantId, key } = await createTenant("speakers-unchanged");
    const id = await seedJob(tenantId, { provider: "deepgram" });
    interceptFetch().on("POST", "https://api.deepgram.com/v1/listen", () => json(DEEPGRAM_RESPONSE));
    await deliverJobs([id], tenantId);
    expect(await transcript(id, key, "txt")).toBe(
      `${DEEPGRAM_RESPONSE.results.channels[0]!.alternatives[0]!.transcript}\n`,
    );
    expect(await transcript(id, key, "srt")).not.toMatch(/^\d: /m);
    const job = await jobOf(id, key);
    expect(job).not.toHaveProperty("speakers");
    expect(job).not.toHaveProperty("speaker_options");
  });

  it("a speaker job on a provider that cannot diarize fails with diarization_unsupported, nobody called", async () => {
    const tenantId = await seedTenant();
    const labels = await seedJob(tenantId, { provider: "openai", speakerLabels: true });
    // the edge splits only WAV for OpenAI: other audio cannot reach it as channels
    const mp3 = Uint8Array.from([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 0, 0xff, 0xfb, 0x90, 0x64]);
    const channels = await seedJob(tenantId, {
      provider: "openai",
      multichannel: true,
      audio: mp3,
      audioFormat: "mp3",
    });
    const outbound = interceptFetch();
    await deliverJobs([labels, channels], tenantId);
    expect(outbound.requests).toHaveLength(0);
    expect(await jobRow(labels)).toMatchObject({ status: "failed", error_code: "diarization_unsupported" });
    expect(await jobRow(channels)).toMatchObject({ status: "failed", error_code: "multichannel_unsupported" });
  });
});
