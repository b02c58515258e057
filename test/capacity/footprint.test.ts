/**
 * Per-job D1 and R2 footprint (docs/scaling.md, bench/capacity/footprint.mjs). Seeds completed jobs through the real
 * path — multipart upload with an Idempotency-Key, metadata and a webhook URL, the signed pool callback with a real
 * transcript (segments and words), the webhook delivered once, a feedback review with a correction — and measures
 * what each table holds per job. Prints one `FOOTPRINT {json}` line that the bench script turns into
 * docs/benchmarks.md; asserts the rows every completed job is expected to leave, so a change in what a job writes
 * fails here before the capacity plan silently goes stale.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";

import { call, createTenant, multipartUpload } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";
import { deliverWebhooks } from "../helpers/queue.ts";

/** The tables a job's life writes to (tenant-level tables — tenants, api_keys — are not per job). */
const JOB_TABLES = [
  "transcriptions",
  "transcript_tokens",
  "webhook_events",
  "webhook_attempts",
  "job_features",
  "transcript_feedback",
  "dead_letters",
  "audit_log",
] as const;

/** Words per transcript: 1, 10 and 60 minutes of speech at 150 words a minute. */
const LENGTHS = [
  { minutes: 1, words: 150 },
  { minutes: 10, words: 1_500 },
  { minutes: 60, words: 9_000 },
] as const;
const JOBS_PER_LENGTH = 8;
/** More of the small fixed-cost jobs, so page-granular database growth (4 kB pages) averages out. */
const FIXED_JOBS = 60;

afterEach(() => vi.restoreAllMocks());

/** A deterministic English-like transcript: a 2 000-word vocabulary with Zipf-like repetition, 12-word segments. */
function transcript(words: number, seed: number) {
  const out: string[] = [];
  let state = seed * 2654435761 + 1;
  for (let i = 0; i < words; i++) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    // rank ~ 1/u: frequent words recur, as in speech
    const rank = Math.min(2_000, Math.floor(1 / Math.max(state / 2 ** 31, 1 / 2_000)));
    out.push(`word${rank}`);
  }
  const segments = [];
  for (let i = 0; i < words; i += 12) {
    const chunk = out.slice(i, i + 12);
    segments.push({ start: i * 0.4, end: (i + chunk.length) * 0.4, text: chunk.join(" ") });
  }
  return {
    text: out.join(" "),
    segments,
    words: out.map((word, i) => ({ start: i * 0.4, end: i * 0.4 + 0.35, word })),
    duration_seconds: words * 0.4,
  };
}

/** Bytes of the values a table's rows hold: text/blob by length, integer and real as 8 bytes (an upper bound). */
async function tableBytes(table: string): Promise<{ rows: number; valueBytes: number }> {
  const columns = (await env.DB.prepare(`select name from pragma_table_info('${table}')`).all<{ name: string }>())
    .results;
  const sum = columns
    .map(
      ({ name }) =>
        `coalesce(case typeof("${name}") when 'text' then length(cast("${name}" as blob)) when 'blob' then length("${name}") when 'integer' then 8 when 'real' then 8 else 0 end, 0)`,
    )
    .join(" + ");
  const row = await env.DB.prepare(`select count(*) as rows, coalesce(sum(${sum}), 0) as bytes from "${table}"`).first<{
    rows: number;
    bytes: number;
  }>();
  return { rows: row!.rows, valueBytes: row!.bytes };
}

/** The database file's size as D1 reports it after a statement (`meta.size_after`: pages, indexes included). */
async function databaseBytes(): Promise<number> {
  const result = await env.DB.prepare("select 1").run();
  return (result.meta as { size_after?: number }).size_after ?? Number.NaN;
}

async function snapshot() {
  const tables: Record<string, { rows: number; valueBytes: number }> = {};
  for (const table of JOB_TABLES) tables[table] = await tableBytes(table);
  let objects = 0;
  let objectBytes = 0;
  let cursor: string | undefined;
  do {
    const listed = await env.BUCKET.list({ cursor });
    for (const object of listed.objects) {
      objects += 1;
      objectBytes += object.size;
    }
    cursor = listed.truncated ? listed.cursor : undefined;
  } while (cursor);
  return { tables, databaseBytes: await databaseBytes(), objects, objectBytes };
}

async function completedJob(key: string, words: number, seed: number, review = true): Promise<string> {
  const form = {
    provider: "whisper-pool",
    webhook_url: "https://hooks.example.com/vtt",
    metadata: JSON.stringify({ order: `ord-${seed}`, channel: "support" }),
  };
  const res = await multipartUpload(key, form);
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  const done = await poolCallback(completedCallback(id, { ...transcript(words, seed) }));
  expect(done.status).toBe(200);
  const event = await env.DB.prepare("select id from webhook_events where job_id = ?").bind(id).first<{ id: string }>();
  expect(event).not.toBeNull();
  vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response("ok", { status: 200 }));
  expect((await deliverWebhooks([event!.id])).explicitAcks).toHaveLength(1);
  vi.restoreAllMocks();
  if (!review) return id;
  const reviewed = await call(`/v1/transcriptions/${id}/feedback`, {
    method: "POST",
    key,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ rating: "bad", reason: "names wrong", corrected_text: transcript(words, seed + 1).text }),
  });
  expect(reviewed.status).toBe(201);
  return id;
}

/** A bare upload, with or without an Idempotency-Key (its columns live on the job row: `idempotency_key`, `request_fingerprint`). */
async function bareJob(key: string, words: number, seed: number, idempotencyKey: boolean): Promise<string> {
  const form = new FormData();
  form.append("provider", "whisper-pool");
  form.append("file", new Blob([makeWav()], { type: "audio/wav" }), "clip.wav");
  const res = await call("/v1/transcriptions", {
    method: "POST",
    key,
    body: form,
    headers: idempotencyKey ? { "idempotency-key": `capacity-${seed}-${crypto.randomUUID()}` } : {},
  });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  expect((await poolCallback(completedCallback(id, { ...transcript(words, seed) }))).status).toBe(200);
  return id;
}

describe("per-job footprint", () => {
  it("measures bytes per job per table at 1, 10 and 60 minute transcripts", { timeout: 600_000 }, async () => {
    const { key } = await createTenant("capacity", ["admin"]);
    const results = [];
    let seed = 1;
    for (const length of LENGTHS) {
      const before = await snapshot();
      const ids: string[] = [];
      for (let j = 0; j < JOBS_PER_LENGTH; j++) ids.push(await completedJob(key, length.words, seed++));
      const after = await snapshot();
      const perJob: Record<string, { rows: number; valueBytes: number }> = {};
      for (const table of JOB_TABLES) {
        perJob[table] = {
          rows: (after.tables[table]!.rows - before.tables[table]!.rows) / JOBS_PER_LENGTH,
          valueBytes: (after.tables[table]!.valueBytes - before.tables[table]!.valueBytes) / JOBS_PER_LENGTH,
        };
      }
      // every completed job leaves its row, one token row per word, one event, one attempt, features and a review
      expect(perJob.transcriptions!.rows).toBe(1);
      expect(perJob.transcript_tokens!.rows).toBe(length.words);
      expect(perJob.webhook_events!.rows).toBe(1);
      expect(perJob.webhook_attempts!.rows).toBe(1);
      expect(perJob.job_features!.rows).toBe(1);
      expect(perJob.transcript_feedback!.rows).toBe(1);
      results.push({
        ...length,
        jobs: JOBS_PER_LENGTH,
        perJob,
        databaseBytesPerJob: (after.databaseBytes - before.databaseBytes) / JOBS_PER_LENGTH,
        r2ObjectsPerJob: (after.objects - before.objects) / JOBS_PER_LENGTH,
        r2BytesPerJob: (after.objectBytes - before.objectBytes) / JOBS_PER_LENGTH,
      });
    }
    // the fixed cost of a job apart from its words: one-word transcripts, webhook delivered, no review
    const fixedBefore = await snapshot();
    for (let j = 0; j < FIXED_JOBS; j++) await completedJob(key, 1, seed++, false);
    const fixedAfter = await snapshot();
    const fixed = {
      words: 1,
      jobs: FIXED_JOBS,
      valueBytesPerJob:
        JOB_TABLES.reduce((sum, t) => sum + fixedAfter.tables[t]!.valueBytes - fixedBefore.tables[t]!.valueBytes, 0) /
        FIXED_JOBS,
      databaseBytesPerJob: (fixedAfter.databaseBytes - fixedBefore.databaseBytes) / FIXED_JOBS,
    };
    // the Idempotency-Key columns of the job row: the same job measured with and without the header
    const plainBefore = await tableBytes("transcriptions");
    await bareJob(key, 1, seed, false);
    const plainAfter = await tableBytes("transcriptions");
    await bareJob(key, 1, seed, true);
    const keyedAfter = await tableBytes("transcriptions");
    const idempotency = {
      withoutKeyBytes: plainAfter.valueBytes - plainBefore.valueBytes,
      withKeyBytes: keyedAfter.valueBytes - plainAfter.valueBytes,
    };
    const dbstat = await env.DB.prepare("select name, sum(pgsize) as bytes from dbstat group by name")
      .all<{ name: string; bytes: number }>()
      .then(
        (r) => r.results,
        (error: unknown) => `unavailable: ${String(error).slice(0, 120)}`,
      );
    console.log(`FOOTPRINT ${JSON.stringify({ results, fixed, idempotency, dbstat })}`);
    expect(results).toHaveLength(LENGTHS.length);
  });
});
