/**
 * Multichannel jobs on providers that take one channel at a time (OpenAI, Workers AI): the consumer splits the stored
 * (sealed) stereo WAV into one mono WAV per channel, streaming, and sends each as its own request (outbound fetch
 * intercepted; the AI binding replaced by a recorder). Each request carries a valid mono WAV of the right length and
 * content; the stored transcript is merged by time with the channel as the speaker (A, B by first appearance) and the
 * text formats show it. Mono audio gives one speaker, non-WAV audio fails `multichannel_unsupported` naming the
 * container, a failing channel fails (or retries) the whole job, and each channel — not the file — meets the size
 * limit. At submit, the sniffed container routes a multichannel upload naming no provider.
 */
import { describe, expect, it } from "vitest";

import { parseWavHeader } from "../../src/domain/riff.ts";
import type { Env } from "../../src/env.ts";
import { call, callWith, createTenant, multipartUpload } from "../helpers/api.ts";
import { channelsWav, toneSamples } from "../helpers/audio.ts";
import { interceptFetch, json, type RecordedRequest } from "../helpers/fetch-interceptor.ts";
import { jobRow, seedJob, seedTenant } from "../helpers/jobs.ts";
import { deliverJobs } from "../helpers/queue.ts";

const SECONDS = 1;
/** Channel 0 (the agent): a 440 Hz tone throughout. */
const LEFT = toneSamples({ seconds: SECONDS, frequency: 440 });
/** Channel 1 (the caller): silent for the first half, then a 1 kHz tone. */
const RIGHT = toneSamples({ seconds: SECONDS, frequency: 1000, amplitude: 0.5 });
RIGHT.fill(0, 0, RIGHT.length / 2);
const STEREO = channelsWav([LEFT, RIGHT]);
const MONO_LEFT = channelsWav([LEFT]);
const MONO_RIGHT = channelsWav([RIGHT]);

/** What OpenAI (whisper-1, verbose_json) says for each channel's audio. */
const AGENT = {
  task: "transcribe",
  language: "english",
  duration: SECONDS,
  text: "Hello, how can I help? Sure.",
  segments: [
    { id: 0, start: 0.0, end: 0.4, text: " Hello, how can I help?", avg_logprob: -0.2, no_speech_prob: 0.01 },
    { id: 1, start: 0.8, end: 1.0, text: " Sure.", avg_logprob: -0.3, no_speech_prob: 0.02 },
  ],
};
const CALLER = {
  task: "transcribe",
  language: "english",
  duration: SECONDS,
  text: "My card was charged twice.",
  segments: [{ id: 0, start: 0.5, end: 0.75, text: " My card was charged twice.", avg_logprob: -0.1 }],
};

const equalBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The file part of an intercepted OpenAI request, and the form's fields. */
async function openAIUpload(request: RecordedRequest): Promise<{ file: Uint8Array; name: string; form: FormData }> {
  const form = await new Request("http://x", {
    method: "POST",
    headers: { "content-type": request.headers.get("content-type")! },
    body: request.body,
  }).formData();
  const file = form.get("file") as File;
  return { file: new Uint8Array(await file.arrayBuffer()), name: file.name, form };
}

/** A valid mono 16-bit WAV at the source's rate whose sizes match its length. */
function expectMonoWav(file: Uint8Array) {
  const header = parseWavHeader(file)!;
  expect(header.fmt).toMatchObject({ formatTag: 1, channels: 1, sampleRate: 16_000, bitsPerSample: 16, blockAlign: 2 });
  expect(header.data).toEqual({ offset: 44, size: SECONDS * 16_000 * 2 });
  expect(new DataView(file.buffer, file.byteOffset).getUint32(4, true)).toBe(file.length - 8);
}

/** Answers each channel by what its audio is, so the test never depends on the order of the calls. */
function openAIByChannel(status: (channel: 0 | 1) => number = () => 200) {
  return interceptFetch().on("POST", "https://api.openai.com/v1/audio/transcriptions", async (request) => {
    const { file } = await openAIUpload(request);
    const channel = equalBytes(file, MONO_LEFT) ? 0 : equalBytes(file, MONO_RIGHT) ? 1 : null;
    if (channel === null) return json({ error: { message: "unexpected audio" } }, 400);
    const code = status(channel);
    if (code !== 200) return json({ error: { message: "trouble", type: "server_error" } }, code);
    return json(channel === 0 ? AGENT : CALLER);
  });
}

async function jobOf(id: string, key: string): Promise<Record<string, unknown>> {
  return (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as Record<string, unknown>;
}

async function transcript(id: string, key: string, format: string): Promise<string> {
  const response = await call(`/v1/transcriptions/${id}/transcript?format=${format}`, { key });
  expect(response.status).toBe(200);
  return response.text();
}

describe("multichannel split at the edge: OpenAI", () => {
  it("sends each channel as its own mono WAV and stores the merged transcript with the channels as speakers", async () => {
    const { tenantId, key } = await createTenant("channels-openai");
    const id = await seedJob(tenantId, { provider: "openai", multichannel: true, audio: STEREO });
    const outbound = openAIByChannel();
    const delivery = await deliverJobs([id], tenantId);
    expect(delivery.explicitAcks).toEqual(delivery.ids);

    expect(outbound.requests).toHaveLength(2);
    const uploads = await Promise.all(outbound.requests.map(openAIUpload));
    for (const upload of uploads) {
      expectMonoWav(upload.file);
      expect(upload.name).toBe(`${id}.wav`);
      expect(upload.form.get("model")).toBe("whisper-1");
      // each channel is a plain transcription: no speaker options reach OpenAI
      expect(upload.form.get("response_format")).toBe("verbose_json");
    }
    // channel 0 first, then channel 1, each exactly the mono encoding of its own signal
    expect(equalBytes(uploads[0]!.file, MONO_LEFT)).toBe(true);
    expect(equalBytes(uploads[1]!.file, MONO_RIGHT)).toBe(true);

    const job = await jobOf(id, key);
    expect(job).toMatchObject({ status: "completed", provider: "openai", language: "en", duration_seconds: SECONDS });
    expect(
      (job.segments as { start: number; text: string; speaker: string }[]).map((s) => [s.start, s.text, s.speaker]),
    ).toEqual([
      [0.0, "Hello, how can I help?", "A"],
      [0.5, "My card was charged twice.", "B"],
      [0.8, "Sure.", "A"],
    ]);
    expect(job.text).toBe("Hello, how can I help? My card was charged twice. Sure.");
    expect(job.speakers).toEqual([
      { label: "A", talk_time_seconds: 0.6 },
      { label: "B", talk_time_seconds: 0.25 },
    ]);

    expect(await transcript(id, key, "txt")).toBe(
      "A: Hello, how can I help?\nB: My card was charged twice.\nA: Sure.\n",
    );
    expect(await transcript(id, key, "srt")).toBe(
      "1\n00:00:00,000 --> 00:00:00,400\nA: Hello, how can I help?\n\n" +
        "2\n00:00:00,500 --> 00:00:00,750\nB: My card was charged twice.\n\n" +
        "3\n00:00:00,800 --> 00:00:01,000\nA: Sure.\n",
    );
    const vtt = await transcript(id, key, "vtt");
    expect(vtt).toContain("00:00:00.000 --> 00:00:00.400\n<v A>Hello, how can I help?");
    expect(vtt).toContain("00:00:00.500 --> 00:00:00.750\n<v B>My card was charged twice.");
    expect(vtt).toContain("00:00:00.800 --> 00:00:01.000\n<v A>Sure.");
  });

  it("mono audio with multichannel: one request, one speaker", async () => {
    const { tenantId, key } = await createTenant("channels-mono");
    const id = await seedJob(tenantId, { provider: "openai", multichannel: true, audio: MONO_LEFT });
    const outbound = openAIByChannel();
    await deliverJobs([id], tenantId);
    expect(outbound.requests).toHaveLength(1);
    expect(equalBytes((await openAIUpload(outbound.requests[0]!)).file, MONO_LEFT)).toBe(true);
    const job = await jobOf(id, key);
    expect(job.status).toBe("completed");
    expect(new Set((job.segments as { speaker: string }[]).map((s) => s.speaker))).toEqual(new Set(["A"]));
    expect(job.speakers).toEqual([{ label: "A", talk_time_seconds: 0.6 }]);
  });

  it("non-WAV audio fails multichannel_unsupported naming the container; nobody is called", async () => {
    const tenantId = await seedTenant();
    const mp3 = Uint8Array.from([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 0, 0xff, 0xfb, 0x90, 0x64, 0, 0, 0, 0]);
    const id = await seedJob(tenantId, { provider: "openai", multichannel: true, audio: mp3, audioFormat: "mp3" });
    const outbound = interceptFetch();
    const delivery = await deliverJobs([id], tenantId);
    expect(delivery.explicitAcks).toEqual(delivery.ids);
    expect(outbound.requests).toHaveLength(0);
    const row = await jobRow(id);
    expect(row).toMatchObject({ status: "failed", error_code: "multichannel_unsupported" });
    expect(row!.error_message).toMatch(/splits channels of PCM WAV only: this audio is mp3/);
  });

  it("a WAV whose samples cannot be split (µ-law) fails multichannel_unsupported naming the format", async () => {
    const tenantId = await seedTenant();
    const mulaw = STEREO.slice();
    const view = new DataView(mulaw.buffer);
    view.setUint16(20, 7, true);
    view.setUint16(34, 8, true);
    view.setUint16(32, 2, true);
    const id = await seedJob(tenantId, { provider: "openai", multichannel: true, audio: mulaw });
    const outbound = interceptFetch();
    await deliverJobs([id], tenantId);
    expect(outbound.requests).toHaveLength(0);
    const row = await jobRow(id);
    expect(row).toMatchObject({ status: "failed", error_code: "multichannel_unsupported" });
    expect(row!.error_message).toMatch(/WAV format 7 with 8-bit samples cannot be split/);
  });

  it("a retryable failure on one channel retries the whole job; a permanent one fails it with OpenAI's code", async () => {
    const tenantId = await seedTenant();
    const id = await seedJob(tenantId, { provider: "openai", multichannel: true, audio: STEREO });
    openAIByChannel((channel) => (channel === 1 ? 503 : 200));
    const retried = await deliverJobs([id], tenantId);
    expect(retried.retried).toEqual(retried.ids);
    expect(await jobRow(id)).toMatchObject({ status: "processing", text: null, transcript_key: null });

    openAIByChannel((channel) => (channel === 1 ? 400 : 200));
    const failed = await deliverJobs([id], tenantId, { attempts: 2 });
    expect(failed.explicitAcks).toEqual(failed.ids);
    const row = await jobRow(id);
    expect(row).toMatchObject({ status: "failed", error_code: "provider_bad_request", transcript_key: null });
    expect(row!.error_message).toMatch(/^channel 1: /);
  });

  it("each channel meets OpenAI's size limit, not the whole file: stereo over the limit passes, mono over it does not", async () => {
    // 64 044 bytes of stereo make two mono WAVs of 32 044 bytes; the limit sits between them
    const limit = { OPENAI_MAX_AUDIO_BYTES: "40000" };
    expect(STEREO.length).toBeGreaterThan(40_000);
    expect(MONO_LEFT.length).toBeLessThan(40_000);
    const tenantId = await seedTenant();
    const stereo = await seedJob(tenantId, { provider: "openai", multichannel: true, audio: STEREO });
    const outbound = openAIByChannel();
    await deliverJobs([stereo], tenantId, { env: limit });
    expect(outbound.requests).toHaveLength(2);
    expect(await jobRow(stereo)).toMatchObject({ status: "completed" });

    const wide = channelsWav([toneSamples({ seconds: 1.5 })]);
    const mono = await seedJob(tenantId, { provider: "openai", multichannel: true, audio: wide });
    await deliverJobs([mono], tenantId, { env: limit });
    expect(outbound.requests).toHaveLength(2);
    expect(await jobRow(mono)).toMatchObject({ status: "failed", error_code: "audio_too_large_for_provider" });
  });
});

describe("multichannel audio by URL (container known only once fetched)", () => {
  async function submitByUrl(key: string, url: string): Promise<string> {
    const response = await call("/v1/transcriptions", {
      method: "POST",
      key,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ audio_url: url, multichannel: true, provider: "openai" }),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  }

  it("a fetched stereo WAV is split like an upload; a fetched MP3 fails multichannel_unsupported before any call", async () => {
    const { tenantId, key } = await createTenant("channels-url");
    const wavId = await submitByUrl(key, "https://media.example.com/call.wav");
    const mp3Id = await submitByUrl(key, "https://media.example.com/call.mp3");
    const mp3 = new Uint8Array(4096);
    mp3.set([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 0, 0xff, 0xfb, 0x90, 0x64]);
    const outbound = openAIByChannel()
      .on("GET", "https://media.example.com/call.wav", () => new Response(STEREO))
      .on("GET", "https://media.example.com/call.mp3", () => new Response(mp3));
    await deliverJobs([wavId], tenantId);
    expect(outbound.requests.filter((r) => r.url.hostname === "api.openai.com")).toHaveLength(2);
    expect(await jobRow(wavId)).toMatchObject({ status: "completed", audio_format: "wav" });
    expect(((await jobOf(wavId, key)).segments as { speaker: string }[]).map((s) => s.speaker)).toEqual([
      "A",
      "B",
      "A",
    ]);

    await deliverJobs([mp3Id], tenantId);
    expect(outbound.requests.filter((r) => r.url.hostname === "api.openai.com")).toHaveLength(2);
    const row = await jobRow(mp3Id);
    expect(row).toMatchObject({ status: "failed", error_code: "multichannel_unsupported", audio_format: "mp3" });
    expect(row!.error_message).toMatch(/this audio is mp3/);
  });
});

describe("multichannel split at the edge: Workers AI", () => {
  it("runs the model once per channel with that channel's mono WAV and merges the answers by time", async () => {
    const { tenantId, key } = await createTenant("channels-workers-ai");
    const calls: Uint8Array[] = [];
    const ai = {
      run: async (_model: string, input: { audio: string }) => {
        const wav = Uint8Array.from(atob(input.audio), (c) => c.charCodeAt(0));
        calls.push(wav);
        const agent = equalBytes(wav, MONO_LEFT);
        return {
          text: agent ? "Hello." : "Hi there.",
          transcription_info: { language: "en", language_probability: 0.9, duration: SECONDS },
          segments: agent
            ? [{ start: 0.1, end: 0.3, text: "Hello.", words: [{ word: "Hello.", start: 0.1, end: 0.3 }] }]
            : [{ start: 0.6, end: 0.9, text: "Hi there.", words: [{ word: "Hi", start: 0.6, end: 0.7 }] }],
        };
      },
    };
    const id = await seedJob(tenantId, { provider: "workers-ai", multichannel: true, audio: STEREO });
    const delivery = await deliverJobs([id], tenantId, {
      env: { PROVIDERS: "workers-ai,openai", AI: ai as unknown as Ai } as Partial<Env>,
    });
    expect(delivery.explicitAcks).toEqual(delivery.ids);
    expect(calls).toHaveLength(2);
    for (const wav of calls) expectMonoWav(wav);
    expect(equalBytes(calls[0]!, MONO_LEFT) && equalBytes(calls[1]!, MONO_RIGHT)).toBe(true);

    const job = await jobOf(id, key);
    expect(job).toMatchObject({ status: "completed", provider: "workers-ai", text: "Hello. Hi there." });
    expect((job.segments as { text: string; speaker: string }[]).map((s) => [s.text, s.speaker])).toEqual([
      ["Hello.", "A"],
      ["Hi there.", "B"],
    ]);
    const doc = JSON.parse(await transcript(id, key, "json")) as { words: { word: string; speaker: string }[] };
    expect(doc.words.map((w) => [w.word, w.speaker])).toEqual([
      ["Hello.", "A"],
      ["Hi", "B"],
    ]);
  });
});

describe("multichannel routing at submit", () => {
  it("a multichannel WAV naming no provider stays on the default provider (the edge splits it); non-WAV goes to Deepgram", async () => {
    const { key } = await createTenant("channels-submit");
    // PROVIDERS in tests: openai, deepgram, whisper-pool
    const wav = await multipartUpload(key, { multichannel: "true" }, STEREO);
    expect(wav.status).toBe(202);
    expect(((await wav.json()) as { provider: string }).provider).toBe("openai");

    const flac = new Uint8Array(64);
    flac.set([0x66, 0x4c, 0x61, 0x43, 0x00, 0x00, 0x00, 0x22]);
    const other = await multipartUpload(key, { multichannel: "true" }, flac, "call.flac");
    expect(other.status).toBe(202);
    expect(((await other.json()) as { provider: string }).provider).toBe("deepgram");

    // a provider named explicitly is kept: the job then fails in the consumer, naming the container
    const named = await multipartUpload(key, { multichannel: "true", provider: "openai" }, flac, "call.flac");
    expect(((await named.json()) as { provider: string }).provider).toBe("openai");
  });

  it("judges each channel against the size limit: a stereo WAV over OpenAI's limit is accepted, mono over it is not", async () => {
    const { key } = await createTenant("channels-submit-size");
    const limit = { OPENAI_MAX_AUDIO_BYTES: "40000", FAILOVER_CHAIN: "" } as Partial<Env>;
    const upload = (file: Uint8Array<ArrayBuffer>) => {
      const form = new FormData();
      form.append("multichannel", "true");
      form.append("provider", "openai");
      form.append("file", new Blob([file], { type: "audio/wav" }), "call.wav");
      return callWith(limit, "/v1/transcriptions", { method: "POST", key, body: form });
    };
    expect((await upload(STEREO)).status).toBe(202);
    const refused = await upload(channelsWav([toneSamples({ seconds: 1.5 })]));
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as { code: string }).code).toBe("audio_too_large_for_provider");
  });
});
