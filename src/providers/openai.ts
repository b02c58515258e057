/**
 * OpenAI (and any OpenAI-compatible server: Groq, speaches, vLLM, LocalAI) through the `openai` SDK.
 * `whisper-1` answers `verbose_json` with segments (and word timestamps when asked); the gpt-4o transcribe models
 * answer `json`. A translate job goes to `POST /v1/audio/translations` (Whisper models only). The audio streams from
 * R2 into a multipart body of known length (streamed-form.ts); audio over OPENAI_MAX_AUDIO_BYTES is never sent.
 */
import { languageCode } from "@vtt/pool-contract";
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError } from "openai";

import { MAX_PROMPT_UTF16_UNITS, settings } from "../config.ts";
import type { Env } from "../env.ts";
import { isOpenAIJsonOnlyModel, OPENAI_DEFAULT_MODEL, OPENAI_DIARIZE_MODEL } from "./capabilities.ts";
import { singleSegment, whisperSignals } from "./http.ts";
import { promptWithKeyterms } from "./keyterms.ts";
import { streamedForm } from "./streamed-form.ts";
import {
  classifyHttpStatus,
  type NormalisedTranscript,
  ProviderError,
  type TranscriptionOutcome,
  type TranscriptionRequest,
  type TranscriptionService,
} from "./types.ts";

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
  /** OPENAI_MAX_AUDIO_BYTES: OpenAI's 25 MB, or what a compatible server takes */
  readonly #maxBytes: number;

  constructor(env: Env) {
    if (!env.OPENAI_API_KEY) {
      throw new ProviderError("provider_not_configured", "OPENAI_API_KEY is not set", { retryable: false });
    }
    this.#model = env.OPENAI_MODEL || OPENAI_DEFAULT_MODEL;
    this.#maxBytes = settings(env).OPENAI_MAX_AUDIO_BYTES;
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
      throw new ProviderError("translation_unsupported", `openai cannot translate with model ${model}`, {
        retryable: false,
      });
    }
    if (request.bytes > this.#maxBytes) {
      await request.audio.cancel();
      throw new ProviderError(
        "audio_too_large_for_provider",
        `the audio (${request.bytes} bytes) is over provider openai's limit of ${this.#maxBytes} bytes`,
        { retryable: false },
      );
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
    const diarize = request.task === "transcribe" && request.speakers?.labels === true;
    const verbose = request.task === "translate" || !isOpenAIJsonOnlyModel(model);
    const fields: [string, string][] = [["model", model]];
    // keyterms ride on Whisper's prompt, after the caller's own, within the prompt limit
    const prompt = promptWithKeyterms(request.prompt, request.keyterms, MAX_PROMPT_UTF16_UNITS);
    // OpenAI refuses a prompt with the diarizing model
    if (prompt && !diarize) fields.push(["prompt", prompt]);
    if (request.temperature !== null) fields.push(["temperature", String(request.temperature)]);
    if (diarize) fields.push(["response_format", "diarized_json"], ["chunking_strategy", "auto"]);
    else fields.push(["response_format", verbose ? "verbose_json" : "json"]);
    if (request.task === "transcribe") {
      // word timings cost OpenAI extra latency: asked for only when the caller wants them
      if (verbose && !diarize) fields.push(["timestamp_granularities[]", "segment"]);
      if (verbose && !diarize && request.wordTimestamps) fields.push(["timestamp_granularities[]", "word"]);
      if (request.language) fields.push(["language", request.language]);
    }
    // POST /v1/audio/translations takes no language and no timestamp granularities; its output is English
    const path = request.task === "translate" ? "/audio/translations" : "/audio/transcriptions";
    // the audio streams from R2 into the request body (streamed-form.ts): the SDK sends a stream body as it is
    const form = streamedForm(fields, {
      field: "file",
      filename: `${request.jobId}.${request.format}`,
      contentType: request.contentType,
      stream: request.audio,
      bytes: request.bytes,
    });
    try {
      if (diarize) {
        const diarized = await this.#client.post<DiarizedTranscription>(path, {
          body: form.body,
          headers: { "content-type": form.contentType },
          signal: request.signal,
        });
        return { kind: "completed", transcript: this.#diarized(diarized, model, request) };
      }
      const response = await this.#client.post<VerboseTranscription>(path, {
        body: form.body,
        headers: { "content-type": form.contentType },
        signal: request.signal,
      });
      const language = request.task === "translate" ? "en" : (languageCode(response.language) ?? request.language);
      return { kind: "completed", transcript: this.#normalise(response, model, language) };
    } catch (error) {
      throw mapOpenAIError(error);
    }
  }

  /**
   * gpt-4o-transcribe-diarize with `diarized_json`: `chunking_strategy=auto` (OpenAI refuses audio over 30 s
   * without it) and no prompt (OpenAI refuses prompts for diarization models; the prompt is a hint, docs/api.md).
   */
  /** `diarized_json`: segments with speakers (no words), normalised; a segment without a speaker fails the job. */
  #diarized(response: DiarizedTranscription, model: string, request: TranscriptionRequest): NormalisedTranscript {
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
