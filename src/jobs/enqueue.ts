/**
 * The one place `vtt-jobs` messages are built and sent. A message carries ids (and the trace context) only, never
 * audio or personal data (docs/storage-schema.md).
 */
import type { Env, JobMessage } from "../env.ts";

/** What a message needs to know about a job. */
export interface EnqueuedJob {
  id: string;
  tenantId: string;
  /** W3C trace context of the upload; omitted from the message when absent */
  traceparent?: string | null;
}

/** The queue message for a job. */
export function jobMessage(job: EnqueuedJob): JobMessage {
  const trace = job.traceparent ? { traceparent: job.traceparent } : {};
  return { v: 1, job_id: job.id, tenant_id: job.tenantId, ...trace };
}

/** Sends one job to the transcription queue; a failed send throws (the caller decides what the job's row records). */
export async function enqueueJob(env: Pick<Env, "JOBS">, job: EnqueuedJob): Promise<void> {
  await env.JOBS.send(jobMessage(job), { contentType: "json" });
}

/** Sends several jobs in one `sendBatch` (at most the queue's batch limit of 100 messages). */
export async function enqueueJobs(env: Pick<Env, "JOBS">, jobs: readonly EnqueuedJob[]): Promise<void> {
  if (jobs.length === 0) return;
  await env.JOBS.sendBatch(jobs.map((job) => ({ body: jobMessage(job), contentType: "json" as const })));
}

/**
 * Sends the message that has the consumer finish a pool-transcribed job's audio redaction (`kind: "audio_redaction"`,
 * src/jobs/results.ts finishAudioRedaction); a failed send throws.
 */
export async function enqueueAudioRedaction(env: Pick<Env, "JOBS">, job: EnqueuedJob): Promise<void> {
  const message: JobMessage = { ...jobMessage(job), kind: "audio_redaction" };
  await env.JOBS.send(message, { contentType: "json" });
}
