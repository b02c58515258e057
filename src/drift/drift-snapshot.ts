/**
 * Drift metrics change over hours, and computing them reads days of job features (2.5 s at 100k jobs,
 * docs/benchmarks.md). So the cron recomputes them at most every DRIFT_SNAPSHOT_INTERVAL_MS and `/metrics` serves
 * the stored snapshot, with its age, in a single-row read.
 */
import { log } from "../lib/log.ts";
import { EDGE_METRICS } from "../observability/metrics-catalog.ts";
import type { MetricFamily } from "../observability/prometheus.ts";
import type { Db } from "../storage/db.ts";
import { getSnapshot, putSnapshot, snapshotComputedAt } from "../storage/snapshots.repo.ts";
import { driftMetricFamilies } from "./drift.ts";

export const DRIFT_SNAPSHOT = "drift";
export const DRIFT_SNAPSHOT_INTERVAL_MS = 15 * 60_000;

/** Recomputes the drift snapshot when it is missing or older than the interval; returns whether it did. */
export async function refreshDriftSnapshot(
  db: Db,
  now = Date.now(),
  intervalMs = DRIFT_SNAPSHOT_INTERVAL_MS,
): Promise<boolean> {
  const computedAt = await snapshotComputedAt(db, DRIFT_SNAPSHOT);
  if (computedAt !== null && now - computedAt < intervalMs) return false;
  const started = Date.now();
  const families = await driftMetricFamilies(db, now);
  await putSnapshot(db, { name: DRIFT_SNAPSHOT, computedAt: now, families: JSON.stringify(families) });
  log("drift_snapshot", {
    duration_ms: Date.now() - started,
    series: families.reduce((n, f) => n + f.samples.length, 0),
  });
  return true;
}

/** The stored drift families plus the snapshot's age; empty families (and no age) before the first snapshot. */
export async function cachedDriftFamilies(db: Db, now = Date.now()): Promise<MetricFamily[]> {
  const row = await getSnapshot(db, DRIFT_SNAPSHOT);
  if (!row) return [];
  const families = JSON.parse(row.families) as MetricFamily[];
  return [
    ...families,
    {
      name: "vtt_drift_snapshot_age_seconds",
      type: "gauge",
      help: EDGE_METRICS.vtt_drift_snapshot_age_seconds.help,
      samples: [{ value: Math.max(0, (now - row.computedAt) / 1000) }],
    },
  ];
}
