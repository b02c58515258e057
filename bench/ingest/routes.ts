/**
 * Bench-only routes, served only by the bench entry point (bench/ingest/worker.ts), never by the production Worker:
 * each runs one storage primitive of the upload path alone, so bench/ingest can compare the real upload with the
 * serial sum of its parts; and bench/search's seeding of indexed transcripts.
 */
import { Hono } from "hono";

import { maxUploadBytes } from "../../src/config.ts";
import type { Env } from "../../src/env.ts";
import { readBodyLimited } from "../../src/http/body-limit.ts";
import { enqueueJob } from "../../src/jobs/enqueue.ts";
import { newId } from "../../src/lib/ids.ts";
import { createDb } from "../../src/storage/db.ts";
import { insertJob } from "../../src/storage/jobs.repo.ts";
import { insertTenantIfMissing } from "../../src/storage/tenants.repo.ts";
import { indexTranscripts } from "../../src/storage/transcript-index.ts";

export const bench = new Hono<{ Bindings: Env }>();
const BENCH_TENANT = "tn_00000000000000000000BENCH0";

bench.post("/__bench/r2", async (c) => {
  const body = await readBodyLimited(c.req.raw, maxUploadBytes(c.env));
  await c.env.BUCKET.put(`bench/${newId("transcription")}`, body);
  return c.json({ ok: true });
});

bench.post("/__bench/d1", async (c) => {
  const db = createDb(c.env);
  await insertTenantIfMissing(db, { id: BENCH_TENANT, name: "bench", createdAt: 0 });
  const now = Date.now();
  await insertJob(db, {
    id: newId("transcription"),
    tenantId: BENCH_TENANT,
    status: "failed",
    provider: "bench",
    audioBytes: 0,
    audioFormat: "wav",
    createdAt: now,
    updatedAt: now,
  });
  return c.json({ ok: true });
});

bench.post("/__bench/queue", async (c) => {
  await enqueueJob(c.env, { id: newId("transcription"), tenantId: BENCH_TENANT });
  return c.json({ ok: true });
});

/**
 * bench/search: `count` completed jobs of one tenant from `offset` on, each with a synthetic transcript of `words`
 * words drawn from a Zipf-distributed vocabulary (as natural language is), indexed like a completed job.
 * Deterministic: the same offset gives the same job ids and texts, so the bench can query words it knows are there.
 */
bench.post("/__bench/search-seed", async (c) => {
  const { tenantId, offset, count, words, createdFrom } = await c.req.json<{
    tenantId: string;
    offset: number;
    count: number;
    words: number;
    createdFrom: number;
  }>();
  const db = createDb(c.env);
  const jobs = Array.from({ length: count }, (_, k) => {
    const n = offset + k;
    return { jobId: benchJobId(createdFrom + n * 1000, n), text: syntheticTranscript(n, words) };
  });
  const now = Date.now();
  const insert = c.env.DB.prepare(
    `insert or ignore into transcriptions (id, tenant_id, status, provider, audio_bytes, audio_format, created_at,
      updated_at, completed_at, text) values (?, ?, 'completed', 'whisper-pool', 1000, 'wav', ?, ?, ?, null)`,
  );
  await c.env.DB.batch(
    jobs.map((job, k) => insert.bind(job.jobId, tenantId, createdFrom + (offset + k) * 1000, now, now)),
  );
  for (let i = 0; i < jobs.length; i += 50) await indexTranscripts(c.env, db, tenantId, jobs.slice(i, i + 50));
  return c.json({ jobs: jobs.map((job) => job.jobId) });
});

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
export const BENCH_VOCABULARY = 20_000;

/** `tr_` + a ULID-shaped id ordered by creation time. */
function benchJobId(createdMs: number, n: number): string {
  let time = "";
  for (let ms = createdMs, k = 0; k < 10; k++, ms = Math.floor(ms / 32)) time = CROCKFORD[ms % 32] + time;
  let rest = "";
  for (let v = n, k = 0; k < 16; k++, v = Math.floor(v / 32)) rest = CROCKFORD[v % 32] + rest;
  return `tr_${time}${rest}`;
}

let zipfCumulative: Float64Array | null = null;

/** The word of vocabulary rank `rank` (1 = most frequent): `w1`, `w2`, … */
export const benchWord = (rank: number) => `w${rank}`;

/** Transcript `n`: `words` words, rank r drawn with probability ∝ 1 / r^1.07 (Zipf), from a PRNG seeded by n. */
function syntheticTranscript(n: number, words: number): string {
  if (!zipfCumulative) {
    zipfCumulative = new Float64Array(BENCH_VOCABULARY);
    let sum = 0;
    for (let r = 1; r <= BENCH_VOCABULARY; r++) zipfCumulative[r - 1] = sum += 1 / r ** 1.07;
  }
  const total = zipfCumulative[BENCH_VOCABULARY - 1]!;
  let state = (n * 2654435761 + 1) >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    const target = next() * total;
    let lo = 0;
    let hi = BENCH_VOCABULARY - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (zipfCumulative[mid]! < target) lo = mid + 1;
      else hi = mid;
    }
    out.push(benchWord(lo + 1));
  }
  return out.join(" ");
}
