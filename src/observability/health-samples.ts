/**
 * Per-minute health history for the operator console (docs/console.md, "Health"). `/metrics` answers for fixed
 * windows ending now; a chart needs the past too, so the cron (`record_health_sample`, every minute) stores one
 * sample per minute from the same queries: queue depth and dead letters as `/metrics` counts them, and the jobs
 * finished in the minute with their end-to-end latency quantiles from the same histogram buckets. The page's table
 * of figures for the last hour and day is computed live from the same queries.
 */
import { bucketQuantile } from "../domain/health.ts";
import type { Db } from "../storage/db.ts";
import {
  deleteHealthSamplesBefore,
  type HealthSampleRow,
  listHealthSamples,
  putHealthSample,
} from "../storage/health-samples.repo.ts";
import { activeJobGroups, finishedJobStats, pendingDeadLetterGroups } from "../storage/metrics.repo.ts";
import { LATENCY_BUCKETS_SECONDS } from "./metrics-catalog.ts";

export const MINUTE_MS = 60_000;
/** Samples are kept a day and an hour, so the day chart is always full. */
export const HEALTH_SAMPLE_RETENTION_MS = 25 * 3600_000;
export const HEALTH_WINDOWS = { hour: 3600_000, day: 24 * 3600_000 } as const;
export type HealthWindow = keyof typeof HEALTH_WINDOWS;

/** Finished jobs since `since` (to now): counts and end-to-end p50/p95 in ms, from the `/metrics` buckets. */
export async function finishedFigures(db: Db, since: number) {
  const rows = await finishedJobStats(db, since, ["end_to_end"], LATENCY_BUCKETS_SECONDS);
  const finished = rows.reduce((n, r) => n + r.n, 0);
  const failed = rows.filter((r) => r.status === "failed").reduce((n, r) => n + r.n, 0);
  const count = rows.reduce((n, r) => n + Number(r.end_to_end_count ?? 0), 0);
  const buckets = LATENCY_BUCKETS_SECONDS.map((le, i) => ({
    le: le * 1000,
    count: rows.reduce((n, r) => n + Number(r[`end_to_end_b${i}`] ?? 0), 0),
  }));
  return { finished, failed, p50Ms: bucketQuantile(buckets, count, 0.5), p95Ms: bucketQuantile(buckets, count, 0.95) };
}

/** Queue depth (queued + processing) and unresolved dead letters right now, as `/metrics` counts them. */
export async function currentBacklog(db: Db) {
  const [active, dead] = await Promise.all([activeJobGroups(db), pendingDeadLetterGroups(db)]);
  return { queueDepth: active.reduce((n, r) => n + r.n, 0), deadLetters: dead.reduce((n, r) => n + r.n, 0) };
}

/** The cron task: stores this minute's sample (the 60 s before `now`) and drops expired samples. */
export async function recordHealthSample(db: Db, now = Date.now()): Promise<HealthSampleRow> {
  const minute = Math.floor(now / MINUTE_MS) * MINUTE_MS;
  const [finished, backlog] = await Promise.all([finishedFigures(db, now - MINUTE_MS), currentBacklog(db)]);
  const row: HealthSampleRow = { minute, ...backlog, ...finished };
  await putHealthSample(db, row);
  await deleteHealthSamplesBefore(db, now - HEALTH_SAMPLE_RETENTION_MS);
  return row;
}

/** The stored samples of the last day (the hour is its tail). */
export function recentHealthSamples(db: Db, now = Date.now()): Promise<HealthSampleRow[]> {
  return listHealthSamples(db, now - HEALTH_WINDOWS.day);
}
