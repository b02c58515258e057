/**
 * The cron's cleanup of tus uploads past their expiry: an unfinished one has its R2 multipart upload aborted (R2
 * drops the parts) and its tails deleted; a finished one only loses its state (the job owns the audio). Then the
 * Durable Object's storage and the D1 index row go.
 */
import type { Env } from "../env.ts";
import { log } from "../lib/log.ts";
import type { Db } from "../storage/db.ts";
import {
  deleteResumableUpload,
  listExpiredResumableUploads,
  listUnfinishedResumableUploads,
} from "../storage/resumable-uploads.repo.ts";
import { resumableUploadFor } from "./resumable-upload.ts";

/** uploads handled per cron run (each is one Durable Object call and a few R2 operations) */
export const EXPIRED_UPLOADS_PER_RUN = 200;

export async function purgeExpiredUploads(env: Env, db: Db, now = Date.now()): Promise<{ purged: number }> {
  const rows = await listExpiredResumableUploads(db, now, EXPIRED_UPLOADS_PER_RUN);
  let purged = 0;
  for (const row of rows) {
    try {
      await resumableUploadFor(env, row.id).purge();
      await deleteResumableUpload(db, row.id);
      purged++;
    } catch (error) {
      // the row stays: the next run tries again
      log("tus_purge_failed", { upload_id: row.id, error: error instanceof Error ? error.name : "unknown" });
    }
  }
  return { purged };
}

/** Erasure: a tenant's (or one subject's) unfinished uploads, bytes and state. Returns how many were removed. */
export async function eraseUnfinishedUploads(
  env: Env,
  db: Db,
  tenantId: string,
  subjectId: string | null,
): Promise<number> {
  let erased = 0;
  for (;;) {
    const rows = await listUnfinishedResumableUploads(db, tenantId, subjectId, EXPIRED_UPLOADS_PER_RUN);
    if (!rows.length) return erased;
    for (const row of rows) {
      await resumableUploadFor(env, row.id).purge();
      await deleteResumableUpload(db, row.id);
      erased++;
    }
  }
}
