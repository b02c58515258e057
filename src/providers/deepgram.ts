/**
 * Deepgram pre-recorded API (`POST /v1/listen`), audio streamed straight from R2 as the request body. Deepgram
 * transcribes only (no translation) and takes no temperature; its answer always carries word timings, kept as they are.
 */
import { settings } from "../config.ts";
import { DEEPGRAM_REDACT_ENTITIES, isPiiEntityType } from "../domain/pii/index.ts";
import { mergeChannels } from "../domain/speakers.ts";
import type { Env } from "../env.ts";
import { DEEPGRAM_DEFAULT_MODEL, DEEPGRAM_MAX_AUDIO_BYTES } from "./capabilities.ts";
import { deadlineSignal, languageProbability, networkFailure, singleSegment } from "./http.ts";
import { deepgramKeytermParams, MAX_KEYTERMS } from "./keyterms.ts";
import {
  classifyHttpStatus,
  type NormalisedTranscript,
  ProviderError,
  type TranscriptionOutcome,
  type TranscriptionRequest,
  type TranscriptionService,
} from "./types.ts";

export const DEEPGRAM_DEFAULT_BASE_URL = "https://api.deepgram.com";
export { DEEPGRAM_DEFAULT_MODEL } from "./capabilities.ts";

interface DeepgramWord {
  word: string;
  punctuated_word?: string;
  start: number;
  end: number;
  confidence?: number;
  speaker?: number;
}
interface DeepgramParagraph {
  sentences?: { text: string; start: number; end: number }[];
  speaker?: number;
}
interface DeepgramAlternative {
  transcript?: string;
  confidence?: number;
  words?: DeepgramWord[];
  /** present with `paragraphs=true` or `smart_format=true` */
  paragraphs?: { transcript?: string; paragraphs?: DeepgramParagraph[] };
}
interface DeepgramResponse {
  metadata?: { duration?: number; model_info?: Record<string, { name?: string }> };
  results?: {
    /** `detected_language` and `language_confidence` come with `detect_language=true` */
    channels?: { detected_language?: string; language_confidence?: number; alternatives?: DeepgramAlternative[] }[];
    utterances?: {
      start: number;
      end: number;
      transcript: string;
      confidence?: number;
      speaker?: number;
      /** with `multichannel=true`: the channel the utterance was heard on */
      channel?: number;
    }[];
  };
}

/** Deepgram's `redact` values for our entity types (each at most once, in our order). */
export function deepgramRedactValues(types: readonly string[] | null | undefined): string[] {
  const values = (types ?? []).flatMap((t) => (isPiiEntityType(t) ? DEEPGRAM_REDACT_ENTITIES[t] : []));
  return [...new Set(values)];
}

export class DeepgramTranscriptionService implements TranscriptionService {
  readonly name = "deepgram" as const;
  readonly #apiKey: string;
  readonly #model: string;
  readonly #baseUrl: string;
  readonly #timeoutMs: number;

  constructor(env: Env) {
    if (!env.DEEPGRAM_API_KEY)
      throw new ProviderError("provider_not_configured", "DEEPGRAM_API_KEY is not set", { retryable: false });
    this.#apiKey = env.DEEPGRAM_API_KEY;
    this.#model = env.DEEPGRAM_MODEL || DEEPGRAM_DEFAULT_MODEL;
    this.#baseUrl = (env.DEEPGRAM_BASE_URL || DEEPGRAM_DEFAULT_BASE_URL).replace(/\/$/, "");
    this.#timeoutMs = settings(env).DEEPGRAM_TIMEOUT_MS;
  }

  async transcribe(request: TranscriptionRequest): Promise<TranscriptionOutcome> {
    if (request.task === "translate") {
      await request.audio.cancel();
      throw new ProviderError("translation_unsupported", "deepgram cannot translate", { retryable: false });
    }
    if (request.bytes > DEEPGRAM_MAX_AUDIO_BYTES) {
      await request.audio.cancel();
      throw new ProviderError(
        "audio_too_large_for_provider",
        `the audio (${request.bytes} bytes) is over provider deepgram's limit of ${DEEPGRAM_MAX_AUDIO_BYTES} bytes`,
        { retryable: false },
      );
    }
    const model = request.model ?? this.#model;
    const query = new URLSearchParams({
      model,
      smart_format: "true",
      punctuate: "true",
      utterances: "true",
    });
    // speaker labels: `diarize` puts a speaker on every word and utterance; multichannel transcribes each channel
    // on its own (results.channels[i], utterances[].channel)
    if (request.speakers?.labels) query.set("diarize", "true");
    if (request.speakers?.multichannel) query.set("multichannel", "true");
    // native redaction of the job's entity types; its labels ("[PHONE_NUMBER_1]") are mapped to ours afterwards
    for (const entity of deepgramRedactValues(request.redactPii)) query.append("redact", entity);
    if (request.language) query.set("language", request.language);
    else query.set("detect_language", "true");
    // the job's keyterms first (`keyterm` on Nova-3, `keywords` on older models), then terms split from a prompt
    for (const [name, value] of deepgramKeytermParams(model, request.keyterms)) query.append(name, value);
    if (request.prompt) {
      // Deepgram takes vocabulary hints as keyterms (nova-3); a free-text prompt has no equivalent
      const room = Math.max(0, MAX_KEYTERMS - request.keyterms.length);
      for (const term of request.prompt
        .split(/[,\n]/)
        .map((t) => t.trim())
        .filter(Boolean)
        .slice(0, Math.min(50, room)))
        query.append("keyterm", term);
    }
    let response: Response;
    try {
      response = await fetch(`${this.#baseUrl}/v1/listen?${query}`, {
        method: "POST",
        headers: { authorization: `Token ${this.#apiKey}`, "content-type": request.contentType },
        // streamed as it comes from R2, with its length (Content-Length, not a chunked upload)
        body: request.audio.pipeThrough(new FixedLengthStream(request.bytes)),
        signal: deadlineSignal(request.signal, this.#timeoutMs),
      });
    } catch (error) {
      throw networkFailure("deepgram", error);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw classifyHttpStatus("deepgram", response.status, response.headers.get("retry-after"));
    }
    let body: DeepgramResponse;
    try {
      body = (await response.json()) as DeepgramResponse;
    } catch (error) {
      throw new ProviderError("provider_bad_response", "deepgram answered with something that is not JSON", {
        retryable: true,
        cause: error,
      });
    }
    return { kind: "completed", transcript: this.#normalise(body, request, model) };
  }

  #normalise(body: DeepgramResponse, request: TranscriptionRequest, model: string): NormalisedTranscript {
    const transcript = this.#normaliseChannel(body, request, model, 0);
    if (request.speakers?.labels) {
      // a diarized answer must say who spoke: never a silently unlabelled transcript
      if (transcript.segments.some((s) => s.speaker === undefined && s.text !== ""))
        throw new ProviderError("diarization_unsupported", "deepgram answered without speakers", { retryable: false });
      return transcript;
    }
    if (!request.speakers?.multichannel) return transcript;
    // multichannel: each channel is its own transcript and its own speaker, merged by time
    const count = body.results?.channels?.length ?? 0;
    const channels = Array.from({ length: count }, (_, index) => this.#normaliseChannel(body, request, model, index));
    const merged = mergeChannels(
      channels.map((c) => ({
        text: c.text,
        segments: c.segments.map(({ speaker: _s, ...rest }) => rest),
        ...(c.words ? { words: c.words.map(({ speaker: _w, ...rest }) => rest) } : {}),
      })),
    );
    return { ...transcript, ...merged };
  }

  #normaliseChannel(
    body: DeepgramResponse,
    request: TranscriptionRequest,
    model: string,
    index: number,
  ): NormalisedTranscript {
    const channel = body.results?.channels?.[index];
    const alternative = channel?.alternatives?.[0];
    if (!alternative)
      throw new ProviderError("provider_bad_response", "deepgram's answer has no transcript", { retryable: true });
    const text = (alternative.transcript ?? "").trim();
    const duration = typeof body.metadata?.duration === "number" ? body.metadata.duration : null;
    // utterances name their channel with multichannel (and may without it); a channel's own are those
    const utterances = (body.results?.utterances ?? []).filter((u) => (u.channel ?? 0) === index);
    // utterances are the natural subtitle cues; without them, paragraph sentences; without those, one segment
    const sentences = (alternative.paragraphs?.paragraphs ?? []).flatMap((p) =>
      (p.sentences ?? []).map((s) => ({
        start: s.start,
        end: s.end,
        text: s.text.trim(),
        ...(typeof p.speaker === "number" ? { speaker: String(p.speaker) } : {}),
      })),
    );
    const segments = utterances.length
      ? utterances.map((u) => ({
          start: u.start,
          end: u.end,
          text: u.transcript.trim(),
          ...(typeof u.confidence === "number" ? { confidence: u.confidence } : {}),
          ...(typeof u.speaker === "number" ? { speaker: String(u.speaker) } : {}),
        }))
      : sentences.length
        ? sentences
        : singleSegment(text, duration);
    const modelName = Object.values(body.metadata?.model_info ?? {})[0]?.name;
    return {
      text,
      segments,
      ...(alternative.words?.length
        ? {
            words: alternative.words.map((w) => ({
              start: w.start,
              end: w.end,
              word: w.punctuated_word ?? w.word,
              ...(typeof w.confidence === "number" ? { confidence: w.confidence } : {}),
              // only a diarized answer's word speakers are kept: other jobs' words are as they were
              ...(request.speakers?.labels && typeof w.speaker === "number" ? { speaker: String(w.speaker) } : {}),
            })),
          }
        : {}),
      language: channel?.detected_language?.slice(0, 2).toLowerCase() ?? request.language,
      ...(request.language === null && channel?.detected_language
        ? languageProbability(channel.language_confidence)
        : {}),
      duration_seconds: duration,
      model: modelName ? `${model} (${modelName})` : model,
    };
  }
}
