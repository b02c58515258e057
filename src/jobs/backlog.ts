/**
 * "Is the backlog large?" for degraded-mode notices: the number of queued jobs, counted on the
 * (status, updated_at) index at most once every few seconds per isolate.
 */
import { settings } from "../config.ts";
import type { Env } from "../env.ts";
import type { Db } from "../storage/db.ts";
import { countQueuedJobs } from "../storage/jobs.repo.ts";

const CACHE_MS = 5_000;
let cached: { queued: number; at: number } | null = null;

export function backlogThreshold(env: Env): number {
  return settings(env).BACKLOG_DELAY_THRESHOLD;
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
