/** `resumable_uploads`: the D1 index of tus uploads (their live state is in the `ResumableUpload` Durable Objects). */
import { and, eq, isNull, lte } from "drizzle-orm";

import type { Db } from "./db.ts";
import { type ResumableUploadRow, resumableUploads } from "./schema.ts";

export async function insertResumableUpload(db: Db, row: ResumableUploadRow): Promise<void> {
  await db.insert(resumableUploads).values(row).run();
}

/**
 * Inserts the row under its Idempotency-Key, or returns the upload that already holds the key in this tenant. A key
 * held by an upload past its expiry is released first, so the key may be used again.
 */
export async function claimUploadIdempotencyKey(
  db: Db,
  row: ResumableUploadRow & { idempotencyKey: string },
  now: number,
): Promise<ResumableUploadRow | null> {
  await db
    .update(resumableUploads)
    .set({ idempotencyKey: null })
    .where(
      and(
        eq(resumableUploads.tenantId, row.tenantId),
        eq(resumableUploads.idempotencyKey, row.idempotencyKey),
        lte(resumableUploads.expiresAt, now),
      ),
    )
    .run();
  const inserted = await db.insert(resumableUploads).values(row).onConflictDoNothing().returning();
  if (inserted.length) return null;
  const [held] = await db
    .select()
    .from(resumableUploads)
    .where(and(eq(resumableUploads.tenantId, row.tenantId), eq(resumableUploads.idempotencyKey, row.idempotencyKey)))
    .limit(1);
  return held ?? null;
}

export async function markResumableUploadCompleted(db: Db, id: string, now: number): Promise<void> {
  await db.update(resumableUploads).set({ completedAt: now }).where(eq(resumableUploads.id, id)).run();
}

/** Uploads whose time is up (finished or not), oldest first. */
export async function listExpiredResumableUploads(db: Db, now: number, limit: number): Promise<ResumableUploadRow[]> {
  return db
    .select()
    .from(resumableUploads)
    .where(lte(resumableUploads.expiresAt, now))
    .orderBy(resumableUploads.expiresAt)
    .limit(limit);
}

/** A tenant's unfinished uploads, or only a subject's (`subject_id` in their metadata). */
export async function listUnfinishedResumableUploads(
  db: Db,
  tenantId: string,
  subjectId: string | null,
  limit: number,
): Promise<ResumableUploadRow[]> {
  const scope = subjectId === null ? undefined : eq(resumableUploads.subjectId, subjectId);
  return db
    .select()
    .from(resumableUploads)
    .where(and(eq(resumableUploads.tenantId, tenantId), isNull(resumableUploads.completedAt), scope))
    .limit(limit);
}

export async function deleteResumableUpload(db: Db, id: string): Promise<void> {
  await db.delete(resumableUploads).where(eq(resumableUploads.id, id)).run();
}
