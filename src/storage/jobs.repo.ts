/** D1 queries for transcription jobs. Every tenant-facing read and write is scoped by tenant id. */
import { and, desc, eq, inArray, lt, sql } from "drizzle-orm";
import type { Db } from "./db.ts";
import type { NormalisedTranscript } from "../providers/types.ts";
import { type JobStatus, type NewTranscriptionRow, type TranscriptionRow, transcriptions } from "./schema.ts";

const ACTIVE: JobStatus[] = ["queued", "processing"];

export async function insertJob(db: Db, row: NewTranscriptionRow): Promise<void> {
  await db.insert(transcriptions).values(row).run();
}

export async function getTenantJob(db: Db, tenantId: string, id: string): Promise<TranscriptionRow | null> {
  const [row] = await db
    .select()
    .from(transcriptions)
    .where(and(eq(transcriptions.tenantId, tenantId), eq(transcriptions.id, id)))
    .limit(1);
  return row ?? null;
}

/** Internal lookups (queue consumer, pool callback) by id alone. */
export async function getJobById(db: Db, id: string): Promise<TranscriptionRow | null> {
  const [row] = await db.select().from(transcriptions).where(eq(transcriptions.id, id)).limit(1);
  return row ?? null;
}

/** Keyset pagination on (tenant_id[, status], id): ids are time ordered, so pages stay stable under inserts. */
export async function listTenantJobs(
  db: Db,
  tenantId: string,
  options: { status?: JobStatus; limit: number; beforeId?: string },
): Promise<TranscriptionRow[]> {
  const conditions = [eq(transcriptions.tenantId, tenantId)];
  if (options.status) conditions.push(eq(transcriptions.status, options.status));
  if (options.beforeId) conditions.push(lt(transcriptions.id, options.beforeId));
  return db
    .select()
    .from(transcriptions)
    .where(and(...conditions))
    .orderBy(desc(transcriptions.id))
    .limit(options.limit);
}

/** queued|processing → processing; returns null when the job is gone or already terminal (redelivery). */
export async function markProcessing(db: Db, id: string, now: number, provider?: string): Promise<TranscriptionRow | null> {
  const [row] = await db
    .update(transcriptions)
    .set({
      status: "processing",
      delayedReason: null,
      ...(provider ? { provider } : {}),
      startedAt: sql`coalesce(${transcriptions.startedAt}, ${now})`,
      attempts: sql`${transcriptions.attempts} + 1`,
      updatedAt: now,
    })
    .where(and(eq(transcriptions.id, id), inArray(transcriptions.status, ACTIVE)))
    .returning();
  return row ?? null;
}

export async function markDispatched(db: Db, id: string, now: number): Promise<boolean> {
  const rows = await db
    .update(transcriptions)
    .set({ dispatchedAt: now, updatedAt: now })
    .where(and(eq(transcriptions.id, id), eq(transcriptions.status, "processing")))
    .returning({ id: transcriptions.id });
  return rows.length > 0;
}

export async function markEnqueueFailed(db: Db, id: string, now: number): Promise<void> {
  await db.update(transcriptions).set({ enqueuedAt: null, updatedAt: now }).where(eq(transcriptions.id, id)).run();
}

/** Retention windows start when a job finishes (null windows stay null: SQL arithmetic on null is null). */
function retentionDeadlines(now: number) {
  return {
    audioDeleteAt: sql<number | null>`${now} + ${transcriptions.retainAudioSeconds} * 1000`,
    deleteAt: sql<number | null>`${now} + ${transcriptions.retainSeconds} * 1000`,
  };
}

/**
 * Stores the result only if the job is still active: of concurrent or duplicate completions exactly one wins.
 * Returns the completed row to the winner, null to the losers (and for a job deleted meanwhile).
 */
export async function completeJob(
  db: Db,
  id: string,
  result: NormalisedTranscript,
  storage: { transcriptKey: string; inlineText: string | null },
  now: number,
): Promise<TranscriptionRow | null> {
  const rows = await db
    .update(transcriptions)
    .set({
      status: "completed",
      text: storage.inlineText,
      transcriptKey: storage.transcriptKey,
      segmentCount: result.segments.length,
      language: result.language,
      durationSeconds: result.duration_seconds,
      model: result.model,
      errorCode: null,
      errorMessage: null,
      completedAt: now,
      updatedAt: now,
      ...retentionDeadlines(now),
    })
    .where(and(eq(transcriptions.id, id), inArray(transcriptions.status, ACTIVE)))
    .returning();
  return rows[0] ?? null;
}

/** Fails the job only if it is still active; returns the failed row, or null when another outcome came first. */
export async function failJob(db: Db, id: string, code: string, message: string, now: number): Promise<TranscriptionRow | null> {
  const rows = await db
    .update(transcriptions)
    .set({ status: "failed", errorCode: code, errorMessage: message.slice(0, 1000), completedAt: now, updatedAt: now, ...retentionDeadlines(now) })
    .where(and(eq(transcriptions.id, id), inArray(transcriptions.status, ACTIVE)))
    .returning();
  return rows[0] ?? null;
}

/** Deletes the row and returns the R2 keys that belonged to it (null when it did not exist for this tenant). */
export async function deleteTenantJob(
  db: Db,
  tenantId: string,
  id: string,
): Promise<{ audioKey: string | null; transcriptKey: string | null } | null> {
  const [row] = await db
    .delete(transcriptions)
    .where(and(eq(transcriptions.tenantId, tenantId), eq(transcriptions.id, id)))
    .returning({ audioKey: transcriptions.audioKey, transcriptKey: transcriptions.transcriptKey });
  return row ?? null;
}
