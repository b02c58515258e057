/** Cron sweeper: re-sends queue messages for jobs that would otherwise sit forever. */
import { and, eq, isNull, lt, or, inArray } from "drizzle-orm";
import type { Db } from "../storage/db.ts";
import type { Env } from "../env.ts";
import { enqueueJobs } from "./enqueue.ts";
import { log } from "../lib/log.ts";
import { MAX_IDS_PER_QUERY } from "../storage/limits.ts";
import { traceIdOf } from "../observability/trace.ts";
import { transcriptions } from "../storage/schema.ts";

export const DEFAULT_PROCESSING_DEADLINE_SECONDS = 30 * 60;
/** a queued job untouched this long has probably lost its message */
export const QUEUED_STALE_SECONDS = 15 * 60;
// also bounded by D1's bound-parameter limit: the ids go into one update
const SWEEP_BATCH = MAX_IDS_PER_QUERY;

export async function sweepStuckJobs(env: Env, db: Db, now = Date.now()): Promise<{ requeued: number }> {
  const deadline = Number(env.PROCESSING_DEADLINE_SECONDS) > 0 ? Number(env.PROCESSING_DEADLINE_SECONDS) : DEFAULT_PROCESSING_DEADLINE_SECONDS;
  const stuck = await db
    .select({ id: transcriptions.id, tenantId: transcriptions.tenantId, status: transcriptions.status, traceparent: transcriptions.traceparent })
    .from(transcriptions)
    .where(
      or(
        and(eq(transcriptions.status, "queued"), isNull(transcriptions.enqueuedAt)),
        // dead-lettered jobs wait for the re-drive schedule instead
        and(eq(transcriptions.status, "queued"), isNull(transcriptions.delayedReason), lt(transcriptions.updatedAt, now - QUEUED_STALE_SECONDS * 1000)),
        and(eq(transcriptions.status, "processing"), lt(transcriptions.updatedAt, now - deadline * 1000)),
      ),
    )
    .limit(SWEEP_BATCH);
  if (!stuck.length) return { requeued: 0 };
  await enqueueJobs(env, stuck);
  await db
    .update(transcriptions)
    .set({ status: "queued", enqueuedAt: now, dispatchedAt: null, updatedAt: now })
    .where(and(inArray(transcriptions.id, stuck.map((j) => j.id)), inArray(transcriptions.status, ["queued", "processing"])))
    .run();
  for (const job of stuck) log("job_requeued", { job_id: job.id, previous_status: job.status, trace_id: traceIdOf(job.traceparent) ?? undefined });
  return { requeued: stuck.length };
}
