/**
 * Deleting one job of a tenant on request (`DELETE /v1/transcriptions/{id}` and the console's delete button): the
 * row, its quality rows and search tokens, its transcript and audio objects, and any request still held on it.
 */
import type { Env } from "../env.ts";
import { isWellFormedId } from "../lib/ids.ts";
import type { Db } from "../storage/db.ts";
import { deleteJobQualityRows } from "../storage/feedback.repo.ts";
import { deleteTenantJob } from "../storage/jobs.repo.ts";
import { deleteTranscriptTokens } from "../storage/transcript-index.ts";
import { notifyJobSettled } from "./job-waiter.ts";

/** Deletes job `id` of `tenantId`; false when the tenant has no such job (another tenant's id included). */
export async function deleteTenantTranscription(env: Env, db: Db, tenantId: string, id: string): Promise<boolean> {
  const keys = isWellFormedId(id, "transcription") ? await deleteTenantJob(db, tenantId, id) : null;
  if (!keys) return false;
  // drift features, reviews and search tokens are about this recording too
  await deleteJobQualityRows(db, tenantId, [id]);
  await deleteTranscriptTokens(db, tenantId, [id]);
  // transcripts of losing duplicate results are already gone; list the job's prefix to catch any stragglers
  const listed = await env.BUCKET.list({ prefix: `transcripts/${tenantId}/${id}/` });
  const objectKeys = [keys.audioKey, keys.transcriptKey, ...listed.objects.map((o) => o.key)].filter(
    (k): k is string => !!k,
  );
  if (objectKeys.length) await env.BUCKET.delete([...new Set(objectKeys)]);
  // requests held on this job answer 404 now rather than at the end of their wait
  await notifyJobSettled(env, id);
  return true;
}
