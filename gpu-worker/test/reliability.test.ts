/**
 * Reliability with real processes: callback retries until acknowledged, per-job timeout that really frees the
 * engine, a pool killed mid-batch losing nothing, and graceful SIGTERM (finish the batch in flight, take nothing new).
 */
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { RunningPool } from "../src/pool.ts";
import { CALLBACK_QUEUE, TRANSCRIPTION_QUEUE } from "../src/queue/queues.ts";
import { type PrivateRedis, startPrivateRedis } from "../src/redis-server.ts";
import { bytesOf, jfkRepeated, jfkSlice } from "./helpers/audio.ts";
import { CALLBACK_KEYS, dispatch, type FakeEdge, startFakeEdge } from "./helpers/edge.ts";
import { startTestPool } from "./helpers/pool.ts";
import { isAlive, spawnPool } from "./helpers/process.ts";
import { workersWaitingForJobs } from "./helpers/redis.ts";
import { waitFor } from "./helpers/wait.ts";

let redis: PrivateRedis;
let edge: FakeEdge;
let short: Buffer;
/** 23 s of speech: with 2 s windows and batches of 2 it keeps a pool busy for a few seconds. */
let long: Buffer;

beforeAll(async () => {
  [redis, edge, short, long] = await Promise.all([
    startPrivateRedis(),
    startFakeEdge(),
    jfkSlice(0, 2).then(bytesOf),
    jfkRepeated(2, 1).then(bytesOf),
  ]);
});
afterAll(async () => {
  await edge?.close();
  await redis?.stop();
});

describe("callbacks", () => {
  let pool: RunningPool;
  beforeAll(async () => {
    pool = await startTestPool(redis.url);
  });
  afterAll(async () => {
    await pool?.stop();
  });

  it("retries a callback on 5xx and 429 until the edge acknowledges it", async () => {
    edge.callbackStatuses.push(503, 500, 429);
    await dispatch(pool.url, await edge.addJob("tr_cb_retry", short));
    const acknowledged = await edge.waitForCallback("tr_cb_retry", { acknowledged: true });
    const attempts = edge.callbacks.filter((c) => c.body.job_id === "tr_cb_retry");
    expect(attempts.map((c) => c.answeredStatus)).toEqual([503, 500, 429, 200]);
    expect(acknowledged.keyId).toBe(CALLBACK_KEYS[0]!.id);
    expect(acknowledged.body).toMatchObject({
      status: "completed",
      result: { model: "synthetic-mini", language: "en", duration_seconds: 2 },
    });
    expect(edge.audioRequests.filter((id) => id === "tr_cb_retry")).toHaveLength(1);
  });

  it("gives up on a callback the edge refuses with a 4xx", async () => {
    edge.callbackStatuses.push(400);
    await dispatch(pool.url, await edge.addJob("tr_cb_refused", short));
    await edge.waitForCallback("tr_cb_refused");
    const callbacks = new Queue(CALLBACK_QUEUE, { connection: { url: redis.url }, prefix: pool.settings.queuePrefix });
    try {
      // failed for good: BullMQ schedules no further attempt
      await waitFor(async () => (await (await callbacks.getJob("tr_cb_refused"))?.getState()) === "failed", {
        description: "the refused callback to fail",
      });
      expect(edge.callbacks.filter((c) => c.body.job_id === "tr_cb_refused")).toHaveLength(1);
    } finally {
      await callbacks.close();
    }
  });
});

describe("per-job timeout", () => {
  it("fails the job with timeout and really frees the engine (the decoding process is killed)", async () => {
    // one 2 s window at a time: the 23 s job needs far longer than the timeout, the 2 s job far less
    const pool = await startTestPool(redis.url, { jobTimeoutMs: 3_000, windowSeconds: 2, batchSize: 1 });
    try {
      const engine = pool.engine as import("../src/engines/whispercpp.ts").WhisperCppEngine;
      const firstHost = engine.hostPid!;
      const started = Date.now();
      await dispatch(pool.url, await edge.addJob("tr_timeout", long));
      const callback = await edge.waitForCallback("tr_timeout");
      expect(callback.body).toMatchObject({ status: "failed", error: { code: "timeout", retryable: false } });
      expect(Date.now() - started).toBeLessThan(6_000);
      await expect.poll(() => isAlive(firstHost), { timeout: 2_000 }).toBe(false);
      const restarts = await pool.metrics.engineRestarts.get();
      expect(restarts.values.find((v) => v.labels.reason === "window_cancelled")?.value).toBeGreaterThanOrEqual(1);
      // nothing of the cancelled job is left in the scheduler, and the next job runs at once
      expect(pool.scheduler.pendingCount).toBe(0);
      await dispatch(pool.url, await edge.addJob("tr_after_timeout", short));
      expect((await edge.waitForCallback("tr_after_timeout")).body.status).toBe("completed");
    } finally {
      await pool.stop();
    }
  });
});

describe("process death and shutdown", () => {
  const baseEnv = (prefix: string): Record<string, string> => ({
    REDIS_URL: redis.url,
    QUEUE_PREFIX: prefix,
    WINDOW_SECONDS: "2",
    BATCH_SIZE: "2",
    BATCH_WAIT_MS: "20",
    LOCK_DURATION_MS: "1500",
    STALLED_INTERVAL_MS: "500",
  });

  it("loses nothing when a pool process is killed mid-batch: another pool recovers the stalled job", async () => {
    const prefix = `kill${Date.now()}`;
    const doomed = spawnPool(baseEnv(prefix));
    const ready = await doomed.waitForLog("pool_ready");
    const hostPid = (await doomed.waitForLog("engine_host_ready")).pid as number;
    await dispatch(String(ready.url), await edge.addJob("tr_killed", long));
    await doomed.waitForLog("batch_done");
    doomed.child.kill("SIGKILL");
    await doomed.exited;
    // the engine host follows its pool down instead of decoding for nobody
    await expect.poll(() => isAlive(hostPid), { timeout: 3_000 }).toBe(false);
    expect(edge.callbacks.find((c) => c.body.job_id === "tr_killed")).toBeUndefined();

    const rescuer = await startTestPool(redis.url, {
      queuePrefix: prefix,
      windowSeconds: 2,
      lockDurationMs: 1_500,
      stalledIntervalMs: 500,
    });
    try {
      const recovered = await edge.waitForCallback("tr_killed", { timeoutMs: 30_000 });
      expect(edge.audioRequests.filter((id) => id === "tr_killed")).toHaveLength(2);
      // the same audio transcribed without interruption gives the same result
      await dispatch(rescuer.url, await edge.addJob("tr_uninterrupted", long));
      const reference = await edge.waitForCallback("tr_uninterrupted", { timeoutMs: 30_000 });
      expect(recovered.body.status).toBe("completed");
      if (recovered.body.status === "completed" && reference.body.status === "completed") {
        expect(recovered.body.result.segments).toEqual(reference.body.result.segments);
      }
    } finally {
      await rescuer.stop();
    }
  });

  it("tells the edge when a job's workers died more often than MAX_STALLED_COUNT allows", async () => {
    const prefix = `lost${Date.now()}`;
    const doomed = spawnPool({ ...baseEnv(prefix), MAX_STALLED_COUNT: "0" });
    const ready = await doomed.waitForLog("pool_ready");
    await dispatch(String(ready.url), await edge.addJob("tr_lost", long));
    await doomed.waitForLog("batch_done");
    doomed.child.kill("SIGKILL");
    await doomed.exited;
    const rescuer = await startTestPool(redis.url, {
      queuePrefix: prefix,
      lockDurationMs: 1_500,
      stalledIntervalMs: 500,
      maxStalledCount: 0,
    });
    try {
      const callback = await edge.waitForCallback("tr_lost", { timeoutMs: 30_000 });
      expect(callback.body).toMatchObject({ status: "failed", error: { code: "engine_error", retryable: false } });
      expect(edge.audioRequests.filter((id) => id === "tr_lost")).toHaveLength(1);
    } finally {
      await rescuer.stop();
    }
  });

  it("on SIGTERM finishes the job in flight, takes nothing new, and exits 0; readiness follows the lifecycle", async () => {
    const prefix = `term${Date.now()}`;
    const pool = spawnPool(baseEnv(prefix));
    const listening = await pool.waitForLog("pool_http_listening");
    const url = String(listening.url);
    const early = await fetch(`${url}/readyz`);
    expect([early.status, (await early.json()).reason]).toEqual([503, "model loading"]);
    await pool.waitForLog("pool_ready");
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    await dispatch(url, await edge.addJob("tr_inflight", long));
    await pool.waitForLog("batch_done");
    // with a job in flight the worker still waits for more (its concurrency is above 1)
    await waitFor(async () => (await workersWaitingForJobs(redis.url, prefix, TRANSCRIPTION_QUEUE)) >= 1, {
      description: "the transcription worker to wait for jobs",
    });
    pool.child.kill("SIGTERM");
    await pool.waitForLog("pool_stopping");
    const draining = await fetch(`${url}/readyz`);
    expect([draining.status, (await draining.json()).reason]).toEqual([503, "shutting down"]);
    // the draining worker no longer waits for new jobs (it still runs the one in flight)
    await waitFor(async () => (await workersWaitingForJobs(redis.url, prefix, TRANSCRIPTION_QUEUE)) === 0, {
      description: "the transcription worker to stop taking jobs",
    });
    expect((await dispatch(url, await edge.addJob("tr_after_sigterm", short))).status).toBe(202);
    expect(await pool.exited).toEqual({ code: 0, signal: null });

    const completed = pool.logs.find((l) => l.event === "job_completed" && l.job_id === "tr_inflight");
    expect(completed).toBeDefined();
    expect(edge.audioRequests).not.toContain("tr_after_sigterm");
    const transcriptions = new Queue(TRANSCRIPTION_QUEUE, { connection: { url: redis.url }, prefix });
    try {
      expect(await transcriptions.getJobState("tr_after_sigterm")).toBe("waiting");
      expect(await transcriptions.getJobState("tr_inflight")).toBe("unknown");
    } finally {
      await transcriptions.close();
    }
    // whatever the stopped pool left (the new job, an undelivered callback) is finished by the next one
    const next = await startTestPool(redis.url, { queuePrefix: prefix, windowSeconds: 2 });
    try {
      expect((await edge.waitForCallback("tr_inflight", { acknowledged: true })).body.status).toBe("completed");
      expect((await edge.waitForCallback("tr_after_sigterm", { acknowledged: true })).body.status).toBe("completed");
    } finally {
      await next.stop();
    }
  });
});
