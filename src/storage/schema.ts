/**
 * D1 schema (drizzle). Rows stay small: transcripts (segments, words) live in R2 and are referenced by key.
 * All times are unix epoch milliseconds. Documented in docs/storage-schema.md.
 */
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const tenants = sqliteTable("tenants", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  createdAt: integer("created_at").notNull(),
  /** Standard Webhooks signing secret (`whsec_…`); created on first use */
  webhookSecret: text("webhook_secret"),
  /** the secret before the last rotation: it keeps signing beside the new one until `webhook_secret_previous_until` */
  webhookSecretPrevious: text("webhook_secret_previous"),
  webhookSecretPreviousUntil: integer("webhook_secret_previous_until"),
  /** seconds audio is kept after its job finishes; null = the service default (`DEFAULT_AUDIO_RETENTION_SECONDS`) */
  audioRetentionSeconds: integer("audio_retention_seconds"),
  /** seconds a finished job (transcript, row, webhook log) is kept; null = until deleted */
  transcriptRetentionSeconds: integer("transcript_retention_seconds"),
  /** where the tenant's data lives (PLACEMENT's regions); null = the first region (tenants from before regions) */
  region: text("region"),
  /** the job shard new jobs go to (a shard code of `region`); null = the first shard (src/domain/placement.ts) */
  shard: text("shard"),
  /** shard codes the tenant was moved away from, JSON array: ids naming them still resolve to `shard` */
  formerShards: text("former_shards"),
  /** set while the tenant is being moved: writes are refused (503 tenant_read_only) until the switch */
  readOnlySince: integer("read_only_since"),
});

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id, { onDelete: "cascade" }),
    name: text("name"),
    /** first characters of the key, shown in listings so a person can tell keys apart */
    prefix: text("prefix").notNull(),
    /** hex SHA-256 of the whole key; the key itself is never stored */
    keyHash: text("key_hash").notNull(),
    /** space separated scopes */
    scopes: text("scopes").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at"),
    revokedAt: integer("revoked_at"),
    lastUsedAt: integer("last_used_at"),
  },
  (t) => [uniqueIndex("api_keys_key_hash_idx").on(t.keyHash), index("api_keys_tenant_idx").on(t.tenantId)],
);

export const JOB_STATUSES = ["queued", "processing", "completed", "failed"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const JOB_TASKS = ["transcribe", "translate"] as const;
export type JobTask = (typeof JOB_TASKS)[number];

/** Why an active job is delayed (shown as `delay_reason` with `notice: "processing delayed"`). */
export const DELAY_PROVIDER_UNAVAILABLE = "provider_unavailable";
export const DELAY_DEAD_LETTERED = "dead_lettered";
export const DELAY_BACKLOG = "backlog";

export const transcriptions = sqliteTable(
  "transcriptions",
  {
    /** `tr_` + ULID: time ordered, so the primary key doubles as the pagination order */
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id, { onDelete: "cascade" }),
    status: text("status", { enum: JOB_STATUSES }).notNull(),
    provider: text("provider").notNull(),
    model: text("model"),
    /** what the caller asked for: ISO 639-1 or null for automatic detection */
    requestedLanguage: text("requested_language"),
    /** detected or confirmed language of the result */
    language: text("language"),
    /** the provider's probability of a language it detected (`language=auto`), in [0, 1]; null when not reported */
    languageProbability: real("language_probability"),
    durationSeconds: real("duration_seconds"),
    /** full text; null until completed */
    text: text("text"),
    /** R2 key of the transcript document (segments, words) */
    transcriptKey: text("transcript_key"),
    segmentCount: integer("segment_count"),
    errorCode: text("error_code"),
    errorMessage: text("error_message"),
    attempts: integer("attempts").notNull().default(0),
    /** flat JSON object of strings, ≤ 4 KB */
    metadata: text("metadata"),
    subjectId: text("subject_id"),
    prompt: text("prompt"),
    /** JSON array of the job's `keyterms` (vocabulary hints, ≤ 100); null when none were given */
    keyterms: text("keyterms"),
    webhookUrl: text("webhook_url"),
    audioKey: text("audio_key"),
    audioBytes: integer("audio_bytes").notNull(),
    audioFormat: text("audio_format").notNull(),
    /** sanitised display name of the upload; never used as a storage key */
    fileName: text("file_name"),
    createdAt: integer("created_at").notNull(),
    /** when the job message was handed to the queue; null means it still has to be (the sweeper re-sends) */
    enqueuedAt: integer("enqueued_at"),
    startedAt: integer("started_at"),
    /** set while the job waits for its provider to recover (dead-lettered as recoverable, or breaker open) */
    delayedReason: text("delayed_reason"),
    /** `Idempotency-Key` header of the upload, unique per tenant */
    idempotencyKey: text("idempotency_key"),
    /** SHA-256 of the upload's options and bytes, to tell a retried request from a different one */
    requestFingerprint: text("request_fingerprint"),
    /** when the job was handed to the asynchronous pool */
    dispatchedAt: integer("dispatched_at"),
    completedAt: integer("completed_at"),
    updatedAt: integer("updated_at").notNull(),
    /** `delete_after_seconds` as the caller sent it (null when not sent) */
    deleteAfterSeconds: integer("delete_after_seconds"),
    /** retention windows resolved at upload from the request and the tenant's defaults; null = keep */
    retainAudioSeconds: integer("retain_audio_seconds"),
    retainSeconds: integer("retain_seconds"),
    /** when the purge cron deletes the audio / the whole job; set when the job finishes */
    audioDeleteAt: integer("audio_delete_at"),
    deleteAt: integer("delete_at"),
    audioPurgedAt: integer("audio_purged_at"),
    /** W3C trace context of the upload, carried to the queue, the provider or pool, and the callback */
    traceparent: text("traceparent"),
    /** `transcribe`, or `translate` (into English; OpenAI's translations route) */
    task: text("task", { enum: JOB_TASKS }).notNull().default("transcribe"),
    /** the provider's model the caller named (e.g. `nova-3` from `deepgram/nova-3`); null = the provider default */
    requestedModel: text("requested_model"),
    /** OpenAI-compatible sampling temperature passed to providers that take one */
    temperature: real("temperature"),
    /** 1 when the caller asked for word timestamps (`timestamp_granularities[]=word`) */
    wordTimestamps: integer("word_timestamps", { mode: "boolean" }).notNull().default(false),
    /** 1 when the caller asked for speaker labels (diarization) */
    speakerLabels: integer("speaker_labels", { mode: "boolean" }).notNull().default(false),
    /** speaker-count hints for diarizers (`speakers_expected`, or `min_speakers`/`max_speakers`); null = not given */
    speakersExpected: integer("speakers_expected"),
    minSpeakers: integer("min_speakers"),
    maxSpeakers: integer("max_speakers"),
    /** 1 when each channel is transcribed on its own as one speaker */
    multichannel: integer("multichannel", { mode: "boolean" }).notNull().default(false),
    /** sealed (envelope-encrypted) source URL of audio submitted by `audio_url`; null for uploads */
    audioUrlSealed: text("audio_url_sealed"),
    /** sealed JSON object of the `audio_url_headers` sent with the fetch; never logged */
    audioUrlHeadersSealed: text("audio_url_headers_sealed"),
    /** when the audio of an `audio_url` job was fetched into R2; null until then (and for uploads) */
    audioFetchedAt: integer("audio_fetched_at"),
    /** the tus upload (`up_…`, `/v1/uploads`) the audio came through; null for other uploads */
    uploadId: text("upload_id"),
    /** 1 when the transcript is redacted of PII before anything is stored (`redact_pii`) */
    redactPii: integer("redact_pii", { mode: "boolean" }).notNull().default(false),
    /** JSON array of the entity types to redact (src/domain/pii); null with `redact_pii` = every type */
    redactPiiPolicies: text("redact_pii_policies"),
    /** `entity_name`, `hash` or `mask`; null when not redacting */
    redactPiiSub: text("redact_pii_sub"),
    /** 1 when the stored audio is replaced by a copy with a tone over every redacted span (`redact_pii_audio`) */
    redactPiiAudio: integer("redact_pii_audio", { mode: "boolean" }).notNull().default(false),
    /** JSON object: redacted entities per type in the completed transcript (counts only, never values) */
    piiEntities: text("pii_entities"),
    /** JSON array of `[start, end]` seconds the tone covers in the stored audio; set when audio was redacted */
    piiAudioSpans: text("pii_audio_spans"),
    /**
     * JSON object `{result_id, entities, spans}` while a pool-transcribed `redact_pii_audio` job waits for its audio
     * redaction: its text-redacted transcript is stored under `result_id`, and a jobs-queue message has the consumer
     * tone `spans` (`[[start, end], …]` seconds, padded) before the job completes. Null otherwise (src/jobs/results.ts).
     */
    pendingAudioRedaction: text("pending_audio_redaction"),
  },
  (t) => [
    index("transcriptions_tenant_id_idx").on(t.tenantId, t.id),
    index("transcriptions_tenant_status_id_idx").on(t.tenantId, t.status, t.id),
    index("transcriptions_tenant_subject_idx").on(t.tenantId, t.subjectId),
    index("transcriptions_status_updated_idx").on(t.status, t.updatedAt),
    uniqueIndex("transcriptions_tenant_idempotency_idx").on(t.tenantId, t.idempotencyKey),
    index("transcriptions_audio_delete_at_idx").on(t.audioDeleteAt),
    index("transcriptions_delete_at_idx").on(t.deleteAt),
    // /metrics aggregates jobs finished within fixed windows
    index("transcriptions_completed_at_idx").on(t.completedAt),
  ],
);

export const DEAD_LETTER_CLASSES = ["recoverable", "corrupt"] as const;

/** Jobs whose queue message reached the dead-letter queue, with the inspector's verdict. */
export const deadLetters = sqliteTable(
  "dead_letters",
  {
    jobId: text("job_id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    provider: text("provider").notNull(),
    classification: text("classification", { enum: DEAD_LETTER_CLASSES }).notNull(),
    reason: text("reason").notNull(),
    firstDeadAt: integer("first_dead_at").notNull(),
    lastDeadAt: integer("last_dead_at").notNull(),
    redriveCount: integer("redrive_count").notNull().default(0),
    /** when the cron may re-drive it next (growing delay); null once resolved */
    nextRedriveAt: integer("next_redrive_at"),
    /** re-driven for good (completed), failed, or deleted */
    resolvedAt: integer("resolved_at"),
    resolution: text("resolution"),
  },
  (t) => [index("dead_letters_pending_idx").on(t.resolvedAt, t.nextRedriveAt)],
);

export const WEBHOOK_EVENT_TYPES = ["transcription.completed", "transcription.failed"] as const;

/** One event per job outcome; its id is the `webhook-id` kept across every delivery attempt. */
export const webhookEvents = sqliteTable(
  "webhook_events",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    jobId: text("job_id").notNull(),
    type: text("type", { enum: WEBHOOK_EVENT_TYPES }).notNull(),
    url: text("url").notNull(),
    /** the exact JSON body that is signed and sent */
    payload: text("payload").notNull(),
    status: text("status", { enum: ["pending", "delivered", "gave_up"] }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    completedAt: integer("completed_at"),
  },
  (t) => [
    uniqueIndex("webhook_events_job_type_idx").on(t.jobId, t.type),
    index("webhook_events_tenant_job_idx").on(t.tenantId, t.jobId),
    // /metrics counts events created within fixed windows
    index("webhook_events_created_at_idx").on(t.createdAt),
  ],
);

/** Every delivery attempt: status code, latency, error. */
export const webhookAttempts = sqliteTable(
  "webhook_attempts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    eventId: text("event_id").notNull(),
    tenantId: text("tenant_id").notNull(),
    jobId: text("job_id").notNull(),
    attempt: integer("attempt").notNull(),
    statusCode: integer("status_code"),
    latencyMs: integer("latency_ms").notNull(),
    error: text("error"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    index("webhook_attempts_event_idx").on(t.eventId, t.attempt),
    index("webhook_attempts_tenant_job_idx").on(t.tenantId, t.jobId),
  ],
);

export type TranscriptionRow = typeof transcriptions.$inferSelect;
export type NewTranscriptionRow = typeof transcriptions.$inferInsert;
export type ApiKeyRow = typeof apiKeys.$inferSelect;

/** Deletion receipts and other compliance events. Never holds personal data: counts, kinds, times and ids of our own. */
/**
 * What an audit entry records: erasures and purges, and the operator's console actions (`operator.*`; their tenant id
 * is `*` when the action is service-wide, e.g. a breaker).
 */
export const AUDIT_ACTION_NAMES = [
  "subject.erased",
  "tenant.erased",
  "retention.purged",
  "operator.breaker_forced",
  "operator.dead_letter_redriven",
  "operator.dead_letter_failed",
  "operator.tenant_created",
  "operator.retention_changed",
  "operator.key_created",
  "operator.key_revoked",
  "operator.tenant_moved",
] as const;

export const auditLog = sqliteTable(
  "audit_log",
  {
    id: text("id").primaryKey(),
    /** the tenant acted on (kept after the tenant itself is erased) */
    tenantId: text("tenant_id").notNull(),
    action: text("action", { enum: AUDIT_ACTION_NAMES }).notNull(),
    /** JSON receipt: what kinds and how many were erased */
    receipt: text("receipt").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("audit_log_tenant_idx").on(t.tenantId, t.createdAt)],
);

/**
 * Drift features of one completed job (src/drift/features.ts): what the audio and the transcript looked like,
 * one column per feature, null where it could not be computed (the missing share is part of drift). Written once
 * when the job completes; erased with the job (subject and tenant erasure, retention purge, DELETE).
 */
export const jobFeatures = sqliteTable(
  "job_features",
  {
    jobId: text("job_id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    provider: text("provider").notNull(),
    model: text("model").notNull(),
    createdAt: integer("created_at").notNull(),
    completedAt: integer("completed_at").notNull(),
    durationSeconds: real("duration_seconds"),
    bytes: integer("bytes").notNull(),
    bytesPerSecond: real("bytes_per_second"),
    format: text("format"),
    sampleRate: integer("sample_rate"),
    channels: integer("channels"),
    requestedLanguage: text("requested_language"),
    detectedLanguage: text("detected_language"),
    /** 1 when a language was requested and another one detected; null when either is unknown */
    languageMismatch: integer("language_mismatch"),
    loudnessDbfs: real("loudness_dbfs"),
    silenceRatio: real("silence_ratio"),
    characters: integer("characters").notNull(),
    words: integer("words").notNull(),
    charsPerSecond: real("chars_per_second"),
    wordsPerSecond: real("words_per_second"),
    /** 1 when the transcript has no letter or digit */
    emptyTranscript: integer("empty_transcript").notNull(),
    segmentCount: integer("segment_count").notNull(),
    /** mean segment confidence as a probability (Deepgram's confidence, or exp(avg_logprob) for Whisper engines) */
    meanConfidence: real("mean_confidence"),
    meanNoSpeechProb: real("mean_no_speech_prob"),
  },
  (t) => [
    // drift windows: one provider + model over a time range, or every pair over a time range
    index("job_features_provider_model_completed_idx").on(t.provider, t.model, t.completedAt),
    index("job_features_completed_idx").on(t.completedAt),
    index("job_features_tenant_idx").on(t.tenantId),
  ],
);

export const FEEDBACK_RATINGS = ["good", "bad"] as const;
export type FeedbackRating = (typeof FEEDBACK_RATINGS)[number];

/**
 * A tenant admin's review of one transcript: one row per job (a new review replaces the previous one). The reason and
 * the corrected text are personal data and sealed with the tenant key (AAD `transcript_feedback.{field}:{job_id}`).
 */
export const transcriptFeedback = sqliteTable(
  "transcript_feedback",
  {
    jobId: text("job_id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    provider: text("provider").notNull(),
    model: text("model").notNull(),
    rating: text("rating", { enum: FEEDBACK_RATINGS }).notNull(),
    /** sealed; null when none was given */
    reason: text("reason"),
    /** sealed; null when none was given */
    correctedText: text("corrected_text"),
    /** WER / CER of the stored transcript against the correction; null without a correction (or too large to align) */
    wer: real("wer"),
    cer: real("cer"),
    /** words of the normalised correction (the WER denominator) */
    referenceWords: integer("reference_words"),
    createdAt: integer("created_at").notNull(),
    /** when the current review was submitted (the quality windows count by it) */
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    index("transcript_feedback_updated_idx").on(t.updatedAt),
    index("transcript_feedback_tenant_idx").on(t.tenantId),
  ],
);

export type JobFeaturesRow = typeof jobFeatures.$inferSelect;
export type TranscriptFeedbackRow = typeof transcriptFeedback.$inferSelect;

/**
 * Metric families too costly to compute at every scrape (drift reads days of job features), computed by the cron and
 * served by `/metrics` from here. One row per snapshot name.
 */
export const metricSnapshots = sqliteTable("metric_snapshots", {
  name: text("name").primaryKey(),
  computedAt: integer("computed_at").notNull(),
  /** JSON array of Prometheus metric families (src/observability/prometheus.ts) */
  families: text("families").notNull(),
});

/**
 * Pool erasures the pool did not confirm (it was unreachable): the cron retries them with growing delays until the
 * pool answers. Holds job ids only; the job's own rows are already gone.
 */
export const pendingPoolErasures = sqliteTable(
  "pending_pool_erasures",
  {
    jobId: text("job_id").primaryKey(),
    requestedAt: integer("requested_at").notNull(),
    attempts: integer("attempts").notNull().default(1),
    nextAttemptAt: integer("next_attempt_at").notNull(),
  },
  (t) => [index("pending_pool_erasures_next_idx").on(t.nextAttemptAt)],
);

/**
 * The keyed word index behind transcript search (src/domain/search-tokens.ts): one row per word position of a
 * completed transcript, the word only as a per-tenant HMAC token. The primary key serves word and phrase lookups;
 * the job index serves erasure.
 */
export const transcriptTokens = sqliteTable(
  "transcript_tokens",
  {
    tenantId: text("tenant_id").notNull(),
    /** the first 52 bits of HMAC(tenant search key, normalised word) */
    token: integer("token").notNull(),
    jobId: text("job_id").notNull(),
    /** the word's ordinal in the transcript text, from 0 */
    position: integer("position").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.token, t.jobId, t.position] }),
    index("transcript_tokens_job_idx").on(t.tenantId, t.jobId),
  ],
);

export const CONSOLE_SESSION_KINDS = ["tenant", "operator"] as const;
export type ConsoleSessionKind = (typeof CONSOLE_SESSION_KINDS)[number];

/** Signed-in console sessions (docs/console.md); the cookie holds the id, this table only its hash. */
export const consoleSessions = sqliteTable(
  "console_sessions",
  {
    /** hex SHA-256 of the session id in the cookie */
    idHash: text("id_hash").primaryKey(),
    kind: text("kind", { enum: CONSOLE_SESSION_KINDS }).notNull(),
    /** null for operator sessions */
    tenantId: text("tenant_id").references(() => tenants.id, { onDelete: "cascade" }),
    /** the key signed in with; revoking or expiring it ends the session. null for operator sessions */
    apiKeyId: text("api_key_id").references(() => apiKeys.id, { onDelete: "cascade" }),
    /** hex SHA-256 of ADMIN_API_KEY at sign-in: a changed operator key ends operator sessions */
    operatorKeyHash: text("operator_key_hash"),
    /** random secret the session's CSRF form token is derived from */
    csrfSecret: text("csrf_secret").notNull(),
    createdAt: integer("created_at").notNull(),
    /** absolute end (created + CONSOLE_SESSION_TTL_SECONDS) */
    expiresAt: integer("expires_at").notNull(),
    /** idle end is last_seen_at + CONSOLE_SESSION_IDLE_SECONDS */
    lastSeenAt: integer("last_seen_at").notNull(),
  },
  (t) => [index("console_sessions_expires_idx").on(t.expiresAt)],
);

/**
 * tus uploads (`/v1/uploads`): an index of the `ResumableUpload` Durable Objects that hold each upload's live state
 * (offset, parts, sealer), so the cron can find expired ones and erasure a tenant's or subject's unfinished ones.
 * The job id is allocated at creation (the R2 object is written under it); `completed_at` is set when the job exists.
 */
export const resumableUploads = sqliteTable(
  "resumable_uploads",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    subjectId: text("subject_id"),
    jobId: text("job_id").notNull(),
    uploadLength: integer("upload_length").notNull(),
    idempotencyKey: text("idempotency_key"),
    requestFingerprint: text("request_fingerprint"),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    completedAt: integer("completed_at"),
  },
  (t) => [
    index("resumable_uploads_expires_idx").on(t.expiresAt),
    index("resumable_uploads_tenant_subject_idx").on(t.tenantId, t.subjectId),
    uniqueIndex("resumable_uploads_tenant_idempotency_idx").on(t.tenantId, t.idempotencyKey),
  ],
);

export type ResumableUploadRow = typeof resumableUploads.$inferSelect;

/**
 * One row per minute of service health, written by the cron (`record_health_sample`, src/observability/
 * health-samples.ts) from the same queries as `/metrics`: the console's health charts read the last hour and day
 * from here. Rows older than HEALTH_SAMPLE_RETENTION_MS are dropped by the same task. Holds counts only, no ids.
 */
export const healthSamples = sqliteTable("health_samples", {
  /** the minute the cron took the sample in (epoch ms, a multiple of 60 000); it covers the 60 s before it */
  minute: integer("minute").primaryKey(),
  /** queued + processing jobs (every provider, every delay reason) when the sample was taken */
  queueDepth: integer("queue_depth").notNull(),
  /** unresolved dead letters when the sample was taken */
  deadLetters: integer("dead_letters").notNull(),
  /** jobs finished (completed or failed) in those 60 s */
  finished: integer("finished").notNull(),
  /** of those, jobs that failed */
  failed: integer("failed").notNull(),
  /** end-to-end latency quantiles of the minute's finished jobs, from the `/metrics` histogram buckets; null without jobs */
  p50Ms: real("p50_ms"),
  p95Ms: real("p95_ms"),
});
