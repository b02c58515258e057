#!/usr/bin/env node
// bench/metrics: latency of GET /metrics on `wrangler dev` (local D1) with 1 000 and then 100 000 jobs stored,
// spread over 7 days the way a busy service's table looks (most rows outside the 5 min / 1 h windows).
// Usage: node bench/metrics/run.mjs [--jobs 100000] [--samples 30] [--write]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { writeSection } from "../../scripts/lib/bench-doc.mjs";
import { freePort, run, runToEnd, stopAll, waitForHttp } from "../../scripts/lib/dev-env.mjs";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "100000" },
    samples: { type: "string", default: "30" },
    write: { type: "boolean", default: false },
  },
});
const JOBS = Number(values.jobs);
const SAMPLES = Number(values.samples);
const ADMIN = "metrics-bench-admin-key-0123456789abcdef";
const PROVIDERS = ["openai", "deepgram", "whisper-pool"];

/** SQL for `count` jobs numbered from `offset`: 95 % finished over the last 7 days, the rest queued or processing. */
function seedSql(offset, count, now) {
  const lines = ["insert or ignore into tenants (id, name, created_at) values ('tn_bench', 'bench', 0);"];
  const rows = [];
  for (let i = offset; i < offset + count; i++) {
    const provider = PROVIDERS[i % PROVIDERS.length];
    const age = ((i * 7919) % (7 * 86_400)) * 1000;
    const created = now - age - 60_000;
    const unfinished = i % 20 === 0;
    const status = unfinished ? (i % 40 === 0 ? "processing" : "queued") : i % 17 === 0 ? "failed" : "completed";
    const started = status === "queued" ? "null" : created + 2000;
    const completed = unfinished ? "null" : created + 2000 + ((i % 50) + 1) * 1000;
    const duration = status === "completed" ? (i % 120) + 1 : "null";
    rows.push(`('tr_bench${String(i).padStart(18, "0")}','tn_bench','${status}','${provider}',1000,'wav',${created},${started},${completed},${completed === "null" ? created : completed},${(i % 3) + 1},${duration})`);
  }
  for (let i = 0; i < rows.length; i += 500) {
    lines.push(
      `insert into transcriptions (id, tenant_id, status, provider, audio_bytes, audio_format, created_at, started_at, completed_at, updated_at, attempts, duration_seconds) values\n${rows.slice(i, i + 500).join(",\n")};`,
    );
  }
  return lines.join("\n");
}

async function seed(state, offset, count, now) {
  const file = path.join(state, `seed-${offset}.sql`);
  writeFileSync(file, seedSql(offset, count, now));
  await runToEnd("npx", ["wrangler", "d1", "execute", "DB", "--local", "--persist-to", state, "--file", file, "--yes"], {
    env: { ...process.env, CI: "1" },
    stdio: "ignore",
  });
}

async function measure(base) {
  const latencies = [];
  let bytes = 0;
  for (let i = 0; i < SAMPLES + 3; i++) {
    const t0 = performance.now();
    const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${text.slice(0, 200)}`);
    if (i >= 3) latencies.push(performance.now() - t0); // the first calls warm the isolate
    bytes = text.length;
  }
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { p50: at(0.5), p95: at(0.95), max: latencies.at(-1), bytes };
}

const state = mkdtempSync(path.join(tmpdir(), "vtt-metrics-bench-"));
try {
  await runToEnd("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", state], { env: { ...process.env, CI: "1" }, stdio: "ignore" });
  const now = Date.now();
  const small = Math.min(1000, JOBS);
  await seed(state, 0, small, now);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const vars = { ENVIRONMENT: "development", ADMIN_API_KEY: ADMIN, PROVIDERS: PROVIDERS.join(","), ENCRYPTION_KEYS: "bench:metrics-bench-master-key-0123456789abcdef" };
  const start = () =>
    run("wrangler", "npx", ["wrangler", "dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state, ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`])], {
      quiet: true,
      env: { ...process.env, CI: "1" },
    });
  start();
  await waitForHttp(`${base}/healthz`, 180_000);
  const before = await measure(base);
  console.log(`${small} jobs: p50 ${before.p50.toFixed(1)} ms, p95 ${before.p95.toFixed(1)} ms (${before.bytes} bytes)`);
  await stopAll();
  // the rest of the rows while the server is down (the local D1 file is shared with `wrangler d1 execute`)
  for (let offset = small; offset < JOBS; offset += 20_000) await seed(state, offset, Math.min(20_000, JOBS - offset), now);
  start();
  await waitForHttp(`${base}/healthz`, 180_000);
  const after = await measure(base);
  console.log(`${JOBS} jobs: p50 ${after.p50.toFixed(1)} ms, p95 ${after.p95.toFixed(1)} ms (${after.bytes} bytes)`);
  const ratio = after.p50 / before.p50;
  console.log(`p50 ratio ${JOBS} / ${small} jobs: ${ratio.toFixed(2)}`);
  if (values.write) {
    const cmd = `node bench/metrics/run.mjs --jobs ${JOBS} --samples ${SAMPLES} --write`;
    writeSection(
      "docs/benchmarks.md",
      "## GET /metrics with 100k jobs",
      `## GET /metrics with 100k jobs

\`${cmd}\` — \`wrangler dev\` with local D1 (Miniflare, SQLite), ${cpus().length} CPU cores, ${new Date().toISOString().slice(0, 10)}.
Jobs spread over 7 days (95 % finished, three providers), so the 5 min and 1 h windows hold a realistic share. Each
figure is over ${SAMPLES} sequential scrapes after 3 warm-up calls, measured from the client (HTTP included).

| jobs in D1 | p50 | p95 | max | exposition size |
|---|---|---|---|---|
| ${small} | ${before.p50.toFixed(1)} ms | ${before.p95.toFixed(1)} ms | ${before.max.toFixed(1)} ms | ${before.bytes} B |
| ${JOBS} | ${after.p50.toFixed(1)} ms | ${after.p95.toFixed(1)} ms | ${after.max.toFixed(1)} ms | ${after.bytes} B |

p50 ratio ${JOBS} / ${small} jobs: **${ratio.toFixed(2)}** (same run). The windowed aggregates read only rows in the
window through \`transcriptions_completed_at_idx\`; queue depth reads only unfinished rows through the status index.
`,
    );
  }
} finally {
  await stopAll();
  rmSync(state, { recursive: true, force: true });
}
