/**
 * The one interface every transcription provider implements, and the normalised result they all map to.
 * Pure types and the error taxonomy: no Cloudflare bindings here.
 */
import type { SpeakerOptions, SpeakerSummary } from "../domain/speakers.ts";
import { parseRetryAfter } from "../lib/retry-after.ts";

export interface Segment {
  /** seconds from the start of the audio */
  start: number;
  end: number;
  text: string;
  /** a probability in [0, 1] when the provider reports one (Deepgram); never a log-probability */
  confidence?: number;
  /** Whisper engines (OpenAI, Workers AI, the pool): mean token log-probability of the segment (≤ 0) */
  avg_logprob?: number;
  /** Whisper engines: probability that the segment holds no speech, in [0, 1] */
  no_speech_prob?: number;
  /** `A`, `B`, … in order of first appearance, when the job asked for speaker labels or multichannel */
  speaker?: string;
}

export interface Word {
  start: number;
  end: number;
  word: string;
  confidence?: number;
  /** speaker label ("A", "B", …) when the transcript has speaker labels */
  speaker?: string;
}

/** What every provider's response is normalised to before it is stored. */
export interface NormalisedTranscript {
  text: string;
  segments: Segment[];
  words?: Word[];
  /** ISO 639-1 code when known */
  language: string | null;
  /**
   * How sure the provider is of a language it detected (`language=auto`), in [0, 1]; absent when the language was
   * given, when the provider does not say (OpenAI), and on translations
   */
  language_probability?: number;
  duration_seconds: number | null;
  /** the provider's model that actually ran */
  model: string;
  /** speaker labels with talk time (src/domain/speakers.ts), only on jobs that asked for speaker labels or multichannel */
  speakers?: SpeakerSummary[];
}

/** `transcribe` keeps the spoken language; `translate` renders the speech in English (OpenAI's translations route). */
export type TranscriptionTask = "transcribe" | "translate";

export interface TranscriptionRequest {
  jobId: string;
  /** the audio bytes as stored; providers that can stream take the stream */
  audio: ReadableStream<Uint8Array>;
  /** byte length of `audio` */
  bytes: number;
  /** sniffed container format, e.g. "wav", "mp3" */
  format: string;
  /** canonical MIME type for `format` */
  contentType: string;
  /** ISO 639-1, or null for automatic detection */
  language: string | null;
  prompt: string | null;
  /** vocabulary hints (`keyterms`); each adapter maps them to its vendor's input */
  keyterms: string[];
  task: TranscriptionTask;
  /** the provider's model id the caller asked for; null = the provider's configured default */
  model: string | null;
  /** sampling temperature for providers that take one (others ignore it); null = the provider's default */
  temperature: number | null;
  /** the caller needs word timings; adapters that must ask for them (and pay for them) do so only then */
  wordTimestamps: boolean;
  /** speaker labels or multichannel; null (or absent) when the job asked for neither */
  speakers?: SpeakerOptions | null;
  /**
   * PII the job redacts (src/domain/pii entity types); providers that redact natively (Deepgram `redact`) are asked
   * to, and our own pass runs over every result anyway (src/jobs/results.ts). Absent or null: no redaction.
   */
  redactPii?: readonly string[] | null;
  signal?: AbortSignal;
  /** W3C trace context to propagate to asynchronous providers */
  traceparent?: string;
}

/** A synchronous provider answers with the transcript; an asynchronous one (the pool) only accepts the job. */
export type TranscriptionOutcome = { kind: "completed"; transcript: NormalisedTranscript } | { kind: "dispatched" };

export interface TranscriptionService {
  /** provider name as used in `PROVIDERS` and the `provider` request field */
  readonly name: ProviderName;
  transcribe(request: TranscriptionRequest): Promise<TranscriptionOutcome>;
}

export const PROVIDER_NAMES = ["openai", "deepgram", "workers-ai", "whisper-pool"] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** Stable error codes a provider failure maps to (surfaced as `error.code` on a failed job). */
export type ProviderErrorCode =
  | "provider_timeout"
  | "provider_rate_limited"
  | "provider_unavailable"
  | "provider_network_error"
  | "provider_bad_request"
  | "provider_auth_failed"
  | "provider_rejected_audio"
  | "provider_bad_response"
  | "provider_not_configured"
  /** a translate job reached a provider (or model) that can only transcribe: never a silently untranslated text */
  | "translation_unsupported"
  /** the requested model is not one this provider offers */
  | "provider_model_unavailable"
  /** the audio is over every candidate provider's size limit (the message names the limit) */
  | "audio_too_large_for_provider"
  /** a speaker-labels job reached a provider (or model) that cannot diarize: never a silently unlabelled transcript */
  | "diarization_unsupported"
  /** a multichannel job reached a provider that cannot transcribe channels apart */
  | "multichannel_unsupported"
  /** the pool has no diarization models installed */
  | "diarization_unavailable"
  | "pool_unreachable"
  /** the pool could not redact a stored result's audio for a passing reason (down, busy): the message is retried */
  | "pool_redaction_unavailable";

/**
 * A classified provider failure. `retryable` decides between retry-with-backoff and failing the job at once.
 * `message` is safe to show to the API caller: adapters never copy secrets or raw vendor bodies into it.
 */
export class ProviderError extends Error {
  readonly code: ProviderErrorCode;
  readonly retryable: boolean;
  readonly status: number | null;
  readonly retryAfterSeconds: number | null;
  constructor(
    code: ProviderErrorCode,
    message: string,
    options: { retryable: boolean; status?: number | null; retryAfterSeconds?: number | null; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = "ProviderError";
    this.code = code;
    this.retryable = options.retryable;
    this.status = options.status ?? null;
    this.retryAfterSeconds = options.retryAfterSeconds ?? null;
  }
}

/** Maps an HTTP status from a vendor to the taxonomy: 408/429/5xx retry, other 4xx are permanent. */
export function classifyHttpStatus(provider: string, status: number, retryAfterHeader?: string | null): ProviderError {
  const retryAfterSeconds = parseRetryAfter(retryAfterHeader);
  if (status === 429)
    return new ProviderError("provider_rate_limited", `${provider} rate limited the request`, {
      retryable: true,
      status,
      retryAfterSeconds,
    });
  if (status === 408 || status === 504)
    return new ProviderError("provider_timeout", `${provider} timed out`, {
      retryable: true,
      status,
      retryAfterSeconds,
    });
  if (status >= 500)
    return new ProviderError("provider_unavailable", `${provider} answered ${status}`, {
      retryable: true,
      status,
      retryAfterSeconds,
    });
  if (status === 401 || status === 403)
    return new ProviderError("provider_auth_failed", `${provider} rejected our credentials (${status})`, {
      retryable: false,
      status,
    });
  // 413: the file is over the provider's size limit; retrying the same audio cannot help
  if (status === 413 || status === 415 || status === 422)
    return new ProviderError("provider_rejected_audio", `${provider} could not process the audio (${status})`, {
      retryable: false,
      status,
    });
  return new ProviderError("provider_bad_request", `${provider} rejected the request (${status})`, {
    retryable: false,
    status,
  });
}
