/**
 * GDPR erasure of a job's data (`DELETE /v1/jobs/{job_id}`) against a real pool on a real Redis: a waiting job, a
 * running one (its result is never posted), a completed result the edge has not acknowledged, a failed job kept for
 * inspection; idempotency and signature checks. "Gone" means no key under the pool's prefix names the job id or
 * holds it in its content (job hashes, state lists and sets, event streams, markers).
 */
import type { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { BatchScheduler } from "../src/batch/scheduler.ts";
import { resolvePoolSettings } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { createPoolMetrics } from "../src/metrics.ts";
import type { RunningPool } from "../src/pool.ts";
import { createJobProcessor } from "../src/queue/process-job.ts";
import type { CallbackJobData, TranscriptionJob } from "../src/queue/queues.ts";
import { type PrivateRedis, startPrivateRedis } from "../src/redis-server.ts";
import { bytesOf, jfkSlice } from "./helpers/audio.ts";
import { BRIDGE_KEYS, dispatch, eraseJob, type FakeEdge, startFakeEdge } from "./helpers/edge.ts";
import { startTestPool, testPoolOptions } from "./helpers/pool.ts";
import { redisTraces } from "./helpers/redis.ts";

let redis: PrivateRedis;
let edge: FakeEdge;
let pool: RunningPool;
let audio: Buffer;

beforeAll(async () => {
  [redis, edge, audio] = await Promise.all([startPrivateRedis(), startFakeEdge(), jfkSlice(0, 2).then(bytesOf)]);
  // one job at a time, so a second dispatch waits while the first runs
  pool = await startTestPool(redis.url, { batchSize: 1, jobConcurrency: 1 });
});
afterAll(async () => {
  await pool?.stop();
  await edge?.close();
  await redis?.stop();
});

const traces = (needle: string): Promise<string[]> => redisTraces(redis.url, pool.settings.queuePrefix, needle);
const callbacksFor = (jobId: string): number => edge.callbacks.filter((c) => c.body.job_id === jobId).length;

async function erase(jobId: string): Promise<Record<string, unknown>> {
  const response = await eraseJob(pool.url, jobId);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("application/json");
  return (await response.json()) as Record<string, unknown>;
}

describe("erasing", () => {
  it("removes a waiting job at once, and discards a running one: its result is never posted and its data disappears", async () => {
    edge.audioDelayMs = 1_500;
    try {
      const running = await edge.addJob("tr_er_running", audio, { prompt: "running prompt Kennedy" });
      expect((await dispatch(pool.url, running)).status).toBe(202);
      await expect.poll(() => edge.audioRequests.includes("tr_er_running"), { timeout: 10_000 }).toBe(true);
      const waiting = await edge.addJob("tr_er_waiting", audio, { prompt: "waiting prompt Berlin" });
      expect((await dispatch(pool.url, waiting)).status).toBe(202);
      expect(await traces("tr_er_waiting")).not.toEqual([]);
      expect(await traces("waiting prompt Berlin")).not.toEqual([]);

      expect(await erase("tr_er_waiting")).toEqual({
        job_id: "tr_er_waiting",
        erased: true,
        state: "waiting",
        callback: "absent",
      });
      expect(await traces("tr_er_waiting")).toEqual([]);
      expect(await traces("waiting prompt Berlin")).toEqual([]);

      expect(await erase("tr_er_running")).toEqual({
        job_id: "tr_er_running",
        erased: true,
        state: "active",
        callback: "absent",
      });
      // still locked by the worker, but the request's data (prompt, audio URL, callback URL) is gone already
      expect(await traces("running prompt Kennedy")).toEqual([]);
      expect(await traces("/internal/audio/tr_er_running")).toEqual([]);
      // once it finishes, nothing is left, and its result was not delivered
      await expect.poll(() => traces("tr_er_running"), { timeout: 20_000, interval: 200 }).toEqual([]);
      // a job dispatched after it runs to the end and is delivered: had the erased one queued a result, it came first
      edge.audioDelayMs = 0;
      await dispatch(pool.url, await edge.addJob("tr_er_after_running", audio));
      await edge.waitForCallback("tr_er_after_running", { acknowledged: true });
      expect(callbacksFor("tr_er_running")).toBe(0);
      // the waiting job was never started
      expect(edge.audioRequests).not.toContain("tr_er_waiting");
      expect(callbacksFor("tr_er_waiting")).toBe(0);
    } finally {
      edge.audioDelayMs = 0;
    }
  });

  it("removes a result the edge has not acknowledged yet, and stops delivering it", async () => {
    // the edge keeps answering 503: the result waits in the callbacks queue between retries
    edge.callbackStatuses.push(...Array<number>(200).fill(503));
    try {
      await dispatch(pool.url, await edge.addJob("tr_er_unacked", audio, { prompt: "unacked prompt" }));
      await edge.waitForCallback("tr_er_unacked");
      const outcome = await erase("tr_er_unacked");
      expect(outcome).toMatchObject({ job_id: "tr_er_unacked", erased: true, state: "completed" });
      expect(["waiting", "delayed", "active"]).toContain(outcome.callback);
      await expect.poll(() => traces("tr_er_unacked"), { timeout: 10_000, interval: 200 }).toEqual([]);
      const delivered = callbacksFor("tr_er_unacked");
      // the edge accepts again; a later job's result gets through, while the erased one is never attempted again
      // (it retried every ≤ 200 ms before: it would have been delivered by now)
      edge.callbackStatuses.length = 0;
      await dispatch(pool.url, await edge.addJob("tr_er_after_unacked", audio));
      await edge.waitForCallback("tr_er_after_unacked", { acknowledged: true });
      expect(callbacksFor("tr_er_unacked")).toBe(delivered);
      expect(edge.callbacks.some((c) => c.body.job_id === "tr_er_unacked" && c.answeredStatus === 200)).toBe(false);
    } finally {
      edge.callbackStatuses.length = 0;
    }
  });

  it("removes a failed job kept for inspection", async () => {
    // no audio: the edge answers 404, the job fails with audio_gone and stays in the failed set
    await dispatch(pool.url, await edge.addJob("tr_er_failed", null, { prompt: "failed prompt" }));
    const callback = await edge.waitForCallback("tr_er_failed", { acknowledged: true });
    expect(callback.body).toMatchObject({ status: "failed", error: { code: "audio_gone" } });
    expect(await traces("failed prompt")).not.toEqual([]);
    expect(await erase("tr_er_failed")).toMatchObject({ job_id: "tr_er_failed", erased: true, state: "failed" });
    await expect.poll(() => traces("tr_er_failed"), { timeout: 5_000, interval: 200 }).toEqual([]);
    expect(await traces("failed prompt")).toEqual([]);
  });

  it("is idempotent: erasing again, or an id the pool never held, answers erased: false, state absent", async () => {
    expect(await erase("tr_er_failed")).toEqual({
      job_id: "tr_er_failed",
      erased: false,
      state: "absent",
      callback: "absent",
    });
    expect(await erase("tr_er_never_seen")).toEqual({
      job_id: "tr_er_never_seen",
      erased: false,
      state: "absent",
      callback: "absent",
    });
    expect(await traces("tr_er_never_seen")).toEqual([]);
    const metrics = await (await fetch(`${pool.url}/metrics`)).text();
    expect(metrics).toMatch(/vtt_pool_erasures_total\{outcome="erased"\} [1-9]/);
    expect(metrics).toMatch(/vtt_pool_erasures_total\{outcome="absent"\} [1-9]/);
  });

  it("lets the same id be dispatched again once the erased run finished", async () => {
    edge.audioDelayMs = 800;
    try {
      await dispatch(pool.url, await edge.addJob("tr_er_again", audio));
      await expect.poll(() => edge.audioRequests.includes("tr_er_again"), { timeout: 10_000 }).toBe(true);
      expect(await erase("tr_er_again")).toMatchObject({ erased: true, state: "active" });
      await expect.poll(() => traces("tr_er_again"), { timeout: 20_000, interval: 200 }).toEqual([]);
    } finally {
      edge.audioDelayMs = 0;
    }
    expect(callbacksFor("tr_er_again")).toBe(0);
    expect((await (await dispatch(pool.url, await edge.addJob("tr_er_again", audio))).json()).duplicate).toBe(false);
    const callback = await edge.waitForCallback("tr_er_again", { acknowledged: true, timeoutMs: 20_000 });
    expect(callback.body.status).toBe("completed");
  });
});

describe("erasure requests", () => {
  it("rejects bad signatures with 401 and erases nothing", async () => {
    await dispatch(pool.url, await edge.addJob("tr_er_guarded", null));
    await edge.waitForCallback("tr_er_guarded", { acknowledged: true });
    const held = await traces("tr_er_guarded");
    expect(held).not.toEqual([]);
    const attempts = [
      await eraseJob(pool.url, "tr_er_guarded", { ring: [{ id: "e9", secret: "edge-to-pool-new" }] }),
      await eraseJob(pool.url, "tr_er_guarded", { ring: [{ id: "e2", secret: "guess" }] }),
      // a signature for another job cannot be replayed against this one
      await eraseJob(pool.url, "tr_er_guarded", { signedJobId: "tr_er_other" }),
      await fetch(`${pool.url}/v1/jobs/tr_er_guarded`, { method: "DELETE" }),
    ];
    for (const response of attempts) {
      expect(response.status).toBe(401);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
      expect(((await response.json()) as { code: string }).code).toBe("invalid_signature");
    }
    const stale = await eraseJob(pool.url, "tr_er_guarded", { nowSeconds: Math.floor(Date.now() / 1000) - 301 });
    expect(stale.status).toBe(401);
    expect(((await stale.json()) as { code: string }).code).toBe("stale_signature");
    expect(await traces("tr_er_guarded")).toEqual(held);
    // the previous key of the ring still verifies during a rotation
    const rotated = await eraseJob(pool.url, "tr_er_guarded", { ring: [BRIDGE_KEYS[1]!] });
    expect(await rotated.json()).toMatchObject({ erased: true, state: "failed" });
  });

  it("answers 400 for a malformed job id and 405 for other methods", async () => {
    for (const id of ["tr:colon", "12345", "x".repeat(65)]) {
      const response = await eraseJob(pool.url, id);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { code: string }).code).toBe("invalid_job_id");
    }
    const get = await fetch(`${pool.url}/v1/jobs/tr_x`);
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("DELETE");
  });

  it("answers 503 queue_unavailable while Redis is down", async () => {
    const ownRedis = await startPrivateRedis();
    const lonely = await startTestPool(ownRedis.url);
    try {
      await ownRedis.stop();
      const response = await eraseJob(lonely.url, "tr_er_noredis");
      expect(response.status).toBe(503);
      expect(((await response.json()) as { code: string }).code).toBe("queue_unavailable");
    } finally {
      await lonely.stop();
    }
  });
});

describe("the processor of a job erased while it runs", () => {
  /** Runs the real processor on one job whose erasure lands while its windows are in the engine. */
  async function runErasedDuringInference(engineOutcome: "result" | "engine_error") {
    let erased = false;
    const added: unknown[] = [];
    const scheduler = {
      submit: async () => {
        erased = true;
        if (engineOutcome === "engine_error") throw new Error("engine crashed");
        return { segments: [{ start: 0, end: 1, text: "hello" }], language: "en" };
      },
    } as unknown as BatchScheduler;
    const callbacks = {
      getJob: async () => undefined,
      add: async (...args: unknown[]) => added.push(args),
    } as unknown as Queue<CallbackJobData>;
    const settings = resolvePoolSettings(testPoolOptions("redis://127.0.0.1:1"));
    const processor = createJobProcessor({
      settings,
      scheduler,
      callbacks,
      metrics: createPoolMetrics({
        queueCounts: async () => ({}),
        saturation: () => ({ busy: 0, capacity: 1, activeJobs: 0 }),
      }),
      logger: createLogger({ level: "silent" }),
      modelName: "test",
      activeJobs: { count: 0 },
      erasure: { isErased: async () => erased },
      fetchImpl: async () => new Response(new Uint8Array(audio)),
    });
    const data = { ...(await edge.addJob("tr_er_unit", audio)), dispatched_at: Date.now() };
    const job = {
      id: "tr_er_unit",
      data,
      attemptsMade: 0,
      opts: { attempts: 3 },
      timestamp: Date.now(),
    } as unknown as TranscriptionJob;
    return { result: await processor(job), added };
  }

  it("drops a result that arrives after the erasure instead of queueing its callback", async () => {
    const { result, added } = await runErasedDuringInference("result");
    expect(result).toEqual({ discarded: "erased" });
    expect(added).toEqual([]);
  });

  it("neither retries nor reports a failure that follows the erasure", async () => {
    const { result, added } = await runErasedDuringInference("engine_error");
    expect(result).toEqual({ discarded: "erased" });
    expect(added).toEqual([]);
  });
});
