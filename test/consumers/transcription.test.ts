import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { breakerFor } from "../../src/breaker/circuit-breaker.ts";
import type { BreakerState } from "../../src/breaker/policy.ts";
import type { Env } from "../../src/env.ts";
import { retryPolicyFromSettings } from "../../src/jobs/retry-policy.ts";
import { createDb } from "../../src/storage/db.ts";
import { call, createTenant } from "../helpers/api.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import { jobRow, seedJob, seedTenant } from "../helpers/jobs.ts";
import { deliver, deliverJobs, QUEUES } from "../helpers/queue.ts";
import { DEEPGRAM_RESPONSE, OPENAI_VERBOSE_JSON } from "../providers/fixtures.ts";

const openai = () => interceptFetch();

describe("transcription consumer", () => {
  it("completes a job: provider called once, transcript in R2, row completed, visible through the API", async () => {
    const { tenantId, key } = await createTenant("consumer");
    const id = await seedJob(tenantId);
    const outbound = openai().on("POST", "https://api.openai.com/v1/audio/transcriptions", () =>
      json(OPENAI_VERBOSE_JSON),
    );
    const delivery = await deliverJobs([id], tenantId);
    expect(delivery.explicitAcks).toEqual(delivery.ids);
    expect(outbound.requests).toHaveLength(1);
    expect(await jobRow(id)).toMatchObject({
      status: "completed",
      provider: "openai",
      model: "whisper-1",
      language: "en",
      attempts: 1,
      segment_count: 2,
    });
    const job = (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as Record<string, unknown>;
    expect(job).toMatchObject({ status: "completed", text: OPENAI_VERBOSE_JSON.text, duration_seconds: 11 });
    expect(job.started_at).toEqual(expect.any(String));

    // a redelivery of the terminal job is acknowledged and ignored
    const again = await deliverJobs([id], tenantId, { attempts: 2 });
    expect(again.explicitAcks).toEqual(again.ids);
    expect(outbound.requests).toHaveLength(1);
  });

  it("duplicate deliveries in one batch store exactly one result and one webhook event", async () => {
    const tenantId = await seedTenant();
    const id = await seedJob(tenantId, { webhookUrl: "https://hooks.example.com/x" });
    openai().on("POST", "https://api.openai.com/", () => json(OPENAI_VERBOSE_JSON));
    await deliverJobs([id, id, id], tenantId);
    expect(await jobRow(id)).toMatchObject({ status: "completed" });
    const objects = await env.BUCKET.list({ prefix: `transcripts/${tenantId}/${id}/` });
    expect(objects.objects).toHaveLength(1);
    const events = await env.DB.prepare("select id from webhook_events where job_id = ?").bind(id).all();
    expect(events.results).toHaveLength(1);
  });

  it("retries a 5xx with backoff, honours Retry-After on 429, and fails a 4xx at once", async () => {
    const tenantId = await seedTenant();
    const flaky = await seedJob(tenantId);
    openai().on("POST", "https://api.openai.com/", () => json({ error: { message: "overloaded" } }, 503));
    const r1 = await deliverJobs([flaky], tenantId);
    expect(r1.retried).toEqual(r1.ids);
    // full jitter on the first attempt: within [0, the policy's base delay]
    expect(r1.retryDelays.get(r1.ids[0]!)).toBeLessThanOrEqual(retryPolicyFromSettings(env as Env).baseSeconds);
    expect(await jobRow(flaky)).toMatchObject({ status: "processing", attempts: 1 });

    const limited = await seedJob(tenantId);
    openai().on("POST", "https://api.openai.com/", () =>
      json({ error: { message: "slow down" } }, 429, { "retry-after": "42" }),
    );
    const r2 = await deliverJobs([limited], tenantId);
    // (the delay itself is the pure policy's: Retry-After is a floor, see test/jobs/retry-policy.test.ts)
    expect(r2.retried).toEqual(r2.ids);
    expect(r2.retryDelays.get(r2.ids[0]!)).toBeGreaterThanOrEqual(42);

    const bad = await seedJob(tenantId);
    openai().on("POST", "https://api.openai.com/", () => json({ error: { message: "Invalid file format." } }, 400));
    const r3 = await deliverJobs([bad], tenantId);
    expect(r3.explicitAcks).toEqual(r3.ids);
    expect(await jobRow(bad)).toMatchObject({ status: "failed", error_code: "provider_bad_request" });
  });

  it("acknowledges messages for deleted jobs and malformed messages without calling anyone", async () => {
    const tenantId = await seedTenant();
    const outbound = openai();
    const deleted = await deliverJobs(["tr_01ZZZZZZZZZZZZZZZZZZZZZZZZ"], tenantId);
    expect(deleted.explicitAcks).toEqual(deleted.ids);
    const malformed = await deliver(QUEUES.jobs, [{ id: "bad", body: "garbage" }]);
    expect(malformed.explicitAcks).toEqual(["bad"]);
    expect(outbound.requests).toHaveLength(0);
  });

  it("fails a job whose audio vanished with audio_missing", async () => {
    const tenantId = await seedTenant();
    const id = await seedJob(tenantId, { audio: null });
    openai();
    await deliverJobs([id], tenantId);
    expect(await jobRow(id)).toMatchObject({ status: "failed", error_code: "audio_missing" });
  });

  it("dispatches pool jobs once: processing with dispatched_at, redelivery ignored", async () => {
    const tenantId = await seedTenant();
    const id = await seedJob(tenantId, { provider: "whisper-pool" });
    const outbound = interceptFetch().on("POST", "https://pool.test/v1/jobs", () => json({ status: "queued" }, 202));
    await deliverJobs([id], tenantId);
    const row = await jobRow(id);
    expect(row).toMatchObject({ status: "processing" });
    expect(row!.dispatched_at).toEqual(expect.any(Number));
    await deliverJobs([id], tenantId, { attempts: 2 });
    expect(outbound.requests).toHaveLength(1);
  });

  it("pool unreachable: nothing is lost, the message is retried", async () => {
    const tenantId = await seedTenant();
    const id = await seedJob(tenantId, { provider: "whisper-pool" });
    interceptFetch().on("POST", "https://pool.test/", () => {
      throw new TypeError("connect ECONNREFUSED");
    });
    const delivery = await deliverJobs([id], tenantId);
    expect(delivery.retried).toEqual(delivery.ids);
    expect(await jobRow(id)).toMatchObject({ status: "processing", dispatched_at: null });
  });
});

describe("circuit breaker in the consumer", () => {
  it("stops calling a failing provider, fails over along FAILOVER_CHAIN, or parks the job", async () => {
    const { tenantId, key } = await createTenant("breaker");
    await breakerFor(env, "openai").force("openai", "closed");
    const outbound = interceptFetch()
      .on("POST", "https://api.openai.com/", () => json({ error: { message: "down" } }, 500))
      .on("POST", "https://api.deepgram.com/", () => json(DEEPGRAM_RESPONSE));
    // five failures trip openai's breaker (minimum 5 calls, 50 %)
    for (let i = 0; i < 5; i++) await deliverJobs([await seedJob(tenantId)], tenantId);
    const openaiCalls = () => outbound.requests.filter((r) => r.url.hostname === "api.openai.com").length;
    expect(openaiCalls()).toBe(5);
    expect((await breakerFor(env, "openai").snapshot("openai")).state.status).toBe("open");

    // no failover configured: parked, nobody called
    const parked = await seedJob(tenantId);
    const p = await deliverJobs([parked], tenantId);
    expect(p.retried).toEqual(p.ids);
    // a parked job always waits at least a second, even when the jitter draws 0
    expect(p.retryDelays.get(p.ids[0]!)).toBeGreaterThanOrEqual(1);
    expect(openaiCalls()).toBe(5);
    expect(await jobRow(parked)).toMatchObject({ status: "queued", delayed_reason: "provider_unavailable" });
    // the tenant's view of a parked job carries the degraded-mode notice
    const job = (await (await call(`/v1/transcriptions/${parked}`, { key })).json()) as Record<string, unknown>;
    expect(job).toMatchObject({ delayed: true, notice: "processing delayed", delay_reason: "provider_unavailable" });

    // with a failover chain the job goes to deepgram instead
    const moved = await seedJob(tenantId);
    await deliverJobs([moved], tenantId, { env: { FAILOVER_CHAIN: "openai,deepgram" } });
    expect(await jobRow(moved)).toMatchObject({ status: "completed", provider: "deepgram" });
    expect(openaiCalls()).toBe(5);
  });

  it("outage and recovery: every accepted job completes once the provider is back, with only probes while open", async () => {
    const tenantId = await seedTenant();
    let healthy = false;
    const outbound = interceptFetch().on("POST", "https://api.deepgram.com/", () =>
      healthy ? json(DEEPGRAM_RESPONSE) : json({ err_msg: "down" }, 503),
    );
    const jobs: string[] = [];
    await breakerFor(env, "deepgram").force("deepgram", "closed");
    for (let i = 0; i < 12; i++) jobs.push(await seedJob(tenantId, { provider: "deepgram" }));
    // the outage: deliveries fail until the breaker opens, then park without calls
    for (const id of jobs) await deliverJobs([id], tenantId);
    const callsDuringOutage = outbound.requests.length;
    expect(callsDuringOutage).toBeLessThan(jobs.length);
    expect((await breakerFor(env, "deepgram").snapshot("deepgram")).state.status).toBe("open");
    for (const id of jobs) await deliverJobs([id], tenantId, { attempts: 2 });
    expect(outbound.requests.length).toBe(callsDuringOutage);

    // recovery: the cool-down elapses (alarm), probes succeed, the breaker closes, redeliveries complete everything
    healthy = true;
    const stub = breakerFor(env, "deepgram");
    await runInDurableObject(stub, async (_i, state) => {
      const stored = (await state.storage.get<BreakerState>("state"))!;
      await state.storage.put("state", { ...stored, nextAttemptAt: Date.now() - 1 });
    });
    await runDurableObjectAlarm(stub);
    for (let round = 3; round < 8; round++) {
      const pending = [];
      for (const id of jobs) if ((await jobRow(id))!.status !== "completed") pending.push(id);
      if (!pending.length) break;
      for (const id of pending) await deliverJobs([id], tenantId, { attempts: round });
    }
    for (const id of jobs) expect(await jobRow(id)).toMatchObject({ status: "completed", provider: "deepgram" });
    expect((await stub.snapshot("deepgram")).state.status).toBe("closed");
  }, 60_000); // waits out real breaker cool-downs
});

describe("fault injection", () => {
  it("a provider that hangs past its timeout is retried, not failed", async () => {
    const tenantId = await seedTenant();
    const id = await seedJob(tenantId, { provider: "deepgram" });
    await breakerFor(env, "deepgram").force("deepgram", "closed");
    interceptFetch().on("POST", "https://api.deepgram.com/", () => new Promise<Response>(() => undefined));
    const delivery = await deliverJobs([id], tenantId, { env: { DEEPGRAM_TIMEOUT_MS: "50" } });
    expect(delivery.retried).toEqual(delivery.ids);
    expect(await jobRow(id)).toMatchObject({ status: "processing", error_code: null });
  });

  it("a flapping provider (every third call fails, below the breaker's threshold): every job completes exactly once", async () => {
    const tenantId = await seedTenant();
    await breakerFor(env, "deepgram").force("deepgram", "closed");
    let call = 0;
    const outbound = interceptFetch().on("POST", "https://api.deepgram.com/", () =>
      call++ % 3 === 0 ? json({ err_msg: "flap" }, 502) : json(DEEPGRAM_RESPONSE),
    );
    const jobs = [
      await seedJob(tenantId, { provider: "deepgram" }),
      await seedJob(tenantId, { provider: "deepgram" }),
      await seedJob(tenantId, { provider: "deepgram" }),
    ];
    for (let attempt = 1; attempt <= 6; attempt++) {
      for (const id of jobs)
        if ((await jobRow(id))!.status !== "completed") await deliverJobs([id], tenantId, { attempts: attempt });
    }
    for (const id of jobs) {
      expect(await jobRow(id)).toMatchObject({ status: "completed" });
      expect((await env.BUCKET.list({ prefix: `transcripts/${tenantId}/${id}/` })).objects).toHaveLength(1);
    }
    // one failed call per three, each retried: more calls than jobs, and the breaker never tripped
    expect(outbound.requests.length).toBeGreaterThan(jobs.length);
    expect((await breakerFor(env, "deepgram").snapshot("deepgram")).state.status).toBe("closed");
  });
});

describe("sweeper (cron)", () => {
  it("re-sends jobs whose enqueue failed and re-queues jobs stuck in processing past the deadline", async () => {
    const { sweepStuckJobs } = await import("../../src/jobs/sweeper.ts");
    const tenantId = await seedTenant();
    const lostMessage = await seedJob(tenantId);
    await env.DB.prepare("update transcriptions set enqueued_at = null where id = ?").bind(lostMessage).run();
    const stuck = await seedJob(tenantId, { status: "processing" });
    await env.DB.prepare("update transcriptions set updated_at = ? where id = ?")
      .bind(Date.now() - 2 * 3600 * 1000, stuck)
      .run();
    const fresh = await seedJob(tenantId, { status: "processing" });
    const parked = await seedJob(tenantId);
    await env.DB.prepare("update transcriptions set delayed_reason = 'dead_lettered', updated_at = ? where id = ?")
      .bind(Date.now() - 2 * 3600 * 1000, parked)
      .run();

    const { requeued } = await sweepStuckJobs(env, createDb(env));
    expect(requeued).toBe(2);
    expect(await jobRow(stuck)).toMatchObject({ status: "queued" });
    expect(await jobRow(fresh)).toMatchObject({ status: "processing" });
    expect(await jobRow(parked)).toMatchObject({ status: "queued", delayed_reason: "dead_lettered" });
    expect((await jobRow(lostMessage))!.enqueued_at).toEqual(expect.any(Number));
  });
});
