/**
 * Named settings with their defaults; every limit the service enforces is read here. Settings arrive as strings
 * (`[vars]`, `.dev.vars`, `wrangler secret`) and are parsed once per environment object by one zod schema; a value
 * that does not parse falls back to its documented default rather than failing requests.
 */
import { z } from "zod";

import type { Env } from "./env.ts";

export const DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024;
/** Room for multipart framing and option fields around the audio: a body may exceed MAX_UPLOAD_BYTES by this much. */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;
export const DEFAULT_MAX_CONCURRENT_UPLOADS_PER_KEY = 10;
/** R2 multipart part size for streamed uploads; also the most audio held in memory at once */
export const UPLOAD_PART_BYTES = 8 * 1024 * 1024;
/**
 * Streamed stores (uploads, `audio_url` fetches, redacted copies) hand the isolate back to the event loop after this
 * many bytes (`STORE_YIELD_BYTES`; 0: never), so one large body never starves the other requests, queue messages and
 * inspector commands of its isolate (docs/benchmarks.md, "The 1 GiB `audio_url` fetch: yielding to the event loop").
 */
export const DEFAULT_STORE_YIELD_BYTES = 1024 * 1024;
/** largest tus upload (`MAX_RESUMABLE_BYTES`): 5 GiB, 640 parts of UPLOAD_PART_BYTES (R2 allows 10 000) */
export const DEFAULT_MAX_RESUMABLE_BYTES = 5 * 1024 * 1024 * 1024;
/** how long an unfinished tus upload may take (`RESUMABLE_UPLOAD_TTL_SECONDS`): 24 h, then the cron aborts it */
export const DEFAULT_RESUMABLE_UPLOAD_TTL_SECONDS = 24 * 60 * 60;
export const MAX_METADATA_BYTES = 4096;
/** prompts are measured in UTF-16 code units (JavaScript string length), like the pool's own check */
export const MAX_PROMPT_UTF16_UNITS = 1000;
export const MAX_SUBJECT_ID_CHARS = 128;
export const MAX_FILE_NAME_CHARS = 255;
export const MAX_LIST_LIMIT = 100;
export const DEFAULT_LIST_LIMIT = 20;
/** the longest `Prefer: wait=N` a job GET honours (issue contract: N ≤ 60) */
export const MAX_PREFER_WAIT_SECONDS = 60;
/** transcripts up to this many characters are kept inline in D1 as well as in R2 */
export const TEXT_INLINE_LIMIT = 32 * 1024;

export const DEFAULT_AUDIO_URL_TTL_SECONDS = 600;

/** Audio submitted by `audio_url`: the largest body fetched (2 GiB, above the upload limit: R2 multipart parts) */
export const DEFAULT_MAX_URL_AUDIO_BYTES = 2 * 1024 * 1024 * 1024;
/** until the audio host has answered with its status and headers */
export const DEFAULT_AUDIO_FETCH_CONNECT_TIMEOUT_MS = 10_000;
/** the body delivered no byte for this long while one was awaited: the origin stalled (`audio_url_timeout`) */
export const DEFAULT_AUDIO_FETCH_IDLE_TIMEOUT_MS = 60_000;
/**
 * The whole fetch (redirects and body) when `AUDIO_FETCH_TIMEOUT_MS` is unset: `MAX_URL_AUDIO_BYTES` at this floor
 * rate, at least the old fixed 600 s and at most 840 s (a queue consumer's 15 min of wall time less a minute for the
 * provider hand-off; docs/scaling.md Q-7). A stalled origin is cut by the idle timeout long before.
 */
export const AUDIO_FETCH_FLOOR_BYTES_PER_SECOND = 1024 * 1024;
export const AUDIO_FETCH_DEFAULT_TIMEOUT_MIN_MS = 600_000;
export const AUDIO_FETCH_DEFAULT_TIMEOUT_MAX_MS = 840_000;

/** The default overall deadline of an `audio_url` fetch for a given `MAX_URL_AUDIO_BYTES` (see above). */
export function defaultAudioFetchTimeoutMs(maxBytes: number): number {
  const atFloorRate = Math.ceil((maxBytes / AUDIO_FETCH_FLOOR_BYTES_PER_SECOND) * 1000);
  return Math.min(AUDIO_FETCH_DEFAULT_TIMEOUT_MAX_MS, Math.max(AUDIO_FETCH_DEFAULT_TIMEOUT_MIN_MS, atFloorRate));
}
/** redirects followed (each target re-checked by the SSRF guard) */
export const MAX_AUDIO_URL_REDIRECTS = 5;
/** `audio_url_headers`: at most this many headers, names and values bounded */
export const MAX_AUDIO_URL_HEADERS = 16;
export const MAX_AUDIO_URL_HEADER_VALUE_CHARS = 4096;
/** a JSON submission body (URL, headers and options) is read whole, up to this size */
export const MAX_AUDIO_URL_REQUEST_BYTES = 64 * 1024;
/** a job `processing` longer than this is re-queued by the sweeper */
export const DEFAULT_PROCESSING_DEADLINE_SECONDS = 30 * 60;
/** how long a recoverable dead letter is re-driven before it fails with `retries_exhausted` */
export const DEFAULT_DEAD_LETTER_MAX_AGE_SECONDS = 24 * 60 * 60;
/** queued jobs above which new and queued jobs carry the "processing delayed" notice */
export const DEFAULT_BACKLOG_DELAY_THRESHOLD = 1000;

/** per API key: requests and declared upload bytes per minute */
export const DEFAULT_REQUESTS_PER_MINUTE = 600;
export const DEFAULT_BYTES_PER_MINUTE = 2 * 1024 * 1024 * 1024;

/** Failed or unauthenticated requests per client address and minute before `429 auth_rate_limited` (default 30). */
export const DEFAULT_AUTH_FAILURES_PER_MINUTE = 30;
/** Failed operator-key attempts per client address and minute: a bucket of its own, smaller (default 10). */
export const DEFAULT_OPERATOR_AUTH_FAILURES_PER_MINUTE = 10;

/** How long a verified API key is trusted from the isolate's cache (revocation elsewhere takes effect within it). */
export const DEFAULT_API_KEY_CACHE_SECONDS = 30;
/** The largest tenant (in jobs) one `POST /v1/admin/tenants/{tenant}/move` request copies (docs/operations.md). */
export const DEFAULT_TENANT_MOVE_MAX_JOBS = 2000;

/** How long an OpenAI-compatible request (`POST /v1/audio/*`) is held for its job before `504 transcription_pending`. */
export const DEFAULT_SYNC_WAIT_SECONDS = 300;
/** Console sessions: absolute lifetime (8 h) and idle timeout (30 min) in seconds. */
export const DEFAULT_CONSOLE_SESSION_TTL_SECONDS = 8 * 60 * 60;
export const DEFAULT_CONSOLE_SESSION_IDLE_SECONDS = 30 * 60;

/** Provider call deadlines (ms). */
export const OPENAI_DEFAULT_TIMEOUT_MS = 120_000;
export const DEEPGRAM_DEFAULT_TIMEOUT_MS = 300_000;
export const POOL_DISPATCH_TIMEOUT_MS = 10_000;
/** Limit of one `POST {POOL_URL}/v1/redactions` (the pool answers once the redacted copy is stored). */
export const POOL_REDACTION_TIMEOUT_MS = 600_000;
/** OpenAI's documented upload limit for `/v1/audio/transcriptions` (25 MB); an OpenAI-compatible server may differ. */
export const DEFAULT_OPENAI_MAX_AUDIO_BYTES = 25 * 1024 * 1024;
/** The pool's own default `MAX_AUDIO_BYTES` (gpu-worker/src/config.ts); set `POOL_MAX_AUDIO_BYTES` to the same value. */
export const DEFAULT_POOL_MAX_AUDIO_BYTES = 500 * 1024 * 1024;

/** A string setting parsed as a number; blank or unparsable → `fallback`. */
const numberSetting = (check: (n: number) => boolean, fallback: number) =>
  z.preprocess(
    (value) => (typeof value === "string" && value.trim() !== "" ? Number(value) : undefined),
    z.number().refine(check).catch(fallback).default(fallback),
  );
const positiveInteger = (fallback: number) => numberSetting((n) => Number.isInteger(n) && n > 0, fallback);
const positive = (fallback: number) => numberSetting((n) => Number.isFinite(n) && n > 0, fallback);
/** A number the caller defaults itself (undefined when unset or unparsable). */
const optionalNumber = z.preprocess(
  (value) => (typeof value === "string" && value.trim() !== "" ? Number(value) : undefined),
  z.number().finite().optional().catch(undefined),
);
/** Comma separated, trimmed, blanks dropped. */
const list = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? "")
      .split(",")
      .map((item) => item.trim())
      .filter(Boolean),
  );

const SettingsSchema = z.object({
  ENVIRONMENT: z.string().optional(),
  MAX_UPLOAD_BYTES: positiveInteger(DEFAULT_MAX_UPLOAD_BYTES),
  MAX_CONCURRENT_UPLOADS_PER_KEY: positiveInteger(DEFAULT_MAX_CONCURRENT_UPLOADS_PER_KEY),
  MAX_RESUMABLE_BYTES: positiveInteger(DEFAULT_MAX_RESUMABLE_BYTES),
  STORE_YIELD_BYTES: numberSetting((n) => Number.isInteger(n) && n >= 0, DEFAULT_STORE_YIELD_BYTES),
  RESUMABLE_UPLOAD_TTL_SECONDS: positiveInteger(DEFAULT_RESUMABLE_UPLOAD_TTL_SECONDS),
  RATE_LIMIT_REQUESTS_PER_MINUTE: positive(DEFAULT_REQUESTS_PER_MINUTE),
  RATE_LIMIT_BYTES_PER_MINUTE: positive(DEFAULT_BYTES_PER_MINUTE),
  AUTH_FAILURES_PER_MINUTE: positiveInteger(DEFAULT_AUTH_FAILURES_PER_MINUTE),
  OPERATOR_AUTH_FAILURES_PER_MINUTE: positiveInteger(DEFAULT_OPERATOR_AUTH_FAILURES_PER_MINUTE),
  CONSOLE_SESSION_TTL_SECONDS: positiveInteger(DEFAULT_CONSOLE_SESSION_TTL_SECONDS),
  CONSOLE_SESSION_IDLE_SECONDS: positiveInteger(DEFAULT_CONSOLE_SESSION_IDLE_SECONDS),
  AUDIO_URL_TTL_SECONDS: positiveInteger(DEFAULT_AUDIO_URL_TTL_SECONDS),
  MAX_URL_AUDIO_BYTES: positiveInteger(DEFAULT_MAX_URL_AUDIO_BYTES),
  AUDIO_FETCH_CONNECT_TIMEOUT_MS: positive(DEFAULT_AUDIO_FETCH_CONNECT_TIMEOUT_MS),
  /** unset: derived from MAX_URL_AUDIO_BYTES (`defaultAudioFetchTimeoutMs`) */
  AUDIO_FETCH_TIMEOUT_MS: optionalNumber,
  AUDIO_FETCH_IDLE_TIMEOUT_MS: positive(DEFAULT_AUDIO_FETCH_IDLE_TIMEOUT_MS),
  AUDIO_FETCH_ALLOWED_HOSTS: z.string().optional(),
  PROCESSING_DEADLINE_SECONDS: positive(DEFAULT_PROCESSING_DEADLINE_SECONDS),
  DEAD_LETTER_MAX_AGE_SECONDS: positive(DEFAULT_DEAD_LETTER_MAX_AGE_SECONDS),
  BACKLOG_DELAY_THRESHOLD: positiveInteger(DEFAULT_BACKLOG_DELAY_THRESHOLD),
  SYNC_WAIT_SECONDS: positive(DEFAULT_SYNC_WAIT_SECONDS),
  OPENAI_TIMEOUT_MS: positive(OPENAI_DEFAULT_TIMEOUT_MS),
  DEEPGRAM_TIMEOUT_MS: positive(DEEPGRAM_DEFAULT_TIMEOUT_MS),
  POOL_DISPATCH_TIMEOUT_MS: positive(POOL_DISPATCH_TIMEOUT_MS),
  POOL_REDACTION_TIMEOUT_MS: positive(POOL_REDACTION_TIMEOUT_MS),
  /** largest audio sent to the OpenAI(-compatible) adapter; larger jobs fail over or fail `audio_too_large_for_provider` */
  OPENAI_MAX_AUDIO_BYTES: positiveInteger(DEFAULT_OPENAI_MAX_AUDIO_BYTES),
  /** the pool's MAX_AUDIO_BYTES as the edge knows it */
  POOL_MAX_AUDIO_BYTES: positiveInteger(DEFAULT_POOL_MAX_AUDIO_BYTES),
  BREAKER_WINDOW_SIZE: optionalNumber,
  BREAKER_FAILURE_RATE: optionalNumber,
  BREAKER_MINIMUM_CALLS: optionalNumber,
  BREAKER_COOLDOWN_MS: optionalNumber,
  BREAKER_MAX_COOLDOWN_MS: optionalNumber,
  BREAKER_HALF_OPEN_PROBES: optionalNumber,
  CORS_ALLOWED_ORIGINS: list,
  /** model names the Whisper pool serves (its WHISPER_MODEL); the first is its default. Empty: no override */
  POOL_MODELS: list,
  /** model ids callers may pick besides OPENAI_MODEL / DEEPGRAM_MODEL (e.g. `gpt-4o-transcribe`, `nova-2`) */
  OPENAI_MODELS: list,
  DEEPGRAM_MODELS: list,
  /** seconds a verified API key is trusted without a directory read (0 = every request reads the directory) */
  API_KEY_CACHE_SECONDS: numberSetting((n) => Number.isFinite(n) && n >= 0, DEFAULT_API_KEY_CACHE_SECONDS),
  /** the most jobs a tenant may have for one move request to copy it (larger tenants: 422 tenant_too_large) */
  TENANT_MOVE_MAX_JOBS: positiveInteger(DEFAULT_TENANT_MOVE_MAX_JOBS),
  JOBS_QUEUE: z.string().optional(),
  JOBS_DLQ: z.string().optional(),
  WEBHOOKS_QUEUE: z.string().optional(),
});

/** The parsed settings (see the README's configuration table). */
export type Settings = z.output<typeof SettingsSchema>;

const parsed = new WeakMap<object, Settings>();

/** The environment's settings, parsed once per environment object (an isolate keeps one; tests pass their own). */
export function settings(env: Env): Settings {
  let result = parsed.get(env);
  if (!result) {
    result = SettingsSchema.parse(env);
    parsed.set(env, result);
  }
  return result;
}

export function apiKeyCacheMs(env: Env): number {
  return settings(env).API_KEY_CACHE_SECONDS * 1000;
}

export function tenantMoveMaxJobs(env: Env): number {
  return settings(env).TENANT_MOVE_MAX_JOBS;
}

/** Bytes a streamed store takes between two turns of the event loop (0: it never yields). */
export function storeYieldBytes(env: Env): number {
  return settings(env).STORE_YIELD_BYTES;
}

export function maxUploadBytes(env: Env): number {
  return settings(env).MAX_UPLOAD_BYTES;
}

/** The largest request body a valid upload can have: the audio limit plus multipart framing and fields. */
export function maxUploadBodyBytes(env: Env): number {
  return maxUploadBytes(env) + MULTIPART_OVERHEAD_BYTES;
}

/** Largest tus upload (`MAX_RESUMABLE_BYTES`, default 5 GiB). */
export function maxResumableBytes(env: Env): number {
  return settings(env).MAX_RESUMABLE_BYTES;
}

/** Milliseconds an unfinished tus upload lives (`RESUMABLE_UPLOAD_TTL_SECONDS`, default 24 h). */
export function resumableUploadTtlMs(env: Env): number {
  return settings(env).RESUMABLE_UPLOAD_TTL_SECONDS * 1000;
}

/** Uploads one API key may have in flight at once (`MAX_CONCURRENT_UPLOADS_PER_KEY`). */
export function maxConcurrentUploadsPerKey(env: Env): number {
  return settings(env).MAX_CONCURRENT_UPLOADS_PER_KEY;
}

/** Development (and tests) relax https-only rules so localhost webhooks and callbacks work. */
export function isDevelopment(env: Env): boolean {
  const environment = settings(env).ENVIRONMENT;
  return environment === "development" || environment === "test";
}

export function authFailuresPerMinute(env: Env): number {
  return settings(env).AUTH_FAILURES_PER_MINUTE;
}

export function operatorAuthFailuresPerMinute(env: Env): number {
  return settings(env).OPERATOR_AUTH_FAILURES_PER_MINUTE;
}

/** Seconds an OpenAI-compatible request waits for its job to finish (`SYNC_WAIT_SECONDS`, default 300). */
export function syncWaitSeconds(env: Env): number {
  return settings(env).SYNC_WAIT_SECONDS;
}

/** How long a console session lives at most, and without a request, in milliseconds. */
export function consoleSessionLifetimes(env: Env): { absoluteMs: number; idleMs: number } {
  const s = settings(env);
  return { absoluteMs: s.CONSOLE_SESSION_TTL_SECONDS * 1000, idleMs: s.CONSOLE_SESSION_IDLE_SECONDS * 1000 };
}

export function audioUrlTtlSeconds(env: Env): number {
  return settings(env).AUDIO_URL_TTL_SECONDS;
}

/** Limits of the Worker's fetch of `audio_url` audio (src/jobs/fetch-audio.ts). */
export interface AudioFetchLimits {
  maxBytes: number;
  connectTimeoutMs: number;
  /** the whole fetch, redirects and body */
  timeoutMs: number;
  /** the longest wait for the next body bytes (the origin stalled) */
  idleTimeoutMs: number;
}

export function audioFetchLimits(env: Env): AudioFetchLimits {
  const s = settings(env);
  return {
    maxBytes: s.MAX_URL_AUDIO_BYTES,
    connectTimeoutMs: s.AUDIO_FETCH_CONNECT_TIMEOUT_MS,
    timeoutMs:
      s.AUDIO_FETCH_TIMEOUT_MS !== undefined && s.AUDIO_FETCH_TIMEOUT_MS > 0
        ? s.AUDIO_FETCH_TIMEOUT_MS
        : defaultAudioFetchTimeoutMs(s.MAX_URL_AUDIO_BYTES),
    idleTimeoutMs: s.AUDIO_FETCH_IDLE_TIMEOUT_MS,
  };
}

/** Browser origins allowed to call the API (`CORS_ALLOWED_ORIGINS`, comma separated, exact `scheme://host[:port]`). */
export function corsOrigins(env: Env): string[] {
  return settings(env).CORS_ALLOWED_ORIGINS.filter((o) => /^https?:\/\/[^/\s*]+$/.test(o));
}

/** Queue names as wrangler.toml declares them; `src/index.ts` maps each to exactly one consumer. */
export interface QueueNames {
  jobs: string;
  deadLetters: string;
  webhooks: string;
}

/** `JOBS_QUEUE`, `JOBS_DLQ`, `WEBHOOKS_QUEUE` override the default names (vtt-jobs, vtt-jobs-dlq, vtt-webhooks). */
export function queueNames(env: Env): QueueNames {
  const { JOBS_QUEUE, JOBS_DLQ, WEBHOOKS_QUEUE } = settings(env);
  return {
    jobs: JOBS_QUEUE || "vtt-jobs",
    deadLetters: JOBS_DLQ || "vtt-jobs-dlq",
    webhooks: WEBHOOKS_QUEUE || "vtt-webhooks",
  };
}
