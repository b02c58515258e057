/**
 * OpenAI (and any OpenAI-compatible server: Groq, speaches, vLLM, LocalAI) through the `openai` SDK.
 * `whisper-1` answers `verbose_json` with segments (and word timestamps when asked); the gpt-4o transcribe models
 * answer `json`. A translate job goes to `POST /v1/audio/translations` (Whisper models only).
 */
import { languageCode } from "@vtt/pool-contract";
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, toFile } from "openai";

import { settings } from "../config.ts";
import type { Env } from "../env.ts";
import { isOpenAIJsonOnlyModel, OPENAI_DEFAULT_MODEL, OPENAI_DIARIZE_MODEL } from "./capabilities.ts";
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
export { OPENAI_DEFAULT_MODEL } from "./capabilities.ts";

interface VerboseTranscription {
  text: string;
  language?: string;
  duration?: number;
  segments?: { start: number; end: number; text: string; avg_logprob?: number; no_speech_prob?: number }[];
  words?: { word: string; start: number; end: number }[];
}

/** `response_format=diarized_json` (gpt-4o-transcribe-diarize): segments with a speaker each, no words. */
interface DiarizedTranscription {
  task?: string;
  duration?: number;
  text: string;
  segments?: { type?: string; id?: string; start: number; end: number; text: string; speaker: string }[];
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
    if (request.speakers?.multichannel) {
      await request.audio.cancel();
      throw new ProviderError("multichannel_unsupported", "openai cannot transcribe channels separately", {
        retryable: false,
      });
    }
    if (request.speakers?.labels && model !== OPENAI_DIARIZE_MODEL) {
      await request.audio.cancel();
      throw new ProviderError("diarization_unsupported", `openai cannot label speakers with model ${model}`, {
        retryable: false,
      });
    }
    const bytes = await readAllCapped(request.audio, OPENAI_MAX_BYTES, "openai");
    const file = await toFile(bytes, `${request.jobId}.${request.format}`, { type: request.contentType });
    const shared = {
      file,
      model,
      ...(request.prompt ? { prompt: request.prompt } : {}),
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
      if (request.speakers?.labels) return { kind: "completed", transcript: await this.#diarize(file, model, request) };
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

  /**
   * gpt-4o-transcribe-diarize with `diarized_json`: `chunking_strategy=auto` (OpenAI refuses audio over 30 s
   * without it) and no prompt (OpenAI refuses prompts for diarization models; the prompt is a hint, docs/api.md).
   */
  async #diarize(file: Awaited<ReturnType<typeof toFile>>, model: string, request: TranscriptionRequest) {
    const response = (await this.#client.audio.transcriptions.create(
      {
        file,
        model,
        response_format: "diarized_json",
        chunking_strategy: "auto",
        ...(request.temperature !== null ? { temperature: request.temperature } : {}),
        ...(request.language ? { language: request.language } : {}),
      },
      { signal: request.signal },
    )) as unknown as DiarizedTranscription;
    const segments = (response.segments ?? []).map((s) => ({
      start: s.start,
      end: s.end,
      text: s.text.trim(),
      ...(typeof s.speaker === "string" && s.speaker !== "" ? { speaker: s.speaker } : {}),
    }));
    if (segments.some((s) => s.speaker === undefined && s.text !== "")) {
      throw new ProviderError("diarization_unsupported", "openai answered without speakers", { retryable: false });
    }
    const text = (response.text ?? "").trim();
    return {
      text,
      segments,
      language: request.language,
      duration_seconds: typeof response.duration === "number" ? response.duration : null,
      model,
    } satisfies NormalisedTranscript;
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
