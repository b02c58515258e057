/**
 * The pool's lifecycle: what start-up opened is closed in reverse order, on stop and when start-up fails half way
 * (no listening port, no Redis connection and no loaded model left behind). Real redis-server, HTTP server and
 * whisper.cpp engine.
 */
import path from "node:path";

import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { WhisperCppEngine } from "../src/engines/whispercpp.ts";
import { Lifecycle } from "../src/lifecycle.ts";
import { createLogger } from "../src/log.ts";
import { ensureSyntheticModel } from "../src/models/synthetic.ts";
import { type PrivateRedis, startPrivateRedis } from "../src/redis-server.ts";
import { CACHE_DIR } from "./helpers/audio.ts";
import { startTestPool } from "./helpers/pool.ts";
import { isAlive } from "./helpers/process.ts";
import { waitFor } from "./helpers/wait.ts";

let redis: PrivateRedis;
let observer: Redis;
beforeAll(async () => {
  redis = await startPrivateRedis();
  observer = new Redis(redis.url);
});
afterAll(async () => {
  observer?.disconnect();
  await redis?.stop();
});

/** Redis clients other than the observer. */
async function poolConnections(): Promise<number> {
  const list = (await observer.client("LIST")) as string;
  return list.trim().split("\n").filter(Boolean).length - 1;
}

/** Log lines written by a pool, parsed. */
function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return {
    logger: createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }),
    lines,
  };
}

/** The real engine of a test pool with `beforeStart` run before its model loads. */
async function engineStartingAfter(beforeStart: () => Promise<void>): Promise<WhisperCppEngine> {
  const engine = new WhisperCppEngine({
    binding: "smart-whisper",
    modelPath: await ensureSyntheticModel({ shape: "mini", cacheDir: `${CACHE_DIR}/models` }),
    modelName: "synthetic-mini",
    synthetic: true,
    capacity: 2,
    threads: 1,
    maxTokens: 8,
    temperatureInc: 0,
    bestOf: 1,
    useGpu: false,
    logger: createLogger({ level: "silent" }),
  });
  const start = engine.start.bind(engine);
  engine.start = async () => {
    await beforeStart();
    await start();
  };
  return engine;
}

describe("Lifecycle", () => {
  it("closes in reverse order of opening, goes on past a failing step, and closes once", async () => {
    const { logger, lines } = capturingLogger();
    const lifecycle = new Lifecycle(logger);
    const closed: string[] = [];
    lifecycle.opened("connection", async () => closed.push("connection"));
    lifecycle.opened("queue", async () => {
      closed.push("queue");
      throw new Error("queue close failed");
    });
    lifecycle.opened("worker", async () => closed.push("worker"));
    expect(lifecycle.openNames).toEqual(["connection", "queue", "worker"]);
    await Promise.all([lifecycle.close(), lifecycle.close()]);
    await lifecycle.close();
    expect(closed).toEqual(["worker", "queue", "connection"]);
    expect(lines.filter((l) => l.event === "shutdown_step_failed").map((l) => l.step)).toEqual(["queue"]);
    expect(() => lifecycle.opened("late", async () => undefined)).toThrow(/closing/);
  });
});

describe("startPool", () => {
  it("closes the engine, the HTTP server and the queues' connection when the model fails to load", async () => {
    const before = await poolConnections();
    const { logger, lines } = capturingLogger();
    // a WAV file is no model: whisper.cpp refuses it while the pool is half way up
    const notAModel = path.resolve(import.meta.dirname, "../fixtures/jfk.wav");
    await expect(startTestPool(redis.url, { whisperModel: notAModel, logger })).rejects.toThrow(
      /engine host exited while loading|loading .* failed/,
    );
    expect(lines.find((l) => l.event === "pool_start_failed")?.opened).toEqual([
      "queue connection",
      "queues",
      "http server",
      "engine",
    ]);
    expect(lines.filter((l) => l.event === "lifecycle_closed").map((l) => l.step)).toEqual([
      "engine",
      "http server",
      "queues",
      "queue connection",
    ]);
    const url = String(lines.find((l) => l.event === "pool_http_listening")?.url);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    await waitFor(async () => (await poolConnections()) === before, {
      description: "the pool's Redis connections to close",
    });
  });

  it("closes what it opened in reverse order when Redis goes away half way through start-up", async () => {
    const flaky = await startPrivateRedis();
    const { logger, lines } = capturingLogger();
    // Redis disappears while the model loads: the lost-job watcher's connection cannot be opened
    const engine = await engineStartingAfter(() => flaky.stop());
    await expect(startTestPool(flaky.url, { engineInstance: engine, logger })).rejects.toThrow();
    expect(lines.find((l) => l.event === "pool_start_failed")?.opened).toEqual([
      "queue connection",
      "queues",
      "http server",
      "engine",
    ]);
    expect(lines.filter((l) => l.event === "lifecycle_closed").map((l) => l.step)).toEqual([
      "engine",
      "http server",
      "queues",
      "queue connection",
    ]);
    expect(engine.ready).toBe(false);
    const url = String(lines.find((l) => l.event === "pool_http_listening")?.url);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it("stops a running pool in reverse order: workers, watcher, engine, HTTP server, queues, connections", async () => {
    const before = await poolConnections();
    const { logger, lines } = capturingLogger();
    const pool = await startTestPool(redis.url, { logger });
    const engine = pool.engine as WhisperCppEngine;
    const hostPid = engine.hostPid!;
    expect(await poolConnections()).toBeGreaterThan(before);
    expect((await fetch(`${pool.url}/healthz`)).status).toBe(200);
    await pool.stop();
    expect(lines.filter((l) => l.event === "lifecycle_closed").map((l) => l.step)).toEqual([
      "transcription worker",
      "callback worker",
      "worker connection",
      "lost-job watcher",
      "lost-job watcher connection",
      "engine",
      "http server",
      "queues",
      "queue connection",
    ]);
    expect(lines.some((l) => l.event === "shutdown_step_failed")).toBe(false);
    expect(engine.ready).toBe(false);
    await waitFor(() => !isAlive(hostPid), { description: "the engine host process to exit" });
    await expect(fetch(`${pool.url}/healthz`)).rejects.toThrow();
    await waitFor(async () => (await poolConnections()) === before, {
      description: "the pool's Redis connections to close",
    });
  });
});
