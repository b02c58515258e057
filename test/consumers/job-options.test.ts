/**
 * The consumer honours a job's options (task, requested model, temperature, word timestamps): it hands them to the
 * provider, never lets a translate job reach or fail over to a provider that cannot translate, and fails such a job
 * with a stable code instead of storing an untranslated transcript.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { breakerFor } from "../../src/breaker/circuit-breaker.ts";
import { call, createTenant } from "../helpers/api.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import { jobRow, seedJob, seedTenant } from "../helpers/jobs.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";
import { deliverJobs } from "../helpers/queue.ts";
import { DEEPGRAM_RESPONSE, OPENAI_TRANSLATION_VERBOSE_JSON, OPENAI_VERBOSE_JSON } from "../providers/fixtures.ts";

async function formOf(request: { headers: Headers; body: Uint8Array }): Promise<FormData> {
  return new Request("http://x", {
    method: "POST",
    headers: { "content-type": request.headers.get("content-type")! },
    body: request.body,
  }).formData();
}

describe("job options in the consumer", () => {
  it("a translate job goes to OpenAI's translations route with the job's temperature, and is stored as English", async () => {
    const { tenantId, key } = await createTenant("translate");
    const id = await seedJob(tenantId, { task: "translate", language: "de", temperature: 0.3 });
    const outbound = interceptFetch().on("POST", "https://api.openai.com/v1/audio/translations", () =>
      json(OPENAI_TRANSLATION_VERBOSE_JSON),
    );
    const delivery = await deliverJobs([id], tenantId);
    expect(delivery.explicitAcks).toEqual(delivery.ids);
    expect(outbound.requests.map((r) => r.url.pathname)).toEqual(["/v1/audio/translations"]);
    const form = await formOf(outbound.requests[0]!);
    expect(form.get("temperature")).toBe("0.3");
    expect(form.get("language")).toBeNull();
    expect(await jobRow(id)).toMatchObject({
      status: "completed",
      provider: "openai",
      model: "whisper-1",
      language: "en",
    });
    const job = (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as Record<string, unknown>;
    expect(job).toMatchObject({ status: "completed", text: OPENAI_TRANSLATION_VERBOSE_JSON.text });
  });

  it("a transcription names its model and asks for words only when the job does", async () => {
    const tenantId = await seedTenant();
    const withWords = await seedJob(tenantId, { requestedModel: "whisper-1", wordTimestamps: true });
    const without = await seedJob(tenantId);
    const outbound = interceptFetch().on("POST", "https://api.openai.com/v1/audio/transcriptions", () =>
      json(OPENAI_VERBOSE_JSON),
    );
    await deliverJobs([withWords], tenantId);
    await deliverJobs([without], tenantId);
    const [first, second] = await Promise.all(outbound.requests.map(formOf));
    expect(first!.getAll("timestamp_granularities[]")).toEqual(["segment", "word"]);
    expect(second!.getAll("timestamp_granularities[]")).toEqual(["segment"]);
  });

  it("a translate job on a provider that cannot translate fails with translation_unsupported, nobody called", async () => {
    const tenantId = await seedTenant();
    const id = await seedJob(tenantId, { provider: "deepgram", task: "translate" });
    const outbound = interceptFetch();
    const delivery = await deliverJobs([id], tenantId);
    expect(delivery.explicitAcks).toEqual(delivery.ids);
    expect(outbound.requests).toHaveLength(0);
    expect(await jobRow(id)).toMatchObject({ status: "failed", error_code: "translation_unsupported" });
  });

  it("a job naming a model its provider does not offer fails with provider_model_unavailable", async () => {
    const tenantId = await seedTenant();
    const id = await seedJob(tenantId, { provider: "deepgram", requestedModel: "whisper-1" });
    const outbound = interceptFetch();
    await deliverJobs([id], tenantId);
    expect(outbound.requests).toHaveLength(0);
    expect(await jobRow(id)).toMatchObject({ status: "failed", error_code: "provider_model_unavailable" });
  });

  it("while OpenAI's breaker is open a translate job is parked, never failed over to Deepgram; a transcription is", async () => {
    const tenantId = await seedTenant();
    await breakerFor(env, "openai").force("openai", "open");
    try {
      const outbound = interceptFetch().on("POST", "https://api.deepgram.com/", () => json(DEEPGRAM_RESPONSE));
      const failover = { env: { FAILOVER_CHAIN: "openai,deepgram" } };
      const translation = await seedJob(tenantId, { task: "translate" });
      const parked = await deliverJobs([translation], tenantId, failover);
      expect(parked.retried).toEqual(parked.ids);
      expect(outbound.requests).toHaveLength(0);
      expect(await jobRow(translation)).toMatchObject({ status: "queued", delayed_reason: "provider_unavailable" });

      const transcription = await seedJob(tenantId);
      await deliverJobs([transcription], tenantId, failover);
      expect(await jobRow(transcription)).toMatchObject({ status: "completed", provider: "deepgram" });
      expect(outbound.requests).toHaveLength(1);
    } finally {
      await breakerFor(env, "openai").force("openai", "closed");
    }
  });

  it("a pool translate job is dispatched with its options; a result without the task (an older pool) fails it", async () => {
    const tenantId = await seedTenant();
    const id = await seedJob(tenantId, { provider: "whisper-pool", task: "translate", temperature: 0.2 });
    const outbound = interceptFetch().on("POST", "https://pool.test/v1/jobs", () => json({ status: "queued" }, 202));
    await deliverJobs([id], tenantId, { env: { POOL_MODELS: "large-v3-turbo" } });
    expect(JSON.parse(new TextDecoder().decode(outbound.requests[0]!.body))).toMatchObject({
      task: "translate",
      model: null,
      temperature: 0.2,
      word_timestamps: false,
    });
    expect((await poolCallback(completedCallback(id))).status).toBe(200);
    expect(await jobRow(id)).toMatchObject({ status: "failed", error_code: "translation_unsupported" });
  });

  it("a pool translate result that says it translated is stored", async () => {
    const tenantId = await seedTenant();
    const id = await seedJob(tenantId, { provider: "whisper-pool", task: "translate" });
    interceptFetch().on("POST", "https://pool.test/v1/jobs", () => json({ status: "queued" }, 202));
    await deliverJobs([id], tenantId, { env: { POOL_MODELS: "large-v3-turbo" } });
    expect((await poolCallback(completedCallback(id, { task: "translate" }))).status).toBe(200);
    expect(await jobRow(id)).toMatchObject({ status: "completed", language: "en" });
  });

  it("the pool's own refusal codes in a failed callback become the same stable codes", async () => {
    const tenantId = await seedTenant();
    const id = await seedJob(tenantId, { provider: "whisper-pool", task: "translate" });
    const failed = {
      job_id: id,
      status: "failed",
      error: { code: "translation_unsupported", message: "English-only model", retryable: false },
    };
    expect((await poolCallback(failed)).status).toBe(200);
    expect(await jobRow(id)).toMatchObject({ status: "failed", error_code: "translation_unsupported" });
  });
});
