/** `dead_letters`: one item per dead-lettered job, its classification and re-drive schedule (operator data). */
import { and, asc, desc, eq, isNotNull, isNull, lt, lte } from "drizzle-orm";

import type { Db } from "./db.ts";
import { deadLetters, type JobStatus, transcriptions } from "./schema.ts";

export type DeadLetterRow = typeof deadLetters.$inferSelect;
export type DeadLetterVerdict = Omit<typeof deadLetters.$inferInsert, "jobId" | "firstDeadAt">;

export async function getDeadLetter(db: Db, jobId: string): Promise<DeadLetterRow | null> {
  const [row] = await db.select().from(deadLetters).where(eq(deadLetters.jobId, jobId)).limit(1);
  return row ?? null;
}

/** The item while it is still unresolved. */
export async function getPendingDeadLetter(db: Db, jobId: string): Promise<DeadLetterRow | null> {
  const [row] = await db
    .select()
    .from(deadLetters)
    .where(and(eq(deadLetters.jobId, jobId), isNull(deadLetters.resolvedAt)))
    .limit(1);
  return row ?? null;
}

/** Records a verdict; the first time a job dies is kept across later deaths. */
export async function upsertDeadLetter(db: Db, jobId: string, values: DeadLetterVerdict, now: number): Promise<void> {
  await db
    .insert(deadLetters)
    .values({ jobId, firstDeadAt: now, ...values })
    .onConflictDoUpdate({ target: deadLetters.jobId, set: values })
    .run();
}

/** Unresolved items whose re-drive time has come, oldest first. */
export async function listDueDeadLetters(db: Db, now: number, limit: number): Promise<DeadLetterRow[]> {
  return db
    .select()
    .from(deadLetters)
    .where(and(isNull(deadLetters.resolvedAt), lte(deadLetters.nextRedriveAt, now)))
    .orderBy(asc(deadLetters.nextRedriveAt))
    .limit(limit);
}

export async function resolveDeadLetter(db: Db, jobId: string, resolution: string, now: number): Promise<void> {
  await db
    .update(deadLetters)
    .set({ resolvedAt: now, resolution, nextRedriveAt: null })
    .where(eq(deadLetters.jobId, jobId))
    .run();
}

export async function scheduleRedrive(
  db: Db,
  jobId: string,
  schedule: { nextRedriveAt: number; redriveCount?: number },
): Promise<void> {
  await db.update(deadLetters).set(schedule).where(eq(deadLetters.jobId, jobId)).run();
}

export type DeadLetterState = "pending" | "resolved" | "all";

/** The inspector's list for operators of one shard, newest job first (before `beforeJobId`), with each job's status. */
export async function listDeadLetters(
  db: Db,
  state: DeadLetterState,
  limit: number,
  beforeJobId?: string,
): Promise<{ item: DeadLetterRow; jobStatus: JobStatus | null }[]> {
  const byState =
    state === "pending"
      ? isNull(deadLetters.resolvedAt)
      : state === "resolved"
        ? isNotNull(deadLetters.resolvedAt)
        : undefined;
  // newest job first (ids are time ordered), so pages of several shards merge by id and a job id is the cursor
  return db
    .select({ item: deadLetters, jobStatus: transcriptions.status })
    .from(deadLetters)
    .leftJoin(transcriptions, eq(transcriptions.id, deadLetters.jobId))
    .where(and(byState, beforeJobId === undefined ? undefined : lt(deadLetters.jobId, beforeJobId)))
    .orderBy(desc(deadLetters.jobId))
    .limit(limit);
}

/** Job ids of unresolved recoverable items (the operator's "re-drive all"). */
export async function listPendingRecoverableJobIds(db: Db, limit: number): Promise<string[]> {
  const rows = await db
    .select({ jobId: deadLetters.jobId })
    .from(deadLetters)
    .where(and(isNull(deadLetters.resolvedAt), eq(deadLetters.classification, "recoverable")))
    .limit(limit);
  return rows.map((r) => r.jobId);
}
