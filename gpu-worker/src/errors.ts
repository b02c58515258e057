/**
 * The pool's failure taxonomy (docs/pool-contract.md): every failure has a stable code and says whether another
 * attempt could succeed. Permanent failures end the job at once; retryable ones use BullMQ's attempts.
 */

/** Codes reported to the edge in a failed callback. */
export type FailureCode =
  /** ffmpeg cannot decode it, it is not audio, it has zero samples, or it exceeds the size/duration caps. */
  | "invalid_audio"
  /** The signed audio URL answered 403/404/410: expired or the audio was deleted. */
  | "audio_gone"
  /** The audio URL is not one the pool may fetch (private address, non-https outside a local setup): never retried. */
  | "audio_url_refused"
  /** The audio URL could not be read (network, 5xx, 408/429); retried, reported only when attempts run out. */
  | "audio_fetch_failed"
  /** The per-job timeout fired; the engine work was cancelled. */
  | "timeout"
  /** The engine failed or crashed; retried, reported only when attempts run out. */
  | "engine_error"
  /** The dispatch named a model this pool does not serve (normally refused at submit). */
  | "model_unavailable"
  /** A translate task on an English-only model (normally refused at submit). */
  | "translation_unsupported"
  /** a speaker-labels job on a pool without diarization models */
  | "diarization_unavailable"
  /** a multichannel job: this pool does not transcribe channels separately */
  | "multichannel_unsupported"
  /** a speaker-labels job longer than MAX_DIARIZATION_SECONDS (diarization holds the whole signal) */
  | "diarization_too_long"
  /** a redaction (`POST /v1/redactions`): the edge did not take the redacted copy (retryable unless it answered 4xx) */
  | "upload_failed";

/** A failure with a code; `retryable` decides between another BullMQ attempt and a terminal failure. */
export class PoolJobError extends Error {
  readonly code: FailureCode;
  readonly retryable: boolean;

  constructor(code: FailureCode, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "PoolJobError";
    this.code = code;
    this.retryable = options.retryable ?? (code === "engine_error" || code === "audio_fetch_failed");
  }
}

/** Largest error message sent to the edge (its schema caps messages at 2000 characters). */
export const MAX_ERROR_MESSAGE_LENGTH = 1000;

/** Maps anything thrown while processing a job to a {@link PoolJobError} (unknown errors are retryable engine errors). */
export function toPoolJobError(error: unknown): PoolJobError {
  if (error instanceof PoolJobError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new PoolJobError("engine_error", message, { cause: error });
}

/** Truncates a message for the callback body. */
export function publicMessage(message: string): string {
  return message.length > MAX_ERROR_MESSAGE_LENGTH ? `${message.slice(0, MAX_ERROR_MESSAGE_LENGTH - 1)}…` : message;
}
