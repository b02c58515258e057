/** `pending_pool_erasures`: job ids whose erasure the Whisper pool has not confirmed yet (no personal data). */
import { asc, eq, inArray, lte } from "drizzle-orm";

import type { Db } from "./db.ts";
import { inSlices, MAX_IDS_PER_QUERY } from "./limits.ts";
import { pendingPoolErasures } from "./schema.ts";

export type PendingPoolErasure = typeof pendingPoolErasures.$inferSelect;

/** Records first attempts; a job already pending keeps its original request time. */
export async function insertPendingPoolErasures(db: Db, items: PendingPoolErasure[]): Promise<void> {
  for (const slice of inSlices(items, 20))
    await db.insert(pendingPoolErasures).values(slice).onConflictDoNothing().run();
}

/** The oldest due items, at most `limit`. */
export async function listDuePoolErasures(db: Db, now: number, limit: number): Promise<PendingPoolErasure[]> {
  return db
    .select()
    .from(pendingPoolErasures)
    .where(lte(pendingPoolErasures.nextAttemptAt, now))
    .orderBy(asc(pendingPoolErasures.nextAttemptAt))
    .limit(Math.min(limit, MAX_IDS_PER_QUERY));
}

export async function deletePendingPoolErasures(db: Db, jobIds: string[]): Promise<void> {
  for (const ids of inSlices(jobIds))
    await db.delete(pendingPoolErasures).where(inArray(pendingPoolErasures.jobId, ids)).run();
}

/** Schedules the next attempt of an item that failed again. */
export async function reschedulePoolErasure(
  db: Db,
  jobId: string,
  attempts: number,
  nextAttemptAt: number,
): Promise<void> {
  await db
    .update(pendingPoolErasures)
    .set({ attempts, nextAttemptAt })
    .where(eq(pendingPoolErasures.jobId, jobId))
    .run();
}
