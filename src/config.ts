/** Named settings with their defaults; every limit the service enforces is read here. */
import type { Env } from "./env.ts";

export const DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024;
/** R2 multipart part size for streamed uploads; also the most audio held in memory at once */
export const UPLOAD_PART_BYTES = 8 * 1024 * 1024;
export const MAX_METADATA_BYTES = 4096;
export const MAX_PROMPT_CHARS = 1000;
export const MAX_SUBJECT_ID_CHARS = 128;
export const MAX_FILE_NAME_CHARS = 255;
export const MAX_LIST_LIMIT = 100;
export const DEFAULT_LIST_LIMIT = 20;
/** transcripts up to this many characters are kept inline in D1 as well as in R2 */
export const TEXT_INLINE_LIMIT = 32 * 1024;

function positiveInt(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && Number.isInteger(n) && n > 0 ? n : fallback;
}

export function maxUploadBytes(env: Env): number {
  return positiveInt(env.MAX_UPLOAD_BYTES, DEFAULT_MAX_UPLOAD_BYTES);
}

/** Development (and tests) relax https-only rules so localhost webhooks and callbacks work. */
export function isDevelopment(env: Env): boolean {
  return env.ENVIRONMENT === "development" || env.ENVIRONMENT === "test";
}

/** Failed or unauthenticated requests per client address and minute before `429 auth_rate_limited` (default 30). */
export const DEFAULT_AUTH_FAILURES_PER_MINUTE = 30;
/** Failed operator-key attempts per client address and minute: a bucket of its own, smaller (default 10). */
export const DEFAULT_OPERATOR_AUTH_FAILURES_PER_MINUTE = 10;

export function authFailuresPerMinute(env: Env): number {
  return positiveInt(env.AUTH_FAILURES_PER_MINUTE, DEFAULT_AUTH_FAILURES_PER_MINUTE);
}

export function operatorAuthFailuresPerMinute(env: Env): number {
  return positiveInt(env.OPERATOR_AUTH_FAILURES_PER_MINUTE, DEFAULT_OPERATOR_AUTH_FAILURES_PER_MINUTE);
}

export function audioUrlTtlSeconds(env: Env): number {
  return positiveInt(env.AUDIO_URL_TTL_SECONDS, 600);
}

/** Browser origins allowed to call the API (`CORS_ALLOWED_ORIGINS`, comma separated, exact `scheme://host[:port]`). */
export function corsOrigins(env: Env): string[] {
  return (env.CORS_ALLOWED_ORIGINS ?? "")
    .split(",")
    .map((o) => o.trim())
    .filter((o) => /^https?:\/\/[^/\s*]+$/.test(o));
}
