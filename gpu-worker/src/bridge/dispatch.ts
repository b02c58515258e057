/**
 * The dispatch body of `POST /v1/jobs` (docs/pool-contract.md §1), validated by hand (pure, no bindings).
 */

/** A validated dispatch; also the BullMQ job's data. */
export interface Dispatch {
  job_id: string;
  language: string | null;
  prompt: string | null;
  audio_url: string;
  /** Unix seconds after which the audio URL stops working. */
  audio_expires_at: number;
  callback_url: string;
  traceparent: string | null;
}

/** A field-level validation error, as listed in the 400 problem's `errors`. */
export interface FieldError {
  field: string;
  message: string;
}

export type DispatchValidation = { ok: true; dispatch: Dispatch } | { ok: false; errors: FieldError[] };

/** BullMQ custom ids may not contain ':' nor be plain integers; the edge's ids look like `tr_01J…`. */
const JOB_ID_PATTERN = /^(?!\d+$)[A-Za-z0-9_-]{1,64}$/;

/** True for a string the pool accepts as a job id (also the id in `DELETE /v1/jobs/{job_id}`). */
export function isValidJobId(value: unknown): value is string {
  return typeof value === "string" && JOB_ID_PATTERN.test(value);
}
const LANGUAGE_PATTERN = /^[a-z]{2,3}$/;
const MAX_PROMPT_LENGTH = 2_000;
const MAX_URL_LENGTH = 4_096;

/** Validates a parsed JSON body; unknown fields are ignored so the edge can add fields first. */
export function validateDispatch(body: unknown): DispatchValidation {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, errors: [{ field: "", message: "the body must be a JSON object" }] };
  }
  const input = body as Record<string, unknown>;
  const errors: FieldError[] = [];
  const jobId = input.job_id;
  if (!isValidJobId(jobId)) {
    errors.push({ field: "job_id", message: "must be 1-64 characters of A-Z a-z 0-9 _ - (not only digits)" });
  }
  const language = input.language ?? null;
  if (language !== null && (typeof language !== "string" || !LANGUAGE_PATTERN.test(language))) {
    errors.push({ field: "language", message: "must be null or an ISO 639-1 code" });
  }
  const prompt = input.prompt ?? null;
  if (prompt !== null && (typeof prompt !== "string" || prompt.length > MAX_PROMPT_LENGTH)) {
    errors.push({ field: "prompt", message: `must be null or a string of at most ${MAX_PROMPT_LENGTH} characters` });
  }
  const audioUrl = input.audio_url;
  if (!isHttpUrl(audioUrl)) errors.push({ field: "audio_url", message: "must be an http(s) URL" });
  const expiresAt = input.audio_expires_at;
  if (typeof expiresAt !== "number" || !Number.isInteger(expiresAt) || expiresAt <= 0) {
    errors.push({ field: "audio_expires_at", message: "must be unix seconds" });
  }
  const callbackUrl = input.callback_url;
  if (!isHttpUrl(callbackUrl)) errors.push({ field: "callback_url", message: "must be an http(s) URL" });
  const traceparent = input.traceparent ?? null;
  if (traceparent !== null && (typeof traceparent !== "string" || traceparent.length > 256)) {
    errors.push({ field: "traceparent", message: "must be null or a W3C traceparent string" });
  }
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    dispatch: {
      job_id: jobId as string,
      language: language as string | null,
      prompt: (prompt as string | null) || null,
      audio_url: audioUrl as string,
      audio_expires_at: expiresAt as number,
      callback_url: callbackUrl as string,
      traceparent: traceparent as string | null,
    },
  };
}

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== "string" || value.length > MAX_URL_LENGTH) return false;
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}
