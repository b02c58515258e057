/**
 * Bridge ingress against a real pool (real Redis, real BullMQ, real whisper.cpp on the mini synthetic model):
 * signature checks, key rotation, validation, dedupe, Redis outage, health/readiness/metrics.
 */
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { RunningPool } from "../src/pool.ts";
import { CALLBACK_QUEUE, TRANSCRIPTION_QUEUE } from "../src/queue/queues.ts";
import { type PrivateRedis, startPrivateRedis } from "../src/redis-server.ts";
import { bytesOf, jfkSlice } from "./helpers/audio.ts";
import { BRIDGE_KEYS, dispatch, type FakeEdge, startFakeEdge } from "./helpers/edge.ts";
import { startTestPool } from "./helpers/pool.ts";
import { waitFor } from "./helpers/wait.ts";

let redis: PrivateRedis;
let edge: FakeEdge;
let pool: RunningPool;
let audio: Buffer;

beforeAll(async () => {
  [redis, edge, audio] = await Promise.all([startPrivateRedis(), startFakeEdge(), jfkSlice(0, 2).then(bytesOf)]);
  pool = await startTestPool(redis.url);
});
afterAll(async () => {
  await pool?.stop();
  await edge?.close();
  await redis?.stop();
});

async function problem(
  response: Response,
): Promise<{ status: number; code: string; type: string; errors?: { field: string }[] }> {
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  return (await response.json()) as never;
}

describe("signature", () => {
  it("accepts the current key and the previous one during rotation", async () => {
    const newKey = await dispatch(pool.url, await edge.addJob("tr_rot_new", audio), [BRIDGE_KEYS[0]!]);
    const oldKey = await dispatch(pool.url, await edge.addJob("tr_rot_old", audio), [BRIDGE_KEYS[1]!]);
    expect([newKey.status, oldKey.status]).toEqual([202, 202]);
    await Promise.all([edge.waitForCallback("tr_rot_new"), edge.waitForCallback("tr_rot_old")]);
  });

  it("rejects an unknown key id, a wrong secret and a tampered body with invalid_signature", async () => {
    const body = await edge.addJob("tr_badsig", audio);
    const unknownKey = await dispatch(pool.url, body, [{ id: "e9", secret: "edge-to-pool-new" }]);
    const wrongSecret = await dispatch(pool.url, body, [{ id: "e2", secret: "guess" }]);
    const raw = JSON.stringify(body);
    const { signedHeaders } = await import("@vtt/pool-contract");
    const headers = await signedHeaders(BRIDGE_KEYS, raw);
    const tampered = await fetch(`${pool.url}/v1/jobs`, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: raw.replace("tr_badsig", "tr_badsi2"),
    });
    const unsigned = await fetch(`${pool.url}/v1/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: raw,
    });
    for (const response of [unknownKey, wrongSecret, tampered, unsigned]) {
      expect(response.status).toBe(401);
      expect((await problem(response)).code).toBe("invalid_signature");
    }
    expect(edge.audioRequests).not.toContain("tr_badsig");
  });

  it("rejects a timestamp outside the tolerance with stale_signature", async () => {
    const body = await edge.addJob("tr_stale", audio);
    const response = await dispatch(pool.url, body, BRIDGE_KEYS, Math.floor(Date.now() / 1000) - 301);
    expect(response.status).toBe(401);
    expect((await problem(response)).code).toBe("stale_signature");
  });
});

describe("validation", () => {
  it("answers 400 with field errors for a body that does not validate", async () => {
    const response = await dispatch(pool.url, { job_id: "tr_x", audio_url: "not a url" });
    expect(response.status).toBe(400);
    const body = await problem(response);
    expect(body.code).toBe("invalid_dispatch");
    expect(body.errors?.map((e) => e.field)).toEqual(["audio_url", "audio_expires_at", "callback_url"]);
  });

  it("answers 400 malformed_json, 400 audio_url_expired and 413 payload_too_large", async () => {
    const malformed = await dispatch(pool.url, "{not json");
    expect((await problem(malformed)).code).toBe("malformed_json");
    const expired = await dispatch(pool.url, {
      ...(await edge.addJob("tr_expired", audio)),
      audio_expires_at: Math.floor(Date.now() / 1000) - 1,
    });
    expect(expired.status).toBe(400);
    expect((await problem(expired)).code).toBe("audio_url_expired");
    const huge = await dispatch(pool.url, { ...(await edge.addJob("tr_huge", audio)), prompt: "x".repeat(70_000) });
    expect(huge.status).toBe(413);
    expect((await problem(huge)).code).toBe("payload_too_large");
  });

  it("answers 404 and 405 as problems", async () => {
    expect((await problem(await fetch(`${pool.url}/nope`))).code).toBe("not_found");
    expect((await problem(await fetch(`${pool.url}/v1/jobs`))).code).toBe("method_not_allowed");
  });
});

describe("dedupe", () => {
  it("makes a repeated dispatch a no-op while the job is held, and accepts it again once acknowledged", async () => {
    const body = await edge.addJob("tr_dupe", audio);
    // the edge answers 503 for a while: the result stays "completed but unacknowledged"
    edge.callbackStatuses.push(503, 503, 503);
    const first = await dispatch(pool.url, body);
    const second = await dispatch(pool.url, body);
    expect(await first.json()).toEqual({ job_id: "tr_dupe", status: "queued", duplicate: false });
    expect(second.status).toBe(202);
    expect(await second.json()).toEqual({ job_id: "tr_dupe", status: "queued", duplicate: true });
    await edge.waitForCallback("tr_dupe");
    const whileUnacknowledged = await dispatch(pool.url, body);
    expect((await whileUnacknowledged.json()).duplicate).toBe(true);
    await edge.waitForCallback("tr_dupe", { acknowledged: true });
    // transcribed once, delivered until acknowledged
    expect(edge.audioRequests.filter((id) => id === "tr_dupe")).toHaveLength(1);
    const delivered = edge.callbacks.filter((c) => c.body.job_id === "tr_dupe");
    expect(delivered.map((c) => c.answeredStatus)).toEqual([503, 503, 503, 200]);
    expect(new Set(delivered.map((c) => JSON.stringify(c.body))).size).toBe(1);
    // once acknowledged, the pool forgets the job (its callback job goes): a new dispatch is new work
    const callbacks = new Queue(CALLBACK_QUEUE, { connection: { url: redis.url }, prefix: pool.settings.queuePrefix });
    try {
      await waitFor(async () => (await callbacks.getJob("tr_dupe")) === undefined, {
        description: "the acknowledged callback to be removed",
      });
    } finally {
      await callbacks.close();
    }
    const afterAck = await dispatch(pool.url, body);
    expect((await afterAck.json()).duplicate).toBe(false);
    await expect
      .poll(() => edge.callbacks.filter((c) => c.body.job_id === "tr_dupe").length, { timeout: 20_000 })
      .toBe(5);
  });
});

describe("operations endpoints", () => {
  it("serves healthz, readyz and Prometheus metrics", async () => {
    expect(await (await fetch(`${pool.url}/healthz`)).json()).toEqual({ status: "ok" });
    const ready = await fetch(`${pool.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: "ready",
      engine: { engine: "whispercpp", backend: "smart-whisper", model: "synthetic-mini", synthetic: true },
    });
    const metrics = await (await fetch(`${pool.url}/metrics`)).text();
    for (const name of [
      "vtt_pool_jobs_completed_total",
      "vtt_pool_jobs_failed_total",
      "vtt_pool_batch_size_bucket",
      "vtt_pool_audio_seconds_total",
      "vtt_pool_real_time_factor_bucket",
      'vtt_pool_queue_depth{state="waiting"}',
      'vtt_pool_queue_depth{state="failed"}',
      "vtt_pool_worker_saturation",
      'vtt_pool_job_phase_seconds_bucket{le="0.05",phase="total"}',
      'vtt_pool_dispatches_total{outcome="duplicate"}',
    ]) {
      expect(metrics).toContain(name);
    }
  });

  it("serves /metrics only with the Bearer METRICS_TOKEN when one is set; probes stay open", async () => {
    const token = "scrape-token-0123456789abcdef";
    const guarded = await startTestPool(redis.url, { metricsToken: token });
    try {
      for (const authorization of [undefined, "Bearer wrong-token-0123456789abcdef", token, `Basic ${token}`]) {
        const refused = await fetch(`${guarded.url}/metrics`, { headers: authorization ? { authorization } : {} });
        expect([authorization, refused.status]).toEqual([authorization, 401]);
        expect(refused.headers.get("www-authenticate")).toContain("Bearer");
        const body = await problem(refused);
        expect(body.code).toBe("invalid_metrics_token");
        expect(JSON.stringify(body)).not.toContain(token);
      }
      const scraped = await fetch(`${guarded.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      expect(scraped.status).toBe(200);
      expect(await scraped.text()).toContain("vtt_pool_jobs_completed_total");
      expect((await fetch(`${guarded.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${guarded.url}/readyz`)).status).toBe(200);
    } finally {
      await guarded.stop();
    }
  });

  it("refuses /metrics with 403 metrics_token_required on a non-loopback address without METRICS_TOKEN", async () => {
    const exposed = await startTestPool(redis.url, { host: "0.0.0.0" });
    try {
      const metrics = await fetch(`${exposed.url}/metrics`);
      expect(metrics.status).toBe(403);
      expect((await problem(metrics)).code).toBe("metrics_token_required");
      expect((await fetch(`${exposed.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${exposed.url}/readyz`)).status).toBe(200);
    } finally {
      await exposed.stop();
    }
  });

  it("answers 503 queue_unavailable and not-ready while Redis is down", async () => {
    const ownRedis = await startPrivateRedis();
    const lonely = await startTestPool(ownRedis.url);
    try {
      await ownRedis.stop();
      const response = await dispatch(lonely.url, await edge.addJob("tr_noredis", audio));
      expect(response.status).toBe(503);
      expect((await problem(response)).code).toBe("queue_unavailable");
      const ready = await fetch(`${lonely.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ reason: "redis unreachable" });
    } finally {
      // an outage must not hold up shutdown
      const stopping = Date.now();
      await lonely.stop();
      expect(Date.now() - stopping).toBeLessThan(3_000);
    }
  });

  it("stores the job under the transcription id in BullMQ", async () => {
    const queue = new Queue(TRANSCRIPTION_QUEUE, { connection: { url: redis.url }, prefix: pool.settings.queuePrefix });
    try {
      edge.audioDelayMs = 500;
      await dispatch(pool.url, await edge.addJob("tr_stored", audio));
      const job = await queue.getJob("tr_stored");
      expect(job?.data).toMatchObject({ job_id: "tr_stored", language: "en" });
      await edge.waitForCallback("tr_stored");
    } finally {
      edge.audioDelayMs = 0;
      await queue.close();
    }
  });
});
