/**
 * The retention purge (cron): audio past its window first, then whole jobs past theirs, in bounded slices per run.
 * Each tenant touched gets a receipt in the audit log (counts only, no personal data).
 */
import type { Env } from "../env.ts";
import { log } from "../lib/log.ts";
import type { Db } from "../storage/db.ts";
import { listExpiredJobs, listJobsWithAudioDue, markAudioPurged } from "../storage/jobs.repo.ts";
import { emptyCounts, eraseJobs, type ErasureCounts, record } from "./erasure.ts";

/** Rows handled per run and phase; the cron runs every minute, so a backlog drains over a few runs. */
export const PURGE_SLICE = 200;

export interface PurgeResult {
  audio_objects: number;
  transcriptions: number;
  tenants: number;
}

export async function purgeExpired(env: Env, db: Db, now = Date.now(), slice = PURGE_SLICE): Promise<PurgeResult> {
  const perTenant = new Map<string, ErasureCounts>();
  const countsFor = (tenantId: string) => {
    let counts = perTenant.get(tenantId);
    if (!counts) perTenant.set(tenantId, (counts = emptyCounts()));
    return counts;
  };

  const audio = await listJobsWithAudioDue(db, now, slice);
  if (audio.length) {
    const keys = audio.flatMap((row) => (row.audioKey ? [row.audioKey] : []));
    if (keys.length) await env.BUCKET.delete(keys);
    await markAudioPurged(
      db,
      audio.map((row) => row.id),
      now,
    );
    for (const row of audio) if (row.audioKey) countsFor(row.tenantId).audio_objects += 1;
  }

  const expired = await listExpiredJobs(db, now, slice);
  const byTenant = new Map<string, string[]>();
  for (const row of expired) byTenant.set(row.tenantId, [...(byTenant.get(row.tenantId) ?? []), row.id]);
  for (const [tenantId, ids] of byTenant) await eraseJobs(env, db, tenantId, ids, countsFor(tenantId));

  const result: PurgeResult = { audio_objects: 0, transcriptions: 0, tenants: perTenant.size };
  for (const [tenantId, counts] of perTenant) {
    await record(db, tenantId, "retention", counts);
    result.audio_objects += counts.audio_objects;
    result.transcriptions += counts.transcriptions;
  }
  if (perTenant.size) log("retention_purge", { ...result });
  return result;
}
