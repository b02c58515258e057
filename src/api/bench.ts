/**
 * Bench-only routes (mounted only when `BENCH_ROUTES=1`, never in production): each runs one storage primitive of
 * the upload path alone, so bench/ingest can compare the real upload with the serial sum of its parts.
 */
import { Hono } from "hono";
import type { AppEnv } from "../app.context.ts";
import { maxUploadBytes } from "../config.ts";
import { readBodyLimited } from "../http/body-limit.ts";
import { newId } from "../lib/ids.ts";
import { insertJob } from "../storage/jobs.repo.ts";
import { tenants } from "../storage/schema.ts";

export const bench = new Hono<AppEnv>();
const BENCH_TENANT = "tn_00000000000000000000BENCH0";

bench.post("/__bench/r2", async (c) => {
  const body = await readBodyLimited(c.req.raw, maxUploadBytes(c.env));
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
  await c.env.JOBS.send({ v: 1, job_id: newId("transcription"), tenant_id: BENCH_TENANT }, { contentType: "json" });
  return c.json({ ok: true });
});
