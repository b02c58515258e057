/**
 * Recursive erasure (GDPR/LGPD): everything stored about a subject within a tenant, or about a whole tenant —
 * D1 rows, R2 audio and transcripts, webhook events and attempts, dead-letter items — with a receipt that the audit
 * log keeps without any personal data. Idempotent: erasing again finds nothing and says so.
 */
import { and, eq, inArray, isNotNull } from "drizzle-orm";
import type { Db } from "../storage/db.ts";
import type { Env } from "../env.ts";
import { ulid } from "../lib/ids.ts";
import { log } from "../lib/log.ts";
import { erasePoolJobs } from "../providers/whisper-pool.ts";
import { recordUnconfirmedPoolErasures } from "./pool-erasure-retry.ts";
import { inSlices, MAX_IDS_PER_QUERY } from "../storage/limits.ts";
import { apiKeys, auditLog, deadLetters, jobFeatures, tenants, transcriptFeedback, transcriptions, webhookAttempts, webhookEvents } from "../storage/schema.ts";

export interface ErasureCounts {
  transcriptions: number;
  audio_objects: number;
  transcript_objects: number;
  webhook_events: number;
  webhook_attempts: number;
  dead_letters: number;
  api_keys: number;
  tenants: number;
  /** jobs the Whisper pool still held (queued, running or awaiting callback) and erased */
  pool_jobs: number;
  /** pool jobs whose erasure the pool did not confirm (unreachable): retried by the cron until it does */
  pool_jobs_unconfirmed: number;
  /** drift feature rows (`job_features`) */
  job_features: number;
  /** transcript reviews (`transcript_feedback`: rating, sealed reason and correction) */
  feedback: number;
}

export type ErasureScope = "subject" | "tenant" | "retention";

const AUDIT_ACTIONS: Record<ErasureScope, "subject.erased" | "tenant.erased" | "retention.purged"> = { subject: "subject.erased", tenant: "tenant.erased", retention: "retention.purged" };

export interface ErasureReceipt {
  receipt_id: string;
  scope: ErasureScope;
  erased: ErasureCounts;
  completed_at: string;
}

/** Jobs are erased in slices so a large subject or tenant never builds one huge statement. */
const SLICE = MAX_IDS_PER_QUERY;

export const emptyCounts = (): ErasureCounts => ({
  transcriptions: 0,
  audio_objects: 0,
  transcript_objects: 0,
  webhook_events: 0,
  webhook_attempts: 0,
  dead_letters: 0,
  api_keys: 0,
  tenants: 0,
  pool_jobs: 0,
  pool_jobs_unconfirmed: 0,
  job_features: 0,
  feedback: 0,
});

async function deleteObjects(bucket: R2Bucket, prefix: string): Promise<number> {
  let deleted = 0;
  let cursor: string | undefined;
  do {
    const listed = await bucket.list({ prefix, cursor });
    if (listed.objects.length) await bucket.delete(listed.objects.map((o) => o.key));
    deleted += listed.objects.length;
    cursor = listed.truncated ? listed.cursor : undefined;
  } while (cursor);
  return deleted;
}

/** Erases a slice of jobs and everything hanging off them. */
export async function eraseJobs(env: Env, db: Db, tenantId: string, jobIds: string[], counts: ErasureCounts): Promise<void> {
  if (jobIds.length > MAX_IDS_PER_QUERY) {
    for (const slice of inSlices(jobIds)) await eraseJobs(env, db, tenantId, slice, counts);
    return;
  }
  if (!jobIds.length) return;
  // jobs handed to the pool: it may still hold their data (payload, prompt, an undelivered result)
  const pooled = await db
    .select({ id: transcriptions.id })
    .from(transcriptions)
    .where(and(eq(transcriptions.tenantId, tenantId), inArray(transcriptions.id, jobIds), isNotNull(transcriptions.dispatchedAt)));
  if (pooled.length) {
    const pool = await erasePoolJobs(env, pooled.map((r) => r.id));
    counts.pool_jobs += pool.erased;
    counts.pool_jobs_unconfirmed += pool.failed.length;
    // the cron keeps asking an unreachable pool (src/compliance/pool-erasure-retry.ts)
    if (pool.failed.length) await recordUnconfirmedPoolErasures(db, pool.failed);
  }
  for (const id of jobIds) {
    counts.audio_objects += await deleteObjects(env.BUCKET, `audio/${tenantId}/${id}`);
    counts.transcript_objects += await deleteObjects(env.BUCKET, `transcripts/${tenantId}/${id}/`);
  }
  counts.webhook_attempts += (await db.delete(webhookAttempts).where(and(eq(webhookAttempts.tenantId, tenantId), inArray(webhookAttempts.jobId, jobIds))).returning({ id: webhookAttempts.id })).length;
  counts.webhook_events += (await db.delete(webhookEvents).where(and(eq(webhookEvents.tenantId, tenantId), inArray(webhookEvents.jobId, jobIds))).returning({ id: webhookEvents.id })).length;
  counts.dead_letters += (await db.delete(deadLetters).where(and(eq(deadLetters.tenantId, tenantId), inArray(deadLetters.jobId, jobIds))).returning({ id: deadLetters.jobId })).length;
  // the row goes last: a late provider result or pool callback then finds nothing and is dropped. Features and
  // reviews go in the same batch (one transaction): they are only ever written while the row exists, so none can
  // slip in between.
  const [rows, features, feedback] = await db.batch([
    db.delete(transcriptions).where(and(eq(transcriptions.tenantId, tenantId), inArray(transcriptions.id, jobIds))).returning({ id: transcriptions.id }),
    db.delete(jobFeatures).where(and(eq(jobFeatures.tenantId, tenantId), inArray(jobFeatures.jobId, jobIds))).returning({ id: jobFeatures.jobId }),
    db.delete(transcriptFeedback).where(and(eq(transcriptFeedback.tenantId, tenantId), inArray(transcriptFeedback.jobId, jobIds))).returning({ id: transcriptFeedback.jobId }),
  ]);
  counts.transcriptions += rows.length;
  counts.job_features += features.length;
  counts.feedback += feedback.length;
}

export async function record(db: Db, tenantId: string, scope: ErasureScope, counts: ErasureCounts): Promise<ErasureReceipt> {
  const now = Date.now();
  const receipt: ErasureReceipt = { receipt_id: `rcpt_${ulid(now)}`, scope, erased: counts, completed_at: new Date(now).toISOString() };
  await db.insert(auditLog).values({ id: receipt.receipt_id, tenantId, action: AUDIT_ACTIONS[scope], receipt: JSON.stringify(receipt), createdAt: now }).run();
  log("erasure", { tenant_id: tenantId, scope, receipt_id: receipt.receipt_id, transcriptions: counts.transcriptions });
  return receipt;
}

/** Everything about one subject (`subject_id` given at upload) in one tenant. */
export async function eraseSubject(env: Env, db: Db, tenantId: string, subjectId: string): Promise<ErasureReceipt> {
  const counts = emptyCounts();
  for (;;) {
    const slice = await db
      .select({ id: transcriptions.id })
      .from(transcriptions)
      .where(and(eq(transcriptions.tenantId, tenantId), eq(transcriptions.subjectId, subjectId)))
      .limit(SLICE);
    if (!slice.length) break;
    await eraseJobs(env, db, tenantId, slice.map((r) => r.id), counts);
  }
  return record(db, tenantId, "subject", counts);
}

/** A whole tenant: its jobs, objects, webhook data, keys and the tenant row. */
export async function eraseTenant(env: Env, db: Db, tenantId: string): Promise<ErasureReceipt> {
  const counts = emptyCounts();
  for (;;) {
    const slice = await db.select({ id: transcriptions.id }).from(transcriptions).where(eq(transcriptions.tenantId, tenantId)).limit(SLICE);
    if (!slice.length) break;
    await eraseJobs(env, db, tenantId, slice.map((r) => r.id), counts);
  }
  // objects whose rows were already gone (e.g. an interrupted earlier erasure)
  counts.audio_objects += await deleteObjects(env.BUCKET, `audio/${tenantId}/`);
  counts.transcript_objects += await deleteObjects(env.BUCKET, `transcripts/${tenantId}/`);
  counts.webhook_attempts += (await db.delete(webhookAttempts).where(eq(webhookAttempts.tenantId, tenantId)).returning({ id: webhookAttempts.id })).length;
  counts.webhook_events += (await db.delete(webhookEvents).where(eq(webhookEvents.tenantId, tenantId)).returning({ id: webhookEvents.id })).length;
  counts.dead_letters += (await db.delete(deadLetters).where(eq(deadLetters.tenantId, tenantId)).returning({ id: deadLetters.jobId })).length;
  counts.job_features += (await db.delete(jobFeatures).where(eq(jobFeatures.tenantId, tenantId)).returning({ id: jobFeatures.jobId })).length;
  counts.feedback += (await db.delete(transcriptFeedback).where(eq(transcriptFeedback.tenantId, tenantId)).returning({ id: transcriptFeedback.jobId })).length;
  counts.api_keys += (await db.delete(apiKeys).where(eq(apiKeys.tenantId, tenantId)).returning({ id: apiKeys.id })).length;
  counts.tenants += (await db.delete(tenants).where(eq(tenants.id, tenantId)).returning({ id: tenants.id })).length;
  return record(db, tenantId, "tenant", counts);
}
