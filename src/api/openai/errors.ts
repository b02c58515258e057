/**
 * OpenAI's error body for the OpenAI-compatible routes: `{"error": {"message", "type", "param", "code"}}`, the shape
 * the `openai` SDKs parse into their error classes. Every failure on these paths (authentication, scope, rate limits,
 * body limits, validation, unsupported audio, a failed or unfinished job) is an {@link ApiError} first; this module
 * only renders it. `code` keeps our stable code; the status is OpenAI's where ours differs (422 and 415 → 400).
 */
import { ApiError } from "../../http/problem.ts";

export interface OpenAIErrorBody {
  error: { message: string; type: OpenAIErrorType; param: string | null; code: string | null };
}

export type OpenAIErrorType =
  "invalid_request_error" | "authentication_error" | "permission_error" | "rate_limit_error" | "server_error";

/** The paths whose errors are rendered in OpenAI's shape: `/v1/audio/…` and `/v1/models[/…]`. */
export function isOpenAIPath(pathname: string): boolean {
  return /^\/v1\/(audio(\/|$)|models(\/|$))/.test(pathname);
}

/** The request field a code is about when the error itself names none. */
const PARAM_OF_CODE: Record<string, string> = {
  missing_file: "file",
  duplicate_file: "file",
  empty_body: "file",
  unsupported_audio: "file",
  payload_too_large: "file",
  upload_interrupted: "file",
  audio_too_large_for_provider: "file",
};

function typeOf(status: number): OpenAIErrorType {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

/** The status and body OpenAI would answer `error` with. */
export function openAIError(error: ApiError): { status: ApiError["status"]; body: OpenAIErrorBody } {
  const status = error.status === 422 || error.status === 415 ? 400 : error.status;
  const field = error.errors?.[0]?.field;
  const param =
    field && field !== "body" ? field : Object.hasOwn(PARAM_OF_CODE, error.code) ? PARAM_OF_CODE[error.code]! : null;
  return {
    status,
    body: { error: { message: error.detail ?? error.code, type: typeOf(status), param, code: error.code } },
  };
}

/**
 * Renders `error` as OpenAI does. Headers on the error (`Retry-After`, `WWW-Authenticate`, `Location`,
 * `x-should-retry`) are kept.
 */
export function openAIErrorResponse(error: ApiError): Response {
  const { status, body } = openAIError(error);
  // the SDKs retry 409 (as a lock timeout); a key held by a different request never frees itself
  const final: Record<string, string> = error.code === "idempotency_key_reused" ? { "x-should-retry": "false" } : {};
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...final, ...(error.headers ?? {}) },
  });
}

/** A refused OpenAI field: 400 with `param` naming it (OpenAI's `invalid_request_error`). */
export function invalidParam(param: string, code: string, message: string): ApiError {
  return new ApiError(400, code, message, [{ field: param, message }]);
}
