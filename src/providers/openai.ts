/**
 * OpenAI (and any OpenAI-compatible server: Groq, speaches, vLLM, LocalAI) through the `openai` SDK.
 * `whisper-1` answers `verbose_json` with segments and word timestamps; the gpt-4o transcribe models answer `json`.
 */
import { languageCode } from "@vtt/pool-contract";
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, toFile } from "openai";

import { settings } from "../config.ts";
import type { Env } from "../env.ts";
import { readAllCapped, singleSegment, whisperSignals } from "./http.ts";
import {
  classifyHttpStatus,
  type NormalisedTranscript,
  ProviderError,
  type TranscriptionOutcome,
  type TranscriptionRequest,
  type TranscriptionService,
} from "./types.ts";

/** OpenAI's upload limit for the transcription endpoint */
export const OPENAI_MAX_BYTES = 25 * 1024 * 1024;
export const OPENAI_DEFAULT_MODEL = "whisper-1";

/** Models that only answer `json`/`text` (no segments or word timings). */
const JSON_ONLY_MODELS = /^gpt-4o/;

interface VerboseTranscription {
  text: string;
  language?: string;
  duration?: number;
  segments?: { start: number; end: number; text: string; avg_logprob?: number; no_speech_prob?: number }[];
  words?: { word: string; start: number; end: number }[];
}

export class OpenAITranscriptionService implements TranscriptionService {
  readonly name = "openai" as const;
  readonly #client: OpenAI;
  readonly #model: string;

  constructor(env: Env) {
    if (!env.OPENAI_API_KEY) {
      throw new ProviderError("provider_not_configured", "OPENAI_API_KEY is not set", { retryable: false });
    }
    this.#model = env.OPENAI_MODEL || OPENAI_DEFAULT_MODEL;
    this.#client = new OpenAI({
      apiKey: env.OPENAI_API_KEY,
      baseURL: env.OPENAI_BASE_URL || undefined,
      // the queue owns retries (with backoff and a dead-letter queue); the SDK must not retry on its own
      maxRetries: 0,
      timeout: settings(env).OPENAI_TIMEOUT_MS,
    });
  }

  async transcribe(request: TranscriptionRequest): Promise<TranscriptionOutcome> {
    if (request.bytes > OPENAI_MAX_BYTES) {
      await request.audio.cancel();
      throw new ProviderError("provider_rejected_audio", `the audio exceeds OpenAI's ${OPENAI_MAX_BYTES}-byte limit`, {
        retryable: false,
      });
    }
    const bytes = await readAllCapped(request.audio, OPENAI_MAX_BYTES, "openai");
    const file = await toFile(bytes, `${request.jobId}.${request.format}`, { type: request.contentType });
    const verbose = !JSON_ONLY_MODELS.test(this.#model);
    try {
      const response = (await this.#client.audio.transcriptions.create(
        {
          file,
          model: this.#model,
          ...(verbose
            ? {
                response_format: "verbose_json" as const,
                timestamp_granularities: ["segment" as const, "word" as const],
              }
            : { response_format: "json" as const }),
          ...(request.language ? { language: request.language } : {}),
          ...(request.prompt ? { prompt: request.prompt } : {}),
        },
        { signal: request.signal },
      )) as unknown as VerboseTranscription;
      return { kind: "completed", transcript: this.#normalise(response, request) };
    } catch (error) {
      throw mapOpenAIError(error);
    }
  }

  #normalise(response: VerboseTranscription, request: TranscriptionRequest): NormalisedTranscript {
    const text = (response.text ?? "").trim();
    const duration = typeof response.duration === "number" ? response.duration : null;
    const segments = response.segments?.length
      ? response.segments.map((s) => ({
          start: s.start,
          end: s.end,
          text: s.text.trim(),
          ...whisperSignals(s),
        }))
      : singleSegment(text, duration);
    return {
      text,
      segments,
      ...(response.words?.length
        ? { words: response.words.map((w) => ({ start: w.start, end: w.end, word: w.word })) }
        : {}),
      language: languageCode(response.language) ?? request.language,
      duration_seconds: duration,
      model: this.#model,
    };
  }
}

/** SDK errors → the taxonomy: timeouts and connection failures retry, HTTP statuses by class. */
export function mapOpenAIError(error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  if (error instanceof APIConnectionTimeoutError) {
    return new ProviderError("provider_timeout", "openai did not answer in time", { retryable: true, cause: error });
  }
  if (error instanceof APIConnectionError) {
    return new ProviderError("provider_network_error", "openai could not be reached", {
      retryable: true,
      cause: error,
    });
  }
  if (error instanceof APIError && typeof error.status === "number") {
    const retryAfter = error.headers instanceof Headers ? error.headers.get("retry-after") : null;
    return classifyHttpStatus("openai", error.status, retryAfter);
  }
  return new ProviderError("provider_bad_response", "openai returned something we could not read", {
    retryable: true,
    cause: error,
  });
}
