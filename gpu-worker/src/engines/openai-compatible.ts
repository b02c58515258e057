/**
 * The `openai-compatible` engine: forwards windows to a co-located engine server (vLLM, speaches, …) through the
 * `openai` SDK's `audio.transcriptions.create` (or `audio.translations.create` for a translate task) with
 * `response_format: verbose_json`. A batch's windows go out as concurrent requests (concurrency = batch size), so the
 * server's own continuous batching does the packing.
 *
 * Each request's WAV is written into a buffer of this engine's own, reused for a later window once the request has
 * settled (at most `capacity` buffers in all), and goes out as a streamed multipart body (`toStreamingFile`), which
 * the SDK sends as views of that buffer: no `File`, no multipart copy, no new buffer per window. What a window used
 * to allocate (the WAV, its `File` copy and the multipart body's copy) was most of a long job's garbage after the
 * decoder's pipe reads (docs/pool.md, "What a long job allocates").
 */
import { encodeWav16Into, languageCode, wav16Bytes } from "@vtt/pool-contract";
import OpenAI, { toStreamingFile } from "openai";

import { MAX_WINDOW_SECONDS, SAMPLE_RATE } from "../audio/windows.ts";
import type { Logger } from "../log.ts";
import {
  type EngineDescription,
  type EngineWindow,
  type EngineWindowResult,
  type TranscriptionEngine,
  WindowAbortedError,
} from "./engine.ts";

/** The part of a `verbose_json` transcription or translation the engine reads. */
interface VerboseAnswer {
  text: string;
  language?: string;
  segments?: { start: number; end: number; text: string; avg_logprob?: number; no_speech_prob?: number }[];
  words?: { word: string; start: number; end: number }[];
}

/** How often start() probes a server that is not up yet. */
const START_PROBE_INTERVAL_MS = 2_000;

/** Options for {@link OpenAICompatibleEngine}. */
export interface OpenAICompatibleEngineOptions {
  /** e.g. `http://127.0.0.1:8000/v1` */
  baseURL: string;
  apiKey: string;
  /** The server's model id, e.g. `openai/whisper-large-v3-turbo`; also reported as `result.model`. */
  model: string;
  /** Concurrent requests (the batch size). */
  capacity: number;
  requestTimeoutMs: number;
  /** How long start() waits for the server to answer `GET /models`. */
  startTimeoutMs: number;
  /** Ask for word timestamps on every window (slower on most servers); a job can also ask for them itself. */
  wordTimestamps: boolean;
  logger: Logger;
  /** Replaces the global fetch (tests intercept outbound calls with it). */
  fetch?: typeof fetch;
}

/** A Whisper server that speaks OpenAI's transcription API. */
export class OpenAICompatibleEngine implements TranscriptionEngine {
  readonly description: EngineDescription;
  readonly capacity: number;
  readonly #client: OpenAI;
  readonly #options: OpenAICompatibleEngineOptions;
  /** WAV buffers of settled requests, for the next ones. */
  readonly #free: Uint8Array<ArrayBuffer>[] = [];
  #allocatedWavBuffers = 0;
  #ready = false;

  constructor(options: OpenAICompatibleEngineOptions) {
    this.#options = options;
    this.capacity = options.capacity;
    this.description = {
      engine: "openai-compatible",
      backend: options.baseURL,
      model: options.model,
      synthetic: false,
      // the server decides; one without a translations route fails those windows (engine_error)
      translates: true,
      wordTimestamps: true,
    };
    this.#client = new OpenAI({
      baseURL: options.baseURL,
      apiKey: options.apiKey,
      timeout: options.requestTimeoutMs,
      // the pool's own attempts (BullMQ) retry a failed job; a window is not retried twice over
      maxRetries: 0,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  }

  get ready(): boolean {
    return this.#ready;
  }

  /** WAV buffers allocated so far (tests, metrics): at most the requests in flight at once. */
  get allocatedWavBuffers(): number {
    return this.#allocatedWavBuffers;
  }

  /** Waits until the server lists its models (servers load weights before answering). */
  async start(): Promise<void> {
    const deadline = Date.now() + this.#options.startTimeoutMs;
    for (;;) {
      try {
        await this.#client.models.list();
        this.#ready = true;
        return;
      } catch (error) {
        if (Date.now() >= deadline) {
          const message = `the engine server at ${this.#options.baseURL} did not answer: ${(error as Error).message}`;
          throw new Error(message, { cause: error });
        }
        this.#options.logger.warn("engine_server_waiting", { base_url: this.#options.baseURL, error });
        await new Promise((resolve) => setTimeout(resolve, START_PROBE_INTERVAL_MS));
      }
    }
  }

  transcribeBatch(windows: EngineWindow[]): Promise<PromiseSettledResult<EngineWindowResult>[]> {
    return Promise.allSettled(windows.map((window) => this.#transcribe(window)));
  }

  async close(): Promise<void> {
    this.#ready = false;
  }

  async #transcribe(window: EngineWindow): Promise<EngineWindowResult> {
    if (window.signal?.aborted) throw new WindowAbortedError(window.signal.reason);
    // the server pads on its own side: only the real samples travel
    const samples = window.samples.subarray(0, Math.round((window.durationMs / 1000) * SAMPLE_RATE));
    const buffer = this.#wavBuffer(samples.length);
    const wav = encodeWav16Into(samples, buffer);
    const shared = {
      // a view of `buffer`, read by the SDK as it sends the body; `buffer` is reused only once the request settled
      file: toStreamingFile(once(wav), "window.wav", { type: "audio/wav" }),
      model: this.#options.model,
      response_format: "verbose_json" as const,
      temperature: window.temperature ?? 0,
      ...(window.prompt ? { prompt: window.prompt } : {}),
    };
    // the SDK adds an abort listener to the signal it is given and never removes it; given the job's signal, every
    // window of a long job would stay reachable (its request, its WAV) until the job ends: memory growing with the
    // audio's length. So each request gets its own signal, linked to the job's for as long as the request runs.
    const request = new AbortController();
    const forward = (): void => request.abort(window.signal?.reason);
    window.signal?.addEventListener("abort", forward, { once: true });
    try {
      // translations take no language and no granularities (OpenAI's API reference); their answer is English
      const response: VerboseAnswer =
        window.task === "translate"
          ? await this.#client.audio.translations.create(shared, { signal: request.signal })
          : await this.#client.audio.transcriptions.create(
              {
                ...shared,
                timestamp_granularities:
                  this.#options.wordTimestamps || window.wordTimestamps ? ["segment", "word"] : ["segment"],
                ...(window.language ? { language: window.language } : {}),
              },
              { signal: request.signal },
            );
      return {
        segments: (response.segments ?? [{ start: 0, end: window.durationMs / 1000, text: response.text }]).map(
          (s) => ({
            startMs: s.start * 1000,
            endMs: s.end * 1000,
            text: s.text,
            // verbose_json reports Whisper's own per-segment signals
            ...("avg_logprob" in s && typeof s.avg_logprob === "number" ? { avgLogprob: s.avg_logprob } : {}),
            ...("no_speech_prob" in s && typeof s.no_speech_prob === "number"
              ? { noSpeechProb: s.no_speech_prob }
              : {}),
          }),
        ),
        ...(response.words
          ? { words: response.words.map((w) => ({ startMs: w.start * 1000, endMs: w.end * 1000, word: w.word })) }
          : {}),
        language: window.task === "translate" ? "en" : (languageCode(response.language) ?? window.language),
      };
    } catch (error) {
      if (window.signal?.aborted) throw new WindowAbortedError(window.signal.reason);
      throw error;
    } finally {
      window.signal?.removeEventListener("abort", forward);
      this.#free.push(buffer);
    }
  }

  /** A free WAV buffer for `sampleCount` samples: one of a settled request, or a new one of a whole window's size. */
  #wavBuffer(sampleCount: number): Uint8Array<ArrayBuffer> {
    const bytes = wav16Bytes(sampleCount);
    const at = this.#free.findIndex((buffer) => buffer.length >= bytes);
    if (at >= 0) return this.#free.splice(at, 1)[0]!;
    this.#allocatedWavBuffers++;
    return new Uint8Array(Math.max(bytes, wav16Bytes(MAX_WINDOW_SECONDS * SAMPLE_RATE)));
  }
}

/** One chunk as an async iterable (a streamed file's data). */
async function* once(chunk: Uint8Array): AsyncGenerator<Uint8Array> {
  yield chunk;
}
