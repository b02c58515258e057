import type { CircuitBreaker } from "./breaker/circuit-breaker.ts";
import type { RateLimiter } from "./ratelimit/rate-limiter.ts";

/** Bindings, variables and secrets the Worker reads. Secrets come only from `wrangler secret` / `.dev.vars`. */
export interface Env {
  DB: D1Database;
  /** audio uploads and transcript documents (docs/storage-schema.md) */
  BUCKET: R2Bucket;
  JOBS: Queue<JobMessage>;
  WEBHOOKS: Queue<WebhookMessage>;
  BREAKER: DurableObjectNamespace<CircuitBreaker>;
  /** per-API-key token buckets */
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  /** Workers Analytics Engine dataset `vtt_jobs` (one data point per finished job); bound in production */
  JOB_ANALYTICS?: AnalyticsEngineDataset;
  /** Workers AI; bound only in the production environment (it has no local simulation) */
  AI?: Ai;

  /** "development" relaxes https-only checks for local use; "test" is set by the test runner */
  ENVIRONMENT?: string;
  /** ordered, comma separated provider names; the first enabled one is the default */
  PROVIDERS?: string;
  MAX_UPLOAD_BYTES?: string;
  /** public base URL of this Worker, used to build pool callback and audio URLs */
  PUBLIC_BASE_URL?: string;

  // secrets
  ADMIN_API_KEY?: string;
  OPENAI_API_KEY?: string;
  OPENAI_MODEL?: string;
  OPENAI_BASE_URL?: string;
  OPENAI_TIMEOUT_MS?: string;
  DEEPGRAM_API_KEY?: string;
  DEEPGRAM_MODEL?: string;
  DEEPGRAM_BASE_URL?: string;
  DEEPGRAM_TIMEOUT_MS?: string;
  WORKERS_AI_MODEL?: string;
  POOL_URL?: string;
  POOL_DISPATCH_TIMEOUT_MS?: string;
  /** edge → pool signing keys, `kid:secret,…` (first signs) */
  POOL_SIGNING_KEYS?: string;
  /** pool → edge callback verification keys, `kid:secret,…` */
  POOL_CALLBACK_KEYS?: string;
  /** keys for per-job signed audio URLs, `kid:secret,…` */
  AUDIO_URL_KEYS?: string;
  AUDIO_URL_TTL_SECONDS?: string;
  /** master keys for encryption at rest, `version:secret,…` (first encrypts, all decrypt; see docs/security.md) */
  ENCRYPTION_KEYS?: string;
}

/** A webhook delivery task: the event id only (the event row holds the signed payload). */
export interface WebhookMessage {
  v: 1;
  event_id: string;
}

/** The queue message: ids only, never audio or personal data. */
export interface JobMessage {
  v: 1;
  job_id: string;
  tenant_id: string;
  /** W3C trace context of the upload (absent in messages from before tracing, and re-read from the row then) */
  traceparent?: string;
}

/** Settings read as plain strings from `[vars]` / `.dev.vars` (see src/config.ts for defaults). */
export interface Env {
  RETRY_BASE_SECONDS?: string;
  RETRY_CAP_SECONDS?: string;
  /** seconds a job may stay `processing` before the sweeper re-queues it */
  PROCESSING_DEADLINE_SECONDS?: string;
  /** per API key (defaults 600 requests and 2 GiB of uploads per minute) */
  RATE_LIMIT_REQUESTS_PER_MINUTE?: string;
  RATE_LIMIT_BYTES_PER_MINUTE?: string;
  /** failed or unauthenticated requests per client address and minute (default 30), and for the operator key (10) */
  AUTH_FAILURES_PER_MINUTE?: string;
  OPERATOR_AUTH_FAILURES_PER_MINUTE?: string;
  /** queued jobs above which new and queued jobs carry the "processing delayed" notice (default 1000) */
  BACKLOG_DELAY_THRESHOLD?: string;
  /** ordered providers a job may fail over to while its provider's breaker is open, e.g. "openai,deepgram" */
  FAILOVER_CHAIN?: string;
  /** how long a dead-lettered, recoverable job is re-driven before it fails with `retries_exhausted` */
  DEAD_LETTER_MAX_AGE_SECONDS?: string;
  BREAKER_WINDOW_SIZE?: string;
  BREAKER_FAILURE_RATE?: string;
  BREAKER_MINIMUM_CALLS?: string;
  BREAKER_COOLDOWN_MS?: string;
  BREAKER_MAX_COOLDOWN_MS?: string;
  BREAKER_HALF_OPEN_PROBES?: string;
  /** comma separated hosts (host or host:port) webhooks may reach despite the SSRF rules */
  WEBHOOK_ALLOWED_HOSTS?: string;
  /** browser origins allowed by CORS, comma separated; unset = CORS off */
  CORS_ALLOWED_ORIGINS?: string;
  /** "1" mounts the bench-only primitive routes (bench/ingest); never set in production */
  BENCH_ROUTES?: string;
}
