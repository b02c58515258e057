/** Validation of a submission by URL: `audio_url` (shape, then the SSRF guard) and `audio_url_headers`. */
import type { Env } from "../env.ts";
import { ApiError } from "../http/problem.ts";
import { checkJobAudioUrl } from "../jobs/fetch-audio.ts";
import type { AudioUrlSource as ResolvedAudioUrlSource } from "../storage/audio-source.ts";
import { AudioUrlSource, FIELD_ERROR_CODES } from "./schemas.ts";
import type { UploadFields } from "./upload-body.ts";

const SOURCE_FIELDS = ["audio_url", "audio_url_headers"] as const;

/**
 * Splits the source fields off the others (left for `resolveUploadOptions`). Throws ApiError 422:
 * `invalid_audio_url` (not an http(s) URL of at most 2048 characters), `audio_url_forbidden` (refused by the SSRF
 * guard: private or metadata address, local name, credentials, non-default port) or `invalid_audio_url_headers`.
 * Header values never appear in a message.
 */
export function resolveAudioUrlSource(
  fields: UploadFields,
  env: Env,
): { source: ResolvedAudioUrlSource; options: UploadFields } {
  const options: UploadFields = Object.create(null);
  for (const [name, value] of Object.entries(fields)) {
    if (!(SOURCE_FIELDS as readonly string[]).includes(name)) options[name] = value;
  }
  const headers = fields.audio_url_headers === undefined ? undefined : parseHeadersField(fields.audio_url_headers);
  const parsed = AudioUrlSource.safeParse({ audio_url: fields.audio_url, audio_url_headers: headers });
  if (!parsed.success) {
    const errors = parsed.error.issues.map((issue) => ({
      field: String(issue.path[0] ?? "body"),
      message: issue.message,
    }));
    const first = errors[0]!;
    throw new ApiError(
      422,
      FIELD_ERROR_CODES[first.field] ?? "validation_failed",
      `${first.field}: ${first.message}`,
      errors,
    );
  }
  const url = parsed.data.audio_url;
  const check = checkJobAudioUrl(env, url);
  if (!check.ok) {
    throw new ApiError(422, check.code, `audio_url: ${check.reason}`, [{ field: "audio_url", message: check.reason }]);
  }
  return { source: { url: check.url.href, headers: parsed.data.audio_url_headers ?? {} }, options };
}

/** `audio_url_headers` arrives as a JSON object in a string (a multipart field, or re-encoded from a JSON body). */
function parseHeadersField(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw headersError("must be a JSON object of string values");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw headersError("must be a JSON object of string values");
  }
  if (Object.hasOwn(value, "__proto__")) throw headersError("the name `__proto__` is not a header");
  return value;
}

function headersError(message: string): ApiError {
  return new ApiError(422, "invalid_audio_url_headers", `audio_url_headers: ${message}`, [
    { field: "audio_url_headers", message },
  ]);
}
