#!/usr/bin/env node
// bench/capacity/footprint: bytes one completed job leaves in D1 (per table) and R2, at 1, 10 and 60 minute
// transcripts. Runs test/capacity/footprint.test.ts (vitest-pool-workers: real local D1 and R2, jobs seeded through
// the upload route, the signed pool callback, one webhook delivery and a feedback review) and reads its FOOTPRINT line.
// Usage: node bench/capacity/footprint.mjs [--write]
import { spawnSync } from "node:child_process";
import { cpus } from "node:os";
import { parseArgs } from "node:util";

import { writeSection } from "../../scripts/lib/bench-doc.mjs";

const { values } = parseArgs({ options: { write: { type: "boolean", default: false } } });

const run = spawnSync("npx", ["vitest", "run", "--project", "edge", "test/capacity/footprint.test.ts"], {
  encoding: "utf8",
  env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
  maxBuffer: 256 * 1024 * 1024,
});
const output = `${run.stdout}\n${run.stderr}`;
const match = /FOOTPRINT (\{.*\})/.exec(output);
if (run.status !== 0 || !match) {
  console.error(output.slice(-4000));
  throw new Error(`footprint test failed (exit ${run.status})`);
}
const { results, fixed, idempotency, dbstat } = JSON.parse(match[1]);

const kb = (bytes) => `${(bytes / 1000).toFixed(1)} kB`;
const TABLES = Object.keys(results[0].perJob);
const header = `| table | ${results.map((r) => `${r.minutes} min (${r.words} words): rows / value bytes`).join(" | ")} |`;
const rule = `|---|${results.map(() => "---").join("|")}|`;
const lines = TABLES.map(
  (t) =>
    `| \`${t}\` | ${results.map((r) => `${r.perJob[t].rows} / ${Math.round(r.perJob[t].valueBytes)}`).join(" | ")} |`,
);
const totals = [
  `| **sum of values** | ${results.map((r) => `**${kb(Object.values(r.perJob).reduce((s, x) => s + x.valueBytes, 0))}**`).join(" | ")} |`,
  `| **D1 file growth (\`meta.size_after\`, pages + indexes)** | ${results.map((r) => `**${kb(r.databaseBytesPerJob)}**`).join(" | ")} |`,
  `| D1 file growth per word | ${results.map((r) => `${(r.databaseBytesPerJob / r.words).toFixed(0)} B`).join(" | ")} |`,
  `| R2 objects / bytes (audio + transcript) | ${results.map((r) => `${r.r2ObjectsPerJob} / ${kb(r.r2BytesPerJob)}`).join(" | ")} |`,
];
const table = [header, rule, ...lines, ...totals].join("\n");
console.log(table);
console.log(
  `fixed cost (1-word transcript, webhook, no review): ${kb(fixed.valueBytesPerJob)} values, ${kb(fixed.databaseBytesPerJob)} D1 growth per job`,
);
console.log(`Idempotency-Key on the job row: ${idempotency.withKeyBytes - idempotency.withoutKeyBytes} bytes more`);
console.log(`dbstat: ${typeof dbstat === "string" ? dbstat : "available"}`);

if (values.write) {
  const heading = "## Per-job storage footprint (bench/capacity/footprint)";
  writeSection(
    "docs/benchmarks.md",
    heading,
    `${heading}

\`node bench/capacity/footprint.mjs --write\` — vitest-pool-workers (local D1 = SQLite, local R2), ${cpus().length} CPU cores,
${new Date().toISOString().slice(0, 10)}. Per transcript length, ${results[0].jobs} jobs of one tenant, each created by a multipart upload
(metadata, webhook URL), completed by the signed pool callback with a real transcript (segments and per-word
timestamps, a 2 000-word vocabulary), its \`transcription.completed\` webhook delivered once, and a feedback review with a
full corrected text. Differences before/after, divided by the job count. "Value bytes" is
\`sum(length(cast(col as blob)))\` for text, 8 for every integer/real (an upper bound; SQLite stores small integers in
fewer bytes) and excludes indexes and page overhead; "D1 file growth" is the database size D1 reports
(\`meta.size_after\`), so it includes the primary-key and secondary indexes. \`dbstat\` is not available in D1
(${typeof dbstat === "string" ? dbstat.replace(/^unavailable: /, "") : "it was"}).

${table}

Fixed cost of a job apart from its words (${fixed.jobs} jobs with a one-word transcript, webhook delivered, no review):
**${kb(fixed.valueBytesPerJob)} of values, ${kb(fixed.databaseBytesPerJob)} of D1 growth per job**.

An \`Idempotency-Key\` adds ${idempotency.withKeyBytes - idempotency.withoutKeyBytes} value bytes to the job row (\`idempotency_key\`, \`request_fingerprint\`;
no table of its own). The search index (\`transcript_tokens\`, one row per word with two indexes) is almost all of it:
see docs/scaling.md §2 for what this means per shard.
`,
  );
}
