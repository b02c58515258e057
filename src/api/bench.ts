/**
 * Bench-only routes (mounted only when `BENCH_ROUTES=1`, never in production): each runs one storage primitive of
 * the upload path alone, so bench/ingest can compare the real upload with the serial sum of its parts.
 */
import { Hono } from "hono";
import type { AppEnv } from "../app.context.ts";
import { enqueueJob } from "../jobs/enqueue.ts";
import { newId } from "../lib/ids.ts";
import { insertJob } from "../storage/jobs.repo.ts";
import { tenants } from "../storage/schema.ts";

export const bench = new Hono<AppEnv>();
const BENCH_TENANT = "tn_00000000000000000000BENCH0";

bench.post("/__bench/r2", async (c) => {
  const body = new Uint8Array(await c.req.arrayBuffer());
  await c.env.BUCKET.put(`bench/${newId("transcription")}`, body);
  return c.json({ ok: true });
});

bench.post("/__bench/d1", async (c) => {
  await c.var.db.insert(tenants).values({ id: BENCH_TENANT, name: "bench", createdAt: 0 }).onConflictDoNothing().run();
  const now = Date.now();
  await insertJob(c.var.db, {
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
