/**
 * Long-audio benchmark for the pool (a script, not a test): peak RSS of the pool process and throughput (audio
 * seconds per wall second) for a short and a long input, in `DECODE_MODE=stream` and `whole`, plus an optional huge
 * input (`--huge-gib`, e.g. 5) generated on the fly by ffmpeg while it is served (never on disk).
 *
 * Each run is its own child process (`--child`): the pool (startPool, one job) and nothing else, so its peak RSS
 * (`VmHWM` in /proc/<pid>/status, read by this parent when the callback has arrived) is the pool's. The parent serves
 * the audio (files streamed from disk, or ffmpeg's output), receives the callback and starts one private Redis.
 * The engine host (whisper.cpp, a child of the pool process) is sampled separately every 250 ms.
 *
 *   npx tsx bench/pool/long.ts [--short-seconds 60] [--long-seconds 10800] [--modes stream,whole,stream:0]
 *     [--rounds 1] [--shuffle] [--seed 1] [--huge-gib 0] [--model synthetic:mini] [--max-tokens 4] [--batch 2]
 *     [--memory] [--write]
 *
 * `--short-seconds 0` leaves the short input out. With several rounds the summary gives, per variant and input,
 * the median and the range of throughput and peak RSS, and for every variant against `whole` the median of the
 * per-round ratios with a distribution-free 95 % confidence interval (order statistics of the binomial), for the
 * throughput and for the CPU seconds the pool and its children (ffmpeg, the engine host) spent on the job, from
 * /proc between the dispatch and the callback: CPU time is far less sensitive to other work on the machine than
 * wall time.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, readdir, rename } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { constants, PerformanceObserver } from "node:perf_hooks";
import { parseArgs, promisify } from "node:util";

// @ts-expect-error -- a plain .mjs helper shared by the benchmark scripts
import { writeSection } from "../../scripts/lib/bench-doc.mjs";

const run = promisify(execFile);
const { values: args } = parseArgs({
  options: {
    child: { type: "boolean", default: false },
    redis: { type: "string" },
    mode: { type: "string", default: "stream" },
    audio: { type: "string" },
    callback: { type: "string" },
    job: { type: "string" },
    "max-bytes": { type: "string", default: String(500 * 1024 * 1024) },
    "short-seconds": { type: "string", default: "60" },
    "long-seconds": { type: "string", default: "10800" },
    /** Variants, run interleaved: `stream`, `whole`, or `stream:<GC_SLACK_MIB>[:<GC_MAX_SHARE_PERCENT>]` (e.g.
     *  `stream:0`, V8's own pace; `stream:16:100`, no cap on the time spent collecting). */
    modes: { type: "string", default: "stream,whole" },
    /** Rounds: each runs every input in every variant (A B A B …), so load drift hits all variants alike. */
    rounds: { type: "string", default: "1" },
    /** Runs the variants of each round in a random order (seeded, `--seed`), so no variant always runs first. */
    shuffle: { type: "boolean", default: false },
    seed: { type: "string", default: "1" },
    "huge-gib": { type: "string", default: "0" },
    model: { type: "string", default: "synthetic:mini" },
    "max-tokens": { type: "string", default: "4" },
    batch: { type: "string", default: "2" },
    /** `whispercpp` (the real engine, synthetic weights) or `instant`: an OpenAI-compatible server in this parent
     *  that answers each window at once, so the figures are the pool's own pipeline (fetch, ffmpeg, windows,
     *  scheduler, stitching, callback) with no inference cost. */
    engine: { type: "string", default: "whispercpp" },
    "engine-url": { type: "string" },
    heading: { type: "string", default: "" },
    /** Also sample the pool's `process.memoryUsage()` every 100 ms and print each field's peak (where RSS goes). */
    memory: { type: "boolean", default: false },
    /** Diagnostic: run the pool process with `--expose-gc` and collect garbage every N ms (0: never), so that the
     *  peaks show the live set instead of what V8 has not collected yet. Not a pool setting. */
    "gc-every-ms": { type: "string", default: "0" },
    /** The pool's GC_SLACK_MIB (its default when left out; 0: V8's own pace). */
    "gc-slack": { type: "string" },
    /** The pool's GC_MAX_SHARE_PERCENT (its default when left out). */
    "gc-share": { type: "string" },
    write: { type: "boolean", default: false },
  },
});
const SAMPLE_RATE = 16_000;
/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ, 100 on Linux). */
const CLOCK_TICKS = 100;
const DIR = path.join(os.tmpdir(), "vtt-bench-long");

if (args.child) await child();
else await parent();

/** One pool, one job; stays up until SIGTERM so the parent can read its peak RSS. */
async function child(): Promise<void> {
  const { createLogger } = await import("../../gpu-worker/src/log.ts");
  const { startPool } = await import("../../gpu-worker/src/pool.ts");
  const { BRIDGE_KEYS, CALLBACK_KEYS, dispatch } = await import("../../gpu-worker/test/helpers/edge.ts");
  const batchSize = Number(args.batch);
  const pool = await startPool({
    redisUrl: args.redis!,
    host: "127.0.0.1",
    port: 0,
    queuePrefix: `bench-long-${args.job}`,
    bridgeKeys: BRIDGE_KEYS,
    callbackKeys: CALLBACK_KEYS,
    whisperModel: args.model,
    ...(args.engine === "instant"
      ? { engine: "openai-compatible" as const, openaiBaseUrl: args["engine-url"], openaiModel: "instant" }
      : {}),
    batchSize,
    batchWaitMs: 20,
    whisperThreads: Math.max(1, Math.floor(os.availableParallelism() / batchSize)),
    whisperMaxTokens: Number(args["max-tokens"]),
    whisperTemperatureInc: 0,
    whisperBestOf: 1,
    decodeMode: args.mode as "stream" | "whole",
    ...(args["gc-slack"] !== undefined ? { gcSlackMib: Number(args["gc-slack"]) } : {}),
    ...(args["gc-share"] !== undefined ? { gcMaxSharePercent: Number(args["gc-share"]) } : {}),
    maxAudioBytes: Number(args["max-bytes"]),
    maxAudioSeconds: 6 * 3600,
    jobTimeoutMs: 3_600_000,
    logLevel: "silent",
    logger: createLogger({ level: "silent" }),
  });
  const peaks: Record<string, number> = {};
  // every collection in the pool process, V8's own and the garbage limit's: count and time per kind
  const gcs = new Map<string, { count: number; ms: number }>();
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      const name =
        kind === constants.NODE_PERFORMANCE_GC_MAJOR
          ? "major"
          : kind === constants.NODE_PERFORMANCE_GC_MINOR
            ? "minor"
            : "other";
      const total = gcs.get(name) ?? { count: 0, ms: 0 };
      total.count++;
      total.ms += entry.duration;
      gcs.set(name, total);
    }
  });
  if (args.memory) observer.observe({ entryTypes: ["gc"] });
  const gcEvery = Number(args["gc-every-ms"]);
  const collector = gcEvery > 0 ? setInterval(() => (globalThis as { gc?: () => void }).gc?.(), gcEvery).unref() : null;
  const sampler = args.memory
    ? setInterval(() => {
        for (const [key, value] of Object.entries(process.memoryUsage())) peaks[key] = Math.max(peaks[key] ?? 0, value);
      }, 100)
    : null;
  process.once("SIGTERM", () => {
    if (collector) clearInterval(collector);
    if (sampler) {
      clearInterval(sampler);
      const mib = Object.entries(peaks).map(([key, value]) => `${key} ${(value / 2 ** 20).toFixed(0)} MiB`);
      process.stderr.write(`pool memoryUsage() peaks: ${mib.join(", ")}\n`);
      observer.disconnect();
      const times = [...gcs].map(([kind, t]) => `${kind} ${t.count} (${(t.ms / 1000).toFixed(1)} s)`);
      process.stderr.write(`pool collections: ${times.join(", ")}\n`);
    }
    void pool.stop().then(() => process.exit(0));
  });
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const response = await dispatch(pool.url, {
    job_id: args.job,
    language: "en",
    prompt: null,
    audio_url: args.audio,
    audio_expires_at: exp,
    callback_url: args.callback,
    traceparent: null,
  });
  if (response.status !== 202) throw new Error(`dispatch answered ${response.status}: ${await response.text()}`);
  process.stdout.write("dispatched\n");
}

interface RunResult {
  round: number;
  input: string;
  /** The variant as given in `--modes` (`stream:0` …). */
  mode: string;
  audioSeconds: number;
  wallSeconds: number;
  throughput: number;
  poolPeakMiB: number;
  hostPeakMiB: number;
  /** CPU seconds of the pool process and its children (ffmpeg, engine host) from the dispatch to the callback. */
  cpuSeconds: number;
  status: string;
}

async function parent(): Promise<void> {
  await mkdir(DIR, { recursive: true });
  const shortSeconds = Number(args["short-seconds"]);
  const longSeconds = Number(args["long-seconds"]);
  const hugeGiB = Number(args["huge-gib"]);
  const inputs = [
    ...(shortSeconds > 0 ? [{ name: `${formatSeconds(shortSeconds)} WAV`, file: await makeWav(shortSeconds) }] : []),
    ...(longSeconds > 0 ? [{ name: `${formatSeconds(longSeconds)} WAV`, file: await makeWav(longSeconds) }] : []),
  ];
  const { startPrivateRedis } = await import("../../gpu-worker/src/redis-server.ts");
  const redis = await startPrivateRedis();
  const waiters = new Map<string, (body: CallbackBody) => void>();
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://bench");
    if (request.method === "GET" && url.pathname.startsWith("/audio/")) {
      const name = decodeURIComponent(url.pathname.slice("/audio/".length));
      if (name === "huge") return serveHuge(response, hugeGiB);
      const file = path.join(DIR, name);
      response.writeHead(200, { "content-length": String(statSync(file).size) });
      createReadStream(file).pipe(response);
      return;
    }
    // the `instant` engine: OpenAI's verbose_json, one segment per window
    if (request.method === "GET" && url.pathname === "/v1/models") {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ object: "list", data: [{ id: "instant", object: "model", owned_by: "bench" }] }));
      return;
    }
    if (request.method === "POST" && url.pathname === "/v1/audio/transcriptions") {
      request.resume();
      request.on("end", () => {
        response.writeHead(200, { "content-type": "application/json" });
        response.end(
          JSON.stringify({
            task: "transcribe",
            language: "english",
            duration: 1,
            text: " window",
            segments: [{ id: 0, start: 0, end: 1, text: " window", avg_logprob: -0.1, no_speech_prob: 0.01 }],
          }),
        );
      });
      return;
    }
    if (request.method === "POST" && url.pathname === "/callback") {
      const chunks: Buffer[] = [];
      request.on("data", (c: Buffer) => chunks.push(c));
      request.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as CallbackBody;
        response.writeHead(200, { "content-type": "application/json" }).end("{}");
        waiters.get(body.job_id)?.(body);
      });
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const results: RunResult[] = [];
  let n = 0;
  const once = async (
    round: number,
    input: string,
    audioPath: string,
    variant: string,
    maxBytes: number,
  ): Promise<void> => {
    const [mode, variantSlack, variantShare] = variant.split(":");
    const gcSlack = variantSlack ?? args["gc-slack"];
    const job = `tr_benchlong_${Date.now()}_${n++}`;
    const body = new Promise<CallbackBody>((resolve) => waiters.set(job, resolve));
    const started = performance.now();
    const proc = spawn(
      process.execPath,
      [
        ...(Number(args["gc-every-ms"]) > 0 ? ["--expose-gc"] : []),
        "--import",
        "tsx",
        import.meta.filename,
        "--child",
        `--redis=${redis.url}`,
        `--mode=${mode}`,
        `--audio=${base}/audio/${audioPath}`,
        `--callback=${base}/callback`,
        `--job=${job}`,
        `--max-bytes=${maxBytes}`,
        `--model=${args.model}`,
        `--max-tokens=${args["max-tokens"]}`,
        `--batch=${args.batch}`,
        `--engine=${args.engine}`,
        `--engine-url=${base}/v1`,
        ...(args.memory ? ["--memory"] : []),
        `--gc-every-ms=${args["gc-every-ms"]}`,
        ...(gcSlack !== undefined ? [`--gc-slack=${gcSlack}`] : []),
        ...(variantShare !== undefined ? [`--gc-share=${variantShare}`] : []),
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let dispatchedAt = 0;
    let cpuAtDispatch = 0;
    proc.stdout!.on("data", (d: Buffer) => {
      if (d.toString().includes("dispatched")) {
        dispatchedAt = performance.now();
        cpuAtDispatch = cpuTicks(proc.pid!);
      }
    });
    let hostPeak = 0;
    const sampler = setInterval(() => {
      void descendantsRss(proc.pid!).then((kib) => (hostPeak = Math.max(hostPeak, kib)));
    }, 250);
    const result = await Promise.race([body, exitOf(proc).then((code) => ({ exited: code }) as const)]);
    const cpuSeconds = (cpuTicks(proc.pid!) - cpuAtDispatch) / CLOCK_TICKS;
    clearInterval(sampler);
    const wallSeconds = (performance.now() - (dispatchedAt || started)) / 1000;
    const poolPeak = peakRss(proc.pid!);
    await stop(proc);
    if ("exited" in result) throw new Error(`the pool process exited (${result.exited}) before a callback`);
    const audioSeconds = result.status === "completed" ? result.result.duration_seconds : 0;
    const totalSeconds = result.status === "completed" ? result.result.timings.total_ms / 1000 : wallSeconds;
    const row: RunResult = {
      round,
      input,
      mode: variant,
      audioSeconds,
      wallSeconds: totalSeconds,
      throughput: audioSeconds / totalSeconds,
      poolPeakMiB: poolPeak / 1024,
      hostPeakMiB: hostPeak / 1024,
      cpuSeconds,
      status: result.status === "completed" ? "completed" : `failed: ${result.error.code} (${result.error.message})`,
    };
    console.error(
      `round ${round}, ${input}, ${variant}: ${row.status}, ${audioSeconds.toFixed(0)} s audio in ${totalSeconds.toFixed(1)} s ` +
        `(${row.throughput.toFixed(1)} audio s/s), pool peak RSS ${row.poolPeakMiB.toFixed(0)} MiB, ` +
        `engine host peak ${row.hostPeakMiB.toFixed(0)} MiB, CPU ${cpuSeconds.toFixed(2)} s`,
    );
    results.push(row);
  };
  const variants = args.modes!.split(",");
  const rounds = Math.max(1, Number(args.rounds));
  const random = seededRandom(Number(args.seed));
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const input of inputs) {
        const order = args.shuffle ? shuffled(variants, random) : variants;
        for (const variant of order) {
          await once(round, input.name, path.basename(input.file), variant, 500 * 1024 * 1024);
        }
      }
    }
    if (hugeGiB > 0) {
      await once(1, `${hugeGiB} GiB WAV (96 kHz, 8 ch, f32), generated`, "huge", "stream", 6 * 1024 ** 3);
    }
  } finally {
    server.close();
    server.closeAllConnections();
    await redis.stop();
  }
  const table = [
    "| round | input | DECODE_MODE | result | audio s | job s | audio s / s | CPU s | pool peak RSS | engine host peak RSS |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...results.map(
      (r) =>
        `| ${r.round} | ${r.input} | ${r.mode} | ${r.status} | ${r.audioSeconds.toFixed(0)} | ${r.wallSeconds.toFixed(1)} | ${r.throughput.toFixed(1)} | ${r.cpuSeconds.toFixed(2)} | ${r.poolPeakMiB.toFixed(0)} MiB | ${r.hostPeakMiB.toFixed(0)} MiB |`,
    ),
  ];
  const ok = results.filter((r) => r.status === "completed");
  const of = (variant: string, input: string): RunResult[] => ok.filter((r) => r.mode === variant && r.input === input);
  const summary: string[] = [];
  if (rounds > 1) {
    summary.push(
      "| input | DECODE_MODE | runs | audio s / s: median (min–max) | pool peak RSS: median (min–max) |",
      "|---|---|---|---|---|",
    );
    for (const input of inputs) {
      for (const variant of variants) {
        const rows = of(variant, input.name);
        if (rows.length === 0) continue;
        const t = rows.map((r) => r.throughput);
        const m = rows.map((r) => r.poolPeakMiB);
        summary.push(
          `| ${input.name} | ${variant} | ${rows.length} | ${median(t).toFixed(2)} (${Math.min(...t).toFixed(2)}–${Math.max(...t).toFixed(2)}) | ${median(m).toFixed(0)} MiB (${Math.min(...m).toFixed(0)}–${Math.max(...m).toFixed(0)}) |`,
        );
      }
    }
    summary.push("");
  }
  const ratios: string[] = [];
  const [short, long] = [inputs[0], inputs[1]];
  for (const variant of variants) {
    if (!short || !long) break;
    const a = of(variant, short.name);
    const b = of(variant, long.name);
    if (a.length === 0 || b.length === 0) continue;
    const perRound = b
      .map((r) => [r, a.find((x) => x.round === r.round)] as const)
      .filter((pair): pair is readonly [RunResult, RunResult] => pair[1] !== undefined)
      .map(([l, s]) => l.poolPeakMiB / s.poolPeakMiB);
    ratios.push(
      `${variant}: long ÷ short peak RSS ${(median(b.map((r) => r.poolPeakMiB)) / median(a.map((r) => r.poolPeakMiB))).toFixed(2)}× (medians` +
        (perRound.length > 1 ? `; per round ${perRound.map((x) => x.toFixed(2)).join(", ")}` : "") +
        `), throughput on the long input ${median(b.map((r) => r.throughput)).toFixed(1)} audio s/s`,
    );
  }
  // stream ÷ whole on the longest input, per round (each pair ran back to back) and of the medians
  const last = inputs.at(-1)!.name;
  for (const variant of variants.filter((v) => v !== "whole")) {
    const a = of(variant, last);
    const w = of("whole", last);
    if (a.length === 0 || w.length === 0) continue;
    const pairs = a
      .map((r) => [r, w.find((x) => x.round === r.round)] as const)
      .filter((pair): pair is readonly [RunResult, RunResult] => pair[1] !== undefined);
    const perRound = pairs.map(([x, y]) => x.throughput / y.throughput);
    ratios.push(
      `${variant} ÷ whole throughput on the ${last} input: ${(median(a.map((r) => r.throughput)) / median(w.map((r) => r.throughput))).toFixed(3)}× (medians` +
        (perRound.length > 1
          ? `; per round ${perRound.map((x) => x.toFixed(3)).join(", ")}, median ${median(perRound).toFixed(3)}`
          : "") +
        ")",
    );
    if (pairs.length >= 6) {
      const cpu = pairs.map(([x, y]) => x.cpuSeconds / y.cpuSeconds);
      ratios.push(
        `${variant} ÷ whole, median of the ${pairs.length} per-round ratios with a distribution-free 95 % CI: ` +
          `throughput ${formatCi(perRound)}, CPU seconds per job ${formatCi(cpu)}`,
      );
    }
  }
  const output = [...table, "", ...summary, ...ratios.map((r) => `- ${r}`)].join("\n");
  console.log(`\n${output}`);
  if (args.write) {
    const quoted = process.argv.slice(2).map((a) => (/[\s,"]/.test(a) && !a.startsWith("--") ? JSON.stringify(a) : a));
    const command = `npx tsx bench/pool/long.ts ${quoted.join(" ")}`.trim();
    const heading = `## Whisper pool, long audio (bench/pool/long.ts)${args.heading ? `: ${args.heading}` : ""}`;
    const engine =
      args.engine === "instant"
        ? "engine `instant` (an OpenAI-compatible server answering each window at once: the pool's own pipeline)"
        : `engine whisper.cpp, model ${args.model}, greedy, max ${args["max-tokens"]} tokens per window`;
    writeSection(
      "docs/benchmarks.md",
      heading,
      [
        heading,
        "",
        `Measured ${new Date().toISOString().slice(0, 16)} UTC on ${os.availableParallelism()} cores (shared with ` +
          `other work; load average ${os.loadavg()[0]!.toFixed(1)} at the end), ${engine}, BATCH_SIZE ${args.batch}:`,
        "",
        "```sh",
        command,
        "```",
        "",
        output,
        "",
      ].join("\n"),
    );
  }
}

type CallbackBody =
  | { job_id: string; status: "completed"; result: { duration_seconds: number; timings: { total_ms: number } } }
  | { job_id: string; status: "failed"; error: { code: string; message: string } };

/** A 16 kHz mono WAV of tone bursts (quiet points every few seconds), made once. */
async function makeWav(seconds: number): Promise<string> {
  const file = path.join(DIR, `tone-${seconds}.wav`);
  if (existsSync(file)) return file;
  const partial = `${file}.partial.wav`;
  await run("ffmpeg", [
    "-hide_banner",
    "-loglevel",
    "error",
    "-y",
    "-f",
    "lavfi",
    "-i",
    `sine=frequency=330:sample_rate=${SAMPLE_RATE}:duration=${seconds}`,
    "-af",
    "volume='0.2+0.8*abs(sin(2*PI*t/9))':eval=frame",
    "-ac",
    "1",
    "-c:a",
    "pcm_s16le",
    partial,
  ]);
  await rename(partial, file);
  return file;
}

/** Streams a WAV of `gib` GiB (96 kHz, 8 channels, 32-bit float: 3 MB per second of audio) from ffmpeg's stdout. */
function serveHuge(response: http.ServerResponse, gib: number): void {
  const bytesPerSecond = 96_000 * 8 * 4;
  const seconds = Math.ceil((gib * 1024 ** 3) / bytesPerSecond);
  const ffmpeg = spawn(
    "ffmpeg",
    [
      "-hide_banner",
      "-loglevel",
      "error",
      "-f",
      "lavfi",
      "-i",
      `sine=frequency=330:sample_rate=96000:duration=${seconds}`,
      "-af",
      "volume='0.2+0.8*abs(sin(2*PI*t/9))':eval=frame",
      "-ac",
      "8",
      "-c:a",
      "pcm_f32le",
      // a WAV written to a pipe has no sizes in its header (ffmpeg cannot seek back): readers read to the end,
      // also past 4 GiB (RF64 written to a pipe would declare 0 bytes of data)
      "-f",
      "wav",
      "pipe:1",
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  response.writeHead(200, { "content-type": "audio/wav" });
  ffmpeg.stdout.pipe(response);
  response.on("close", () => ffmpeg.kill("SIGKILL"));
}

/**
 * CPU time (ticks) of a process, of its children that exited (cutime, cstime: ffmpeg) and of its live children
 * (the engine host), from /proc.
 */
function cpuTicks(pid: number): number {
  const times = (p: number | string): number => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      // fields after the command's closing parenthesis: 3 state … 14 utime, 15 stime, 16 cutime, 17 cstime
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
    } catch {
      return 0;
    }
  };
  let total = times(pid);
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const children = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").split(" ").filter(Boolean);
    for (const child of children) total += times(child);
  }
  return total;
}

/**
 * The median of `values` with its distribution-free 95 % confidence interval: the order statistics x(k) and
 * x(n − k + 1) for the largest k with P(Binomial(n, ½) < k) ≤ 2.5 %.
 */
function formatCi(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  let k = 0;
  let below = 0;
  const choose = (m: number): number => {
    let c = 1;
    for (let i = 1; i <= m; i++) c = (c * (n - m + i)) / i;
    return c;
  };
  // below: P(X ≤ k − 1); grow k while P(X ≤ k) stays ≤ 2.5 %
  while (k < n && below + choose(k) / 2 ** n <= 0.025) {
    below += choose(k) / 2 ** n;
    k++;
  }
  if (k === 0) return `${median(values).toFixed(3)}× (too few rounds for a 95 % interval)`;
  const coverage = 1 - 2 * below;
  return `${median(values).toFixed(3)}× [${sorted[k - 1]!.toFixed(3)}, ${sorted[n - k]!.toFixed(3)}] (coverage ${(coverage * 100).toFixed(1)} %)`;
}

/** A small seeded generator (mulberry32), so a shuffled run can be repeated. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function shuffled<T>(values: T[], random: () => number): T[] {
  const copy = [...values];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

/** Peak resident set (KiB) of a live process, from /proc. */
function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** Current resident set (KiB) of the largest descendant that is not ffmpeg (the engine host). */
async function descendantsRss(pid: number): Promise<number> {
  let most = 0;
  const children = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  for (const task of children) {
    const list = await import("node:fs/promises")
      .then((fs) => fs.readFile(`/proc/${pid}/task/${task}/children`, "utf8"))
      .catch(() => "");
    for (const child of list.split(" ").filter(Boolean)) {
      try {
        const status = readFileSync(`/proc/${child}/status`, "utf8");
        if (/^Name:\s+ffmpeg/m.test(status)) continue;
        most = Math.max(most, Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0));
      } catch {
        // gone meanwhile
      }
    }
  }
  return most;
}

function exitOf(proc: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => proc.once("exit", (code) => resolve(code)));
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = exitOf(proc);
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  await exited;
  clearTimeout(timer);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function formatSeconds(seconds: number): string {
  return seconds >= 3600 ? `${seconds / 3600} h` : seconds >= 60 ? `${seconds / 60} min` : `${seconds} s`;
}
