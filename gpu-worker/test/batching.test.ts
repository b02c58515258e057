/**
 * Batching with right-padding, proved on the real whisper.cpp (mini synthetic model, greedy decoding):
 * zero-padding a window changes nothing, and every job's text and segments from a batched pool equal those of the
 * same job processed alone.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { rightPad, SAMPLE_RATE } from "../src/audio/windows.ts";
import { type BatchReport, BatchScheduler } from "../src/batch/scheduler.ts";
import type { CallbackBody } from "../src/callback/deliver.ts";
import { DEFAULT_WINDOW_OPTIONS, type EngineWindow } from "../src/engines/engine.ts";
import { WhisperCppEngine } from "../src/engines/whispercpp.ts";
import { createLogger } from "../src/log.ts";
import { ensureSyntheticModel } from "../src/models/synthetic.ts";
import { type PrivateRedis, startPrivateRedis } from "../src/redis-server.ts";
import { bytesOf, CACHE_DIR, decodeReference, jfkRepeated, jfkSlice, tone } from "./helpers/audio.ts";
import { dispatch, type FakeEdge, startFakeEdge } from "./helpers/edge.ts";
import { startTestPool } from "./helpers/pool.ts";

const DECODING = { maxTokens: 24, temperatureInc: 0, bestOf: 1, threads: 1 };

describe("right-padding", () => {
  let engine: WhisperCppEngine;
  let clips: Float32Array[];

  beforeAll(async () => {
    const modelPath = await ensureSyntheticModel({ shape: "mini", cacheDir: `${CACHE_DIR}/models` });
    engine = new WhisperCppEngine({
      binding: "smart-whisper",
      modelPath,
      modelName: "synthetic-mini",
      synthetic: true,
      capacity: 4,
      useGpu: false,
      logger: createLogger({ level: "silent" }),
      ...DECODING,
    });
    const files = await Promise.all([jfkSlice(0, 4), jfkSlice(3, 6), tone(523, 2), jfkSlice(6, 5)]);
    [clips] = [await Promise.all(files.map(decodeReference)), await engine.start()];
  });
  afterAll(async () => {
    await engine?.close();
  });

  const window = (samples: Float32Array, length = samples.length): EngineWindow => ({
    samples: rightPad(samples, length),
    durationMs: Math.round((samples.length / SAMPLE_RATE) * 1000),
    language: "en",
    prompt: null,
    ...DEFAULT_WINDOW_OPTIONS,
  });

  it("gives the same result for a window alone, zero-padded to 30 s, and inside a padded batch", async () => {
    const alone = [];
    for (const clip of clips) alone.push(await engine.transcribeBatch([window(clip)]));
    const paddedTo30 = await engine.transcribeBatch(clips.map((clip) => window(clip, 30 * SAMPLE_RATE)));
    const longest = Math.max(...clips.map((c) => c.length));
    const paddedToLongest = await engine.transcribeBatch(clips.map((clip) => window(clip, longest)));
    const values = (outcomes: PromiseSettledResult<unknown>[]): unknown[] =>
      outcomes.map((o) => {
        expect(o.status).toBe("fulfilled");
        return (o as PromiseFulfilledResult<unknown>).value;
      });
    const reference = alone.flatMap(values);
    expect(reference.every((r) => (r as { segments: unknown[] }).segments.length > 0)).toBe(true);
    expect(values(paddedTo30)).toEqual(reference);
    expect(values(paddedToLongest)).toEqual(reference);
  });

  it("forms batches of at most batchSize, sorted longest first, waiting at most batchWaitMs", async () => {
    const reports: BatchReport[] = [];
    const scheduler = new BatchScheduler({ engine, batchSize: 3, batchWaitMs: 30, onBatch: (r) => reports.push(r) });
    const results = await Promise.all(
      [...clips, clips[0]!].map((samples) =>
        scheduler.submit({ samples, language: "en", prompt: null, ...DEFAULT_WINDOW_OPTIONS }),
      ),
    );
    expect(results).toHaveLength(5);
    expect(reports.map((r) => r.size)).toEqual([3, 2]);
    // padded to the longest of each batch: first batch holds 4 s, 6 s, 2 s → 3 × 6 s
    expect(reports[0]!.paddedSamples).toBe(3 * clips[1]!.length);
    const lonely = await scheduler.submit({
      samples: clips[2]!,
      language: "en",
      prompt: null,
      ...DEFAULT_WINDOW_OPTIONS,
    });
    expect(lonely.segments.length).toBeGreaterThan(0);
    expect(reports.at(-1)!.size).toBe(1);
  });

  it("runs inference outside the pool's process", () => {
    expect(engine.hostPid).toBeTypeOf("number");
    expect(engine.hostPid).not.toBe(process.pid);
  });
});

describe("batched pool = each job alone", () => {
  let redis: PrivateRedis;
  let edge: FakeEdge;
  const jobs: { id: string; audio: Buffer }[] = [];

  beforeAll(async () => {
    [redis, edge] = await Promise.all([startPrivateRedis(), startFakeEdge()]);
    const files = await Promise.all([
      jfkSlice(0, 4),
      jfkSlice(0, 11),
      tone(330, 3),
      jfkSlice(2, 7),
      jfkRepeated(2, 1),
      jfkSlice(5, 2.5),
    ]);
    for (const [i, file] of files.entries()) jobs.push({ id: `job${i}`, audio: await bytesOf(file) });
  });
  afterAll(async () => {
    await edge?.close();
    await redis?.stop();
  });

  async function transcribeAll(
    prefix: string,
    options: { batchSize: number; oneAtATime: boolean },
  ): Promise<Map<string, CallbackBody>> {
    const pool = await startTestPool(redis.url, {
      batchSize: options.batchSize,
      batchWaitMs: 200,
      jobConcurrency: 8,
      windowSeconds: 5,
      whisperThreads: DECODING.threads,
    });
    try {
      const results = new Map<string, CallbackBody>();
      const run = async (job: (typeof jobs)[number]): Promise<void> => {
        const id = `tr_${prefix}_${job.id}`;
        expect((await dispatch(pool.url, await edge.addJob(id, job.audio))).status).toBe(202);
        results.set(job.id, (await edge.waitForCallback(id, { timeoutMs: 60_000 })).body);
      };
      if (options.oneAtATime) for (const job of jobs) await run(job);
      else await Promise.all(jobs.map(run));
      const sizes = await pool.metrics.batchSize.get();
      const count = sizes.values.find((v) => v.metricName === "vtt_pool_batch_size_count")!.value;
      const sum = sizes.values.find((v) => v.metricName === "vtt_pool_batch_size_sum")!.value;
      if (options.batchSize === 1) expect(sum).toBe(count);
      else expect(sum / count).toBeGreaterThan(1.5);
      return results;
    } finally {
      await pool.stop();
    }
  }

  it("gives every job the same text and segments batched (4 per batch) as alone", async () => {
    const alone = await transcribeAll("alone", { batchSize: 1, oneAtATime: true });
    const batched = await transcribeAll("batched", { batchSize: 4, oneAtATime: false });
    for (const job of jobs) {
      const a = alone.get(job.id)!;
      const b = batched.get(job.id)!;
      expect(a.status, job.id).toBe("completed");
      expect(b.status, job.id).toBe("completed");
      if (a.status !== "completed" || b.status !== "completed") continue;
      expect(b.result.text, job.id).toBe(a.result.text);
      expect(b.result.segments, job.id).toEqual(a.result.segments);
      expect(b.result.duration_seconds).toBe(a.result.duration_seconds);
    }
    // the 11 s and 23 s jobs span several 5 s windows: stitched times run past the first window
    const long = alone.get("job4")!;
    expect(long.status === "completed" && long.result.segments.at(-1)!.start).toBeGreaterThan(5);
  });
});
