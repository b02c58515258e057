#!/usr/bin/env node
// bench/capacity: the real local system (`wrangler dev`: Worker, consumers, local D1/R2/Queues) with more job shards
// than `npm start` has, driven at a fixed arrival rate (issue 15 §3, docs/scaling.md §6).
//
// 1. Load: a generated copy of wrangler.toml whose PLACEMENT and [[d1_databases]] have `--shards-per-region` shards in
//    each of the regions us and eu, every D1 migrated; `--tenants` tenants created over the regions (each goes to the
//    shard of its region with the fewest tenants); uploads sent open-loop at `--rate` per second for `--seconds`, round
//    robin over the tenants; jobs complete through the Worker's OpenAI provider pointed at a loopback fake
//    (scripts/lib/fake-openai.mjs). Reported per shard: rows (read from each local D1 with `wrangler d1 execute`
//    after wrangler dev has stopped), upload → 202 latency as the client sees it, queue lag from the rows
//    (created → started, created → completed), and tenants per shard (max/min).
// 2. Flatness: two systems with the same tenants and jobs, one with 1 job shard and one with 4 (2 per region), seeded
//    one after the other and each waited on until every job finished; the verdict is refused (exit 2, the reasons
//    printed and written) unless both hold the same data (bench/capacity/flatness.mjs: every job completed, the same
//    jobs per tenant, the same listing and search counts per tenant, the same rows in the D1s afterwards, the same
//    items in every sampled answer). Status, list and search latency sampled interleaved (A, B, A, B …, alternating
//    who goes first, so machine noise hits both), each measured at the client and in the Worker (its `request` log
//    line's duration_ms, by X-Trace-Id); p50 and p90 per request, ratio 4 shards / 1 shard, goal ≤ 1.2 on the p50s
//    of both measures (exit 1 if not met).
//
// Usage: node bench/capacity/run.mjs [--shards-per-region 2] [--rate 1] [--seconds 60] [--tenants 8]
//          [--flat-jobs 150] [--flat-tenants 8] [--flat-samples 60] [--flat-wait-s 1200] [--provider-delay-ms 100]
//          [--flat-four-first] [--skip-load] [--skip-flat] [--write]
//        --skip-load / --skip-flat with --write keep the other part's recorded figures in docs/benchmarks.md.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs, promisify } from "node:util";

import { writeSection } from "../../scripts/lib/bench-doc.mjs";
import { applyLocalMigrations, freePort, run, stopAll, waitForHttp } from "../../scripts/lib/dev-env.mjs";
import { startFakeOpenAI } from "../../scripts/lib/fake-openai.mjs";
import { toneWav } from "../../scripts/lib/wav.mjs";
import { answerProblems, FLAT_GOAL, flatRows, flatVerdict, quantile, sameDataProblems } from "./flatness.mjs";

const { values } = parseArgs({
  options: {
    "shards-per-region": { type: "string", default: "2" },
    rate: { type: "string", default: "1" },
    seconds: { type: "string", default: "60" },
    tenants: { type: "string", default: "8" },
    "flat-jobs": { type: "string", default: "150" },
    "flat-tenants": { type: "string", default: "8" },
    "flat-samples": { type: "string", default: "60" },
    "flat-wait-s": { type: "string", default: "1200" },
    "provider-delay-ms": { type: "string", default: "100" },
    "flat-four-first": { type: "boolean", default: false },
    "skip-load": { type: "boolean", default: false },
    "skip-flat": { type: "boolean", default: false },
    write: { type: "boolean", default: false },
  },
});
const SHARDS_PER_REGION = Number(values["shards-per-region"]);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const TENANTS = Number(values.tenants);
const FLAT_JOBS = Number(values["flat-jobs"]);
const FLAT_TENANTS = Number(values["flat-tenants"]);
const FLAT_SAMPLES = Number(values["flat-samples"]);
const FLAT_WAIT_S = Number(values["flat-wait-s"]);
const FLAT_FOUR_FIRST = values["flat-four-first"];
const PROVIDER_DELAY_MS = Number(values["provider-delay-ms"]);
const REQUEST_TIMEOUT_MS = 120_000;
const ADMIN = "capacity-bench-admin-key-0123456789abcdef";
const HEADING = "## Capacity: shards, queue lag and flatness (bench/capacity)";
const ROOT = process.cwd();
const REGIONS = ["us", "eu"];
const execFileAsync = promisify(execFile);

const median = (list) => quantile(list, 0.5);
const ms = (value) => (Number.isFinite(value) ? `${Math.round(value)}` : "—");
const sleep = (millis) => new Promise((resolve) => setTimeout(resolve, millis));

/** Shards of a layout: `{ us: 2, eu: 2 }` → us0, us1, eu0, eu1 with bindings SHARD_US_0 … */
function shardsOf(layout) {
  return Object.entries(layout).flatMap(([region, count]) =>
    Array.from({ length: count }, (_, i) => ({
      region,
      code: `${region}${i}`,
      binding: `SHARD_${region.toUpperCase()}_${i}`,
    })),
  );
}

/**
 * A copy of wrangler.toml for `layout`: its top-level PLACEMENT names the layout's shards (regions not in the layout
 * are left out), its top-level [[d1_databases]] are the directory plus one database per shard, and relative paths
 * are made absolute so the copy works from a temporary folder. Everything else (queues, buckets, Durable Objects,
 * cron) is the local configuration `npm start` uses.
 */
function generateConfig(layout, folder) {
  const original = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8");
  const split = original.search(/^\[env\./m);
  let top = original.slice(0, split);
  const rest = original.slice(split);
  const placementMatch = /^PLACEMENT = """([\s\S]*?)"""/m.exec(top);
  if (!placementMatch) throw new Error("wrangler.toml has no top-level PLACEMENT");
  const placement = JSON.parse(placementMatch[1].replace(/\n/g, ""));
  const shards = shardsOf(layout);
  placement.regions = Object.fromEntries(
    Object.keys(layout).map((region) => [
      region,
      {
        ...placement.regions[region],
        shards: shards.filter((s) => s.region === region).map((s) => ({ code: s.code, binding: s.binding })),
      },
    ]),
  );
  top = top.replace(placementMatch[0], `PLACEMENT = '''${JSON.stringify(placement)}'''`);
  // the job shards of the original go; the layout's come after the directory
  top = top.replace(/^\[\[d1_databases\]\]\nbinding = "SHARD_[A-Z0-9_]+"\n(?:[a-z_]+ = .*\n)+/gm, "");
  const blocks = shards
    .map(
      (s, i) =>
        `[[d1_databases]]\nbinding = "${s.binding}"\ndatabase_name = "vtt-${s.code}"\n` +
        `database_id = "00000000-0000-0000-0001-${String(i + 1).padStart(12, "0")}"\nmigrations_dir = "migrations"\n`,
    )
    .join("\n");
  top = top.replace(/(^\[\[d1_databases\]\]\nbinding = "DB"\n(?:[a-z_]+ = .*\n)+)/m, `$1\n${blocks}`);
  const text = (top + rest)
    .replace(/^main = "(.*)"$/m, (_, main) => `main = "${path.join(ROOT, main)}"`)
    .replace(/^migrations_dir = "(.*)"$/gm, (_, dir) => `migrations_dir = "${path.join(ROOT, dir)}"`);
  const config = path.join(folder, "wrangler.toml");
  writeFileSync(config, text);
  return { config, shards };
}

/** Starts one wrangler dev on `layout` with fresh local state; resolves once /healthz answers. */
async function startSystem(label, layout, upstream) {
  const folder = mkdtempSync(path.join(tmpdir(), `vtt-capacity-${label}-`));
  const state = path.join(folder, "state");
  const { config, shards } = generateConfig(layout, folder);
  await applyLocalMigrations({ persistTo: state, config, stdio: "ignore" });
  return launch({ label, folder, state, config, shards, layout }, upstream);
}

/**
 * A fresh wrangler dev on a stopped system's local state (the same D1 files, buckets and Durable Objects), so the
 * processes sampled side by side have the same age and no seeding history behind them.
 */
async function restartSystem(system, upstream) {
  await stopSystem(system);
  return launch(system, upstream);
}

async function launch({ label, folder, state, config, shards, layout }, upstream) {
  const port = await freePort();
  const inspector = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const vars = {
    ENVIRONMENT: "development",
    ADMIN_API_KEY: ADMIN,
    PROVIDERS: "openai",
    OPENAI_API_KEY: "sk-capacity-bench",
    OPENAI_BASE_URL: upstream.baseURL,
    PUBLIC_BASE_URL: base,
    ENCRYPTION_KEYS: "bench:capacity-bench-master-key-0123456789abcdef",
    RATE_LIMIT_REQUESTS_PER_MINUTE: "1000000",
    MAX_CONCURRENT_UPLOADS_PER_KEY: "1000",
  };
  const child = run(
    `wrangler ${label}`,
    "npx",
    [
      "wrangler",
      "dev",
      "--config",
      config,
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(inspector),
      "--persist-to",
      state,
      ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    ],
    { quiet: !process.env.BENCH_VERBOSE, env: { ...process.env, CI: "1" } },
  );
  await waitForHttp(`${base}/healthz`, 240_000);
  return { label, base, folder, state, config, shards, layout, child, workerMs: workerRequestTimes(child) };
}

/**
 * The Worker's own time per request: the `request` log line (src/app.ts) it prints for each one, `duration_ms` by its
 * `trace_id` (which the response carries as `X-Trace-Id`). Read from wrangler dev's output, whole lines only.
 */
function workerRequestTimes(child) {
  const times = new Map();
  for (const stream of [child.stdout, child.stderr]) {
    let rest = "";
    stream.on("data", (chunk) => {
      const lines = (rest + chunk.toString()).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        const json = /\{"ts".*\}/.exec(line)?.[0];
        if (!json || !json.includes('"event":"request"')) continue;
        try {
          const event = JSON.parse(json);
          if (event.trace_id) times.set(event.trace_id, event.duration_ms);
        } catch {
          // not a log line
        }
      }
    });
  }
  return times;
}

/** Stops a system's wrangler dev (its whole process group) and waits for it to exit. */
async function stopSystem(system) {
  if (system.child.exitCode !== null) return;
  const exited = new Promise((resolve) => system.child.once("exit", resolve));
  try {
    process.kill(-system.child.pid, "SIGTERM");
  } catch {
    system.child.kill("SIGTERM");
  }
  await Promise.race([exited, sleep(15_000)]);
  try {
    process.kill(-system.child.pid, "SIGKILL");
  } catch {
    // gone
  }
}

async function api(system, method, url, { key = ADMIN, body, form } = {}) {
  const headers = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(system.base + url, {
    method,
    headers,
    body: form ?? (body === undefined ? undefined : JSON.stringify(body)),
    // a Worker that stops answering is an error that names the request, not undici's 300 s header timeout
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  }).catch((error) => {
    throw new Error(
      `${system.label} ${method} ${url}: ${error.name === "TimeoutError" ? "no answer within " + REQUEST_TIMEOUT_MS / 1000 + " s" : error.message}`,
    );
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = { raw: text.slice(0, 300) };
  }
  return { status: res.status, json, traceId: res.headers.get("x-trace-id") };
}

/** Creates tenants one after another (so each sees the counts of the ones before), regions alternating. */
async function createTenants(system, count) {
  const regions = Object.keys(system.layout);
  const tenants = [];
  for (let i = 0; i < count; i++) {
    const region = regions[i % regions.length];
    const created = await api(system, "POST", "/v1/admin/tenants", { body: { name: `capacity-${i}`, region } });
    if (created.status !== 201 && created.status !== 200) {
      throw new Error(`create tenant: ${created.status} ${JSON.stringify(created.json)}`);
    }
    const key = await api(system, "POST", `/v1/admin/tenants/${created.json.id}/keys`, { body: {} });
    if (!key.json.key) throw new Error(`create key: ${key.status} ${JSON.stringify(key.json)}`);
    tenants.push({ id: created.json.id, region: created.json.region, shard: created.json.shard, key: key.json.key });
  }
  return tenants;
}

const AUDIO = toneWav(1);

/** One upload; resolves to its job id and the client-side upload → 202 time. */
async function upload(system, tenant) {
  const form = new FormData();
  form.append("file", new File([AUDIO], "capacity.wav", { type: "audio/wav" }));
  const t0 = performance.now();
  const res = await api(system, "POST", "/v1/transcriptions", { key: tenant.key, form });
  const elapsed = performance.now() - t0;
  if (res.status !== 202) throw new Error(`upload: ${res.status} ${JSON.stringify(res.json)}`);
  return { id: res.json.id, ms: elapsed, tenant };
}

/** Polls the jobs until none is queued or processing (or the deadline passes); returns the count still unfinished. */
async function waitForJobs(system, jobs, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let pending = [...jobs];
  while (pending.length && Date.now() < deadline) {
    const still = [];
    for (const job of pending) {
      const res = await api(system, "GET", `/v1/transcriptions/${job.id}`, { key: job.tenant.key });
      job.status = res.json.status;
      if (res.status !== 200 || !["completed", "failed", "canceled"].includes(res.json.status)) still.push(job);
    }
    pending = still;
    if (pending.length) await sleep(1000);
  }
  return pending.length;
}

/** Rows of one local D1 (wrangler dev must be stopped: the reads go to the same SQLite files). */
async function query(system, binding, sql) {
  const { stdout } = await execFileAsync(
    "npx",
    [
      "wrangler",
      "d1",
      "execute",
      binding,
      "--local",
      "--persist-to",
      system.state,
      "--config",
      system.config,
      "--json",
      "--command",
      sql,
    ],
    { env: { ...process.env, CI: "1" }, maxBuffer: 64 * 1024 * 1024 },
  );
  return JSON.parse(stdout)[0].results;
}

const COUNTED_TABLES = [
  "transcriptions",
  "transcript_tokens",
  "job_features",
  "webhook_events",
  "dead_letters",
  "tenants",
  "api_keys",
];

async function shardFigures(system) {
  const figures = [];
  for (const shard of system.shards) {
    const [counts] = await query(
      system,
      shard.binding,
      `select ${COUNTED_TABLES.map((t) => `(select count(*) from ${t}) as ${t}`).join(", ")}`,
    );
    const jobs = await query(
      system,
      shard.binding,
      "select id, tenant_id, status, created_at, started_at, completed_at from transcriptions",
    );
    figures.push({ shard, counts, jobs });
  }
  const directory = await query(system, "DB", "select id, region, shard from tenants");
  const [directoryJobs] = await query(system, "DB", "select count(*) as n from transcriptions");
  return { figures, directory, directoryJobs: directoryJobs.n };
}

async function loadRun(upstream) {
  const layout = Object.fromEntries(REGIONS.map((r) => [r, SHARDS_PER_REGION]));
  console.log(
    `load: ${REGIONS.length} regions × ${SHARDS_PER_REGION} shards, ${TENANTS} tenants, ${RATE}/s × ${SECONDS} s`,
  );
  const system = await startSystem("load", layout, upstream);
  const loadBefore = loadavg()[0];
  let uploads;
  let unfinished;
  try {
    const tenants = await createTenants(system, TENANTS);
    // open loop: upload i leaves at start + i / rate, whether or not the ones before have been answered
    const total = Math.round(RATE * SECONDS);
    const start = performance.now();
    const inFlight = [];
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      inFlight.push(upload(system, tenants[i % tenants.length]));
    }
    uploads = await Promise.all(inFlight);
    const sendSeconds = (performance.now() - start) / 1000;
    unfinished = await waitForJobs(system, uploads, 180_000);
    console.log(`load: ${total} uploads in ${sendSeconds.toFixed(1)} s, ${unfinished} unfinished after the wait`);
  } finally {
    await stopSystem(system);
  }
  const loadAfter = loadavg()[0];
  const { figures, directory, directoryJobs } = await shardFigures(system);
  rmSync(system.folder, { recursive: true, force: true });

  const tenantsPerShard = new Map(system.shards.map((s) => [s.code, 0]));
  for (const t of directory) tenantsPerShard.set(t.shard, (tenantsPerShard.get(t.shard) ?? 0) + 1);
  const rows = figures.map(({ shard, counts, jobs }) => {
    const latencies = uploads.filter((u) => u.tenant.shard === shard.code).map((u) => u.ms);
    const started = jobs.filter((j) => j.started_at !== null).map((j) => j.started_at - j.created_at);
    const completed = jobs.filter((j) => j.completed_at !== null).map((j) => j.completed_at - j.created_at);
    const completedCount = jobs.filter((j) => j.status === "completed").length;
    return {
      shard: shard.code,
      tenants: tenantsPerShard.get(shard.code),
      counts,
      completedCount,
      uploads: latencies.length,
      writeP50: median(latencies),
      writeP95: quantile(latencies, 0.95),
      startP50: median(started),
      startP95: quantile(started, 0.95),
      doneP50: median(completed),
      doneP95: quantile(completed, 0.95),
    };
  });
  const perShard = [...tenantsPerShard.values()];
  return {
    rows,
    uploads: uploads.length,
    unfinished,
    directoryJobs,
    spread: { max: Math.max(...perShard), min: Math.min(...perShard) },
    loadBefore,
    loadAfter,
  };
}

/**
 * The requests sampled on both systems. `short` names a request kind in the same-data checks; `count` is the listing
 * whose every page is counted per tenant before sampling (the status request reads one job, so it has none).
 */
const FLAT_QUERIES = [
  {
    name: "status (`GET /v1/transcriptions/{id}`)",
    short: "status",
    url: (t) => `/v1/transcriptions/${t.jobs[t.next++ % t.jobs.length]}`,
  },
  { name: "list (`GET /v1/transcriptions`)", short: "list", url: () => "/v1/transcriptions", count: "" },
  {
    name: "search, every job matches (`?q=fox`)",
    short: "q=fox",
    url: () => "/v1/transcriptions?q=fox",
    count: "q=fox",
  },
  {
    name: 'search, phrase (`?q="lazy dog"`)',
    short: 'q="lazy dog"',
    url: () => `/v1/transcriptions?q=${encodeURIComponent('"lazy dog"')}`,
    count: `q=${encodeURIComponent('"lazy dog"')}`,
  },
  {
    name: "search, no match (`?q=zebra`)",
    short: "q=zebra",
    url: () => "/v1/transcriptions?q=zebra",
    count: "q=zebra",
  },
];
const TERMINAL = ["completed", "failed"];

/** Every job of one tenant's listing (`query`: a search, or "" for the plain list), all pages of 100. */
async function listAll(system, tenant, query) {
  const items = [];
  let cursor = null;
  do {
    const params = new URLSearchParams(query);
    params.set("limit", "100");
    if (cursor) params.set("cursor", cursor);
    const res = await api(system, "GET", `/v1/transcriptions?${params}`, { key: tenant.key });
    if (res.status !== 200)
      throw new Error(`${system.label} list ${params}: ${res.status} ${JSON.stringify(res.json)}`);
    items.push(...res.json.data);
    cursor = res.json.next_cursor;
  } while (cursor);
  return items;
}

/** Status counts of each tenant's jobs, from its listing (one request per tenant and page, not one per job). */
async function tenantStatuses(system, tenants) {
  const all = [];
  // one tenant after the other: the poll should not compete with the consumers it waits for
  for (const t of tenants) {
    const statuses = {};
    const listed = new Set();
    for (const job of await listAll(system, t, "")) {
      statuses[job.status] = (statuses[job.status] ?? 0) + 1;
      listed.add(job.id);
    }
    // an uploaded job the listing does not show counts as missing, never as done
    const missing = t.jobs.filter((id) => !listed.has(id)).length;
    if (missing) statuses.missing = missing;
    all.push(statuses);
  }
  return all;
}

/**
 * Creates FLAT_TENANTS tenants and uploads FLAT_JOBS jobs, 4 at a time, round robin over them (job k to tenant
 * k mod FLAT_TENANTS, so tenant i gets the same number of jobs in every system); then polls until every job is
 * completed or failed, for at most `--flat-wait-s` (no fixed wait: a slow machine waits longer, not less data).
 */
async function seed(system) {
  const started = performance.now();
  const tenants = await createTenants(system, FLAT_TENANTS);
  for (const t of tenants) Object.assign(t, { jobs: [], next: 0 });
  for (let i = 0; i < FLAT_JOBS; i += 4) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(4, FLAT_JOBS - i) }, (_, j) => upload(system, tenants[(i + j) % tenants.length])),
    );
    for (const u of batch) u.tenant.jobs.push(u.id);
  }
  const uploadedSeconds = (performance.now() - started) / 1000;
  const deadline = Date.now() + FLAT_WAIT_S * 1000;
  let statuses;
  let lastReport = 0;
  for (;;) {
    statuses = await tenantStatuses(system, tenants);
    const pending = statuses.reduce(
      (sum, s) => sum + Object.entries(s).reduce((n, [k, v]) => n + (TERMINAL.includes(k) ? 0 : v), 0),
      0,
    );
    if (!pending || Date.now() > deadline) break;
    if (Date.now() - lastReport > 15_000) {
      lastReport = Date.now();
      console.log(`flatness: ${system.label}: ${pending} of ${FLAT_JOBS} jobs not finished yet`);
    }
    await sleep(2000);
  }
  return { tenants, statuses, uploadedSeconds, seconds: (performance.now() - started) / 1000 };
}

/** Per tenant: its jobs, their statuses, and how many jobs each sampled listing and search holds (all pages). */
async function countData(system, seeded) {
  const tenants = [];
  for (const [i, t] of seeded.tenants.entries()) {
    const hits = {};
    for (const q of FLAT_QUERIES.filter((q) => q.count !== undefined)) {
      hits[q.short] = (await listAll(system, t, q.count)).length;
    }
    tenants.push({ jobs: t.jobs.length, statuses: seeded.statuses[i], hits });
  }
  return { label: system.label, tenants };
}

/** Job and search-token rows in all of a system's job shards, and tenants in its directory (wrangler dev stopped). */
async function storageTotals(system) {
  const perShard = [];
  for (const shard of system.shards) {
    const [row] = await query(
      system,
      shard.binding,
      "select (select count(*) from transcriptions) as jobs, (select count(*) from transcript_tokens) as tokens",
    );
    perShard.push({ shard: shard.code, ...row });
  }
  const [directory] = await query(system, "DB", "select count(*) as tenants from tenants");
  return {
    perShard,
    jobs: perShard.reduce((sum, s) => sum + s.jobs, 0),
    tokens: perShard.reduce((sum, s) => sum + s.tokens, 0),
    tenants: directory.tenants,
  };
}

/**
 * Flatness on the same data: the 1-shard system is started and seeded, then the 4-shard one (one after the other,
 * so neither's seeding slows the other's), both are checked to hold the same data, then sampled interleaved; after
 * both have stopped, their rows are counted straight from each local D1. A non-empty `problems` means no verdict.
 */
async function flatRun(upstream) {
  console.log(
    `flatness: 1 shard vs 4 shards, ${FLAT_TENANTS} tenants, ${FLAT_JOBS} jobs each, seeded one after the other`,
  );
  const systems = [];
  try {
    let result;
    try {
      result = await seedAndSample(systems, upstream);
    } finally {
      for (const system of systems.filter(Boolean)) await stopSystem(system);
    }
    result.totals = [];
    for (const system of systems) result.totals.push(await storageTotals(system));
    const [a, b] = result.totals;
    for (const [what, x, y] of [
      ["jobs (`transcriptions` rows)", a.jobs, b.jobs],
      ["`transcript_tokens` rows", a.tokens, b.tokens],
      ["tenants in the directory", a.tenants, b.tenants],
    ]) {
      if (x !== y) result.problems.push(`${what}: ${x} in ${systems[0].label}, ${y} in ${systems[1].label}`);
    }
    return result;
  } finally {
    for (const system of systems.filter(Boolean)) rmSync(system.folder, { recursive: true, force: true });
  }
}

/** Starts, seeds and counts both systems (pushed on `systems` as they start, for the caller to stop), then samples. */
async function seedAndSample(systems, upstream) {
  const seeded = [];
  const load = { seeding: loadavg()[0] };
  const layouts = [
    [0, "1-shard", { us: 1 }],
    [1, "4-shards", { us: 2, eu: 2 }],
  ];
  // index 0 is always the 1-shard system; --flat-four-first only changes which one starts and is seeded first
  if (FLAT_FOUR_FIRST) layouts.reverse();
  for (const [index, label, layout] of layouts) {
    const system = await startSystem(label, layout, upstream);
    systems[index] = system;
    const s = await seed(system);
    seeded[index] = s;
    console.log(
      `flatness: ${label} seeded in ${s.seconds.toFixed(0)} s (uploads ${s.uploadedSeconds.toFixed(0)} s): ` +
        JSON.stringify(sumStatuses(s.statuses)),
    );
  }
  // both restarted at once on their seeded state: the order they were seeded in must not decide which one is
  // sampled as the older, busier process (a first run, seeded 4 shards first, showed the first-seeded system slower)
  console.log("flatness: restarting both systems on their seeded state");
  const restarted = await Promise.all(systems.map((system) => restartSystem(system, upstream)));
  restarted.forEach((system, i) => (systems[i] = system));
  const counted = [];
  for (const [i, system] of systems.entries()) counted.push(await countData(system, seeded[i]));
  const problems = sameDataProblems(counted[0], counted[1]);
  const base = { seeded, counted, load, jobsPerTenant: seeded[0].tenants.map((t) => t.jobs.length) };
  if (problems.length) return { ...base, problems };

  load.sampling = loadavg()[0];
  const latencies = systems.map(() => FLAT_QUERIES.map(() => []));
  const traces = systems.map(() => FLAT_QUERIES.map(() => []));
  const answers = systems.map(() => ({}));
  for (let round = 0; round < FLAT_SAMPLES + 3; round++) {
    for (const [q, request] of FLAT_QUERIES.entries()) {
      // alternate which system goes first, so neither always follows the other
      const order = round % 2 ? [1, 0] : [0, 1];
      const ti = (round + q) % FLAT_TENANTS;
      for (const s of order) {
        const system = systems[s];
        const tenant = seeded[s].tenants[ti];
        const url = request.url(tenant);
        const t0 = performance.now();
        const res = await api(system, "GET", url, { key: tenant.key });
        const elapsed = performance.now() - t0;
        if (res.status !== 200) throw new Error(`${system.label} ${url}: ${res.status}`);
        if (round >= 3) {
          latencies[s][q].push(elapsed);
          traces[s][q].push(res.traceId);
        }
        answers[s][`${request.short}, tenant ${ti}`] = res.json.data
          ? res.json.data.length
          : Number(res.json.status === "completed");
      }
    }
  }
  load.after = loadavg()[0];
  const names = FLAT_QUERIES.map((q) => q.name);
  const rows = flatRows(names, latencies[0], latencies[1]);
  await sleep(2000); // the last log lines
  const inWorker = systems.map((system, s) => traces[s].map((ids) => ids.map((id) => system.workerMs.get(id))));
  const workerMissing = inWorker.flat(2).filter((v) => typeof v !== "number").length;
  const workerRows = flatRows(
    names,
    ...inWorker.map((perQuery) => perQuery.map((list) => list.filter((v) => typeof v === "number"))),
  );
  // the items per answer of each request kind (the same in both systems, or `problems` says where not)
  const answered = FLAT_QUERIES.map((q) => [
    ...new Set(
      Object.entries(answers[0])
        .filter(([k]) => k.startsWith(`${q.short}, `))
        .map(([, v]) => v),
    ),
  ]);
  problems.push(...answerProblems([systems[0].label, systems[1].label], answers[0], answers[1]));
  return { ...base, problems, rows, workerRows, workerMissing, answered };
}

const sumStatuses = (list) =>
  list.reduce((acc, st) => {
    for (const [k, v] of Object.entries(st)) acc[k] = (acc[k] ?? 0) + v;
    return acc;
  }, {});

function loadSection(load) {
  const header =
    "| shard | tenants | jobs (completed) | `transcript_tokens` | `job_features` | `webhook_events` | uploads sent | upload → 202 p50 / p95 ms | created → started p50 / p95 ms | created → completed p50 / p95 ms |";
  const lines = load.rows.map(
    (r) =>
      `| ${r.shard} | ${r.tenants} | ${r.counts.transcriptions} (${r.completedCount}) | ${r.counts.transcript_tokens} | ` +
      `${r.counts.job_features} | ${r.counts.webhook_events} | ${r.uploads} | ${ms(r.writeP50)} / ${ms(r.writeP95)} | ` +
      `${ms(r.startP50)} / ${ms(r.startP95)} | ${ms(r.doneP50)} / ${ms(r.doneP95)} |`,
  );
  return [header, `|${"---|".repeat(10)}`, ...lines].join("\n");
}

const ratio = (value) => (Number.isFinite(value) ? value.toFixed(2) : "—");
const LOAD_HEADING = "### Load:";
const FLAT_HEADING = "### Flatness:";

function flatSection(flat, rows = flat.rows) {
  const lines = rows.map(
    (r, q) =>
      `| ${r.name} | ${r.samples} | ${ms(r.p50.one)} | ${ms(r.p50.four)} | **${ratio(r.p50.ratio)}** | ` +
      `${ms(r.p90.one)} | ${ms(r.p90.four)} | ${ratio(r.p90.ratio)} | ${flat.answered[q].join(", ")} |`,
  );
  return [
    "| request | samples each | p50 ms, 1 shard | p50 ms, 4 shards | p50 4 / 1 | p90 ms, 1 shard | p90 ms, 4 shards | p90 4 / 1 | items per answer (both) |",
    `|${"---|".repeat(9)}`,
    ...lines,
  ].join("\n");
}

/** One line per measure: its worst p50 and p90 ratios and whether every p50 ratio is within the goal. */
function verdictText(what, verdict) {
  return (
    `${what}: worst p50 ratio **${ratio(verdict.worstP50.ratio)}** (${verdict.worstP50.name}; goal ≤ ${FLAT_GOAL} on ` +
    `every request's median: **${verdict.met ? "met" : "NOT met"}**), worst p90 ratio ` +
    `${ratio(verdict.worstP90.ratio)} (${verdict.worstP90.name})`
  );
}

/** "19 × 6, 18 × 2": how many tenants have each job count. */
function jobsPerTenantText(list) {
  const counts = new Map();
  for (const n of list) counts.set(n, (counts.get(n) ?? 0) + 1);
  return [...counts].map(([jobs, tenants]) => `${jobs} jobs × ${tenants} tenants`).join(", ");
}

/** The `### ` subsection of the current benchmarks section that starts with `heading`, or null. */
function existingSubsection(heading) {
  let doc;
  try {
    doc = readFileSync("docs/benchmarks.md", "utf8");
  } catch {
    return null;
  }
  const section = doc.indexOf(HEADING);
  if (section === -1) return null;
  const sectionEnd = doc.indexOf("\n## ", section + HEADING.length);
  const text = doc.slice(section, sectionEnd === -1 ? undefined : sectionEnd);
  const start = text.indexOf(`\n${heading}`);
  if (start === -1) return null;
  const end = text.indexOf("\n### ", start + 1);
  let sub = text.slice(start + 1, end === -1 ? undefined : end).trimEnd();
  // a subsection from before each part carried its own command: take the section's
  if (!/^Command: /m.test(sub)) {
    const command = /^Command: `([^`]+)`/m.exec(text)?.[1];
    const date = /, (\d{4}-\d{2}-\d{2})\. /.exec(text)?.[1];
    if (command) {
      const [title, ...rest] = sub.split("\n");
      sub = [title, "", `Command: \`${command}\`${date ? ` (${date})` : ""}.`, ...rest].join("\n");
    }
  }
  return sub;
}

function flatCommand() {
  return (
    `node bench/capacity/run.mjs --skip-load --flat-jobs ${FLAT_JOBS} --flat-tenants ${FLAT_TENANTS} ` +
    `--flat-samples ${FLAT_SAMPLES} --flat-wait-s ${FLAT_WAIT_S} --provider-delay-ms ${PROVIDER_DELAY_MS}` +
    `${FLAT_FOUR_FIRST ? " --flat-four-first" : ""} --write`
  );
}

function flatDoc(flat, machine, date) {
  const [one, four] = flat.seeded;
  const lines = [
    "### Flatness: 1 shard vs 4 shards on the same data",
    "",
    `Command: \`${flatCommand()}\` (${date}, ${machine}; 1-minute load average ${flat.load.seeding.toFixed(1)} ` +
      `when seeding began${flat.load.sampling === undefined ? "" : `, ${flat.load.sampling.toFixed(1)} when sampling began, ${flat.load.after.toFixed(1)} after`}).`,
    "",
    `Two systems: one region with 1 job shard, and us + eu with 2 job shards each (directory separate in both). ` +
      `They are started and seeded **one after the other**, not at once (${FLAT_FOUR_FIRST ? "4 shards first" : "1 shard first"}; ` +
      `1 shard: ${one ? one.seconds.toFixed(0) : "—"} s, 4 shards: ${four ? four.seconds.toFixed(0) : "—"} s, each ` +
      `until every job had finished, at most ${FLAT_WAIT_S} s). Then both are **restarted at once** on their seeded ` +
      "state (fresh wrangler dev processes on the same local D1, R2 and Durable Object files) before counting and " +
      "sampling, so neither is the older process with the seeding behind it: without the restart, the system seeded " +
      "first measured ≈ 1.5× slower whichever it was (docs/scaling.md §6).",
    "",
  ];
  if (flat.problems.length) {
    lines.push(
      "**No verdict: the two systems did not hold the same data**, so no ratio is recorded:",
      "",
      ...flat.problems.map((p) => `- ${p}`),
      "",
    );
    return lines.join("\n");
  }
  const [a, b] = flat.totals;
  lines.push(
    `**The same data** means, and this run checked: the same ${FLAT_TENANTS} tenants (created in the same order; ` +
      `regions alternating in the 4-shard system, 2 per shard), the same jobs per tenant ` +
      `(${jobsPerTenantText(flat.jobsPerTenant)}; job k goes to tenant k mod ${FLAT_TENANTS}), every job ` +
      `\`completed\` in both (${FLAT_JOBS} of ${FLAT_JOBS}) with the same transcript (1 s WAV, the fake provider's ` +
      '"The quick brown fox … lazy dog …", so `fox` and `"lazy dog"` match every job, `zebra` none). Before ' +
      "sampling, each tenant's whole listing and each search were counted page by page in both systems and agreed; " +
      `after, the rows in the local D1s agreed: ${a.jobs} / ${b.jobs} jobs and ${a.tokens} / ${b.tokens} ` +
      `\`transcript_tokens\` rows (4 shards: ${b.perShard.map((s) => `${s.shard} ${s.jobs}`).join(", ")} jobs); ` +
      "and every sampled answer held the same number of items in both systems.",
    "",
    `${FLAT_SAMPLES} rounds (3 warm-up rounds not counted) of each request, tenants in turn, the two systems ` +
      "interleaved (A, B, A, B …) and alternating who goes first each round. A list or search page (default " +
      "`limit` 20) holds all of the tenant's jobs that match. Two measures of the same requests: **at the client** " +
      "(HTTP included, and wrangler dev's local proxy in front of workerd, which production does not have) and " +
      "**in the Worker** (the `duration_ms` of the Worker's own `request` log line, matched by `X-Trace-Id`; " +
      "whole milliseconds, advancing with I/O such as the D1 queries" +
      `${flat.workerMissing ? `; ${flat.workerMissing} samples had no log line and are left out` : ""}).`,
    "",
    "At the client:",
    "",
    flatSection(flat),
    "",
    "In the Worker:",
    "",
    flatSection(flat, flat.workerRows),
    "",
    `${verdictText("At the client", flat.verdict)}. ${verdictText("In the Worker", flat.workerVerdict)}. ` +
      `**Goal ${flat.verdict.met && flat.workerVerdict.met ? "met" : "NOT met"}** (both measures must meet it). The ` +
      `p90 ratios are reported, not judged: the tail of ${FLAT_SAMPLES} samples on a shared 2-core machine swings ` +
      "with other work.",
    "",
  );
  return lines.join("\n");
}

async function main() {
  const upstream = await startFakeOpenAI({ delayMs: PROVIDER_DELAY_MS });
  const machine = `${cpus().length} CPU cores (${cpus()[0]?.model.trim()}), Node ${process.version}`;
  let load;
  let flat;
  try {
    if (!values["skip-load"]) {
      load = await loadRun(upstream);
      console.log(loadSection(load));
      console.log(
        `tenants per shard: max ${load.spread.max}, min ${load.spread.min}; jobs in the directory database: ${load.directoryJobs}; ` +
          `load average ${load.loadBefore.toFixed(1)} → ${load.loadAfter.toFixed(1)}`,
      );
    }
    if (!values["skip-flat"]) {
      flat = await flatRun(upstream);
      if (flat.rows) {
        flat.verdict = flatVerdict(flat.rows);
        flat.workerVerdict = flatVerdict(flat.workerRows);
        flat.met = flat.verdict.met && flat.workerVerdict.met;
        console.log(`at the client:\n${flatSection(flat)}\nin the Worker:\n${flatSection(flat, flat.workerRows)}`);
        if (flat.workerMissing) console.log(`${flat.workerMissing} samples had no Worker log line`);
      }
      console.log(`storage totals: ${JSON.stringify(flat.totals)}`);
      if (flat.problems.length) {
        console.error(
          `flatness: NO VERDICT, the two systems did not hold the same data:\n- ${flat.problems.join("\n- ")}`,
        );
      } else {
        console.log(
          `${verdictText("at the client", flat.verdict)}\n${verdictText("in the Worker", flat.workerVerdict)}\n` +
            `goal ${flat.met ? "met" : "NOT met"}; load average ${flat.load.seeding.toFixed(1)} / ` +
            `${flat.load.sampling.toFixed(1)} → ${flat.load.after.toFixed(1)}`,
        );
      }
    }
  } finally {
    await stopAll();
    await upstream.close();
  }
  // 2: no verdict (not the same data); 1: a verdict, goal not met
  if (flat?.problems.length) process.exitCode = 2;
  else if (flat && !flat.met) process.exitCode = 1;
  if (!values.write) return;
  const date = new Date().toISOString().slice(0, 10);
  const parts = [
    HEADING,
    "",
    "`wrangler dev` (local Miniflare: D1 = SQLite, R2, Queues with their consumers, Durable Objects) on a generated " +
      "copy of wrangler.toml, 1 s WAV uploads, jobs completed by the OpenAI provider against a loopback " +
      "OpenAI-compatible server (scripts/lib/fake-openai.mjs) that answers after `--provider-delay-ms`. **The machine " +
      "is shared with other engineers' work** (load averages in each part), so absolute figures swing; the flatness " +
      "ratio is measured interleaved to cancel that. Each part names the command that produced it " +
      "(`--skip-load` / `--skip-flat` re-run one part and keep the other's recorded figures).",
    "",
  ];
  if (load) {
    const command =
      `node bench/capacity/run.mjs --shards-per-region ${SHARDS_PER_REGION} --rate ${RATE} --seconds ${SECONDS} ` +
      `--tenants ${TENANTS} --provider-delay-ms ${PROVIDER_DELAY_MS} --skip-flat --write`;
    parts.push(
      `### Load: ${REGIONS.length} regions × ${SHARDS_PER_REGION} shards, ${TENANTS} tenants, ${RATE} upload/s for ${SECONDS} s`,
      "",
      `Command: \`${command}\` (${date}, ${machine}).`,
      "",
      `${load.uploads} uploads sent open-loop (each leaves on schedule, not after the previous answer), round robin ` +
        `over the tenants; ${load.unfinished} jobs unfinished after the wait. Rows read from each shard's local D1 ` +
        "(`wrangler d1 execute <BINDING> --local`) after wrangler dev stopped; upload → 202 is the client's time, " +
        "grouped by the uploading tenant's shard; queue lag is `started_at − created_at` (the consumer picked the job " +
        "up) and `completed_at − created_at` from the rows (Miniflare's queue delivers with `max_batch_timeout = 0`).",
      "",
      loadSection(load),
      "",
      `Tenants per shard: max ${load.spread.max}, min ${load.spread.min} (new tenants go to the shard of their region ` +
        `with the fewest tenants). Jobs in the directory database: ${load.directoryJobs}. 1-minute load average ` +
        `${load.loadBefore.toFixed(1)} before, ${load.loadAfter.toFixed(1)} after.`,
      "",
    );
  } else {
    const kept = existingSubsection(LOAD_HEADING);
    if (kept) parts.push(kept, "");
  }
  if (flat) parts.push(flatDoc(flat, machine, date));
  else {
    const kept = existingSubsection(FLAT_HEADING);
    if (kept) parts.push(kept, "");
  }
  writeSection("docs/benchmarks.md", HEADING, parts.join("\n"));
}

main().catch(async (error) => {
  console.error(error);
  await stopAll();
  process.exit(1);
});
