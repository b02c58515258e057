/**
 * Recursive erasure (GDPR/LGPD): everything stored about a subject within a tenant, or about a whole tenant —
 * D1 rows, R2 audio and transcripts, webhook events and attempts, dead-letter items — with a receipt that the audit
 * log keeps without any personal data. Idempotent: erasing again finds nothing and says so.
 */
import type { Env } from "../env.ts";
import { ulid } from "../lib/ids.ts";
import { log } from "../lib/log.ts";
import { erasePoolJobs } from "../providers/whisper-pool.ts";
import { appendAuditEntry } from "../storage/audit.repo.ts";
import type { Db } from "../storage/db.ts";
import {
  deleteJobRows,
  deleteJobSideRecords,
  deleteTenantRecords,
  listDispatchedJobIds,
  listSubjectJobIds,
  listTenantJobIds,
} from "../storage/erasure.repo.ts";
import { inSlices, MAX_IDS_PER_QUERY } from "../storage/limits.ts";
import { eraseUnfinishedUploads } from "../uploads/expiry.ts";
import { recordUnconfirmedPoolErasures } from "./pool-erasure-retry.ts";

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
  /** word positions of the search index (`transcript_tokens`) */
  search_tokens: number;
  /** unfinished tus uploads (`/v1/uploads`): their parts, tails and state */
  resumable_uploads: number;
}

export type ErasureScope = "subject" | "tenant" | "retention";

const AUDIT_ACTIONS: Record<ErasureScope, "subject.erased" | "tenant.erased" | "retention.purged"> = {
  subject: "subject.erased",
  tenant: "tenant.erased",
  retention: "retention.purged",
};

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
  search_tokens: 0,
  resumable_uploads: 0,
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
export async function eraseJobs(
  env: Env,
  db: Db,
  tenantId: string,
  jobIds: string[],
  counts: ErasureCounts,
): Promise<void> {
  if (jobIds.length > MAX_IDS_PER_QUERY) {
    for (const slice of inSlices(jobIds)) await eraseJobs(env, db, tenantId, slice, counts);
    return;
  }
  if (!jobIds.length) return;
  // jobs handed to the pool: it may still hold their data (payload, prompt, an undelivered result)
  const pooled = await listDispatchedJobIds(db, tenantId, jobIds);
  if (pooled.length) {
    const pool = await erasePoolJobs(env, pooled);
    counts.pool_jobs += pool.erased;
    counts.pool_jobs_unconfirmed += pool.failed.length;
    // the cron keeps asking an unreachable pool (src/compliance/pool-erasure-retry.ts)
    if (pool.failed.length) await recordUnconfirmedPoolErasures(db, pool.failed);
  }
  for (const id of jobIds) {
    counts.audio_objects += await deleteObjects(env.BUCKET, `audio/${tenantId}/${id}`);
    counts.transcript_objects += await deleteObjects(env.BUCKET, `transcripts/${tenantId}/${id}/`);
  }
  addCounts(counts, await deleteJobSideRecords(db, tenantId, jobIds));
  // the row goes last: a late provider result or pool callback then finds nothing and is dropped
  addCounts(counts, await deleteJobRows(db, tenantId, jobIds));
}

function addCounts(counts: ErasureCounts, erased: Partial<ErasureCounts>): void {
  for (const [name, n] of Object.entries(erased) as [keyof ErasureCounts, number][]) counts[name] += n;
}

export async function record(
  db: Db,
  tenantId: string,
  scope: ErasureScope,
  counts: ErasureCounts,
): Promise<ErasureReceipt> {
  const now = Date.now();
  const receipt: ErasureReceipt = {
    receipt_id: `rcpt_${ulid(now)}`,
    scope,
    erased: counts,
    completed_at: new Date(now).toISOString(),
  };
  await appendAuditEntry(db, {
    id: receipt.receipt_id,
    tenantId,
    action: AUDIT_ACTIONS[scope],
    receipt,
    createdAt: now,
  });
  log("erasure", { tenant_id: tenantId, scope, receipt_id: receipt.receipt_id, transcriptions: counts.transcriptions });
  return receipt;
}

/** Everything about one subject (`subject_id` given at upload) in one tenant. */
export async function eraseSubject(env: Env, db: Db, tenantId: string, subjectId: string): Promise<ErasureReceipt> {
  const counts = emptyCounts();
  counts.resumable_uploads += await eraseUnfinishedUploads(env, db, tenantId, subjectId);
  for (;;) {
    const slice = await listSubjectJobIds(db, tenantId, subjectId, SLICE);
    if (!slice.length) break;
    await eraseJobs(env, db, tenantId, slice, counts);
  }
  return record(db, tenantId, "subject", counts);
}

/** A whole tenant: its jobs, objects, webhook data, keys and the tenant row. */
export async function eraseTenant(env: Env, db: Db, tenantId: string): Promise<ErasureReceipt> {
  const counts = emptyCounts();
  counts.resumable_uploads += await eraseUnfinishedUploads(env, db, tenantId, null);
  for (;;) {
    const slice = await listTenantJobIds(db, tenantId, SLICE);
    if (!slice.length) break;
    await eraseJobs(env, db, tenantId, slice, counts);
  }
  // objects whose rows were already gone (e.g. an interrupted earlier erasure)
  counts.audio_objects += await deleteObjects(env.BUCKET, `audio/${tenantId}/`);
  counts.transcript_objects += await deleteObjects(env.BUCKET, `transcripts/${tenantId}/`);
  await deleteObjects(env.BUCKET, `tus/${tenantId}/`);
  addCounts(counts, await deleteTenantRecords(db, tenantId));
  return record(db, tenantId, "tenant", counts);
}
