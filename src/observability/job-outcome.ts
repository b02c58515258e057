/**
 * One record per finished job: a structured log line (`job_finished`) and, where the binding exists, a Workers
 * Analytics Engine data point. Ids, codes and timings only — never text, prompts or metadata.
 */
import type { Env } from "../env.ts";
import { log } from "../lib/log.ts";
import type { TranscriptionRow } from "../storage/schema.ts";

export interface JobOutcome {
  job_id: string;
  tenant_id: string;
  provider: string;
  model: string | null;
  outcome: "completed" | "failed";
  error_code: string | null;
  language: string | null;
  attempts: number;
  audio_seconds: number | null;
  audio_bytes: number;
  queue_wait_ms: number | null;
  processing_ms: number | null;
  end_to_end_ms: number;
}

export function jobOutcome(row: TranscriptionRow): JobOutcome {
  const finished = row.completedAt ?? row.updatedAt;
  return {
    job_id: row.id,
    tenant_id: row.tenantId,
    provider: row.provider,
    model: row.model,
    outcome: row.status === "completed" ? "completed" : "failed",
    error_code: row.errorCode,
    language: row.language,
    attempts: row.attempts,
    audio_seconds: row.durationSeconds,
    audio_bytes: row.audioBytes,
    queue_wait_ms: row.startedAt !== null ? Math.max(0, row.startedAt - row.createdAt) : null,
    processing_ms: row.startedAt !== null ? Math.max(0, finished - row.startedAt) : null,
    end_to_end_ms: Math.max(0, finished - row.createdAt),
  };
}

/**
 * Analytics Engine layout (dataset `vtt_jobs`): index = tenant id (sampling key); blobs = provider, model, outcome,
 * error code, language; doubles = audio seconds, audio bytes, attempts, queue wait ms, processing ms, end-to-end ms.
 */
export function analyticsDataPoint(outcome: JobOutcome): AnalyticsEngineDataPoint {
  return {
    indexes: [outcome.tenant_id],
    blobs: [outcome.provider, outcome.model ?? "", outcome.outcome, outcome.error_code ?? "", outcome.language ?? ""],
    doubles: [
      outcome.audio_seconds ?? 0,
      outcome.audio_bytes,
      outcome.attempts,
      outcome.queue_wait_ms ?? 0,
      outcome.processing_ms ?? 0,
      outcome.end_to_end_ms,
    ],
  };
}

export function recordJobOutcome(env: Env, row: TranscriptionRow): void {
  const outcome = jobOutcome(row);
  log("job_finished", { ...outcome });
  try {
    env.JOB_ANALYTICS?.writeDataPoint(analyticsDataPoint(outcome));
  } catch (error) {
    // analytics must never fail a job
    log("analytics_write_failed", { job_id: row.id, error: error instanceof Error ? error.name : "unknown" });
  }
}
