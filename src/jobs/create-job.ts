/**
 * Creating a job from a stored upload or an audio URL: build the row, resolve its retention, claim the
 * Idempotency-Key (or insert the row), and enqueue it. A failed send keeps the job: its row is marked so the cron
 * sweeper sends it later. A URL job's audio is fetched by the consumer (src/jobs/fetch-audio.ts); until then the row
 * has no `audio_key`, `audio_bytes` 0 and `audio_format` {@link PENDING_AUDIO_FORMAT}.
 */
import { toHex } from "@vtt/pool-contract";

import type { PiiEntityType, PiiSubstitution } from "../domain/pii/index.ts";
import type { SpeakerOptions } from "../domain/speakers.ts";
import type { Env } from "../env.ts";
import { log } from "../lib/log.ts";
import type { ProviderName } from "../providers/types.ts";
import { type AudioUrlSource, sealAudioUrlSource } from "../storage/audio-source.ts";
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
  /** vocabulary hints (`keyterms`), each mapped to its provider's own input; empty when none */
  keyterms: string[];
  deleteAfterSeconds: number | null;
  /** `translate` (into English) only through providers that can: native `task=translate`, `/v1/audio/translations` */
  task: JobTask;
  /** the provider's own model id the caller named; null = the provider's configured default */
  requestedModel: string | null;
  temperature: number | null;
  wordTimestamps: boolean;
  /** speaker labels or multichannel (src/domain/speakers.ts); null when the job asked for neither */
  speakers: SpeakerOptions | null;
  /** redact PII from the transcript before anything is stored (src/jobs/redaction.ts) */
  redactPii: boolean;
  /** the entity types to redact; null = every type */
  redactPiiPolicies: PiiEntityType[] | null;
  /** null when not redacting */
  redactPiiSub: PiiSubstitution | null;
  /** also replace the stored audio with a toned-out copy */
  redactPiiAudio: boolean;
}

/** `audio_format` of a URL job until its audio is fetched and sniffed. */
export const PENDING_AUDIO_FORMAT = "pending";

interface CreateJobBase {
  jobId: string;
  tenantId: string;
  /** the R2 key the audio was stored under (a URL job's audio is stored under it once fetched) */
  audioKey: string;
  fileName: string | null;
  options: ResolvedUploadOptions;
  idempotencyKey: string | null;
  traceparent: string;
  /** the tus upload (`up_…`) the audio arrived through */
  uploadId?: string | null;
}

/** An upload (`stored`), or a submission by URL (`audioUrl`, fetched later). */
export type CreateJobInput = CreateJobBase &
  ({ stored: StoredAudio; audioUrl?: undefined } | { stored: null; audioUrl: AudioUrlSource });

/** `created`: a new queued job; `replayed`: the job that already holds the Idempotency-Key (the same request). */
export type CreateJobResult = { kind: "created"; job: TranscriptionRow } | { kind: "replayed"; job: TranscriptionRow };

/**
 * Creates and enqueues the job. On a replay the audio stored for this request is deleted (the original job has its
 * own). Throws ApiError 409 for an Idempotency-Key held by a different request.
 */
export async function createJob(env: Env, db: Db, input: CreateJobInput, now = Date.now()): Promise<CreateJobResult> {
  const retention = resolveRetention(input.options.deleteAfterSeconds, await getTenantRetention(db, input.tenantId));
  const source = input.audioUrl ? await sealAudioUrlSource(env, input.tenantId, input.jobId, input.audioUrl) : null;
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
    keyterms: input.options.keyterms.length ? JSON.stringify(input.options.keyterms) : null,
    webhookUrl: input.options.webhookUrl,
    audioKey: input.stored ? input.audioKey : null,
    audioBytes: input.stored?.bytes ?? 0,
    audioFormat: input.stored?.audio.format ?? PENDING_AUDIO_FORMAT,
    audioUrlSealed: source?.audioUrlSealed ?? null,
    audioUrlHeadersSealed: source?.audioUrlHeadersSealed ?? null,
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
    uploadId: input.uploadId ?? null,
    speakerLabels: input.options.speakers?.labels ?? false,
    speakersExpected: input.options.speakers?.expected ?? null,
    minSpeakers: input.options.speakers?.min ?? null,
    maxSpeakers: input.options.speakers?.max ?? null,
    multichannel: input.options.speakers?.multichannel ?? false,
    redactPii: input.options.redactPii,
    redactPiiPolicies: input.options.redactPiiPolicies ? JSON.stringify(input.options.redactPiiPolicies) : null,
    redactPiiSub: input.options.redactPiiSub,
    redactPiiAudio: input.options.redactPiiAudio,
  } satisfies NewTranscriptionRow;

  if (input.idempotencyKey !== null) {
    // without keyterms the fingerprint is what it was before the option existed (keys held across a deploy replay)
    const { keyterms, ...withoutKeyterms } = input.options;
    const fingerprinted = keyterms.length ? input.options : withoutKeyterms;
    const fingerprint = await requestFingerprint(fingerprinted, await audioIdentity(input));
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

/** What the fingerprint knows of the audio: the upload's digest, or a digest of the URL and its headers. */
async function audioIdentity(input: CreateJobInput): Promise<string> {
  if (!input.audioUrl) return input.stored.sha256 ?? "";
  const { url, headers } = input.audioUrl;
  const canonicalHeaders = Object.entries(headers)
    .map(([name, value]) => [name.toLowerCase(), value])
    .sort(([a], [b]) => (a! < b! ? -1 : 1));
  const canonical = JSON.stringify({ url, headers: canonicalHeaders });
  return `url:${toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical))))}`;
}

/** The columns an insert leaves to their defaults, so the new job reads as D1 now holds it. */
const INSERT_DEFAULTS = {
  language: null,
  languageProbability: null,
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
  audioFetchedAt: null,
  piiEntities: null,
  piiAudioSpans: null,
  pendingAudioRedaction: null,
} satisfies Partial<TranscriptionRow>;
