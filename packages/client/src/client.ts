/**
 * The typed client: every call goes through openapi-fetch with the types generated from the API's OpenAPI document
 * (`schema.d.ts`), plus the helpers a caller actually wants — `transcribe` (upload or URL, optionally waiting) and
 * `waitFor` (long-polling with `Prefer: wait`). Only fetch, streams and Web Crypto: Node, browsers and Workers alike.
 */
import createClient, { type Client } from "openapi-fetch";

import { parseRetryAfter, VttError, WaitTimeoutError } from "./errors.ts";
import { retryDelaySeconds, retryingFetch, type RetryOptions, sleep } from "./retry.ts";
import type { components, paths } from "./schema.d.ts";
import {
  type AudioInput,
  countingStream,
  isAudioUrl,
  supportsRequestStreams,
  toReplayableAudio,
  type UploadProgress,
} from "./upload.ts";

export type Transcription = components["schemas"]["Transcription"];
export type TranscriptionList = components["schemas"]["TranscriptionList"];
export type JobStatus = Transcription["status"];
export type TranscriptFormat = "txt" | "srt" | "vtt" | "json";
export type ListQuery = NonNullable<paths["/v1/transcriptions"]["get"]["parameters"]["query"]>;

/** `completed` and `failed` never change again. */
export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(["completed", "failed"]);
/** The longest `Prefer: wait=N` the API honours (seconds). */
export const MAX_PREFER_WAIT_SECONDS = 60;
/** Between polls of a server that ignores `Prefer: wait`: from the first delay, doubling up to the last. */
export const POLL_DELAY_MS = { first: 500, max: 5_000 } as const;

export interface VttClientOptions extends RetryOptions {
  /** e.g. `https://vtt.example.com` (no `/v1`) */
  baseUrl: string;
  apiKey: string;
  /** defaults to the global fetch */
  fetch?: typeof fetch;
  /** sent with every request (a User-Agent in Node, for example) */
  headers?: Record<string, string>;
}

type UploadQuery = NonNullable<paths["/v1/transcriptions"]["post"]["parameters"]["query"]>;

/** Options of the upload, as the API names them; `metadata` may be an object. */
export type TranscriptionFields = Omit<UploadQuery, "metadata" | "delete_after_seconds"> & {
  metadata?: Record<string, string>;
  delete_after_seconds?: number;
};

export interface TranscribeOptions extends TranscriptionFields {
  /** resolve only once the job has finished (default false: resolve with the queued job) */
  wait?: boolean;
  /** upload progress, called as bytes are sent (streamed uploads; otherwise once, at the end) */
  onProgress?: (progress: UploadProgress) => void;
  /** while waiting: each state of the job seen */
  onUpdate?: (job: Transcription) => void;
  /** the byte length of a stream input, for Content-Length and progress */
  size?: number;
  /** defaults to the Blob's type when it is `audio/*`, else `application/octet-stream` */
  contentType?: string;
  /** request headers for the service's fetch of an `audio_url` (a bearer for a private bucket) */
  audioUrlHeaders?: Record<string, string>;
  /** makes the submission safe to repeat (the API answers a repeat with the original job); one is made by default */
  idempotencyKey?: string;
  /** while waiting: give up after this long (WaitTimeoutError) */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface WaitForOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  onUpdate?: (job: Transcription) => void;
}

/** A job and what its answer said about polling. */
interface PolledJob {
  job: Transcription;
  /** the server held the request (`Preference-Applied: wait=N`) */
  held: boolean;
  retryAfterSeconds: number | null;
}

/** The API client. `api` is the raw openapi-fetch client for routes without a helper. */
export class VttClient {
  readonly api: Client<paths>;
  readonly #options: VttClientOptions;
  readonly #fetch: typeof fetch;

  constructor(options: VttClientOptions) {
    this.#options = options;
    // late-bound, so a test or a polyfill that replaces globalThis.fetch afterwards is still used
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.api = createClient<paths>({
      baseUrl: options.baseUrl.replace(/\/+$/, ""),
      headers: { ...options.headers, authorization: `Bearer ${options.apiKey}` },
      fetch: retryingFetch(this.#fetch, options),
    });
  }

  /** One job; throws VttError (`not_found`, …). */
  async get(id: string, options: { signal?: AbortSignal } = {}): Promise<Transcription> {
    return (await this.#poll(id, null, options.signal)).job;
  }

  /** One page of jobs, newest first; pass `next_cursor` back as `cursor`. */
  async list(query: ListQuery = {}, options: { signal?: AbortSignal } = {}): Promise<TranscriptionList> {
    const { data, error, response } = await this.api.GET("/v1/transcriptions", {
      params: { query },
      signal: options.signal,
    });
    if (!data) throw VttError.fromBody(response, error);
    return data;
  }

  /** Every job matching `query`, page after page. */
  async *listAll(query: Omit<ListQuery, "cursor"> = {}): AsyncGenerator<Transcription> {
    let cursor: string | undefined;
    do {
      const page = await this.list({ ...query, cursor });
      yield* page.data;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  /** Deletes the job, its transcript and its audio. */
  async delete(id: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const { response, error } = await this.api.DELETE("/v1/transcriptions/{id}", {
      params: { path: { id } },
      signal: options.signal,
    });
    if (!response.ok) throw VttError.fromBody(response, error);
  }

  /** The finished transcript as text (`json` as its JSON text); throws `transcript_not_ready` before completion. */
  async transcript(
    id: string,
    format: TranscriptFormat = "txt",
    options: { signal?: AbortSignal } = {},
  ): Promise<string> {
    const { data, error, response } = await this.api.GET("/v1/transcriptions/{id}/transcript", {
      params: { path: { id }, query: { format } },
      parseAs: "text",
      signal: options.signal,
    });
    if (data === undefined) throw VttError.fromBody(response, error);
    return data;
  }

  /**
   * Submits audio: bytes, a Blob/File or a stream are uploaded; an http(s) URL is sent as `audio_url` for the
   * service to fetch. Resolves with the job — queued, or with `wait: true` finished (completed or failed; check
   * `status`). A 429/503 with Retry-After is retried (the audio is re-read when it can be).
   */
  async transcribe(input: AudioInput, options: TranscribeOptions = {}): Promise<Transcription> {
    const idempotencyKey = options.idempotencyKey ?? crypto.randomUUID();
    const job = isAudioUrl(input)
      ? await this.#submitUrl(String(input), options, idempotencyKey)
      : await this.#upload(toReplayableAudio(input), options, idempotencyKey);
    if (!options.wait) return job;
    options.onUpdate?.(job);
    if (TERMINAL_STATUSES.has(job.status)) return job;
    return this.waitFor(job.id, options);
  }

  /**
   * Resolves once the job is completed or failed. Asks the server to hold each request until the job changes
   * (`Prefer: wait=60`); a server that answers at once is polled with growing pauses (or as its Retry-After says).
   */
  async waitFor(id: string, options: WaitForOptions = {}): Promise<Transcription> {
    const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
    let pauseMs: number = POLL_DELAY_MS.first;
    for (;;) {
      const leftSeconds = Math.ceil((deadline - Date.now()) / 1000);
      const waitSeconds = Math.max(1, Math.min(MAX_PREFER_WAIT_SECONDS, leftSeconds));
      const { job, held, retryAfterSeconds } = await this.#poll(id, waitSeconds, options.signal);
      options.onUpdate?.(job);
      if (TERMINAL_STATUSES.has(job.status)) return job;
      if (Date.now() >= deadline) throw new WaitTimeoutError(id);
      if (held) {
        pauseMs = POLL_DELAY_MS.first;
        continue;
      }
      const pause = retryAfterSeconds !== null ? retryAfterSeconds * 1000 : pauseMs;
      await sleep(Math.min(pause, Math.max(0, deadline - Date.now())), options.signal);
      pauseMs = Math.min(pauseMs * 2, POLL_DELAY_MS.max);
    }
  }

  async #poll(id: string, waitSeconds: number | null, signal?: AbortSignal): Promise<PolledJob> {
    const { data, error, response } = await this.api.GET("/v1/transcriptions/{id}", {
      params: { path: { id } },
      headers: waitSeconds === null ? {} : { prefer: `wait=${waitSeconds}` },
      signal,
    });
    if (!data) throw VttError.fromBody(response, error);
    return {
      job: data,
      held: /\bwait=\d+/i.test(response.headers.get("preference-applied") ?? ""),
      retryAfterSeconds: parseRetryAfter(response.headers.get("retry-after")),
    };
  }

  async #submitUrl(url: string, options: TranscribeOptions, idempotencyKey: string): Promise<Transcription> {
    const body = {
      audio_url: url,
      ...(options.audioUrlHeaders ? { audio_url_headers: options.audioUrlHeaders } : {}),
      ...fieldsOf(options),
    };
    // the route's JSON body is newer than some deployments' documents; the shape is the API's UrlTranscriptionRequest
    const { data, error, response } = await this.api.POST("/v1/transcriptions", {
      body: body as never,
      headers: { "content-type": "application/json", "idempotency-key": idempotencyKey },
      signal: options.signal,
    });
    if (!data) throw VttError.fromBody(response, error);
    return data;
  }

  async #upload(
    audio: Blob | ReadableStream<Uint8Array>,
    options: TranscribeOptions,
    idempotencyKey: string,
  ): Promise<Transcription> {
    const totalBytes = audio instanceof Blob ? audio.size : (options.size ?? null);
    const contentType =
      options.contentType ??
      (audio instanceof Blob && audio.type.startsWith("audio/") ? audio.type : "application/octet-stream");
    const query = Object.fromEntries(
      Object.entries(fieldsOf(options)).map(([name, value]) => [
        name,
        typeof value === "object" ? JSON.stringify(value) : String(value),
      ]),
    );
    for (let attempt = 1; ; attempt++) {
      const streamed = !(audio instanceof Blob) || (options.onProgress !== undefined && supportsRequestStreams());
      const source = audio instanceof Blob ? audio.stream() : audio;
      const body = streamed && options.onProgress ? countingStream(source, totalBytes, options.onProgress) : source;
      const { data, error, response } = await this.api.POST("/v1/transcriptions", {
        params: { query: query as never },
        body: (streamed ? body : audio) as never,
        bodySerializer: (value: unknown) => value as BodyInit,
        headers: {
          "content-type": contentType,
          "idempotency-key": idempotencyKey,
          ...(totalBytes !== null ? { "content-length": String(totalBytes) } : {}),
        },
        // Node's fetch sends a stream body only when told it is half-duplex
        ...(streamed ? { duplex: "half" } : {}),
        signal: options.signal,
      });
      if (data) {
        if (!streamed && totalBytes !== null) options.onProgress?.({ sentBytes: totalBytes, totalBytes });
        return data;
      }
      // a Blob can be read again; a stream is spent, so its 429 is the caller's to handle
      const delay = audio instanceof Blob ? retryDelaySeconds(response, attempt, this.#options) : null;
      if (delay === null) throw VttError.fromBody(response, error);
      this.#options.onRetry?.({ url: response.url, status: response.status, attempt, delaySeconds: delay });
      await sleep(delay * 1000, options.signal);
    }
  }
}

/** The client's own options; every other key is an API field and is sent as named (so new fields need no release). */
const CLIENT_OPTIONS: ReadonlySet<string> = new Set<Exclude<keyof TranscribeOptions, keyof TranscriptionFields>>([
  "wait",
  "onProgress",
  "onUpdate",
  "size",
  "contentType",
  "audioUrlHeaders",
  "idempotencyKey",
  "timeoutMs",
  "signal",
]);

function fieldsOf(options: TranscribeOptions): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(options).filter(([name, value]) => value !== undefined && !CLIENT_OPTIONS.has(name)),
  );
}

/** A client for `baseUrl` with `apiKey`. */
export function createVttClient(options: VttClientOptions): VttClient {
  return new VttClient(options);
}
