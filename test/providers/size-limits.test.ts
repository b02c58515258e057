/**
 * Provider size limits: routing knows each vendor's limit, a job over it goes to the next capable provider in
 * FAILOVER_CHAIN or fails at once with `audio_too_large_for_provider`, and no request ever reaches a vendor with audio
 * over its limit (outbound fetch intercepted: an unexpected call fails the test). Adapters stream the audio with a
 * Content-Length instead of reading it whole.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import type { Env } from "../../src/env.ts";
import {
  checkAudioSize,
  DEEPGRAM_MAX_AUDIO_BYTES,
  failoverCandidates,
  providerMaxAudioBytes,
  WORKERS_AI_MAX_AUDIO_BYTES,
} from "../../src/providers/capabilities.ts";
import { DeepgramTranscriptionService } from "../../src/providers/deepgram.ts";
import { OpenAITranscriptionService } from "../../src/providers/openai.ts";
import { ProviderError, type TranscriptionRequest } from "../../src/providers/types.ts";
import { WorkersAITranscriptionService } from "../../src/providers/workers-ai.ts";
import { callWith, createTenant } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import { jobRow, seedJob, seedTenant } from "../helpers/jobs.ts";
import { deliverJobs } from "../helpers/queue.ts";
import { DEEPGRAM_RESPONSE, OPENAI_VERBOSE_JSON, transcriptionRequest, WORKERS_AI_OUTPUT } from "./fixtures.ts";

const withVars = (vars: Partial<Record<keyof Env, string>>) => ({ ...env, ...vars }) as Env;
const WAV = makeWav(0.5);

const request = (overrides: Partial<TranscriptionRequest> = {}) => transcriptionRequest(WAV, overrides);

/** A stream that fails the test if anyone reads it: proof that over-limit audio is not even read. */
function untouchable(): { stream: ReadableStream<Uint8Array>; pulled: () => boolean; cancelled: () => boolean } {
  let pulled = false;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull() {
        pulled = true;
        throw new Error("the audio was read");
      },
      cancel() {
        cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulled: () => pulled, cancelled: () => cancelled };
}

async function rejection(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

describe("provider size limits (pure)", () => {
  it("knows each provider's limit: OpenAI 25 MB, Deepgram 2 GB, Workers AI 25 MiB, the pool its MAX_AUDIO_BYTES", () => {
    expect(providerMaxAudioBytes(env, "openai")).toBe(25 * 1024 * 1024);
    expect(providerMaxAudioBytes(env, "deepgram")).toBe(2_000_000_000);
    expect(providerMaxAudioBytes(env, "workers-ai")).toBe(25 * 1024 * 1024);
    expect(providerMaxAudioBytes(env, "whisper-pool")).toBe(500 * 1024 * 1024);
    const tuned = withVars({ OPENAI_MAX_AUDIO_BYTES: "1000", POOL_MAX_AUDIO_BYTES: "5368709120" });
    expect(providerMaxAudioBytes(tuned, "openai")).toBe(1000);
    expect(providerMaxAudioBytes(tuned, "whisper-pool")).toBe(5 * 1024 ** 3);
    expect(providerMaxAudioBytes(env, "nobody")).toBeNull();
  });

  it("refuses a size over the limit naming the limit; an unknown size (audio_url not yet fetched) is no refusal", () => {
    expect(checkAudioSize(env, "openai", 25 * 1024 * 1024)).toBeNull();
    expect(checkAudioSize(env, "openai", 25 * 1024 * 1024 + 1)).toEqual({
      code: "audio_too_large_for_provider",
      message: `the audio (26214401 bytes) is over provider openai's limit of 26214400 bytes`,
    });
    expect(checkAudioSize(env, "openai", null)).toBeNull();
    expect(checkAudioSize(env, "deepgram", 90 * 1024 * 1024)).toBeNull();
  });

  it("routes a job over its provider's limit to the next provider in FAILOVER_CHAIN that can take it, else nowhere", () => {
    const vars = withVars({ FAILOVER_CHAIN: "openai,workers-ai,deepgram", PROVIDERS: "openai,workers-ai,deepgram" });
    const job = (bytes: number | null) => ({ task: "transcribe" as const, model: null, bytes });
    expect(failoverCandidates(vars, "openai", job(1000))).toEqual(["openai", "workers-ai", "deepgram"]);
    // 90 MB: over OpenAI's and Workers AI's limits, within Deepgram's
    expect(failoverCandidates(vars, "openai", job(90 * 1024 * 1024))).toEqual(["deepgram"]);
    expect(failoverCandidates(vars, "openai", job(DEEPGRAM_MAX_AUDIO_BYTES + 1))).toEqual([]);
    // a provider outside the chain never fails over
    expect(failoverCandidates(withVars({ FAILOVER_CHAIN: "" }), "openai", job(90 * 1024 * 1024))).toEqual([]);
    expect(failoverCandidates(vars, "openai", job(null))).toEqual(["openai", "workers-ai", "deepgram"]);
  });
});

describe("adapters never send audio over the vendor's limit, and stream what they send", () => {
  it("openai: over OPENAI_MAX_AUDIO_BYTES is refused unread and unsent", async () => {
    const outbound = interceptFetch();
    const audio = untouchable();
    const error = await rejection(
      new OpenAITranscriptionService(env).transcribe(request({ audio: audio.stream, bytes: 25 * 1024 * 1024 + 1 })),
    );
    expect({ code: error.code, retryable: error.retryable }).toEqual({
      code: "audio_too_large_for_provider",
      retryable: false,
    });
    expect(error.message).toContain("26214400 bytes");
    expect(audio.pulled()).toBe(false);
    expect(audio.cancelled()).toBe(true);
    expect(outbound.requests).toHaveLength(0);
  });

  // (the Content-Length that FixedLengthStream gives is set by workerd's fetch below the intercepted Request: the
  // bench's loopback upstreams see it; here the stream's own length check is proved by the test after this one)
  it("openai: the multipart body streams and carries every field and the file intact", async () => {
    const outbound = interceptFetch().on("POST", "https://api.openai.com/v1/audio/transcriptions", () =>
      json(OPENAI_VERBOSE_JSON),
    );
    await new OpenAITranscriptionService(env).transcribe(request({ prompt: 'say "hi"\r\nplease' }));
    const sent = outbound.requests[0]!;
    const form = await new Request("http://x", {
      method: "POST",
      headers: { "content-type": sent.headers.get("content-type")! },
      body: sent.body,
    }).formData();
    expect(form.get("prompt")).toBe('say "hi"\r\nplease');
    expect(new Uint8Array(await (form.get("file") as File).arrayBuffer())).toEqual(WAV);
  });

  it("openai: audio shorter than its declared size fails the request instead of sending a truncated file", async () => {
    const outbound = interceptFetch().on("POST", "https://api.openai.com/", () => json(OPENAI_VERBOSE_JSON));
    const error = await rejection(
      new OpenAITranscriptionService(env).transcribe(request({ bytes: WAV.byteLength + 10 })),
    );
    expect(error.retryable).toBe(true);
    // the body errored before a complete request existed: the vendor saw no valid upload
    expect(outbound.requests.every((r) => r.body.byteLength === 0)).toBe(true);
  });

  it("deepgram: streams the audio as it is; over 2 GB is refused unread and unsent", async () => {
    const outbound = interceptFetch().on("POST", "https://api.deepgram.com/v1/listen", () => json(DEEPGRAM_RESPONSE));
    await new DeepgramTranscriptionService(env).transcribe(request());
    expect(outbound.requests[0]!.body).toEqual(WAV);
    const audio = untouchable();
    const error = await rejection(
      new DeepgramTranscriptionService(env).transcribe(
        request({ audio: audio.stream, bytes: DEEPGRAM_MAX_AUDIO_BYTES + 1 }),
      ),
    );
    expect(error.code).toBe("audio_too_large_for_provider");
    expect(audio.pulled()).toBe(false);
    expect(outbound.requests).toHaveLength(1);
  });

  it("workers-ai: base64 encoded as the stream arrives (odd chunk sizes); over its limit never reaches the binding", async () => {
    const calls: Record<string, unknown>[] = [];
    const ai = {
      run: async (_model: string, input: Record<string, unknown>) => (calls.push(input), WORKERS_AI_OUTPUT),
    };
    const aiEnv = { ...env, AI: ai as unknown as Ai } as Env;
    // chunks of 1, 2, 4, 7 … bytes: every carry-over case of the 3-byte groups
    const sizes = [1, 2, 4, 7, 5, 3, 1000, 11];
    let offset = 0;
    const chunked = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= WAV.byteLength) return controller.close();
        const size = sizes[offset % sizes.length]!;
        controller.enqueue(WAV.slice(offset, offset + size));
        offset += size;
      },
    });
    await new WorkersAITranscriptionService(aiEnv).transcribe(request({ audio: chunked }));
    expect(calls[0]!.audio).toBe(btoa(String.fromCharCode(...WAV)));

    const audio = untouchable();
    const error = await rejection(
      new WorkersAITranscriptionService(aiEnv).transcribe(
        request({ audio: audio.stream, bytes: WORKERS_AI_MAX_AUDIO_BYTES + 1 }),
      ),
    );
    expect(error.code).toBe("audio_too_large_for_provider");
    expect(audio.pulled()).toBe(false);
    expect(calls).toHaveLength(1);
  });
});

describe("the consumer routes by size", () => {
  // the seeded WAV is 16 044 bytes; OPENAI_MAX_AUDIO_BYTES below it makes it "too large" for OpenAI
  const small = { OPENAI_MAX_AUDIO_BYTES: "10000" };

  it("sends a job over OpenAI's limit to the next capable provider in the chain; OpenAI never sees it", async () => {
    const tenantId = await seedTenant();
    const id = await seedJob(tenantId);
    const outbound = interceptFetch().on("POST", "https://api.deepgram.com/", () => json(DEEPGRAM_RESPONSE));
    const delivery = await deliverJobs([id], tenantId, { env: { ...small, FAILOVER_CHAIN: "openai,deepgram" } });
    expect(delivery.explicitAcks).toEqual(delivery.ids);
    expect(await jobRow(id)).toMatchObject({ status: "completed", provider: "deepgram" });
    expect(outbound.requests.map((r) => r.url.hostname)).toEqual(["api.deepgram.com"]);
  });

  it("fails a job no provider can take at once with audio_too_large_for_provider naming the limit, calling nobody", async () => {
    const tenantId = await seedTenant();
    const id = await seedJob(tenantId);
    const outbound = interceptFetch();
    const delivery = await deliverJobs([id], tenantId, { env: small });
    expect(delivery.explicitAcks).toEqual(delivery.ids);
    expect(delivery.retried).toEqual([]);
    const row = await jobRow(id);
    expect(row).toMatchObject({ status: "failed", error_code: "audio_too_large_for_provider" });
    expect(String(row!.error_message)).toContain("limit of 10000 bytes");
    expect(outbound.requests).toHaveLength(0);
  });
});

describe("submitting audio no provider can take", () => {
  it("answers 422 audio_too_large_for_provider and keeps nothing; with a capable failover the job is accepted", async () => {
    const { key, tenantId } = await createTenant("size-limits");
    const upload = (vars: Record<string, string>, provider = "openai") =>
      callWith(vars as Partial<Env>, `/v1/transcriptions?provider=${provider}`, {
        method: "POST",
        key,
        headers: { "content-type": "audio/wav" },
        body: WAV,
      });
    const refused = await upload({ OPENAI_MAX_AUDIO_BYTES: "10000" });
    expect(refused.status).toBe(422);
    expect(refused.headers.get("content-type")).toContain("application/problem+json");
    const problem = (await refused.json()) as { code: string; detail: string };
    expect(problem.code).toBe("audio_too_large_for_provider");
    expect(problem.detail).toContain("limit of 10000 bytes");
    expect((await env.BUCKET.list({ prefix: `audio/${tenantId}/` })).objects).toHaveLength(0);

    const accepted = await upload({ OPENAI_MAX_AUDIO_BYTES: "10000", FAILOVER_CHAIN: "openai,deepgram" });
    expect(accepted.status).toBe(202);
  });

  it("answers the OpenAI-compatible route in OpenAI's error shape", async () => {
    const { key } = await createTenant("size-limits-openai");
    const form = new FormData();
    form.append("file", new File([WAV], "a.wav", { type: "audio/wav" }));
    form.append("model", "whisper-1");
    form.append("response_format", "json");
    const refused = await callWith({ OPENAI_MAX_AUDIO_BYTES: "10000" } as Partial<Env>, "/v1/audio/transcriptions", {
      method: "POST",
      key,
      body: form,
    });
    // OpenAI's status for an invalid request (our 422 is its 400), our stable code, the file as the culprit
    expect(refused.status).toBe(400);
    const body = (await refused.json()) as { error: { code: string; message: string; param: string } };
    expect(body.error).toMatchObject({
      code: "audio_too_large_for_provider",
      param: "file",
      type: "invalid_request_error",
    });
    expect(body.error.message).toContain("limit of 10000 bytes");
  });
});
