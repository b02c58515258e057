/**
 * Pool erasures that the pool did not confirm are kept (job ids only) and retried by the cron with growing delays,
 * so a pool that was down during an erasure still loses its copy once it is back. After
 * POOL_ERASURE_GIVE_UP_MS the item is dropped and logged: by then the pool's own retention has removed the job.
 */
import { cappedExponentialBackoff } from "@vtt/pool-contract";

import type { Env } from "../env.ts";
import { log } from "../lib/log.ts";
import { erasePoolJobs } from "../providers/whisper-pool.ts";
import type { Db } from "../storage/db.ts";
import {
  deletePendingPoolErasures,
  insertPendingPoolErasures,
  listDuePoolErasures,
  reschedulePoolErasure,
} from "../storage/pool-erasures.repo.ts";

export const POOL_ERASURE_GIVE_UP_MS = 7 * 86_400_000;
const RETRY_BATCH = 50;
const RETRY_BASE_MS = 60_000;
const RETRY_CAP_MS = 60 * 60_000;

/** Delay after the `attempts`-th unconfirmed erasure (1-based): 1 min, 2, 4 … capped at 1 h. */
export function poolErasureRetryDelayMs(attempts: number): number {
  return cappedExponentialBackoff(attempts - 1, { base: RETRY_BASE_MS, cap: RETRY_CAP_MS });
}

export async function recordUnconfirmedPoolErasures(db: Db, jobIds: string[], now = Date.now()): Promise<void> {
  const nextAttemptAt = now + poolErasureRetryDelayMs(1);
  await insertPendingPoolErasures(
    db,
    jobIds.map((jobId) => ({ jobId, requestedAt: now, attempts: 1, nextAttemptAt })),
  );
}

export async function retryPoolErasures(
  env: Env,
  db: Db,
  now = Date.now(),
): Promise<{ confirmed: number; pending: number; abandoned: number }> {
  const due = await listDuePoolErasures(db, now, RETRY_BATCH);
  if (!due.length) return { confirmed: 0, pending: 0, abandoned: 0 };
  const { failed } = await erasePoolJobs(
    env,
    due.map((d) => d.jobId),
  );
  const stillFailing = new Set(failed);
  const confirmed = due.filter((d) => !stillFailing.has(d.jobId));
  const abandoned = due.filter((d) => stillFailing.has(d.jobId) && now - d.requestedAt >= POOL_ERASURE_GIVE_UP_MS);
  const retry = due.filter((d) => stillFailing.has(d.jobId) && now - d.requestedAt < POOL_ERASURE_GIVE_UP_MS);
  const done = [...confirmed, ...abandoned].map((d) => d.jobId);
  if (done.length) await deletePendingPoolErasures(db, done);
  for (const item of retry) {
    const attempts = item.attempts + 1;
    await reschedulePoolErasure(db, item.jobId, attempts, now + poolErasureRetryDelayMs(attempts));
  }
  for (const item of abandoned) log("pool_erasure_abandoned", { job_id: item.jobId, attempts: item.attempts });
  log("pool_erasure_retry", { confirmed: confirmed.length, pending: retry.length, abandoned: abandoned.length });
  return { confirmed: confirmed.length, pending: retry.length, abandoned: abandoned.length };
}
