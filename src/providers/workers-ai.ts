/**
 * Workers AI through the `AI` binding: `@cf/openai/whisper-large-v3-turbo` (segments, words, language). It takes
 * `task: "translate"` (documented input of that model); it has no temperature input, so a temperature is ignored.
 */
import { MAX_PROMPT_UTF16_UNITS } from "../config.ts";
import type { Env } from "../env.ts";
import { providerModels, WORKERS_AI_DEFAULT_MODEL, WORKERS_AI_MAX_AUDIO_BYTES } from "./capabilities.ts";
import { languageProbability, singleSegment, whisperSignals } from "./http.ts";
import { promptWithKeyterms } from "./keyterms.ts";
import {
  type NormalisedTranscript,
  ProviderError,
  type TranscriptionOutcome,
  type TranscriptionRequest,
  type TranscriptionService,
} from "./types.ts";

export { WORKERS_AI_DEFAULT_MODEL, WORKERS_AI_MAX_AUDIO_BYTES } from "./capabilities.ts";

interface WhisperTurboOutput {
  text?: string;
  segments?: {
    start?: number;
    end?: number;
    text?: string;
    avg_logprob?: number;
    no_speech_prob?: number;
    words?: { word?: string; start?: number; end?: number }[];
  }[];
  transcription_info?: { language?: string; language_probability?: number; duration?: number };
}

/** The binding's error messages carry Workers AI's numeric codes (`3010: Invalid or incomplete input…`). */
const PERMANENT_AI_ERROR = /\b(3003|3006|3010|5006)\b|invalid|incomplete input|unsupported/i;
const AUTH_AI_ERROR = /\b(1000|1001|10000)\b|not entitled|unauthori[sz]ed/i;

/**
 * The binding's only audio input for this model is one base64 string, so the whole file must be in memory once, as
 * base64 (4/3 of its size, capped by WORKERS_AI_MAX_AUDIO_BYTES). It is encoded as the stream arrives, three bytes
 * at a time carried over between chunks, so the raw bytes are never held whole beside it.
 */
async function base64Stream(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<string> {
  const reader = stream.getReader();
  const pieces: string[] = [];
  let carry: Uint8Array = new Uint8Array(0);
  let total = 0;
  const encode = (bytes: Uint8Array) => {
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    pieces.push(btoa(binary));
  };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new ProviderError(
        "audio_too_large_for_provider",
        `the audio is over provider workers-ai's limit of ${maxBytes} bytes`,
        {
          retryable: false,
        },
      );
    }
    const joined = carry.length ? new Uint8Array(carry.length + value.length) : value;
    if (carry.length) {
      joined.set(carry);
      joined.set(value, carry.length);
    }
    const whole = joined.length - (joined.length % 3);
    if (whole) encode(joined.subarray(0, whole));
    carry = joined.slice(whole);
  }
  if (carry.length) encode(carry);
  return pieces.join("");
}

export class WorkersAITranscriptionService implements TranscriptionService {
  readonly name = "workers-ai" as const;
  readonly #ai: Ai;
  readonly #model: string;
  /** the configured model and the Whisper models the adapter knows the input of */
  readonly #models: string[];

  constructor(env: Env) {
    if (!env.AI)
      throw new ProviderError("provider_not_configured", "the AI binding is not configured", { retryable: false });
    this.#ai = env.AI;
    this.#model = env.WORKERS_AI_MODEL || WORKERS_AI_DEFAULT_MODEL;
    this.#models = providerModels(env, "workers-ai");
  }

  async transcribe(request: TranscriptionRequest): Promise<TranscriptionOutcome> {
    const model = request.model ?? this.#model;
    if (!this.#models.includes(model)) {
      await request.audio.cancel();
      throw new ProviderError("provider_model_unavailable", `workers-ai does not offer model ${model}`, {
        retryable: false,
      });
    }
    // only whisper-large-v3-turbo documents the `task` input; another model would silently transcribe
    if (request.task === "translate" && model !== WORKERS_AI_DEFAULT_MODEL) {
      await request.audio.cancel();
      throw new ProviderError("translation_unsupported", `workers-ai cannot translate with model ${model}`, {
        retryable: false,
      });
    }
    if (request.bytes > WORKERS_AI_MAX_AUDIO_BYTES) {
      await request.audio.cancel();
      throw new ProviderError(
        "audio_too_large_for_provider",
        `the audio (${request.bytes} bytes) is over provider workers-ai's limit of ${WORKERS_AI_MAX_AUDIO_BYTES} bytes`,
        { retryable: false },
      );
    }
    const audio = await base64Stream(request.audio, WORKERS_AI_MAX_AUDIO_BYTES);
    // whisper-large-v3-turbo's `initial_prompt` conditions decoding: keyterms follow the caller's prompt
    const prompt = promptWithKeyterms(request.prompt, request.keyterms, MAX_PROMPT_UTF16_UNITS);
    let output: WhisperTurboOutput;
    try {
      output = (await this.#ai.run(
        model as never,
        {
          audio,
          ...(request.task === "translate" ? { task: "translate" } : {}),
          ...(request.language ? { language: request.language } : {}),
          ...(prompt ? { initial_prompt: prompt } : {}),
        } as never,
      )) as WhisperTurboOutput;
    } catch (error) {
      throw mapWorkersAIError(error);
    }
    if (!output || typeof output.text !== "string") {
      throw new ProviderError("provider_bad_response", "workers-ai returned no text", { retryable: true });
    }
    return { kind: "completed", transcript: this.#normalise(output, request, model) };
  }

  #normalise(output: WhisperTurboOutput, request: TranscriptionRequest, model: string): NormalisedTranscript {
    const text = (output.text ?? "").trim();
    const duration =
      typeof output.transcription_info?.duration === "number" ? output.transcription_info.duration : null;
    const segments = (output.segments ?? [])
      .filter((s) => typeof s.start === "number" && typeof s.end === "number")
      .map((s) => ({ start: s.start!, end: s.end!, text: (s.text ?? "").trim(), ...whisperSignals(s) }));
    const words = (output.segments ?? []).flatMap((s) =>
      (s.words ?? [])
        .filter((w) => typeof w.start === "number" && typeof w.end === "number")
        .map((w) => ({ start: w.start!, end: w.end!, word: (w.word ?? "").trim() })),
    );
    return {
      text,
      segments: segments.length ? segments : singleSegment(text, duration),
      ...(words.length ? { words } : {}),
      // a translation is English whatever was spoken; transcription_info.language names the source language
      language: request.task === "translate" ? "en" : (output.transcription_info?.language ?? request.language),
      ...(request.task === "transcribe" && request.language === null && output.transcription_info?.language
        ? languageProbability(output.transcription_info.language_probability)
        : {}),
      duration_seconds: duration,
      model,
    };
  }
}

export function mapWorkersAIError(error: unknown): ProviderError {
  const message = error instanceof Error ? error.message : String(error);
  if (AUTH_AI_ERROR.test(message))
    return new ProviderError("provider_auth_failed", "workers-ai refused the account", {
      retryable: false,
      cause: error,
    });
  if (PERMANENT_AI_ERROR.test(message))
    return new ProviderError("provider_rejected_audio", "workers-ai could not process the audio", {
      retryable: false,
      cause: error,
    });
  if (/timeout|timed out|3007/i.test(message))
    return new ProviderError("provider_timeout", "workers-ai timed out", { retryable: true, cause: error });
  return new ProviderError("provider_unavailable", "workers-ai failed", { retryable: true, cause: error });
}
