/** Named settings with their defaults; every limit the service enforces is read here. */
import type { Env } from "./env.ts";

export const DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024;
/** Room for multipart framing and option fields around the audio: a body may exceed MAX_UPLOAD_BYTES by this much. */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;
export const DEFAULT_MAX_CONCURRENT_UPLOADS_PER_KEY = 10;
/** R2 multipart part size for streamed uploads; also the most audio held in memory at once */
export const UPLOAD_PART_BYTES = 8 * 1024 * 1024;
export const MAX_METADATA_BYTES = 4096;
/** prompts are measured in UTF-16 code units (JavaScript string length), like the pool's own check */
export const MAX_PROMPT_UTF16_UNITS = 1000;
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

/** The largest request body a valid upload can have: the audio limit plus multipart framing and fields. */
export function maxUploadBodyBytes(env: Env): number {
  return maxUploadBytes(env) + MULTIPART_OVERHEAD_BYTES;
}

/** Uploads one API key may have in flight at once (`MAX_CONCURRENT_UPLOADS_PER_KEY`). */
export function maxConcurrentUploadsPerKey(env: Env): number {
  return positiveInt(env.MAX_CONCURRENT_UPLOADS_PER_KEY, DEFAULT_MAX_CONCURRENT_UPLOADS_PER_KEY);
}

/** Development (and tests) relax https-only rules so localhost webhooks and callbacks work. */
export function isDevelopment(env: Env): boolean {
  return env.ENVIRONMENT === "development" || env.ENVIRONMENT === "test";
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
