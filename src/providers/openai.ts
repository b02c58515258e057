/**
 * OpenAI (and any OpenAI-compatible server: Groq, speaches, vLLM, LocalAI) through the `openai` SDK.
 * `whisper-1` answers `verbose_json` with segments (and word timestamps when asked); the gpt-4o transcribe models
 * answer `json`. A translate job goes to `POST /v1/audio/translations` (Whisper models only).
 */
import { languageCode } from "@vtt/pool-contract";
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, toFile } from "openai";

import { MAX_PROMPT_UTF16_UNITS, settings } from "../config.ts";
import type { Env } from "../env.ts";
import { isOpenAIJsonOnlyModel, OPENAI_DEFAULT_MODEL } from "./capabilities.ts";
import { readAllCapped, singleSegment, whisperSignals } from "./http.ts";
import { promptWithKeyterms } from "./keyterms.ts";
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
export { OPENAI_DEFAULT_MODEL } from "./capabilities.ts";

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
    const model = request.model ?? this.#model;
    // the translations route serves Whisper models only; never hand back an untranslated transcript instead
    if (request.task === "translate" && isOpenAIJsonOnlyModel(model)) {
      await request.audio.cancel();
      throw new ProviderError("provider_cannot_translate", `openai cannot translate with model ${model}`, {
        retryable: false,
      });
    }
    if (request.bytes > OPENAI_MAX_BYTES) {
      await request.audio.cancel();
      throw new ProviderError("provider_rejected_audio", `the audio exceeds OpenAI's ${OPENAI_MAX_BYTES}-byte limit`, {
        retryable: false,
      });
    }
    const bytes = await readAllCapped(request.audio, OPENAI_MAX_BYTES, "openai");
    const file = await toFile(bytes, `${request.jobId}.${request.format}`, { type: request.contentType });
    // keyterms ride on Whisper's prompt, after the caller's own, within the prompt limit
    const prompt = promptWithKeyterms(request.prompt, request.keyterms, MAX_PROMPT_UTF16_UNITS);
    const shared = {
      file,
      model,
      ...(prompt ? { prompt } : {}),
      ...(request.temperature !== null ? { temperature: request.temperature } : {}),
    };
    try {
      if (request.task === "translate") {
        // POST /v1/audio/translations takes no language and no timestamp granularities; its output is English
        const response = (await this.#client.audio.translations.create(
          { ...shared, response_format: "verbose_json" },
          { signal: request.signal },
        )) as unknown as VerboseTranscription;
        return { kind: "completed", transcript: this.#normalise(response, model, "en") };
      }
      const verbose = !isOpenAIJsonOnlyModel(model);
      const response = (await this.#client.audio.transcriptions.create(
        {
          ...shared,
          ...(verbose
            ? {
                response_format: "verbose_json" as const,
                // word timings cost OpenAI extra latency: asked for only when the caller wants them
                timestamp_granularities: request.wordTimestamps
                  ? ["segment" as const, "word" as const]
                  : ["segment" as const],
              }
            : { response_format: "json" as const }),
          ...(request.language ? { language: request.language } : {}),
        },
        { signal: request.signal },
      )) as unknown as VerboseTranscription;
      return {
        kind: "completed",
        transcript: this.#normalise(response, model, languageCode(response.language) ?? request.language),
      };
    } catch (error) {
      throw mapOpenAIError(error);
    }
  }

  #normalise(response: VerboseTranscription, model: string, language: string | null): NormalisedTranscript {
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
      language,
      duration_seconds: duration,
      model,
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
