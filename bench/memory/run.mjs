#!/usr/bin/env node
// bench/memory: the Worker isolate's JS heap (V8, read through the inspector `wrangler dev` exposes, not the process
// RSS) while it handles big audio: uploads, an audio_url fetch, and the consumer handing a job to each provider
// adapter (loopback fake upstreams that drain and count what they receive). Peak growth over the GC'd baseline is
// reported per case; the goal is under 16 MB for every case.
// Usage: node bench/memory/run.mjs [--mb 90] [--url-gib 1] [--url-timeout-s 1800] [--tus-gib 1] [--tus-chunk-mib 64]
//   [--only name,name] [--sample-ms 10] [--state name] [--store-yield-kib N] [--network-events] [--profile] [--verbose]
//   [--write]
//   [--snapshot-after-s N [--snapshot-file F]]
// --profile: a CPU profile of the Worker isolate (the inspector's Profiler) per case, written to
// .wrangler/bench-memory-<case>.cpuprofile, and its top functions by self time printed.
// (Node 20: the inspector client is `ws`, through wrangler's dependencies; Node ≥ 22 has a global WebSocket.)
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { cpus } from "node:os";
import { parseArgs } from "node:util";

import { writeSection } from "../../scripts/lib/bench-doc.mjs";
import {
  applyLocalMigrations,
  ensureDevVars,
  freePort,
  run,
  stopAll,
  waitForHttp,
} from "../../scripts/lib/dev-env.mjs";

const { values } = parseArgs({
  options: {
    mb: { type: "string", default: "90" },
    "tus-gib": { type: "string", default: "1" },
    "url-gib": { type: "string", default: "1" },
    "tus-chunk-mib": { type: "string", default: "64" },
    "url-timeout-s": { type: "string", default: "1800" },
    // the Worker's STORE_YIELD_BYTES in KiB (unset: its default, 1024; 0: never yield to the event loop)
    "store-yield-kib": { type: "string", default: "" },
    // a state folder of its own (.wrangler/bench-memory-state-<name>), so two runs can share the machine
    state: { type: "string", default: "" },
    only: { type: "string", default: "" },
    "sample-ms": { type: "string", default: "10" },
    "gc-ms": { type: "string", default: "250" },
    // a V8 heap snapshot of the isolate this many seconds into each case (0: none), written to --snapshot-file
    // (`-<case index>` appended); read it with `node bench/memory/retainers.mjs FILE` or Chrome DevTools' Memory tab
    "snapshot-after-s": { type: "string", default: "0" },
    // …or the first time what is held after a GC passes this many MB (0: never)
    "snapshot-over-mb": { type: "string", default: "0" },
    "snapshot-file": { type: "string", default: ".wrangler/bench-memory.heapsnapshot" },
    write: { type: "boolean", default: false },
    // print wrangler dev's own output (reloads, uncaught errors) to stderr
    verbose: { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
    // leave the Network domain wrangler dev enables on (by default the bench turns it off: see `inspector`)
    "network-events": { type: "boolean", default: false },
  },
});
const MB = 1024 * 1024;
const UPLOAD_BYTES = Number(values.mb) * MB;
const URL_BYTES = Number(values["url-gib"]) * 1024 * MB;
const TUS_BYTES = Number(values["tus-gib"]) * 1024 * MB;
/** the audio_url case's time budget: the Worker's fetch deadline and how long the case waits for `fetched_at` */
const URL_FETCH_TIMEOUT_S = Number(values["url-timeout-s"]);
/** one PATCH of the tus case: 64 MiB by default (a PATCH may carry up to MAX_UPLOAD_BYTES, 100 MiB) */
const TUS_CHUNK_BYTES = Number(values["tus-chunk-mib"]) * MB;
const GOAL_BYTES = 16 * MB;
const SAMPLE_MS = Number(values["sample-ms"]);
/** how often a second sampler forces a GC before reading: the peak of what is still reachable (held, not garbage) */
const GC_MS = Number(values["gc-ms"]);

// ---------------------------------------------------------------------------------------------------------------
// audio generated on the fly: a WAV header, then a tone, in 64 KiB chunks (never a whole file in this process)

function wavHeader(dataBytes, channels = 1) {
  const h = Buffer.alloc(44);
  h.write("RIFF", 0);
  h.writeUInt32LE(Math.min(0xffffffff, 36 + dataBytes), 4);
  h.write("WAVEfmt ", 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(16000, 24);
  h.writeUInt32LE(32000 * channels, 28);
  h.writeUInt16LE(2 * channels, 32);
  h.writeUInt16LE(16, 34);
  h.write("data", 36);
  h.writeUInt32LE(Math.min(0xffffffff, dataBytes), 40);
  return h;
}
const TONE = Buffer.alloc(64 * 1024);
for (let i = 0; i < TONE.length; i += 2) TONE.writeInt16LE(Math.round(Math.sin(i / 20) * 8000), i);

/** A WAV of exactly `total` bytes as an async generator of chunks (the same tone interleaved on every channel). */
async function* wavChunks(total, channels = 1) {
  const header = wavHeader(total - 44, channels);
  yield header;
  let left = total - header.length;
  while (left > 0) {
    const n = Math.min(left, TONE.length);
    yield n === TONE.length ? TONE : TONE.subarray(0, n);
    left -= n;
  }
}

/** Bytes [start, end) of the same WAV as `wavChunks(total)`, generated from any offset (a tus resume). */
async function* wavRange(total, start, end) {
  const header = wavHeader(total - 44);
  let at = start;
  if (at < header.length) {
    yield header.subarray(at, Math.min(end, header.length));
    at = Math.min(end, header.length);
  }
  while (at < end) {
    const phase = (at - header.length) % TONE.length;
    const n = Math.min(end - at, TONE.length - phase);
    yield TONE.subarray(phase, phase + n);
    at += n;
  }
}

function multipartBody(total) {
  const boundary = "bench-memory-boundary";
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="provider"\r\n\r\nwhisper-pool\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\nContent-Type: audio/wav\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  async function* body() {
    yield head;
    yield* wavChunks(total);
    yield tail;
  }
  return { body, length: head.length + total + tail.length, contentType: `multipart/form-data; boundary=${boundary}` };
}

// ---------------------------------------------------------------------------------------------------------------
// loopback upstreams: OpenAI-compatible, Deepgram, the pool (fetches its signed audio URL), an audio origin

const received = { openai: null, deepgram: null, openaiCalls: [] };
/** the Worker's JSON log lines seen on wrangler dev's stdout */
const workerEvents = [];
/** GETs of the audio origin (the audio_url case): bytes sent and when, so the case reports the fetch's MB/s */
const audioFetches = [];
const fetchProgress = (f) => {
  const seconds = ((f.ended ?? performance.now()) - f.started) / 1000;
  return `${(f.sent / MB).toFixed(0)} MiB in ${seconds.toFixed(1)} s (${(f.sent / MB / seconds).toFixed(1)} MiB/s)`;
};
/** dispatches the fake pool accepted, by job id (the pool case then fetches the signed audio URL as the pool would) */
const dispatches = new Map();
const OPENAI_JSON = {
  text: "bench",
  language: "english",
  duration: 1,
  segments: [{ start: 0, end: 1, text: " bench" }],
};
const DEEPGRAM_JSON = {
  metadata: { duration: 1 },
  results: { channels: [{ alternatives: [{ transcript: "bench", words: [] }] }] },
};

async function drain(stream) {
  let bytes = 0;
  for await (const chunk of stream) bytes += chunk.length;
  return bytes;
}

function startUpstreams(port) {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    const reply = (status, body) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    try {
      if (req.method === "POST" && url.pathname === "/openai/v1/audio/transcriptions") {
        const header = {
          length: req.headers["content-length"] ?? null,
          chunked: req.headers["transfer-encoding"] ?? null,
        };
        received.openai = { ...header, bytes: await drain(req) };
        received.openaiCalls.push(received.openai);
        return reply(200, OPENAI_JSON);
      }
      if (req.method === "POST" && url.pathname === "/deepgram/v1/listen") {
        const header = {
          length: req.headers["content-length"] ?? null,
          chunked: req.headers["transfer-encoding"] ?? null,
        };
        received.deepgram = { ...header, bytes: await drain(req) };
        return reply(200, DEEPGRAM_JSON);
      }
      if (req.method === "POST" && url.pathname === "/pool/v1/jobs") {
        const chunks = [];
        for await (const chunk of req) chunks.push(chunk);
        const dispatch = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        dispatches.set(dispatch.job_id, dispatch);
        return reply(202, { accepted: true });
      }
      if (req.method === "GET" && url.pathname === "/audio/long.wav") {
        const total = Number(url.searchParams.get("bytes"));
        res.writeHead(200, { "content-type": "audio/wav", "content-length": String(total) });
        const fetch = { started: performance.now(), sent: 0, status: "sending" };
        audioFetches.push(fetch);
        for await (const chunk of wavChunks(total)) {
          if (res.destroyed) break;
          if (!res.write(chunk)) await drained(res);
          const before = fetch.sent;
          fetch.sent += chunk.length;
          if (Math.floor(fetch.sent / (64 * MB)) > Math.floor(before / (64 * MB))) {
            console.error(`audio origin: ${fetchProgress(fetch)}`);
          }
        }
        fetch.status = fetch.sent === total ? "sent" : "cut";
        fetch.ended = performance.now();
        console.error(`audio origin: ${fetch.status}, ${fetchProgress(fetch)}`);
        return res.end();
      }
      reply(404, { error: "not found" });
    } catch (error) {
      if (!res.headersSent) reply(500, { error: String(error) });
    }
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

// ---------------------------------------------------------------------------------------------------------------
// the inspector: Runtime.getHeapUsage sampled every SAMPLE_MS; the baseline is taken after a forced GC

// workerd answers inspector messages only while the isolate runs: one that arrives while the Worker is idle waits for
// the next request (the "hang": the baseline's `collectGarbage` sat there until something else hit the Worker). So
// while a command is unanswered, a `/healthz` request every 100 ms wakes the isolate to answer it.
async function inspector(port, wakeUrl) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl) ?? targets[0];
  const WebSocketImpl = globalThis.WebSocket ?? (await import("ws")).WebSocket;
  const socket = new WebSocketImpl(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let id = 0;
  const waiting = new Map();
  let snapshotChunks = null;
  socket.onmessage = (event) => {
    const message = JSON.parse(typeof event.data === "string" ? event.data : event.data.toString());
    if (message.method === "HeapProfiler.addHeapSnapshotChunk") snapshotChunks?.push(message.params.chunk);
    if (message.method) {
      const seen = inspectorEvents.get(message.method) ?? { count: 0, bytes: 0 };
      seen.count += 1;
      seen.bytes += typeof event.data === "string" ? event.data.length : event.data.byteLength;
      inspectorEvents.set(message.method, seen);
    }
    if (message.id && waiting.has(message.id)) {
      waiting.get(message.id)(message);
      waiting.delete(message.id);
    }
  };
  // One wake-up request at a time, its body read to the end: a wake-up every 100 ms for every waiting command, each
  // cancelled at its headers, piled up dozens of requests behind a long PATCH and reset their connections mid-answer.
  // Each gives up after 3 s: wrangler dev's proxy parks a GET whose forward to the Worker failed and sends it again
  // only when its next request arrives, so a lone wake-up waiting on it would wait forever.
  let waking = null;
  const wake = () => {
    waking ??= fetch(wakeUrl, { signal: AbortSignal.timeout(3000) })
      .then((r) => r.arrayBuffer())
      .catch(() => undefined)
      .finally(() => (waking = null));
  };
  // `timeoutMs`: given up (its wake-ups stopped) when no answer comes: once the Worker is idle and wrangler dev's proxy
  // holds the wake-ups, nothing answers
  const send = (method, params = {}, timeoutMs = 0) =>
    new Promise((resolve, reject) => {
      const mid = ++id;
      const nudge = setInterval(wake, 100);
      const giveUp = timeoutMs
        ? setTimeout(() => {
            clearInterval(nudge);
            waiting.delete(mid);
            reject(new Error(`${method}: no answer within ${timeoutMs} ms`));
          }, timeoutMs)
        : null;
      waiting.set(mid, (m) => {
        clearInterval(nudge);
        if (giveUp) clearTimeout(giveUp);
        if (m.error) reject(new Error(`${method}: ${m.error.message}`));
        else resolve(m.result);
      });
      socket.send(JSON.stringify({ id: mid, method, params }));
    });
  /** JS heap in use plus ArrayBuffer backing stores when V8 reports them (their bytes live outside the JS heap) */
  const heap = async () => {
    const usage = await send("Runtime.getHeapUsage", {}, 10_000);
    return { used: usage.usedSize, backing: usage.backingStorageSize ?? null };
  };
  /** A heap snapshot of the isolate (the chunks V8 streams while `takeHeapSnapshot` runs), as its JSON text. */
  const snapshot = async () => {
    snapshotChunks = [];
    await send("HeapProfiler.takeHeapSnapshot", { reportProgress: false, captureNumericValue: false });
    const text = snapshotChunks.join("");
    snapshotChunks = null;
    return text;
  };
  // wrangler dev's inspector proxy sends the isolate `Network.enable`, so workerd reports every subrequest and one
  // `Network.dataReceived` per body read (one per ~28 KiB of a fetched body); the proxy relays each event, and posts
  // each as a debug log to wrangler's Node process (one HTTP request per event). During a long fetch those thousands
  // of events crowd the proxy: heap answers and requests through it (the bench's /healthz ticks) wait behind them.
  // The bench reads no Network event, so it turns the domain off (`--network-events` leaves it on).
  if (!values["network-events"]) await send("Network.disable", {}, 30_000);
  return { send, heap, snapshot, wakeUrl, close: () => socket.close() };
}

/** events the isolate's inspector sent (method → count and bytes), reset per case: what crowds its WebSocket */
const inspectorEvents = new Map();

/** the running case's peaks so far (progress lines of long cases) */
let heapSoFar = () => "";

/**
 * `GET url` every `everyMs`, one at a time, each given up after 5 s; `stop()` ends it and resolves to how many were
 * answered and the longest time between two answers (how long the Worker kept other requests waiting).
 */
function keepAlive(url, everyMs) {
  let running = true;
  let answered = 0;
  let lastAnswerAt = performance.now();
  let longestGapMs = 0;
  const loop = (async () => {
    while (running) {
      const ok = await fetch(url, { signal: AbortSignal.timeout(5000) })
        .then((r) => r.arrayBuffer().then(() => r.ok))
        .catch(() => false);
      if (ok) {
        const at = performance.now();
        answered += 1;
        longestGapMs = Math.max(longestGapMs, at - lastAnswerAt);
        lastAnswerAt = at;
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { answered, longestGapMs: Math.max(longestGapMs, performance.now() - lastAnswerAt) };
    },
  };
}

/** Writes a CPU profile and prints its top functions by self time (file:line), the idle and GC nodes included. */
function writeProfile(name, profile) {
  const file = `.wrangler/bench-memory-${name.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}.cpuprofile`;
  writeFileSync(file, JSON.stringify(profile));
  const self = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const intervals = profile.timeDeltas ?? [];
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const f = node.callFrame;
    const where = `${f.functionName || "(anonymous)"} ${f.url ? `${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}` : ""}`;
    self.set(where, (self.get(where) ?? 0) + (intervals[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  console.error(`CPU profile ${file}: ${(total / 1e6).toFixed(1)} s sampled; top self time:`);
  for (const [where, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.error(
      `  ${((100 * us) / total).toFixed(1).padStart(5)} %  ${(us / 1e6).toFixed(2).padStart(7)} s  ${where}`,
    );
  }
}

async function measure(devtools, work, { profileName = null, snapshotFile = null } = {}) {
  const started = performance.now();
  inspectorEvents.clear();
  let snapshotStarted = false;
  const takeSnapshot = async () => {
    const at = ((performance.now() - started) / 1000).toFixed(1);
    const text = await devtools.snapshot().catch((error) => (console.error(`snapshot: ${error}`), null));
    if (!text) return;
    writeFileSync(snapshotFile, text);
    console.error(`heap snapshot ${at} s into the case: ${snapshotFile} (${(text.length / MB).toFixed(1)} MB)`);
  };
  await devtools.send("HeapProfiler.collectGarbage").catch(() => undefined);
  const base = await devtools.heap();
  let peak = { used: base.used, total: base.used + (base.backing ?? 0) };
  let live = base.used + (base.backing ?? 0);
  let lastLive = live;
  let sampling = true;
  // how often the isolate really answered: a peak is only as good as the samples behind it (workerd answers
  // inspector messages only when the isolate gets to them, which can be seconds apart while it is busy)
  let samples = 0;
  let lastSampleAt = performance.now();
  let longestGapMs = 0;
  const sampled = () => {
    const at = performance.now();
    samples += 1;
    longestGapMs = Math.max(longestGapMs, at - lastSampleAt);
    lastSampleAt = at;
  };
  const sampler = (async () => {
    while (sampling) {
      const now = await devtools.heap().catch(() => null);
      if (now) {
        sampled();
        peak.used = Math.max(peak.used, now.used);
        peak.total = Math.max(peak.total, now.used + (now.backing ?? 0));
      }
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
    }
  })();
  // the samples above include garbage not collected yet (a sealed part R2 has read stays counted until a GC);
  // this one collects first, so its peak is what the Worker really holds at that moment
  const liveSampler = (async () => {
    while (sampling) {
      await new Promise((r) => setTimeout(r, GC_MS));
      const ok = await devtools.send("HeapProfiler.collectGarbage", {}, 10_000).then(
        () => true,
        () => false,
      );
      const now = ok ? await devtools.heap().catch(() => null) : null;
      if (now) {
        lastLive = now.used + (now.backing ?? 0);
        live = Math.max(live, lastLive);
        const over = Number(values["snapshot-over-mb"]) * MB;
        if (over > 0 && snapshotFile && !snapshotStarted && lastLive - base.used - (base.backing ?? 0) > over) {
          snapshotStarted = true;
          await takeSnapshot();
        }
      }
    }
  })();
  heapSoFar = () =>
    `heap peak +${((peak.used - base.used) / MB).toFixed(1)} MB, held peak +${((live - base.used - (base.backing ?? 0)) / MB).toFixed(1)} MB, held now +${((lastLive - base.used - (base.backing ?? 0)) / MB).toFixed(1)} MB, ${samples} samples`;
  // wrangler dev's proxy parks a GET whose forward failed until its next request arrives (see `wake`): a tick every
  // second keeps requests arriving, so a status poll is never left waiting alone (e2e/support/wrangler-dev.ts does
  // the same)
  const ticker = keepAlive(devtools.wakeUrl, 1000);
  if (profileName) {
    await devtools.send("Profiler.enable");
    await devtools.send("Profiler.setSamplingInterval", { interval: 10_000 });
    await devtools.send("Profiler.start");
  }
  const snapshotAfterMs = Number(values["snapshot-after-s"]) * 1000;
  let snapshotTimer = null;
  let snapshotTaken = Promise.resolve();
  if (snapshotAfterMs > 0 && snapshotFile) {
    snapshotTimer = setTimeout(() => {
      snapshotStarted = true;
      snapshotTaken = takeSnapshot();
    }, snapshotAfterMs);
  }
  let detail;
  let ticks;
  try {
    detail = await work();
  } finally {
    if (snapshotTimer) clearTimeout(snapshotTimer);
    await snapshotTaken;
    sampling = false;
    await Promise.all([sampler, liveSampler]);
    if (profileName) {
      const stopped = await devtools.send("Profiler.stop", {}, 30_000).catch(() => null);
      if (stopped) writeProfile(profileName, stopped.profile);
      else console.error("CPU profile: Profiler.stop got no answer within 30 s");
    }
    ticks = await ticker.stop();
  }
  longestGapMs = Math.max(longestGapMs, performance.now() - lastSampleAt);
  const events = [...inspectorEvents].sort((a, b) => b[1].bytes - a[1].bytes);
  console.error(
    `inspector events during the case: ${events.map(([m, e]) => `${m} ×${e.count} (${(e.bytes / MB).toFixed(1)} MB)`).join(", ") || "none"}`,
  );
  return {
    samples,
    longestGapS: longestGapMs / 1000,
    ticks: ticks.answered,
    longestTickGapS: ticks.longestGapMs / 1000,
    seconds: (performance.now() - started) / 1000,
    heapGrowth: peak.used - base.used,
    withBuffers: base.backing === null ? null : peak.total - (base.used + base.backing),
    live: live - (base.used + (base.backing ?? 0)),
    detail,
  };
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  ensureDevVars();
  const state = `.wrangler/bench-memory-state${values.state ? `-${values.state}` : ""}`;
  rmSync(state, { recursive: true, force: true });
  await applyLocalMigrations({ persistTo: state, stdio: "ignore" });
  const [port, inspectorPort, upstreamPort] = [await freePort(), await freePort(), await freePort()];
  const upstreams = await startUpstreams(upstreamPort);
  upstreamsToClose = upstreams;
  const up = `http://127.0.0.1:${upstreamPort}`;
  const base = `http://127.0.0.1:${port}`;
  const vars = {
    PROVIDERS: "whisper-pool,openai,deepgram",
    POOL_URL: `${up}/pool`,
    PUBLIC_BASE_URL: base,
    OPENAI_BASE_URL: `${up}/openai/v1`,
    OPENAI_API_KEY: "sk-bench",
    // an OpenAI-compatible server that takes more than OpenAI's 25 MB, so the 90 MB job really streams to it
    OPENAI_MAX_AUDIO_BYTES: String(2 * UPLOAD_BYTES),
    DEEPGRAM_BASE_URL: `${up}/deepgram`,
    DEEPGRAM_API_KEY: "dg-bench",
    POOL_MAX_AUDIO_BYTES: String(8 * 1024 * MB),
    RATE_LIMIT_REQUESTS_PER_MINUTE: "1000000",
    // the cases send more than the default 2 GiB of upload bytes within a minute
    RATE_LIMIT_BYTES_PER_MINUTE: String(64 * 1024 * MB),
    MAX_URL_AUDIO_BYTES: String(URL_BYTES + MB),
    // the fetch's overall deadline (default 600 s): 1 GiB on 2 loaded cores runs at a few MiB/s (the case reports it)
    AUDIO_FETCH_TIMEOUT_MS: String(URL_FETCH_TIMEOUT_S * 1000),
    ...(values["store-yield-kib"] === ""
      ? {}
      : { STORE_YIELD_BYTES: String(Number(values["store-yield-kib"]) * 1024) }),
  };
  const varArgs = Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  const worker = run(
    "wrangler",
    "npx",
    ["wrangler", "dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort)].concat([
      "--persist-to",
      state,
      ...varArgs,
    ]),
    { quiet: !values.verbose, env: { ...process.env, CI: "1" } },
  );
  let devtools;
  try {
    // the Worker's own log lines (JSON, one per line), so a case can wait for an event without polling through the
    // dev proxy (whose parked GETs are described at `wake`)
    // read from both streams: the Worker's console.log may reach either (the 1 GiB run's `audio_url_fetched` line was
    // printed but never seen when only stdout was read)
    const pendingLog = { stdout: "", stderr: "" };
    const onLog = (name) => (chunk) => {
      const lines = (pendingLog[name] + chunk.toString()).split("\n");
      pendingLog[name] = lines.pop() ?? "";
      for (const line of lines) {
        const json = line.slice(line.indexOf("{"));
        if (!json.startsWith('{"ts"')) continue;
        try {
          workerEvents.push(JSON.parse(json));
        } catch {
          // a log line that is not one JSON object
        }
      }
    };
    worker.stdout.on("data", onLog("stdout"));
    worker.stderr.on("data", onLog("stderr"));
    await waitForHttp(`${base}/healthz`, 180_000);
    console.error(`wrangler dev is up on ${base}; inspector on ${inspectorPort}`);
    const admin = readFileSync(".dev.vars", "utf8").match(/^ADMIN_API_KEY=(.*)$/m)[1];
    const h = { authorization: `Bearer ${admin}`, "content-type": "application/json" };
    const tenant = await (
      await fetch(`${base}/v1/admin/tenants`, { method: "POST", headers: h, body: '{"name":"bench"}' })
    ).json();
    const { key } = await (
      await fetch(`${base}/v1/admin/tenants/${tenant.id}/keys`, { method: "POST", headers: h, body: "{}" })
    ).json();
    const auth = { authorization: `Bearer ${key}` };
    devtools = await inspector(inspectorPort, `${base}/healthz`);
    console.error("inspector connected:", JSON.stringify(await devtools.heap()));

    const rawUpload = async (provider, bytes = UPLOAD_BYTES, channels = 1) => {
      const multichannel = channels > 1 ? "&multichannel=true" : "";
      const res = await fetch(`${base}/v1/transcriptions?provider=${provider}${multichannel}`, {
        method: "POST",
        headers: { ...auth, "content-type": "audio/wav", "content-length": String(bytes) },
        body: ReadableStreamFromIterable(wavChunks(bytes, channels)),
        duplex: "half",
      });
      const body = await res.json();
      if (res.status !== 202) throw new Error(`upload: ${res.status} ${JSON.stringify(body)}`);
      return body.id;
    };
    // a status poll gives up after 10 s and counts as "not yet": wrangler dev's proxy may park a GET (see `wake`)
    const job = async (id) => {
      const res = await fetch(`${base}/v1/transcriptions/${id}`, {
        headers: auth,
        signal: AbortSignal.timeout(10_000),
      }).catch(() => null);
      return res ? res.json() : {};
    };
    const until = async (check, timeoutMs = 900_000) => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const value = await check();
        if (value) return value;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error("timed out waiting");
    };
    const settled = (id) =>
      until(async () => {
        const j = await job(id);
        return ["completed", "failed"].includes(j.status) ? j : null;
      });

    // One entry per case; `pending` names why a case cannot run yet (it is listed, not measured).
    const CASES = [
      {
        name: `${values.mb} MB multipart upload`,
        run: async () => {
          const form = multipartBody(UPLOAD_BYTES);
          const res = await fetch(`${base}/v1/transcriptions`, {
            method: "POST",
            headers: { ...auth, "content-type": form.contentType, "content-length": String(form.length) },
            body: ReadableStreamFromIterable(form.body()),
            duplex: "half",
          });
          const body = await res.json();
          if (res.status !== 202) throw new Error(`multipart: ${res.status} ${JSON.stringify(body)}`);
          return `202, ${body.audio_bytes} bytes stored`;
        },
      },
      {
        name: `${values.mb} MB raw upload`,
        run: async () => `202, job ${await rawUpload("whisper-pool")}`,
      },
      {
        name: `${values["tus-gib"]} GiB tus upload (${TUS_CHUNK_BYTES / MB} MiB PATCHes)`,
        run: async () => {
          const tus = { ...auth, "tus-resumable": "1.0.0" };
          const meta = (k, v) => `${k} ${Buffer.from(v).toString("base64")}`;
          const created = await fetch(`${base}/v1/uploads`, {
            method: "POST",
            headers: {
              ...tus,
              "upload-length": String(TUS_BYTES),
              "upload-metadata": [meta("filename", "long.wav"), meta("provider", "whisper-pool")].join(","),
            },
          });
          if (created.status !== 201) throw new Error(`tus create: ${created.status} ${await created.text()}`);
          const location = new URL(created.headers.get("location"), base).href;
          // each PATCH body is generated from its offset; a PATCH answered 503 or cut off (ECONNRESET) is resumed as a
          // tus client does (tus-js-client retries both): HEAD for the offset the server kept, then PATCH from there.
          // Under wrangler dev both come from its proxy, not from the Worker (docs/benchmarks.md, Memory)
          let offset = 0;
          let patches = 0;
          const resumed = [];
          let transcriptionId = null;
          const started = performance.now();
          const progress = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
          while (offset < TUS_BYTES) {
            const length = Math.min(TUS_CHUNK_BYTES, TUS_BYTES - offset);
            // a connection of its own for each PATCH (node:http, no agent): a failed one is left half-written
            const res = await oneShot(location, {
              method: "PATCH",
              headers: {
                ...tus,
                "content-type": "application/offset+octet-stream",
                "upload-offset": String(offset),
                "content-length": String(length),
              },
              body: wavRange(TUS_BYTES, offset, offset + length),
            }).catch((error) => ({ status: "error", text: async () => String(error.code ?? error.message) }));
            if ((res.status === 503 || res.status === "error") && resumed.length < 4 * (TUS_BYTES / TUS_CHUNK_BYTES)) {
              const why = `${res.status}: ${(await res.text()).slice(0, 60)}`;
              const h = await headWithRetry(location, tus);
              const kept = Number(h.headers.get("upload-offset"));
              resumed.push(`PATCH at ${offset} → ${why}…, HEAD ${h.status} → offset ${kept}`);
              console.error(`tus: ${resumed.at(-1)}`);
              offset = kept;
              continue;
            }
            if (res.status !== 204) throw new Error(`tus PATCH at ${offset}: ${res.status} ${await res.text()}`);
            offset = Number(res.headers.get("upload-offset"));
            console.error(`tus: offset ${(offset / MB).toFixed(0)} MiB after ${progress()}; ${heapSoFar()}`);
            transcriptionId = res.headers.get("transcription-id") ?? transcriptionId;
            patches += 1;
          }
          if (!transcriptionId) throw new Error("the last PATCH named no Transcription-Id");
          const j = await until(async () => {
            const found = await job(transcriptionId);
            return found.id ? found : null;
          }, 60_000).catch(() => ({ audio_bytes: "(the job GET got no answer within 60 s)" }));
          const retries = resumed.length ? `; ${resumed.length} resumed after a 503: ${resumed.join("; ")}` : "";
          return `${patches} PATCHes → 204, job ${transcriptionId} with ${j.audio_bytes} bytes${retries}`;
        },
      },
      {
        name: `${values["url-gib"]} GiB audio_url fetch`,
        run: async () => {
          const res = await fetch(`${base}/v1/transcriptions`, {
            method: "POST",
            headers: { ...auth, "content-type": "application/json" },
            body: JSON.stringify({ audio_url: `${up}/audio/long.wav?bytes=${URL_BYTES}`, provider: "whisper-pool" }),
          });
          const body = await res.json();
          if (res.status !== 202) throw new Error(`audio_url: ${res.status} ${JSON.stringify(body)}`);
          // done when the consumer logs `audio_url_fetched` or when the row (read through the API, which the keep-alive
          // tick keeps from being parked by the dev proxy) has its audio_bytes: whichever is seen first
          const fetched = await until(async () => {
            const event = workerEvents.find(
              (e) => e.job_id === body.id && /^audio_url_fetch|^job_failed/.test(e.event),
            );
            if (event) return event;
            const j = await job(body.id);
            if (j.status === "failed") return { event: "failed", error: j.error };
            if (j.audio_bytes > 0) {
              const origin = audioFetches.at(-1);
              return {
                event: "audio_url_fetched",
                bytes: j.audio_bytes,
                // the row's own times are not in the API; the origin's last GET is the fetch as it saw it
                duration_ms: origin ? (origin.ended ?? performance.now()) - origin.started : Number.NaN,
                attempt: `(row seen before the log line; ${audioFetches.length} origin GETs)`,
              };
            }
            return null;
          }, URL_FETCH_TIMEOUT_S * 1000);
          const gets = audioFetches.map((f) => `${f.status} ${fetchProgress(f)}`).join("; ");
          if (fetched.event !== "audio_url_fetched") {
            throw new Error(`audio_url job: ${JSON.stringify(fetched)}; origin GETs: ${gets}`);
          }
          return (
            `${fetched.event}: ${fetched.bytes} bytes into R2 in ${(fetched.duration_ms / 1000).toFixed(1)} s ` +
            `(${(fetched.bytes / MB / (fetched.duration_ms / 1000)).toFixed(2)} MiB/s), attempt ${fetched.attempt}; origin GETs: ${gets}`
          );
        },
      },
      {
        name: `${values.mb} MB job → OpenAI-compatible adapter (upload + hand-off)`,
        run: async () => {
          received.openai = null;
          const done = await settled(await rawUpload("openai"));
          const r = received.openai;
          return `${done.status}; upstream got ${r?.bytes} bytes, Content-Length ${r?.length}, chunked ${r?.chunked}`;
        },
      },
      {
        name: `${values.mb} MB stereo multichannel job → OpenAI-compatible adapter, one request per channel (split at the edge)`,
        run: async () => {
          received.openaiCalls = [];
          // whole frames: 44 header bytes, then 4 bytes per stereo frame
          const bytes = 44 + Math.floor((UPLOAD_BYTES - 44) / 4) * 4;
          const done = await settled(await rawUpload("openai", bytes, 2));
          const calls = received.openaiCalls.map((r) => `${r.bytes} bytes (Content-Length ${r.length})`).join(", ");
          return `${done.status}${done.error ? ` ${done.error.code}` : ""}; upstream got ${received.openaiCalls.length} requests: ${calls}`;
        },
      },
      {
        name: `${values.mb} MB job → Deepgram adapter (upload + hand-off)`,
        run: async () => {
          received.deepgram = null;
          const done = await settled(await rawUpload("deepgram"));
          const r = received.deepgram;
          return `${done.status}; upstream got ${r?.bytes} bytes, Content-Length ${r?.length}, chunked ${r?.chunked}`;
        },
      },
      {
        name: `${values.mb} MB job → pool adapter (upload, dispatch, the pool fetching the audio)`,
        run: async () => {
          const id = await rawUpload("whisper-pool");
          const dispatch = await until(async () => dispatches.get(id) ?? null, 600_000);
          // what the pool's worker does next: fetch the signed audio URL (the Worker decrypts it out of R2 as it goes)
          const audio = await fetch(dispatch.audio_url);
          const bytes = await drain(audio.body);
          return `dispatched; the pool's audio fetch got ${bytes} bytes (HTTP ${audio.status})`;
        },
      },
      {
        name: `${values.mb} MB job → Workers AI adapter`,
        pending:
          "no AI binding under local wrangler dev (remote only); the adapter is capped at 25 MiB and must hold the base64 " +
          "string the model takes (~34 MB at the cap), so a 90 MB job is routed away from it, never sent",
      },
    ];
    const sampling = (m) =>
      `${m.samples} heap samples, longest gap ${m.longestGapS.toFixed(1)} s; ` +
      `${m.ticks} /healthz ticks answered, longest gap ${m.longestTickGapS.toFixed(1)} s`;
    const only = values.only ? values.only.split(",").map((s) => s.trim().toLowerCase()) : [];
    const rows = [];
    for (const c of CASES) {
      if (only.length && !only.some((o) => c.name.toLowerCase().includes(o))) continue;
      if (c.pending) {
        rows.push(`| ${c.name} | pending | — | — | — | — | ${c.pending} |`);
        console.log(`${c.name}: pending (${c.pending})`);
        continue;
      }
      console.error(`running: ${c.name}`);
      const m = await measure(devtools, c.run, {
        profileName: values.profile ? c.name : null,
        snapshotFile: `${values["snapshot-file"]}-${rows.length}`,
      });
      const mb = (n) => (n === null ? "n/a" : (n / MB).toFixed(1));
      // judged on what is held (sampled after a GC); the 10 ms samples also count garbage V8 has not collected yet
      const ok = m.heapGrowth < GOAL_BYTES && m.live < GOAL_BYTES;
      rows.push(
        `| ${c.name} | ${mb(m.heapGrowth)} | ${mb(m.withBuffers)} | ${mb(m.live)} | ${m.seconds.toFixed(1)} | ${ok ? "yes" : "**no**"} | ${m.detail}; ${sampling(m)} |`,
      );
      console.log(
        `${c.name}: heap +${mb(m.heapGrowth)} MB, with buffers +${mb(m.withBuffers)} MB, held after GC +${mb(m.live)} MB, ${m.seconds.toFixed(1)} s — ${m.detail}; ${sampling(m)}`,
      );
    }
    const command = `node bench/memory/run.mjs --mb ${values.mb} --url-gib ${values["url-gib"]} --tus-gib ${values["tus-gib"]}${values.only ? ` --only ${values.only}` : ""}${values.write ? " --write" : ""}`;
    const section = [
      "## Memory (bench/memory)",
      "",
      `Command: \`${command}\` — wrangler dev (local), the Worker isolate's V8 heap read through its inspector ` +
        `(\`Runtime.getHeapUsage\` every ${SAMPLE_MS} ms, baseline after \`HeapProfiler.collectGarbage\`), ` +
        `${cpus().length} CPU cores (${cpus()[0]?.model.trim()}), Node ${process.version}, ${new Date().toISOString().slice(0, 10)}. ` +
        "“heap” is the JS heap's used size; “with buffers” adds the ArrayBuffer backing stores V8 reports " +
        "(`backingStorageSize`; n/a when this V8 does not report it), garbage not collected yet included; " +
        `“held after GC” is the peak of heap plus backing stores read right after a forced GC, every ${GC_MS} ms ` +
        "(what the Worker really holds). Goal: peak growth under 16 MB for every case (judged on heap and held).",
      "",
      "| case | peak heap growth MB | with buffers MB | held after GC MB | seconds | under 16 MB | what happened |",
      "|---|---|---|---|---|---|---|",
      ...rows,
      "",
    ].join("\n");
    console.log(section);
    if (values.write) writeSection("docs/benchmarks.md", "## Memory (bench/memory)", section);
  } finally {
    devtools?.close();
    upstreams.close();
    await stopAll();
  }
}

/** Resolves when a writable stream drains or closes (its listeners removed either way). */
function drained(stream) {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done).off("close", done);
      resolve();
    };
    stream.once("drain", done).once("close", done);
  });
}

/** HEAD, tried up to 5 times with a 10 s timeout each (the proxy may park it: see `wake`). */
async function headWithRetry(url, headers) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await oneShot(url, { method: "HEAD", headers, timeoutMs: 10_000 });
    } catch (error) {
      if (attempt === 5) throw error;
    }
  }
}

/**
 * One request on a connection of its own (node:http without an agent, `Connection: close`), the body streamed from
 * an async iterable with backpressure; resolves to { status, headers (lower-case names), text() }.
 */
function oneShot(url, { method, headers, body = null, timeoutMs = 0 }) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, headers, agent: false, ...(timeoutMs ? { timeout: timeoutMs } : {}) },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({
            status: res.statusCode,
            headers: { get: (n) => res.headers[n.toLowerCase()] ?? null },
            text: async () => text,
          });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    if (!body) return void req.end();
    (async () => {
      for await (const chunk of body) {
        if (req.destroyed) return;
        if (!req.write(chunk)) await drained(req);
      }
      req.end();
    })().catch(reject);
  });
}

/** A web ReadableStream over an async iterable of Buffers (fetch streams it; nothing is collected here). */
function ReadableStreamFromIterable(iterable) {
  const it = iterable[Symbol.asyncIterator]();
  return new ReadableStream({
    async pull(controller) {
      const { done, value } = await it.next();
      if (done) controller.close();
      else controller.enqueue(new Uint8Array(value));
    },
  });
}

// a timeout or Ctrl-C must not leave wrangler dev (and its workerd) behind
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.once(signal, () => {
    upstreamsToClose?.close();
    void stopAll().finally(() => process.exit(130));
  });
}
let upstreamsToClose = null;

main().catch(async (error) => {
  console.error(error);
  await stopAll();
  process.exit(1);
});
