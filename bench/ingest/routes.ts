/**
 * Bench-only routes, served only by the bench entry point (bench/ingest/worker.ts), never by the production Worker:
 * each runs one storage primitive of the upload path alone, so bench/ingest can compare the real upload with the
 * serial sum of its parts.
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
