/** Bindings, variables and secrets the Worker reads. Secrets come only from `wrangler secret` / `.dev.vars`. */
export interface Env {
  DB: D1Database;
  /** audio uploads and transcript documents (docs/storage-schema.md) */
  BUCKET: R2Bucket;
  JOBS: Queue<JobMessage>;
  BREAKER: DurableObjectNamespace;
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
  WORKERS_AI_MODEL?: string;
  POOL_URL?: string;
  /** edge → pool signing keys, `kid:secret,…` (first signs) */
  POOL_SIGNING_KEYS?: string;
  /** pool → edge callback verification keys, `kid:secret,…` */
  POOL_CALLBACK_KEYS?: string;
  /** keys for per-job signed audio URLs, `kid:secret,…` */
  AUDIO_URL_KEYS?: string;
  AUDIO_URL_TTL_SECONDS?: string;
}

/** The queue message: ids only, never audio or personal data. */
export interface JobMessage {
  v: 1;
  job_id: string;
  tenant_id: string;
}

/** Settings read as plain strings from `[vars]` / `.dev.vars` (see src/config.ts for defaults). */
export interface Env {
  RETRY_BASE_SECONDS?: string;
  RETRY_CAP_SECONDS?: string;
  MAX_RETRIES?: string;
  /** seconds a job may stay `processing` before the sweeper re-queues it */
  PROCESSING_DEADLINE_SECONDS?: string;
  /** "1" mounts the bench-only primitive routes (bench/ingest); never set in production */
  BENCH_ROUTES?: string;
}
