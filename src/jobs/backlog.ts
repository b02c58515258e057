/**
 * "Is the backlog large?" for degraded-mode notices: the number of queued jobs, counted on the
 * (status, updated_at) index at most once every few seconds per isolate.
 */
import type { Db } from "../storage/db.ts";
import type { Env } from "../env.ts";
import { countQueuedJobs } from "../storage/jobs.repo.ts";

export const DEFAULT_BACKLOG_DELAY_THRESHOLD = 1000;
const CACHE_MS = 5_000;
let cached: { queued: number; at: number } | null = null;

export function backlogThreshold(env: Env): number {
  const n = Number(env.BACKLOG_DELAY_THRESHOLD);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_BACKLOG_DELAY_THRESHOLD;
}

export async function isBacklogLarge(env: Env, db: Db, now = Date.now()): Promise<boolean> {
  if (!cached || now - cached.at > CACHE_MS) {
    cached = { queued: await countQueuedJobs(db), at: now };
  }
  return cached.queued >= backlogThreshold(env);
}

/** Drops the cached count (tests, and callers that just changed the backlog a lot). */
export function forgetBacklogCount(): void {
  cached = null;
}
