/**
 * The completed callback as the edge reads it (docs/pool-contract.md §3), for a job long enough to span several
 * windows; and the structured logs that carry the job id and the trace id.
 */
import { afterAll, beforeAll, expect, it } from "vitest";

import { createLogger } from "../src/log.ts";
import type { RunningPool } from "../src/pool.ts";
import { type PrivateRedis, startPrivateRedis } from "../src/redis-server.ts";
import { bytesOf, jfkSlice } from "./helpers/audio.ts";
import { dispatch, type FakeEdge, startFakeEdge } from "./helpers/edge.ts";
import { startTestPool } from "./helpers/pool.ts";

let redis: PrivateRedis;
let edge: FakeEdge;
let pool: RunningPool;
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  [redis, edge] = await Promise.all([startPrivateRedis(), startFakeEdge()]);
  pool = await startTestPool(redis.url, {
    windowSeconds: 5,
    logger: createLogger({
      level: "info",
      write: (line) => logLines.push(JSON.parse(line) as Record<string, unknown>),
    }),
  });
});
afterAll(async () => {
  await pool?.stop();
  await edge?.close();
  await redis?.stop();
});

it("calls back with text, ordered segments inside the audio, language, duration, model and timings", async () => {
  const body = await edge.addJob("tr_contract", await bytesOf(await jfkSlice(0, 11)), { prompt: "ask not" });
  expect((await dispatch(pool.url, body)).status).toBe(202);
  const callback = await edge.waitForCallback("tr_contract");
  expect(callback.traceparent).toBe(body.traceparent);
  expect(callback.body.status).toBe("completed");
  if (callback.body.status !== "completed") return;
  const { result } = callback.body;
  expect(Object.keys(result).sort()).toEqual([
    "duration_seconds",
    "language",
    "model",
    "segments",
    "task",
    "text",
    "timings",
  ]);
  expect(result).toMatchObject({ language: "en", duration_seconds: 11, model: "synthetic-mini" });
  expect(Object.keys(result.timings).sort()).toEqual(["decode_ms", "fetch_ms", "inference_ms", "queue_ms", "total_ms"]);
  for (const value of Object.values(result.timings)) expect(value).toBeGreaterThanOrEqual(0);
  expect(result.segments.length).toBeGreaterThan(0);
  expect(result.text).toBe(result.segments.map((s) => s.text).join(" "));
  let previousStart = 0;
  for (const segment of result.segments) {
    expect(segment.start).toBeGreaterThanOrEqual(previousStart);
    expect(segment.end).toBeGreaterThanOrEqual(segment.start);
    expect(segment.end).toBeLessThanOrEqual(11);
    expect(segment.text).toBe(segment.text.trim());
    // whisper.cpp's token probabilities come back as the segment's mean log-probability
    expect(segment.avg_logprob).toBeLessThanOrEqual(0);
    expect(Number.isFinite(segment.avg_logprob)).toBe(true);
    previousStart = segment.start;
  }
  // three 5 s windows (cut at quiet points): the stitched transcript reaches past the first window
  expect(result.segments.at(-1)!.start).toBeGreaterThanOrEqual(5);
});

it("logs JSON lines with the job id and the traceparent's trace id", async () => {
  const jobLines = (): Record<string, unknown>[] => logLines.filter((l) => l.job_id === "tr_contract");
  // the acknowledgement is logged once the edge's answer is read, just after the edge saw the callback
  await expect
    .poll(() => jobLines().map((l) => l.event))
    .toEqual(expect.arrayContaining(["dispatch_accepted", "job_started", "job_completed", "callback_acknowledged"]));
  for (const line of jobLines()) {
    expect(line.trace_id).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(typeof line.time).toBe("string");
  }
});
