#!/usr/bin/env node
// bench/ingest: throughput and latency of authenticated POST /v1/transcriptions (64 KB WAV) on `wrangler dev`,
// against the same run's bare primitives (one R2 put, one D1 insert, one queue send, each alone).
// Usage: node bench/ingest/run.mjs [--requests 300] [--concurrency 4] [--write]
import { readFileSync, rmSync } from "node:fs";
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
    requests: { type: "string", default: "300" },
    concurrency: { type: "string", default: "4" },
    rounds: { type: "string", default: "3" },
    write: { type: "boolean", default: false },
  },
});
const REQUESTS = Number(values.requests);
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Number(values.rounds);

function wav64k() {
  const dataBytes = 64 * 1024 - 44;
  const buf = Buffer.alloc(44 + dataBytes);
  buf.write("RIFF", 0);
  buf.writeUInt32LE(36 + dataBytes, 4);
  buf.write("WAVEfmt ", 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(16000, 24);
  buf.writeUInt32LE(32000, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write("data", 36);
  buf.writeUInt32LE(dataBytes, 40);
  for (let i = 44; i < buf.length; i += 2) buf.writeInt16LE(Math.round(Math.sin(i / 20) * 8000), i);
  return buf;
}

async function load(name, makeRequest) {
  const latencies = [];
  let next = 0;
  let failures = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        next++;
        const t0 = performance.now();
        const res = await makeRequest();
        await res.arrayBuffer();
        if (res.status >= 300) failures++;
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  const mean = latencies.reduce((a, b) => a + b, 0) / latencies.length;
  return { name, rps: REQUESTS / seconds, p50: pct(50), p99: pct(99), mean, failures };
}

async function main() {
  ensureDevVars();
  const state = ".wrangler/bench-state";
  rmSync(state, { recursive: true, force: true });
  await applyLocalMigrations({ persistTo: state, stdio: "ignore" });
  const port = await freePort();
  run(
    "wrangler",
    "npx",
    [
      "wrangler",
      "dev",
      "bench/ingest/worker.ts",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--persist-to",
      state,
      "--var",
      "RATE_LIMIT_REQUESTS_PER_MINUTE:1000000",
      "--var",
      "PROVIDERS:whisper-pool",
      "--var",
      "POOL_URL:http://127.0.0.1:9",
    ],
    { quiet: true },
  );
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${base}/healthz`, 120_000);
    const admin = readFileSync(".dev.vars", "utf8").match(/^ADMIN_API_KEY=(.*)$/m)[1];
    const h = { authorization: `Bearer ${admin}`, "content-type": "application/json" };
    const tenant = await (
      await fetch(`${base}/v1/admin/tenants`, { method: "POST", headers: h, body: '{"name":"bench"}' })
    ).json();
    const { key } = await (
      await fetch(`${base}/v1/admin/tenants/${tenant.id}/keys`, { method: "POST", headers: h, body: "{}" })
    ).json();
    const audio = wav64k();
    const upload = () =>
      fetch(`${base}/v1/transcriptions?provider=whisper-pool`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "audio/wav" },
        body: audio,
      });
    const primitive = (name, body) => () => fetch(`${base}/__bench/${name}`, { method: "POST", body });
    // warm up every path once, and refuse to measure a path that does not work
    for (const f of [upload, primitive("r2", audio), primitive("d1"), primitive("queue")]) {
      const res = await f();
      const text = await res.text();
      if (res.status >= 300) throw new Error(`warm-up request failed: ${res.status} ${text.slice(0, 300)}`);
    }

    const rounds = [];
    for (let round = 0; round < ROUNDS; round++) {
      // interleave the scenarios inside each round so machine noise hits them alike
      const noop = await load("HTTP round trip (GET /healthz, no storage)", () => fetch(`${base}/healthz`));
      const r2 = await load("R2 put (64 KB)", primitive("r2", audio));
      const d1 = await load("D1 insert", primitive("d1"));
      const queue = await load("Queue send", primitive("queue"));
      const up = await load("POST /v1/transcriptions (64 KB WAV)", upload);
      // each primitive request also pays one HTTP round trip and Worker invocation; the upload pays it once, so the
      // serial composite is one round trip plus each primitive's own cost above a round trip
      const own = (s) => Math.max(0, 1 / s.rps - 1 / noop.rps);
      const compositeRps = 1 / (1 / noop.rps + own(r2) + own(d1) + own(queue));
      const compositeLatency = noop.mean + [r2, d1, queue].reduce((sum, s) => sum + Math.max(0, s.mean - noop.mean), 0);
      rounds.push({ noop, r2, d1, queue, up, compositeLatency, compositeRps, ratio: up.rps / compositeRps });
    }
    rounds.sort((a, b) => a.ratio - b.ratio);
    const median = rounds[Math.floor(rounds.length / 2)];
    const fmt = (s) =>
      `| ${s.name} | ${s.rps.toFixed(1)} | ${s.p50.toFixed(1)} | ${s.p99.toFixed(1)} | ${s.mean.toFixed(1)} | ${s.failures} |`;
    const table = [
      "| scenario | req/s | p50 ms | p99 ms | mean ms | non-2xx |",
      "|---|---|---|---|---|---|",
      fmt(median.noop),
      fmt(median.r2),
      fmt(median.d1),
      fmt(median.queue),
      `| serial composite (round trip + R2 + D1 + queue, each net of its round trip) | ${median.compositeRps.toFixed(1)} | — | — | ${median.compositeLatency.toFixed(1)} | — |`,
      fmt(median.up),
    ].join("\n");
    const summary =
      `upload / serial composite throughput: **${median.ratio.toFixed(2)}** (median of ${ROUNDS} rounds; all rounds: ` +
      rounds.map((r) => r.ratio.toFixed(2)).join(", ") +
      "; goal ≥ 0.90)";
    const command = `node bench/ingest/run.mjs --requests ${REQUESTS} --concurrency ${CONCURRENCY} --rounds ${ROUNDS}${values.write ? " --write" : ""}`;
    const section = [
      "## Ingest (bench/ingest)",
      "",
      `Command: \`${command}\` — wrangler dev (local Miniflare), ${REQUESTS} requests per scenario at concurrency ${CONCURRENCY}, ` +
        `${cpus().length} CPU cores (${cpus()[0]?.model.trim()}), Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.`,
      "",
      table,
      "",
      summary,
      "",
    ].join("\n");
    console.log(section);
    if (values.write) writeSection("docs/benchmarks.md", "## Ingest (bench/ingest)", section);
  } finally {
    await stopAll();
  }
}

main().catch(async (error) => {
  console.error(error);
  await stopAll();
  process.exit(1);
});
