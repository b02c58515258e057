/** `transcript_feedback`: one review per job (rating, sealed reason and correction, WER/CER), and its aggregates. */
import { and, eq, gt, gte, inArray, sql } from "drizzle-orm";

import type { Db } from "./db.ts";
import { jobFeatures, transcriptFeedback, type TranscriptFeedbackRow, transcriptions } from "./schema.ts";

export type FeedbackValues = Omit<TranscriptFeedbackRow, "createdAt" | "updatedAt">;

/** Whether the job already has a review (a new one replaces it). */
export async function hasFeedback(db: Db, tenantId: string, jobId: string): Promise<boolean> {
  const rows = await db
    .select({ createdAt: transcriptFeedback.createdAt })
    .from(transcriptFeedback)
    .where(and(eq(transcriptFeedback.tenantId, tenantId), eq(transcriptFeedback.jobId, jobId)))
    .limit(1);
  return rows.length > 0;
}

/**
 * Inserts or replaces the job's review, only while the job row exists in the tenant (an erasure running meanwhile
 * leaves nothing behind); returns the review's creation time, or null when the job is gone.
 */
export async function upsertFeedbackWhileJobExists(
  db: Db,
  values: FeedbackValues,
  now: number,
): Promise<{ createdAt: number } | null> {
  const written = await db
    .insert(transcriptFeedback)
    .select(
      db
        .select({
          jobId: sql`${values.jobId}`.as("job_id"),
          tenantId: sql`${values.tenantId}`.as("tenant_id"),
          provider: sql`${values.provider}`.as("provider"),
          model: sql`${values.model}`.as("model"),
          rating: sql`${values.rating}`.as("rating"),
          reason: sql`${values.reason}`.as("reason"),
          correctedText: sql`${values.correctedText}`.as("corrected_text"),
          wer: sql`${values.wer}`.as("wer"),
          cer: sql`${values.cer}`.as("cer"),
          referenceWords: sql`${values.referenceWords}`.as("reference_words"),
          createdAt: sql`${now}`.as("created_at"),
          updatedAt: sql`${now}`.as("updated_at"),
        })
        .from(transcriptions)
        .where(and(eq(transcriptions.id, values.jobId), eq(transcriptions.tenantId, values.tenantId))),
    )
    .onConflictDoUpdate({
      target: transcriptFeedback.jobId,
      set: {
        rating: sql`excluded.rating`,
        reason: sql`excluded.reason`,
        correctedText: sql`excluded.corrected_text`,
        wer: sql`excluded.wer`,
        cer: sql`excluded.cer`,
        referenceWords: sql`excluded.reference_words`,
        updatedAt: sql`excluded.updated_at`,
      },
    })
    .returning({ createdAt: transcriptFeedback.createdAt });
  return written[0] ?? null;
}

/** The stored review of one job (sealed fields still sealed). */
export async function getFeedback(db: Db, tenantId: string, jobId: string): Promise<TranscriptFeedbackRow | null> {
  const [row] = await db
    .select()
    .from(transcriptFeedback)
    .where(and(eq(transcriptFeedback.tenantId, tenantId), eq(transcriptFeedback.jobId, jobId)))
    .limit(1);
  return row ?? null;
}

/** Deletes the drift features and the reviews of some jobs of one tenant, in one batch. */
export async function deleteJobQualityRows(
  db: Db,
  tenantId: string,
  jobIds: string[],
): Promise<{ job_features: number; feedback: number }> {
  if (!jobIds.length) return { job_features: 0, feedback: 0 };
  const [features, feedback] = await db.batch([
    db
      .delete(jobFeatures)
      .where(and(eq(jobFeatures.tenantId, tenantId), inArray(jobFeatures.jobId, jobIds)))
      .returning({ id: jobFeatures.jobId }),
    db
      .delete(transcriptFeedback)
      .where(and(eq(transcriptFeedback.tenantId, tenantId), inArray(transcriptFeedback.jobId, jobIds)))
      .returning({ id: transcriptFeedback.jobId }),
  ]);
  return { job_features: features.length, feedback: feedback.length };
}

export type ReviewRow = Pick<TranscriptFeedbackRow, "provider" | "model" | "rating" | "wer" | "cer" | "updatedAt">;

/**
 * Reviews updated in [from, to] (or (from, to] with `exclusiveFrom`): across tenants for operator aggregates, or of one
 * tenant with `filter.tenantId` (the tenant console's quality chart).
 */
export async function listReviewsBetween(
  db: Db,
  window: { from: number; to: number; exclusiveFrom?: boolean },
  filter: { provider?: string; model?: string; tenantId?: string },
): Promise<ReviewRow[]> {
  const conditions = [
    window.exclusiveFrom
      ? gt(transcriptFeedback.updatedAt, window.from)
      : gte(transcriptFeedback.updatedAt, window.from),
    sql`${transcriptFeedback.updatedAt} <= ${window.to}`,
  ];
  if (filter.provider !== undefined) conditions.push(eq(transcriptFeedback.provider, filter.provider));
  if (filter.model !== undefined) conditions.push(eq(transcriptFeedback.model, filter.model));
  if (filter.tenantId !== undefined) conditions.push(eq(transcriptFeedback.tenantId, filter.tenantId));
  return db
    .select({
      provider: transcriptFeedback.provider,
      model: transcriptFeedback.model,
      rating: transcriptFeedback.rating,
      wer: transcriptFeedback.wer,
      cer: transcriptFeedback.cer,
      updatedAt: transcriptFeedback.updatedAt,
    })
    .from(transcriptFeedback)
    .where(and(...conditions));
}
