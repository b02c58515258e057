/**
 * Pool throughput benchmark (a script, not a test): audio seconds transcribed per wall-clock second for
 * - the bare engine: smart-whisper called directly on the decoded clips, one after another, all cores per call;
 * - the whole pool (signed dispatch → BullMQ → fetch → ffmpeg → batch scheduler → whisper.cpp → signed callback)
 *   at batch sizes 1, 4 and 8 (threads per decoding state = cores / batch size).
 * The same clips, model and decoding settings everywhere (greedy, one pass, capped tokens). Rounds alternate the
 * configurations so background load hits them alike; the median round is reported.
 *
 *   npx tsx bench/pool/run.ts [--model synthetic:tiny] [--rounds 2] [--batches 1,4,8] [--max-tokens 32] [--probe-ms 500]
 *   npx tsx bench/pool/run.ts --paired [--rounds 3]     # batch 1 vs bare engine, clip by clip
 */
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

import { DEFAULT_MODEL_CACHE_DIR } from "../../gpu-worker/src/config.ts";
import { createLogger } from "../../gpu-worker/src/log.ts";
import { resolveModel } from "../../gpu-worker/src/models/resolve.ts";
import { startPool } from "../../gpu-worker/src/pool.ts";
import { startPrivateRedis } from "../../gpu-worker/src/redis-server.ts";
import { bytesOf, decodeReference, jfkSlice, makeClip } from "../../gpu-worker/test/helpers/audio.ts";
import { BRIDGE_KEYS, CALLBACK_KEYS, dispatch, startFakeEdge } from "../../gpu-worker/test/helpers/edge.ts";

const { values: args } = parseArgs({
  options: {
    model: { type: "string", default: "synthetic:tiny" },
    rounds: { type: "string", default: "2" },
    batches: { type: "string", default: "1,4,8" },
    "max-tokens": { type: "string", default: "32" },
    /** How often /healthz is probed during pool runs (0 = never); the probe itself costs a little CPU. */
    "probe-ms": { type: "string", default: "500" },
    /** Use only the first N clips. */
    clips: { type: "string", default: "8" },
    /** Also run the bare engine with N windows decoded at once (1 thread each when N ≥ cores), no pool. */
    "bare-batches": { type: "string", default: "" },
    /** Paired mode: per clip, bare engine then the pool (batch 1, one job at a time), alternating; robust to drift. */
    paired: { type: "boolean", default: false },
  },
});
const CORES = os.availableParallelism();
const ROUNDS = Number(args.rounds);
const BATCHES = args.batches!.split(",").map(Number);
const MAX_TOKENS = Number(args["max-tokens"]);
const PROBE_MS = Number(args["probe-ms"]);

/** Mixed lengths (2.5–30 s), speech and speech-like sound, as the pool sees in practice. */
async function makeClips(): Promise<{ name: string; file: string }[]> {
  const jfk = path.resolve(import.meta.dirname, "../../gpu-worker/fixtures/jfk.wav");
  const specs: [string, Promise<string>][] = [
    ["jfk 0–2.5 s", jfkSlice(0, 2.5)],
    ["jfk 0–5 s", jfkSlice(0, 5)],
    ["jfk 3–11 s", jfkSlice(3, 8)],
    ["jfk 11 s", jfkSlice(0, 11)],
    [
      "jfk ×2 (23 s)",
      makeClip({
        name: "bench-jfk-x2",
        input: ["-i", jfk, "-i", jfk, "-filter_complex", "[0:a][1:a]concat=n=2:v=0:a=1"],
      }),
    ],
    [
      "jfk + tone (16 s)",
      makeClip({
        name: "bench-jfk-tone",
        input: [
          "-i",
          jfk,
          "-f",
          "lavfi",
          "-i",
          "sine=frequency=220:duration=5:sample_rate=16000",
          "-filter_complex",
          "[0:a][1:a]concat=n=2:v=0:a=1",
        ],
      }),
    ],
    ["jfk reversed (11 s)", makeClip({ name: "bench-jfk-rev", input: ["-i", jfk, "-af", "areverse"] })],
    ["jfk ×3 cut (29 s)", makeClip({ name: "bench-jfk-29", input: ["-stream_loop", "2", "-i", jfk, "-t", "29"] })],
  ];
  return Promise.all(specs.map(async ([name, file]) => ({ name, file: await file })));
}

interface Measurement {
  config: string;
  audioSeconds: number;
  wallSeconds: number;
  /** audio seconds per wall second */
  throughput: number;
  healthzMaxMs?: number;
}

async function bareEngine(modelPath: string, clips: Float32Array[], parallel = 1): Promise<Measurement> {
  const smartWhisper = createRequire(import.meta.url)("smart-whisper") as {
    WhisperModel: { load(file: string, gpu?: boolean): Promise<{ handle: unknown; free(): Promise<void> }> };
    binding: {
      transcribe(h: unknown, pcm: Float32Array, p: object, done: (r: unknown) => void, progress: () => void): void;
    };
  };
  const model = await smartWhisper.WhisperModel.load(modelPath, false);
  const threads = Math.max(1, Math.floor(CORES / parallel));
  const params = {
    strategy: 0,
    n_threads: threads,
    language: "en",
    temperature: 0,
    temperature_inc: 0,
    best_of: 1,
    max_tokens: MAX_TOKENS,
    format: "detail",
  };
  const started = performance.now();
  // `parallel` calls at once on the one loaded model: each gets its own whisper_state (see engines/whispercpp-host.ts)
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < clips.length) {
      const pcm = clips[next++]!;
      await new Promise((resolve) =>
        smartWhisper.binding.transcribe(model.handle, pcm, params, resolve, () => undefined),
      );
    }
  };
  await Promise.all(Array.from({ length: parallel }, lane));
  const wallSeconds = (performance.now() - started) / 1000;
  await model.free();
  const audioSeconds = clips.reduce((sum, c) => sum + c.length / 16_000, 0);
  const config =
    parallel === 1
      ? "bare engine (smart-whisper, sequential)"
      : `bare engine, ${parallel} states at once (${threads} thread/state)`;
  return { config, audioSeconds, wallSeconds, throughput: audioSeconds / wallSeconds };
}

async function pool(redisUrl: string, batchSize: number, clipBytes: Buffer[], round: number): Promise<Measurement> {
  const edge = await startFakeEdge();
  const running = await startPool({
    redisUrl,
    host: "127.0.0.1",
    port: 0,
    queuePrefix: `bench-${Date.now()}-${batchSize}-${round}`,
    bridgeKeys: BRIDGE_KEYS,
    callbackKeys: CALLBACK_KEYS,
    whisperModel: args.model,
    batchSize,
    batchWaitMs: 50,
    jobConcurrency: Math.max(8, 2 * batchSize),
    whisperThreads: Math.max(1, Math.floor(CORES / batchSize)),
    whisperMaxTokens: MAX_TOKENS,
    whisperTemperatureInc: 0,
    whisperBestOf: 1,
    logLevel: "silent",
    logger: createLogger({ level: "silent" }),
  });
  try {
    const bodies = await Promise.all(
      clipBytes.map((bytes, i) => edge.addJob(`tr_bench_${batchSize}_${round}_${i}`, bytes)),
    );
    let healthzMaxMs = 0;
    let probing = PROBE_MS > 0;
    const probe = (async () => {
      while (probing) {
        const t = performance.now();
        await fetch(`${running.url}/healthz`);
        healthzMaxMs = Math.max(healthzMaxMs, performance.now() - t);
        await new Promise((resolve) => setTimeout(resolve, PROBE_MS));
      }
    })();
    const started = performance.now();
    await Promise.all(bodies.map((body) => dispatch(running.url, body)));
    const callbacks = await Promise.all(
      bodies.map((body) => edge.waitForCallback(String(body.job_id), { timeoutMs: 1_800_000 })),
    );
    const wallSeconds = (performance.now() - started) / 1000;
    probing = false;
    await probe;
    let audioSeconds = 0;
    for (const callback of callbacks) {
      if (callback.body.status !== "completed") throw new Error(`job failed: ${JSON.stringify(callback.body)}`);
      audioSeconds += callback.body.result.duration_seconds;
    }
    return {
      config: `pool, batch ${batchSize} (${Math.max(1, Math.floor(CORES / batchSize))} thread/state)`,
      audioSeconds,
      wallSeconds,
      throughput: audioSeconds / wallSeconds,
      ...(PROBE_MS > 0 ? { healthzMaxMs } : {}),
    };
  } finally {
    await running.stop();
    await edge.close();
  }
}

/**
 * Paired batch-1 comparison: for each clip, the bare engine transcribes it, then the pool transcribes it end to end
 * (dispatch → callback, nothing else in flight, so no overlap of decoding and inference helps the pool). Background
 * load then hits both sides of each pair alike.
 */
async function paired(redisUrl: string, modelPath: string, clipBytes: Buffer[], pcms: Float32Array[]): Promise<void> {
  const smartWhisper = createRequire(import.meta.url)("smart-whisper") as {
    WhisperModel: { load(file: string, gpu?: boolean): Promise<{ handle: unknown; free(): Promise<void> }> };
    binding: {
      transcribe(h: unknown, pcm: Float32Array, p: object, done: (r: unknown) => void, progress: () => void): void;
    };
  };
  const model = await smartWhisper.WhisperModel.load(modelPath, false);
  const params = {
    strategy: 0,
    n_threads: CORES,
    language: "en",
    temperature: 0,
    temperature_inc: 0,
    best_of: 1,
    max_tokens: MAX_TOKENS,
    format: "detail",
  };
  const edge = await startFakeEdge();
  const running = await startPool({
    redisUrl,
    host: "127.0.0.1",
    port: 0,
    queuePrefix: `bench-paired-${Date.now()}`,
    bridgeKeys: BRIDGE_KEYS,
    callbackKeys: CALLBACK_KEYS,
    whisperModel: args.model,
    batchSize: 1,
    batchWaitMs: 50,
    whisperThreads: CORES,
    whisperMaxTokens: MAX_TOKENS,
    whisperTemperatureInc: 0,
    whisperBestOf: 1,
    logLevel: "silent",
    logger: createLogger({ level: "silent" }),
  });
  const ratios: number[] = [];
  let bareTotal = 0;
  let poolTotal = 0;
  let audioTotal = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, pcm] of pcms.entries()) {
        const t0 = performance.now();
        await new Promise((resolve) =>
          smartWhisper.binding.transcribe(model.handle, pcm, params, resolve, () => undefined),
        );
        const bare = performance.now() - t0;
        const body = await edge.addJob(`tr_paired_${round}_${i}`, clipBytes[i]!);
        const t1 = performance.now();
        await dispatch(running.url, body);
        await edge.waitForCallback(String(body.job_id), { timeoutMs: 600_000 });
        const pool = performance.now() - t1;
        ratios.push(bare / pool);
        bareTotal += bare;
        poolTotal += pool;
        audioTotal += pcm.length / 16_000;
        console.error(
          `round ${round + 1} clip ${i}: bare ${bare.toFixed(0)} ms, pool ${pool.toFixed(0)} ms, pool/bare throughput ${(bare / pool).toFixed(3)}`,
        );
      }
    }
  } finally {
    await running.stop();
    await edge.close();
    await model.free();
  }
  console.log(`\n| paired, batch 1, ${ROUNDS} × ${pcms.length} clips | audio s / wall s | pool ÷ bare |`);
  console.log("|---|---|---|");
  console.log(`| bare engine | ${(audioTotal / (bareTotal / 1000)).toFixed(3)} | 1.00× |`);
  console.log(
    `| pool, batch 1, one job at a time | ${(audioTotal / (poolTotal / 1000)).toFixed(3)} | ${(bareTotal / poolTotal).toFixed(3)}× overall, median per clip ${median(ratios).toFixed(3)}× |`,
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const clips = (await makeClips()).slice(0, Number(args.clips));
const clipBytes = await Promise.all(clips.map((c) => bytesOf(c.file)));
const pcms = await Promise.all(clips.map((c) => decodeReference(c.file)));
const model = await resolveModel(args.model!, {
  cacheDir: process.env.MODEL_CACHE_DIR ?? DEFAULT_MODEL_CACHE_DIR,
  allowDownload: true,
});
const redis = await startPrivateRedis();
if (args.paired) {
  try {
    await paired(redis.url, model.path, clipBytes, pcms);
  } finally {
    await redis.stop();
  }
  process.exit(0);
}
console.error(
  `model ${model.name}, ${CORES} cores, ${clips.length} clips, ${pcms.reduce((s, p) => s + p.length / 16_000, 0).toFixed(1)} s audio, max_tokens ${MAX_TOKENS}, ${ROUNDS} rounds`,
);
const results = new Map<string, Measurement[]>();
try {
  for (let round = 0; round < ROUNDS; round++) {
    const bareBatches = args["bare-batches"] ? args["bare-batches"].split(",").map(Number) : [];
    const runs: (() => Promise<Measurement>)[] = [
      () => bareEngine(model.path, pcms),
      ...bareBatches.map((b) => () => bareEngine(model.path, pcms, b)),
      ...BATCHES.map((b) => () => pool(redis.url, b, clipBytes, round)),
    ];
    for (const run of runs) {
      const m = await run();
      console.error(
        `round ${round + 1}: ${m.config}: ${m.throughput.toFixed(3)} audio s/s (${m.wallSeconds.toFixed(1)} s wall)${m.healthzMaxMs !== undefined ? `, /healthz max ${m.healthzMaxMs.toFixed(0)} ms` : ""}`,
      );
      results.set(m.config, [...(results.get(m.config) ?? []), m]);
    }
  }
} finally {
  await redis.stop();
}
const bare = median(results.get("bare engine (smart-whisper, sequential)")!.map((m) => m.throughput));
const bareBest = Math.max(...results.get("bare engine (smart-whisper, sequential)")!.map((m) => m.throughput));
console.log(
  `\n| configuration | audio s / wall s, median of ${ROUNDS} | vs bare (median) | best round | vs bare (best) | all rounds | max /healthz latency |`,
);
console.log("|---|---|---|---|---|---|---|");
for (const [config, ms] of results) {
  const t = median(ms.map((m) => m.throughput));
  const healthz = ms.some((m) => m.healthzMaxMs !== undefined)
    ? `${Math.max(...ms.map((m) => m.healthzMaxMs ?? 0)).toFixed(0)} ms`
    : "—";
  const best = Math.max(...ms.map((m) => m.throughput));
  console.log(
    `| ${config} | ${t.toFixed(3)} | ${(t / bare).toFixed(2)}× | ${best.toFixed(3)} | ${(best / bareBest).toFixed(2)}× | ${ms.map((m) => m.throughput.toFixed(3)).join(", ")} | ${healthz} |`,
  );
}
