#!/usr/bin/env node
// bench/openai: what holding an OpenAI-compatible request costs. For each of N jobs, the real `openai` SDK sends
// `audio.transcriptions.create` to `wrangler dev` and waits; the same job's native upload → completed time is read
// back from the native API. Held latency − native time is the price of the hold itself (the JobWaiter wake-up, the
// transcript read and render, the response): goal ≤ 50 ms at the median.
// Jobs complete through the Worker's OpenAI provider pointed at a loopback OpenAI-compatible server.
// Usage: node bench/openai/run.mjs [--jobs 50] [--provider-delay-ms 200] [--write]
import { rmSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";

import OpenAI from "openai";

import { writeSection } from "../../scripts/lib/bench-doc.mjs";
import { applyLocalMigrations, freePort, run, stopAll, waitForHttp } from "../../scripts/lib/dev-env.mjs";
import { startFakeOpenAI } from "../../scripts/lib/fake-openai.mjs";
import { toneWav } from "../../scripts/lib/wav.mjs";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "50" },
    "provider-delay-ms": { type: "string", default: "200" },
    write: { type: "boolean", default: false },
  },
});
const JOBS = Number(values.jobs);
const PROVIDER_DELAY_MS = Number(values["provider-delay-ms"]);
const WARM_UP = 3;
const ADMIN = "bench-admin-key-0123456789abcdef";
const HEADING = "## OpenAI-compatible held requests (bench/openai)";

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const median = (list) =>
  percentile(
    [...list].sort((a, b) => a - b),
    50,
  );

async function main() {
  const upstream = await startFakeOpenAI({ delayMs: PROVIDER_DELAY_MS });
  const state = ".wrangler/bench-openai-state";
  rmSync(state, { recursive: true, force: true });
  await applyLocalMigrations({ persistTo: state, stdio: "ignore" });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const vars = {
    ENVIRONMENT: "development",
    ADMIN_API_KEY: ADMIN,
    PROVIDERS: "openai",
    OPENAI_API_KEY: "sk-bench-upstream",
    OPENAI_BASE_URL: upstream.baseURL,
    PUBLIC_BASE_URL: base,
    ENCRYPTION_KEYS: "bench:bench-master-key-0123456789abcdefghijkl",
    RATE_LIMIT_REQUESTS_PER_MINUTE: "1000000",
  };
  const varArgs = Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  run(
    "wrangler",
    "npx",
    ["wrangler", "dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state, ...varArgs],
    {
      quiet: true,
      env: { ...process.env, CI: "1" },
    },
  );
  try {
    await waitForHttp(`${base}/healthz`, 120_000);
    const admin = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };
    const tenant = await (
      await fetch(`${base}/v1/admin/tenants`, { method: "POST", headers: admin, body: '{"name":"bench"}' })
    ).json();
    const { key } = await (
      await fetch(`${base}/v1/admin/tenants/${tenant.id}/keys`, { method: "POST", headers: admin, body: "{}" })
    ).json();
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
    const audio = toneWav(1);

    const rows = [];
    const loadBefore = loadavg()[0];
    for (let i = 0; i < WARM_UP + JOBS; i++) {
      const file = new File([audio], "bench.wav", { type: "audio/wav" });
      const sent = Date.now();
      const { data, response } = await client.audio.transcriptions.create({ file, model: "whisper-1" }).withResponse();
      const answered = Date.now();
      if (!data.text) throw new Error(`empty transcript: ${JSON.stringify(data)}`);
      const id = response.headers.get("x-request-id");
      const job = await (
        await fetch(`${base}/v1/transcriptions/${id}`, { headers: { authorization: `Bearer ${key}` } })
      ).json();
      if (job.status !== "completed") throw new Error(`job ${id} is ${job.status}`);
      if (i < WARM_UP) continue;
      const completed = Date.parse(job.completed_at);
      rows.push({
        held: answered - sent,
        // the native API's view of the same job: the upload was sent at `sent`, the job completed at `completed`
        native: completed - sent,
        serverSide: completed - Date.parse(job.created_at),
      });
    }
    const loadAfter = loadavg()[0];
    const overheads = rows.map((r) => r.held - r.native);
    const sortedOverheads = [...overheads].sort((a, b) => a - b);
    const ratios = rows.map((r) => r.held / r.native);
    const table = [
      "| measure (ms, over " + JOBS + " jobs) | median | p90 | min | max |",
      "|---|---|---|---|---|",
      ...[
        ["held request latency (SDK send → answer received)", rows.map((r) => r.held)],
        ["native upload → completed, same job (send → `completed_at`)", rows.map((r) => r.native)],
        ["  of which server-side `created_at` → `completed_at`", rows.map((r) => r.serverSide)],
        ["**held − native** (the hold's own cost)", overheads],
      ].map(([name, list]) => {
        const sorted = [...list].sort((a, b) => a - b);
        return `| ${name} | ${median(list)} | ${percentile(sorted, 90)} | ${sorted[0]} | ${sorted.at(-1)} |`;
      }),
    ].join("\n");
    const verdict = median(overheads) <= 50 ? "met" : "NOT met";
    const command = `node bench/openai/run.mjs --jobs ${JOBS} --provider-delay-ms ${PROVIDER_DELAY_MS}${values.write ? " --write" : ""}`;
    const section = [
      HEADING,
      "",
      `Command: \`${command}\` — wrangler dev (local Miniflare: D1, R2, Queues, the JobWaiter Durable Object), the ` +
        `real \`openai\` SDK as the client, one request at a time (${WARM_UP} warm-up requests not counted), 1 s WAV, ` +
        `model \`whisper-1\` → the OpenAI provider pointed at a loopback OpenAI-compatible server answering after ` +
        `${PROVIDER_DELAY_MS} ms; ${cpus().length} CPU cores (${cpus()[0]?.model.trim()}, 1-minute load average ` +
        `${loadBefore.toFixed(1)} before and ${loadAfter.toFixed(1)} after: the machine is shared), Node ${process.version}, ` +
        `${new Date().toISOString().slice(0, 10)}. Client and Worker share the machine's clock, so the native time is ` +
        "the job's `completed_at` less the moment the SDK sent the upload.",
      "",
      table,
      "",
      `Median held − native: **${median(overheads)} ms** (goal ≤ 50 ms: ${verdict}); median held / native: ` +
        `${median(ratios).toFixed(3)}; p90 held − native ${percentile(sortedOverheads, 90)} ms.`,
      "",
    ].join("\n");
    console.log(section);
    if (values.write) writeSection("docs/benchmarks.md", HEADING, section);
    if (verdict !== "met") process.exitCode = 1;
  } finally {
    await stopAll();
    await upstream.close();
  }
}

main().catch(async (error) => {
  console.error(error);
  await stopAll();
  process.exit(1);
});
