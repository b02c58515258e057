/**
 * Erasure's statements (subject, tenant, retention): they cross every table group, and their order matters (the job
 * row goes last), so they are kept together here rather than spread over the per-table repositories.
 */
import { and, eq, inArray, isNotNull } from "drizzle-orm";

import type { Db } from "./db.ts";
import {
  apiKeys,
  deadLetters,
  jobFeatures,
  tenants,
  transcriptFeedback,
  transcriptions,
  transcriptTokens,
  webhookAttempts,
  webhookEvents,
} from "./schema.ts";

/** Of `jobIds` (≤ MAX_IDS_PER_QUERY), those that were handed to the Whisper pool. */
export async function listDispatchedJobIds(db: Db, tenantId: string, jobIds: string[]): Promise<string[]> {
  const rows = await db
    .select({ id: transcriptions.id })
    .from(transcriptions)
    .where(
      and(
        eq(transcriptions.tenantId, tenantId),
        inArray(transcriptions.id, jobIds),
        isNotNull(transcriptions.dispatchedAt),
      ),
    );
  return rows.map((r) => r.id);
}

/** Up to `limit` job ids of one subject in a tenant. */
export async function listSubjectJobIds(db: Db, tenantId: string, subjectId: string, limit: number): Promise<string[]> {
  const rows = await db
    .select({ id: transcriptions.id })
    .from(transcriptions)
    .where(and(eq(transcriptions.tenantId, tenantId), eq(transcriptions.subjectId, subjectId)))
    .limit(limit);
  return rows.map((r) => r.id);
}

/** Up to `limit` job ids of a tenant. */
export async function listTenantJobIds(db: Db, tenantId: string, limit: number): Promise<string[]> {
  const rows = await db
    .select({ id: transcriptions.id })
    .from(transcriptions)
    .where(eq(transcriptions.tenantId, tenantId))
    .limit(limit);
  return rows.map((r) => r.id);
}

/** Webhook attempts and events and dead-letter items of some jobs (≤ MAX_IDS_PER_QUERY); returns what went. */
export async function deleteJobSideRecords(db: Db, tenantId: string, jobIds: string[]) {
  const attempts = await db
    .delete(webhookAttempts)
    .where(and(eq(webhookAttempts.tenantId, tenantId), inArray(webhookAttempts.jobId, jobIds)))
    .returning({ id: webhookAttempts.id });
  const events = await db
    .delete(webhookEvents)
    .where(and(eq(webhookEvents.tenantId, tenantId), inArray(webhookEvents.jobId, jobIds)))
    .returning({ id: webhookEvents.id });
  const letters = await db
    .delete(deadLetters)
    .where(and(eq(deadLetters.tenantId, tenantId), inArray(deadLetters.jobId, jobIds)))
    .returning({ id: deadLetters.jobId });
  return { webhook_attempts: attempts.length, webhook_events: events.length, dead_letters: letters.length };
}

/**
 * The job rows with their drift features, reviews and search tokens, in one batch (one transaction): features and reviews are only
 * written while the row exists, so none can slip in between.
 */
export async function deleteJobRows(db: Db, tenantId: string, jobIds: string[]) {
  const [rows, features, feedback, tokens] = await db.batch([
    db
      .delete(transcriptions)
      .where(and(eq(transcriptions.tenantId, tenantId), inArray(transcriptions.id, jobIds)))
      .returning({ id: transcriptions.id }),
    db
      .delete(jobFeatures)
      .where(and(eq(jobFeatures.tenantId, tenantId), inArray(jobFeatures.jobId, jobIds)))
      .returning({ id: jobFeatures.jobId }),
    db
      .delete(transcriptFeedback)
      .where(and(eq(transcriptFeedback.tenantId, tenantId), inArray(transcriptFeedback.jobId, jobIds)))
      .returning({ id: transcriptFeedback.jobId }),
    db
      .delete(transcriptTokens)
      .where(and(eq(transcriptTokens.tenantId, tenantId), inArray(transcriptTokens.jobId, jobIds))),
  ]);
  return {
    transcriptions: rows.length,
    job_features: features.length,
    feedback: feedback.length,
    search_tokens: tokens.meta.changes ?? 0,
  };
}

/** What is left of a tenant once its jobs are gone: stray side records, its keys and the tenant row. */
export async function deleteTenantRecords(db: Db, tenantId: string) {
  const count = async (rows: Promise<unknown[]>) => (await rows).length;
  return {
    webhook_attempts: await count(
      db.delete(webhookAttempts).where(eq(webhookAttempts.tenantId, tenantId)).returning({ id: webhookAttempts.id }),
    ),
    webhook_events: await count(
      db.delete(webhookEvents).where(eq(webhookEvents.tenantId, tenantId)).returning({ id: webhookEvents.id }),
    ),
    dead_letters: await count(
      db.delete(deadLetters).where(eq(deadLetters.tenantId, tenantId)).returning({ id: deadLetters.jobId }),
    ),
    job_features: await count(
      db.delete(jobFeatures).where(eq(jobFeatures.tenantId, tenantId)).returning({ id: jobFeatures.jobId }),
    ),
    feedback: await count(
      db
        .delete(transcriptFeedback)
        .where(eq(transcriptFeedback.tenantId, tenantId))
        .returning({ id: transcriptFeedback.jobId }),
    ),
    search_tokens: (await db.delete(transcriptTokens).where(eq(transcriptTokens.tenantId, tenantId))).meta.changes ?? 0,
    api_keys: await count(db.delete(apiKeys).where(eq(apiKeys.tenantId, tenantId)).returning({ id: apiKeys.id })),
    tenants: await count(db.delete(tenants).where(eq(tenants.id, tenantId)).returning({ id: tenants.id })),
  };
}
