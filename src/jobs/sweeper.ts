/** Cron sweeper: re-sends queue messages for jobs that would otherwise sit forever. */
import { settings } from "../config.ts";
import type { Env } from "../env.ts";
import { log } from "../lib/log.ts";
import { traceIdOf } from "../observability/trace.ts";
import type { Db } from "../storage/db.ts";
import { listStuckJobs, requeueJobs } from "../storage/jobs.repo.ts";
import { MAX_IDS_PER_QUERY } from "../storage/limits.ts";
import { enqueueJobs } from "./enqueue.ts";

/** a queued job untouched this long has probably lost its message */
export const QUEUED_STALE_SECONDS = 15 * 60;
// also bounded by D1's bound-parameter limit: the ids go into one update
const SWEEP_BATCH = MAX_IDS_PER_QUERY;

export async function sweepStuckJobs(env: Env, db: Db, now = Date.now()): Promise<{ requeued: number }> {
  const deadline = settings(env).PROCESSING_DEADLINE_SECONDS;
  const stuck = await listStuckJobs(db, {
    now,
    queuedStaleMs: QUEUED_STALE_SECONDS * 1000,
    processingDeadlineMs: deadline * 1000,
    limit: SWEEP_BATCH,
  });
  if (!stuck.length) return { requeued: 0 };
  await enqueueJobs(env, stuck);
  await requeueJobs(
    db,
    stuck.map((j) => j.id),
    now,
  );
  for (const job of stuck)
    log("job_requeued", {
      job_id: job.id,
      previous_status: job.status,
      trace_id: traceIdOf(job.traceparent) ?? undefined,
    });
  return { requeued: stuck.length };
}
