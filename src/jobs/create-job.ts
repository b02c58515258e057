/**
 * Creating a job from a stored upload: build the row, resolve its retention, claim the Idempotency-Key (or insert the
 * row), and enqueue it. A failed send keeps the job: its row is marked so the cron sweeper sends it later.
 */
import type { Env } from "../env.ts";
import { log } from "../lib/log.ts";
import type { ProviderName } from "../providers/types.ts";
import type { StoredAudio } from "../storage/audio-store.ts";
import type { Db } from "../storage/db.ts";
import { claimIdempotencyKey, requestFingerprint } from "../storage/idempotency.ts";
import { insertJob, markEnqueueFailed } from "../storage/jobs.repo.ts";
import type { JobTask, NewTranscriptionRow, TranscriptionRow } from "../storage/schema.ts";
import { getTenantRetention } from "../storage/tenants.repo.ts";
import { enqueueJob } from "./enqueue.ts";
import { resolveRetention } from "./retention-policy.ts";

/** A job's options once validated (src/api/upload-options.ts resolves them from the request). */
export interface ResolvedUploadOptions {
  language: string | null;
  provider: ProviderName;
  webhookUrl: string | null;
  metadata: Record<string, string>;
  subjectId: string | null;
  prompt: string | null;
  deleteAfterSeconds: number | null;
  /** `translate` only through providers that can (OpenAI-compatible `/v1/audio/translations`) */
  task: JobTask;
  /** the provider's own model id the caller named; null = the provider's configured default */
  requestedModel: string | null;
  temperature: number | null;
  wordTimestamps: boolean;
}

export interface CreateJobInput {
  jobId: string;
  tenantId: string;
  /** the R2 key the audio was stored under */
  audioKey: string;
  stored: StoredAudio;
  fileName: string | null;
  options: ResolvedUploadOptions;
  idempotencyKey: string | null;
  traceparent: string;
}

/** `created`: a new queued job; `replayed`: the job that already holds the Idempotency-Key (the same request). */
export type CreateJobResult = { kind: "created"; job: TranscriptionRow } | { kind: "replayed"; job: TranscriptionRow };

/**
 * Creates and enqueues the job. On a replay the audio stored for this request is deleted (the original job has its
 * own). Throws ApiError 409 for an Idempotency-Key held by a different request.
 */
export async function createJob(env: Env, db: Db, input: CreateJobInput, now = Date.now()): Promise<CreateJobResult> {
  const retention = resolveRetention(input.options.deleteAfterSeconds, await getTenantRetention(db, input.tenantId));
  const row = {
    id: input.jobId,
    tenantId: input.tenantId,
    status: "queued",
    provider: input.options.provider,
    model: null,
    requestedLanguage: input.options.language,
    metadata: JSON.stringify(input.options.metadata),
    subjectId: input.options.subjectId,
    prompt: input.options.prompt,
    webhookUrl: input.options.webhookUrl,
    audioKey: input.audioKey,
    audioBytes: input.stored.bytes,
    audioFormat: input.stored.audio.format,
    fileName: input.fileName,
    createdAt: now,
    enqueuedAt: now,
    updatedAt: now,
    deleteAfterSeconds: input.options.deleteAfterSeconds,
    retainAudioSeconds: retention.retainAudioSeconds,
    retainSeconds: retention.retainSeconds,
    traceparent: input.traceparent,
    task: input.options.task,
    requestedModel: input.options.requestedModel,
    temperature: input.options.temperature,
    wordTimestamps: input.options.wordTimestamps,
  } satisfies NewTranscriptionRow;

  if (input.idempotencyKey !== null) {
    const fingerprint = await requestFingerprint(input.options, input.stored.sha256 ?? "");
    const claim = { ...row, idempotencyKey: input.idempotencyKey, requestFingerprint: fingerprint };
    const replay = await claimIdempotencyKey(db, input.tenantId, input.idempotencyKey, fingerprint, claim);
    if (replay) {
      await env.BUCKET.delete(input.audioKey).catch(() => undefined);
      return { kind: "replayed", job: replay };
    }
  } else {
    await insertJob(db, row);
  }

  try {
    await enqueueJob(env, { id: row.id, tenantId: row.tenantId, traceparent: row.traceparent });
  } catch (error) {
    // the job is stored; the cron sweeper re-sends messages for queued jobs without an enqueue time.
    // The error's name only: a binding's message may echo request data.
    log("enqueue_failed", { job_id: row.id, error: error instanceof Error ? error.name : "unknown" });
    await markEnqueueFailed(db, row.id, now);
  }
  return { kind: "created", job: { ...row, ...INSERT_DEFAULTS } };
}

/** The columns an insert leaves to their defaults, so the new job reads as D1 now holds it. */
const INSERT_DEFAULTS = {
  language: null,
  durationSeconds: null,
  text: null,
  transcriptKey: null,
  segmentCount: null,
  errorCode: null,
  errorMessage: null,
  attempts: 0,
  startedAt: null,
  dispatchedAt: null,
  completedAt: null,
  delayedReason: null,
  idempotencyKey: null,
  requestFingerprint: null,
  audioDeleteAt: null,
  deleteAt: null,
  audioPurgedAt: null,
  audioUrlSealed: null,
  audioUrlHeadersSealed: null,
  audioFetchedAt: null,
} satisfies Partial<TranscriptionRow>;
