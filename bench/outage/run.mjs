#!/usr/bin/env node
// bench/outage: submit N jobs while the provider fails, let it recover, and check that nothing is lost or done twice
// and that the breaker kept calls away from the dead provider. Real wrangler dev (queues, DLQ, Durable Objects, cron);
// the provider is a local OpenAI-compatible server that answers 503 during the outage.
// Usage: node bench/outage/run.mjs [--jobs 500] [--outage-seconds 20] [--write]
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

import { writeSection } from "../../scripts/lib/bench-doc.mjs";
import { applyLocalMigrations, freePort, run, stopAll, waitForHttp } from "../../scripts/lib/dev-env.mjs";
import { toneWav } from "../../scripts/lib/wav.mjs";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "500" },
    "outage-seconds": { type: "string", default: "20" },
    "timeout-seconds": { type: "string", default: "420" },
    write: { type: "boolean", default: false },
  },
});
const JOBS = Number(values.jobs);
const OUTAGE_MS = Number(values["outage-seconds"]) * 1000;

async function main() {
  // the fake provider: 503 until `recoverAt`, then a verbose_json transcript
  let recoverAt = Infinity;
  const calls = []; // {at, ok, job}
  const provider = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("latin1");
      const job = /filename="(tr_[0-9A-Z]+)\./.exec(body)?.[1] ?? "?";
      const ok = Date.now() >= recoverAt;
      calls.push({ at: Date.now(), ok, job });
      res.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
      res.end(
        JSON.stringify(
          ok
            ? { text: "ok", language: "english", duration: 0.5, segments: [{ start: 0, end: 0.5, text: "ok" }] }
            : { error: { message: "down" } },
        ),
      );
    });
  });
  const providerPort = await freePort();
  await new Promise((r) => provider.listen(providerPort, "127.0.0.1", r));

  const state = mkdtempSync(path.join(tmpdir(), "vtt-outage-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const admin = "outage-admin-key-0123456789abcdef";
  const vars = {
    ENVIRONMENT: "development",
    ADMIN_API_KEY: admin,
    PROVIDERS: "openai",
    OPENAI_API_KEY: "sk-local",
    OPENAI_BASE_URL: `http://127.0.0.1:${providerPort}/v1`,
    PUBLIC_BASE_URL: base,
    ENCRYPTION_KEYS: "bench:outage-bench-master-key-0123456789abcdef",
    RETRY_BASE_SECONDS: "1",
    RETRY_CAP_SECONDS: "4",
    RATE_LIMIT_REQUESTS_PER_MINUTE: "1000000",
    BREAKER_COOLDOWN_MS: "3000",
    BREAKER_MAX_COOLDOWN_MS: "6000",
  };
  await applyLocalMigrations({ persistTo: state, stdio: "ignore" });
  run(
    "wrangler",
    "npx",
    [
      "wrangler",
      "dev",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--persist-to",
      state,
      ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    ],
    { quiet: true, env: { ...process.env, CI: "1" } },
  );
  try {
    await waitForHttp(`${base}/healthz`, 120_000);
    const h = { authorization: `Bearer ${admin}`, "content-type": "application/json" };
    const tenant = await (
      await fetch(`${base}/v1/admin/tenants`, { method: "POST", headers: h, body: '{"name":"outage"}' })
    ).json();
    const { key } = await (
      await fetch(`${base}/v1/admin/tenants/${tenant.id}/keys`, { method: "POST", headers: h, body: "{}" })
    ).json();
    const auth = { authorization: `Bearer ${key}` };

    // breaker timeline, to tell calls made while it was open from probes (half-open) and pre-trip calls (closed)
    const timeline = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        try {
          const b = await (await fetch(`${base}/v1/admin/breakers`, { headers: h })).json();
          timeline.push({ at: Date.now(), status: b.data.find((x) => x.provider === "openai")?.status ?? "closed" });
        } catch {
          // wrangler busy; next poll
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const statusAt = (at) => {
      let status = "closed";
      for (const point of timeline) if (point.at <= at) status = point.status;
      return status;
    };
    const outageStart = Date.now();
    const ids = [];
    let rejected = 0;
    const audio = toneWav(0.5, 0);
    for (let i = 0; i < JOBS; i += 10) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(10, JOBS - i) }, () =>
          fetch(`${base}/v1/transcriptions`, {
            method: "POST",
            headers: { ...auth, "content-type": "audio/wav" },
            body: audio,
          }),
        ),
      );
      for (const res of batch) {
        if (res.status === 202) ids.push((await res.json()).id);
        else {
          rejected++;
          await res.text();
        }
      }
    }
    const remaining = OUTAGE_MS - (Date.now() - outageStart);
    if (remaining > 0) await new Promise((r) => setTimeout(r, remaining));
    recoverAt = Date.now();

    // drain: crons never fire by themselves locally, so trigger the sweeper/re-drive like the platform would
    const deadline = Date.now() + Number(values["timeout-seconds"]) * 1000;
    let done = 0;
    let drainedAt = null;
    while (Date.now() < deadline) {
      await fetch(`${base}/cdn-cgi/handler/scheduled`)
        .then((r) => r.text())
        .catch(() => undefined);
      const counts = await (await fetch(`${base}/v1/status`, { headers: auth })).json();
      const backlog = counts.backlog.queued + counts.backlog.processing;
      done = ids.length - backlog;
      if (backlog === 0) {
        drainedAt = Date.now();
        break;
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
    // every accepted job must be completed; failed or missing ones are lost
    let completed = 0;
    let failed = 0;
    for (const id of ids) {
      const job = await (await fetch(`${base}/v1/transcriptions/${id}`, { headers: auth })).json();
      if (job.status === "completed") completed++;
      else if (job.status === "failed") failed++;
    }
    const okCalls = new Map();
    for (const c of calls) if (c.ok) okCalls.set(c.job, (okCalls.get(c.job) ?? 0) + 1);
    const twice = [...okCalls.values()].filter((n) => n > 1).length;
    polling = false;
    await poller;
    const breaker = (await (await fetch(`${base}/v1/admin/breakers`, { headers: h })).json()).data.find(
      (b) => b.provider === "openai",
    );
    const outageCalls = calls.filter((c) => !c.ok);
    const byState = { closed: 0, open: 0, half_open: 0 };
    for (const c of outageCalls) byState[statusAt(c.at)]++;
    const rows = [
      ["jobs accepted (202)", `${ids.length} of ${JOBS} (rejected ${rejected})`],
      ["jobs lost (not completed)", `${ids.length - completed} (failed ${failed})`],
      ["jobs transcribed twice by the provider", String(twice)],
      [
        "provider calls during the outage",
        `${outageCalls.length} (over ${(OUTAGE_MS / 1000).toFixed(0)} s, for ${ids.length} jobs)`,
      ],
      ["… made while the breaker was closed (before it tripped)", String(byState.closed)],
      ["… made while it was half-open (probes)", String(byState.half_open)],
      [
        "… made while it was open (goal 0), by the 100 ms poll",
        `${byState.open} (a call at the instant the cool-down ends is admitted as a probe; the poll still says open)`,
      ],
      [
        "breaker's own counters: probes admitted / calls rejected / times opened",
        `${breaker.counters.probes} / ${breaker.counters.rejected} / ${breaker.counters.opens}`,
      ],
      [
        "time from recovery to drained backlog",
        drainedAt
          ? `${((drainedAt - recoverAt) / 1000).toFixed(1)} s`
          : `not drained within ${values["timeout-seconds"]} s (${done} done)`,
      ],
    ];
    const command = `node bench/outage/run.mjs --jobs ${JOBS} --outage-seconds ${values["outage-seconds"]}${values.write ? " --write" : ""}`;
    const section = [
      "## Outage and recovery (bench/outage)",
      "",
      `Command: \`${command}\` — wrangler dev (local Queues with DLQ, Durable Object breakers, cron triggered every 2 s), a local ` +
        `OpenAI-compatible provider (breaker state polled every 100 ms to attribute each failed call) answering 503 during the outage; breaker cool-down 3 s (max 6 s), retry base 1 s, cap 4 s. ` +
        `${cpus().length} CPU cores, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.`,
      "",
      "| measure | value |",
      "|---|---|",
      ...rows.map(([k, v]) => `| ${k} | ${v} |`),
      "",
    ].join("\n");
    console.log(section);
    if (values.write) writeSection("docs/benchmarks.md", "## Outage and recovery (bench/outage)", section);
  } finally {
    provider.close();
    await stopAll();
    rmSync(state, { recursive: true, force: true });
  }
}

main().catch(async (error) => {
  console.error(error);
  await stopAll();
  process.exit(1);
});
