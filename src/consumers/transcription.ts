/**
 * Queue consumer for transcription jobs. Idempotent per message: a redelivery of a terminal, deleted or already
 * dispatched job is acknowledged and ignored; retryable provider failures are retried with backoff.
 */
import { drizzle } from "drizzle-orm/d1";
import type { Db } from "../app.context.ts";
import type { Env, JobMessage } from "../env.ts";
import { isTerminal } from "../jobs/state.ts";
import { storeCompletedResult, storeFailure } from "../jobs/results.ts";
import { backoffDelaySeconds, retryPolicyFromSettings, shouldRetry, type RetryPolicyOptions } from "../jobs/retry-policy.ts";
import { createTranscriptionService } from "../providers/registry.ts";
import { ProviderError, type ProviderName } from "../providers/types.ts";
import { getJobById, markDispatched, markProcessing } from "../storage/jobs.repo.ts";
import * as schema from "../storage/schema.ts";
import { log } from "../lib/log.ts";

const CONTENT_TYPES: Record<string, string> = {
  wav: "audio/wav",
  mp3: "audio/mpeg",
  flac: "audio/flac",
  ogg: "audio/ogg",
  webm: "audio/webm",
  mp4: "audio/mp4",
};

function isJobMessage(body: unknown): body is JobMessage {
  const b = body as Partial<JobMessage> | null;
  return !!b && typeof b === "object" && typeof b.job_id === "string" && typeof b.tenant_id === "string";
}

export async function handleTranscriptionBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = drizzle(env.DB, { schema });
  const policy = retryPolicyFromSettings(env);
  await Promise.all(batch.messages.map((message) => processMessage(message, env, db, policy)));
}

async function processMessage(message: Message<unknown>, env: Env, db: Db, policy: RetryPolicyOptions): Promise<void> {
  const body = message.body;
  if (!isJobMessage(body)) {
    log("job_message_malformed", { message_id: message.id });
    message.ack();
    return;
  }
  const jobId = body.job_id;
  try {
    const job = await getJobById(db, jobId);
    if (!job || job.tenantId !== body.tenant_id || isTerminal(job.status)) {
      log("job_message_ignored", { job_id: jobId, reason: job ? job.status : "deleted", attempt: message.attempts });
      message.ack();
      return;
    }
    if (job.provider === "whisper-pool" && job.status === "processing" && job.dispatchedAt !== null) {
      log("job_message_ignored", { job_id: jobId, reason: "already_dispatched", attempt: message.attempts });
      message.ack();
      return;
    }
    const started = Date.now();
    const row = await markProcessing(db, jobId, started);
    if (!row) {
      message.ack();
      return;
    }
    log("job_processing", { job_id: jobId, tenant_id: row.tenantId, provider: row.provider, attempt: message.attempts });
    const object = row.audioKey ? await env.BUCKET.get(row.audioKey) : null;
    if (!object) {
      await storeFailure(db, jobId, "audio_missing", "The uploaded audio is no longer stored.");
      message.ack();
      return;
    }
    try {
      const service = createTranscriptionService(row.provider as ProviderName, env);
      const outcome = await service.transcribe({
        jobId,
        audio: object.body,
        bytes: object.size,
        format: row.audioFormat,
        contentType: CONTENT_TYPES[row.audioFormat] ?? "application/octet-stream",
        language: row.requestedLanguage,
        prompt: row.prompt,
      });
      if (outcome.kind === "dispatched") {
        await markDispatched(db, jobId, Date.now());
        log("job_dispatched", { job_id: jobId, provider: row.provider, duration_ms: Date.now() - started });
      } else {
        const stored = await storeCompletedResult(env, db, row, outcome.transcript);
        log("job_completed", { job_id: jobId, provider: row.provider, stored, duration_ms: Date.now() - started });
      }
      message.ack();
    } catch (error) {
      // make sure an unread body never keeps the R2 stream open
      await object.body.cancel().catch(() => undefined);
      throw error;
    }
  } catch (error) {
    const failure =
      error instanceof ProviderError
        ? error
        : new ProviderError("provider_network_error", error instanceof Error ? error.message : String(error), {
            retryable: true,
            cause: error,
          });
    if (!failure.retryable) {
      await storeFailure(db, jobId, failure.code, failure.message);
      log("job_failed", { job_id: jobId, code: failure.code, attempt: message.attempts });
      message.ack();
    } else if (shouldRetry(message.attempts, policy)) {
      const delaySeconds = backoffDelaySeconds(message.attempts, policy, failure.retryAfterSeconds);
      log("job_retry", { job_id: jobId, code: failure.code, attempt: message.attempts, delay_s: delaySeconds });
      message.retry({ delaySeconds });
    } else {
      await storeFailure(db, jobId, "retries_exhausted", `${failure.code}: ${failure.message}`);
      log("job_failed", { job_id: jobId, code: "retries_exhausted", last_code: failure.code, attempt: message.attempts });
      message.ack();
    }
  }
}
