/**
 * The bound on uncollected garbage (batch/garbage-limit.ts): when it looks and collects, and that a streamed job on
 * the real ffmpeg and whisper.cpp keeps the process's ArrayBuffer memory within the slack of its live set.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { DecodeOptions } from "../src/audio/decode.ts";
import { SAMPLE_RATE } from "../src/audio/windows.ts";
import { exposedGc, GARBAGE_CHECK_BYTES, GarbageLimit } from "../src/batch/garbage-limit.ts";
import { BatchScheduler } from "../src/batch/scheduler.ts";
import { transcribeStream } from "../src/batch/stream-job.ts";
import { poolOptionsFromEnv, resolvePoolSettings } from "../src/config.ts";
import { DEFAULT_WINDOW_OPTIONS, type EngineWindowResult } from "../src/engines/engine.ts";
import { WhisperCppEngine } from "../src/engines/whispercpp.ts";
import { createLogger } from "../src/log.ts";
import { ensureSyntheticModel } from "../src/models/synthetic.ts";
import { bytesOf, CACHE_DIR, makeClip } from "./helpers/audio.ts";
import { type FakeEdge, startFakeEdge } from "./helpers/edge.ts";

const MiB = 2 ** 20;

describe("GarbageLimit", () => {
  it("looks once per checkEveryBytes of decoded audio and collects only past the slack", () => {
    let level = 100 * MiB;
    let looks = 0;
    let collected = 0;
    const limit = new GarbageLimit({
      slackBytes: 10 * MiB,
      checkEveryBytes: MiB,
      now: () => 0,
      arrayBuffers: () => {
        looks++;
        return level;
      },
      collect: () => {
        collected++;
        level = 100 * MiB;
      },
    });
    expect(looks).toBe(1);
    limit.note(MiB / 2);
    expect(looks).toBe(1);
    limit.note(MiB / 2);
    expect(looks).toBe(2);
    level += 9 * MiB;
    limit.note(MiB);
    expect(collected).toBe(0);
    level += 2 * MiB;
    limit.note(MiB);
    // 11 MiB above the level after the last collection: one collection, and the level is read again after it
    expect(collected).toBe(1);
    expect(limit.collections).toBe(1);
    expect(looks).toBe(5);
  });

  it("follows the level down when V8 collected by itself, and does not collect again for a live set that grew", () => {
    let level = 50 * MiB;
    let collected = 0;
    const limit = new GarbageLimit({
      slackBytes: 8 * MiB,
      checkEveryBytes: 1,
      // collections that take no time: the time share never holds one back
      now: () => 0,
      arrayBuffers: () => level,
      collect: () => collected++,
    });
    level = 20 * MiB;
    limit.note(1);
    level = 29 * MiB;
    limit.note(1);
    // 9 MiB above 20, not above 50
    expect(collected).toBe(1);
    // what stayed after the collection is live: the next one waits for 8 MiB more
    level = 36 * MiB;
    limit.note(1);
    expect(collected).toBe(1);
    level = 38 * MiB;
    limit.note(1);
    expect(collected).toBe(2);
  });

  it("spends at most maxTimeShare of the time collecting: after d ms collecting, the next waits d × (1 / share − 1)", () => {
    let clock = 0;
    let level = 0;
    let collected = 0;
    const limit = new GarbageLimit({
      slackBytes: MiB,
      checkEveryBytes: 1,
      maxTimeShare: 0.1,
      now: () => clock,
      arrayBuffers: () => level,
      collect: () => {
        collected++;
        clock += 50;
        level = 0;
      },
    });
    level = 2 * MiB;
    limit.note(1);
    expect(collected).toBe(1);
    expect(limit.collectingMs).toBe(50);
    // 50 ms of collecting at 10 %: none in the next 450 ms, however much garbage there is
    level = 8 * MiB;
    clock += 449;
    limit.note(1);
    expect(collected).toBe(1);
    clock += 1;
    limit.note(1);
    expect(collected).toBe(2);
  });

  it("refuses a slack that is not positive and a time share outside (0, 1]", () => {
    expect(() => new GarbageLimit({ slackBytes: 0, collect: () => undefined })).toThrow(/slackBytes/);
    expect(() => new GarbageLimit({ slackBytes: 1, maxTimeShare: 0, collect: () => undefined })).toThrow(/Share/);
  });

  it("collects the process's real garbage with V8's own gc, without a gc global", () => {
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
    /** Peak growth of ArrayBuffer memory while 256 MiB of 64 KiB buffers are dropped, as ffmpeg's pipe reads are. */
    const churn = (limit: GarbageLimit | null): number => {
      const start = process.memoryUsage().arrayBuffers;
      let most = 0;
      for (let i = 0; i < 4096; i++) {
        const buffer = Buffer.allocUnsafeSlow(64 * 1024);
        buffer[0] = i;
        limit?.note(buffer.length);
        most = Math.max(most, process.memoryUsage().arrayBuffers - start);
      }
      return most;
    };
    // no cap on the time: this loop does nothing but make garbage
    const limit = new GarbageLimit({ slackBytes: 8 * MiB, checkEveryBytes: 256 * 1024, maxTimeShare: 1 });
    const bounded = churn(limit);
    expect(limit.collections).toBeGreaterThanOrEqual(8);
    // the slack, one look's worth, and what V8 still sweeps on its own thread just after a collection
    expect(bounded).toBeLessThan(20 * MiB);
    // left to itself, V8 lets it grow to about 64 MiB before collecting
    exposedGc()();
    expect(churn(null)).toBeGreaterThan(32 * MiB);
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });
});

describe("GC_SLACK_MIB and GC_MAX_SHARE_PERCENT", () => {
  const env = { BRIDGE_KEYS: "e:s", CALLBACK_KEYS: "p:s", REDIS_URL: "redis://127.0.0.1:1" };

  it("defaults to 16 MiB and 5 % of the time, reads the environment, and 0 turns it off", () => {
    expect(resolvePoolSettings(poolOptionsFromEnv(env))).toMatchObject({ gcSlackMib: 16, gcMaxSharePercent: 5 });
    expect(
      resolvePoolSettings(poolOptionsFromEnv({ ...env, GC_SLACK_MIB: "0", GC_MAX_SHARE_PERCENT: "20" })),
    ).toMatchObject({ gcSlackMib: 0, gcMaxSharePercent: 20 });
    expect(() => resolvePoolSettings(poolOptionsFromEnv({ ...env, GC_SLACK_MIB: "-1" }))).toThrow(/gcSlackMib/);
    expect(() => resolvePoolSettings(poolOptionsFromEnv({ ...env, GC_MAX_SHARE_PERCENT: "0" }))).toThrow(
      /gcMaxSharePercent/,
    );
  });
});

describe("a streamed job with the garbage limit, on the real ffmpeg and whisper.cpp", () => {
  let edge: FakeEdge;
  let engine: WhisperCppEngine;
  let scheduler: BatchScheduler;

  beforeAll(async () => {
    edge = await startFakeEdge();
    const modelPath = await ensureSyntheticModel({ shape: "mini", cacheDir: `${CACHE_DIR}/models` });
    engine = new WhisperCppEngine({
      binding: "smart-whisper",
      modelPath,
      modelName: "synthetic-mini",
      synthetic: true,
      capacity: 2,
      useGpu: false,
      logger: createLogger({ level: "silent" }),
      maxTokens: 2,
      temperatureInc: 0,
      bestOf: 1,
      threads: 1,
    });
    await engine.start();
    scheduler = new BatchScheduler({ engine, batchSize: 2, batchWaitMs: 10 });
  });
  afterAll(async () => {
    await engine?.close();
    await edge?.close();
  });

  it("is told every decoded byte and keeps ArrayBuffer memory within the slack of the live set", async () => {
    const seconds = 150;
    const file = await makeClip({
      name: "garbage-tone-150",
      input: ["-f", "lavfi", "-i", `sine=frequency=330:duration=${seconds}`],
    });
    const body = await edge.addJob("tr_garbage_limit", await bytesOf(file));
    const decode: DecodeOptions = {
      ffmpegPath: "ffmpeg",
      maxAudioBytes: 50_000_000,
      maxAudioSeconds: 3_600,
      fetchTimeoutMs: 10_000,
      urlPolicy: { local: true, allowedHosts: "" },
      signal: AbortSignal.timeout(300_000),
    };
    const submit = (samples: Float32Array, signal: AbortSignal, ownsBuffer: boolean): Promise<EngineWindowResult> =>
      scheduler.submit({ samples, ownsBuffer, language: "en", prompt: null, ...DEFAULT_WINDOW_OPTIONS, signal });
    let looks = 0;
    const gc = exposedGc();
    gc();
    const start = process.memoryUsage().arrayBuffers;
    const slack = 8 * MiB;
    const garbage = new GarbageLimit({
      slackBytes: slack,
      arrayBuffers: () => {
        looks++;
        return process.memoryUsage().arrayBuffers;
      },
    });
    let most = 0;
    const sampler = setInterval(() => (most = Math.max(most, process.memoryUsage().arrayBuffers - start)), 10);
    const result = await transcribeStream(body.audio_url as string, {
      decode,
      windows: {},
      maxWindowsInFlight: 2,
      submit,
      garbage,
    }).finally(() => clearInterval(sampler));
    expect(result.durationSeconds).toBe(seconds);
    // one look at construction, one per MiB of 16 kHz float samples, and one after each collection
    expect(looks).toBe(1 + Math.floor((seconds * SAMPLE_RATE * 4) / GARBAGE_CHECK_BYTES) + garbage.collections);
    // 2.5 minutes turn over several times the slack (9.6 MB of samples, 4.8 MB of body, each window cloned to the
    // engine host), so collections must have run
    expect(garbage.collections).toBeGreaterThan(0);
    // live: 2 windows held + 1 spare (1.9 MB each), the cutter (2 MB), the body read ahead (all 4.8 MB of this
    // input); plus the slack, one look's worth and what V8 sweeps late (V8 alone lets garbage reach ~64 MiB)
    expect(most).toBeLessThan(3 * 1.92e6 + 2 * MiB + 4.8e6 + slack + GARBAGE_CHECK_BYTES + 8 * MiB);
  }, 300_000);
});
