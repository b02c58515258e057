/**
 * The fetch stage of an `audio_url` job, run by the transcription consumer before the provider call: the URL is
 * fetched with redirects followed by hand (each target re-checked by the SSRF guard, at most
 * MAX_AUDIO_URL_REDIRECTS), the body streamed into R2 through the same sealed, sniffing path as uploads, and the row
 * updated once. Failures are {@link AudioFetchError}s with stable codes; the retryable ones (5xx, 408/429, timeouts,
 * network errors) are retried by the queue like provider errors.
 *
 * Never logged or put in an error message: the URL beyond its host, and the headers.
 */
import { type AudioUrlCheck, checkAudioUrl, parseAllowedHosts } from "@vtt/pool-contract";

import {
  audioFetchLimits,
  isDevelopment,
  MAX_AUDIO_URL_REDIRECTS,
  settings,
  storeYieldBytes,
  UPLOAD_PART_BYTES,
} from "../config.ts";
import type { Env } from "../env.ts";
import { log } from "../lib/log.ts";
import { parseRetryAfter } from "../lib/retry-after.ts";
import { openAudioUrlSource } from "../storage/audio-source.ts";
import { audioKey, storeAudioStream } from "../storage/audio-store.ts";
import type { Db } from "../storage/db.ts";
import { StorageError } from "../storage/errors.ts";
import { getJobById, recordFetchedAudio } from "../storage/jobs.repo.ts";
import type { TranscriptionRow } from "../storage/schema.ts";
import { objectSealer } from "../storage/sealed-objects.ts";

export type AudioFetchCode =
  | "audio_url_forbidden"
  | "audio_url_unreachable"
  | "audio_url_http_error"
  | "audio_url_too_large"
  | "audio_url_not_audio"
  | "audio_url_timeout";

export class AudioFetchError extends Error {
  constructor(
    readonly code: AudioFetchCode,
    message: string,
    readonly retryable: boolean,
    /** the audio host's HTTP status, for `audio_url_http_error` */
    readonly status: number | null = null,
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(message);
    this.name = "AudioFetchError";
  }
}

/** `audio_url` and redirect targets against the SSRF guard, with `AUDIO_FETCH_ALLOWED_HOSTS` and development's loopback. */
export function checkJobAudioUrl(env: Env, url: string): AudioUrlCheck {
  const development = isDevelopment(env);
  const allowedHosts = parseAllowedHosts(
    settings(env).AUDIO_FETCH_ALLOWED_HOSTS,
    development,
    "AUDIO_FETCH_ALLOWED_HOSTS",
  );
  return checkAudioUrl(url, { development, allowedHosts });
}

/** Whether the job's audio still has to be fetched before a provider can be called. */
export function needsAudioFetch(job: Pick<TranscriptionRow, "audioUrlSealed" | "audioFetchedAt">): boolean {
  return job.audioUrlSealed !== null && job.audioFetchedAt === null;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * Fetches the job's audio into R2 and returns the updated row, or null when the job was deleted, finished or fetched
 * by another delivery meanwhile (the object this call wrote is removed unless the row now points at it).
 * @throws AudioFetchError
 */
export async function fetchJobAudio(env: Env, db: Db, job: TranscriptionRow): Promise<TranscriptionRow | null> {
  const source = await openAudioUrlSource(env, job);
  if (!source) throw new Error("fetchJobAudio: the job has no audio_url");
  const limits = audioFetchLimits(env);
  const started = Date.now();
  const deadline = new Deadline(limits.timeoutMs, limits.idleTimeoutMs);
  try {
    const response = await fetchFollowingRedirects(env, source.url, source.headers, limits, deadline);
    const key = audioKey(job.tenantId, job.id);
    const sealer = await objectSealer(env, job.tenantId, key);
    const body = deadline.guard(response.body!);
    const stored = await storeAudioStream(env.BUCKET, key, body, {
      maxBytes: limits.maxBytes,
      partBytes: UPLOAD_PART_BYTES,
      sealer,
      yieldEveryBytes: storeYieldBytes(env),
    }).catch((error: unknown) => {
      throw asFetchError(error, limits.maxBytes, deadline);
    });
    const fetched = await recordFetchedAudio(
      db,
      job.id,
      { audioKey: key, bytes: stored.bytes, format: stored.audio.format },
      Date.now(),
    );
    log("audio_url_fetched", {
      job_id: job.id,
      host: new URL(source.url).hostname,
      bytes: stored.bytes,
      format: stored.audio.format,
      duration_ms: Date.now() - started,
    });
    if (fetched) return fetched;
    const current = await getJobById(db, job.id);
    if (current?.audioKey !== key) await env.BUCKET.delete(key).catch(() => undefined);
    return null;
  } finally {
    deadline.clear();
  }
}

/**
 * The two clocks of one fetch: the overall deadline (`AUDIO_FETCH_TIMEOUT_MS`), and an idle timeout
 * (`AUDIO_FETCH_IDLE_TIMEOUT_MS`) that runs only while a body read is waiting on the origin, so a slow origin that
 * keeps delivering is never cut by it and a stalled one is, whatever the body's size. Either aborts the requests and
 * errors the body stream with `audio_url_timeout`, even while a read is pending.
 */
class Deadline {
  readonly #controller = new AbortController();
  readonly #timer: ReturnType<typeof setTimeout>;
  #idleTimer: ReturnType<typeof setTimeout> | null = null;
  /** whether a body read is waiting on the origin (not while our own side is busy: R2, sealing) */
  #reading = false;
  /** body reads answered so far: the idle check compares counts, never clock readings */
  #answered = 0;
  expired = false;
  message = "";

  constructor(
    readonly ms: number,
    readonly idleMs: number,
  ) {
    this.#timer = setTimeout(() => this.#expire(`The audio URL did not deliver the audio within ${ms} ms.`), ms);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  #expire(message: string): void {
    if (this.expired) return;
    this.expired = true;
    this.message = message;
    this.#controller.abort(timeoutError(message));
  }

  /**
   * One timer per idle window at most (not one per chunk). It cuts only when a read is waiting and no read was
   * answered during the whole window. Counts, not `Date.now()`: a Worker's clock stands still while its code runs,
   * so a timestamp taken during a long run of reads would make a steady origin look idle.
   */
  #armIdle(): void {
    if (this.#idleTimer !== null || this.expired) return;
    const answeredAtArm = this.#answered;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = null;
      if (!this.#reading) return; // the next read arms it again
      if (this.#answered === answeredAtArm) this.#expire(`The audio URL sent no bytes for ${this.idleMs} ms.`);
      else this.#armIdle();
    }, this.idleMs);
  }

  /**
   * `body` that errors with `audio_url_timeout` when either clock runs out, even while a read is pending. No
   * promise outlives its read (a `Promise.race` against one long-lived abort promise would keep a reaction per chunk
   * alive for the whole fetch).
   */
  guard(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    const reader = body.getReader();
    const signal = this.signal;
    let stream: ReadableStreamDefaultController<Uint8Array> | null = null;
    const onAbort = () => {
      try {
        stream?.error(signal.reason);
      } catch {
        // already closed or errored
      }
      reader.cancel(signal.reason).catch(() => undefined);
    };
    // the default high-water mark of 1: one read ahead of the consumer, so the origin is read while R2 is written
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        stream = controller;
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      },
      pull: async (controller) => {
        this.#reading = true;
        this.#armIdle();
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch (error) {
          if (!signal.aborted) controller.error(error);
          return;
        } finally {
          this.#reading = false;
          this.#answered += 1;
        }
        if (signal.aborted) return;
        if (next.done) {
          signal.removeEventListener("abort", onAbort);
          controller.close();
        } else {
          controller.enqueue(next.value);
        }
      },
      cancel: (reason) => {
        signal.removeEventListener("abort", onAbort);
        return reader.cancel(reason);
      },
    });
  }

  clear(): void {
    clearTimeout(this.#timer);
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }
}

async function fetchFollowingRedirects(
  env: Env,
  submitted: string,
  headers: Record<string, string>,
  limits: { maxBytes: number; connectTimeoutMs: number },
  deadline: Deadline,
): Promise<Response> {
  const origin = new URL(submitted).origin;
  let url = submitted;
  for (let redirects = 0; ; redirects++) {
    const check = checkJobAudioUrl(env, url);
    if (!check.ok) {
      const which = redirects === 0 ? "The audio URL" : `Redirect ${redirects} of the audio URL`;
      throw new AudioFetchError("audio_url_forbidden", `${which} is refused: ${check.reason}.`, false);
    }
    // the caller's headers (a bearer) belong to the origin they named, never to where it redirects
    const sent = check.url.origin === origin ? headers : {};
    const response = await fetchOnce(check.url.href, sent, limits.connectTimeoutMs, deadline);
    if (REDIRECT_STATUSES.has(response.status)) {
      await response.body?.cancel().catch(() => undefined);
      const location = response.headers.get("location");
      if (redirects >= MAX_AUDIO_URL_REDIRECTS) {
        throw new AudioFetchError(
          "audio_url_unreachable",
          `The audio URL redirected more than ${MAX_AUDIO_URL_REDIRECTS} times.`,
          false,
        );
      }
      const next = location === null ? null : resolveLocation(location, check.url);
      if (next === null) {
        throw new AudioFetchError(
          "audio_url_http_error",
          `The audio URL answered HTTP ${response.status} without a usable Location.`,
          false,
          response.status,
        );
      }
      url = next;
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      const status = response.status;
      const retryable = status >= 500 || status === 408 || status === 429;
      const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
      throw new AudioFetchError(
        "audio_url_http_error",
        `The audio URL answered HTTP ${status}.`,
        retryable,
        status,
        retryAfter,
      );
    }
    const declared = Number(response.headers.get("content-length") ?? Number.NaN);
    if (declared > limits.maxBytes) {
      await response.body?.cancel().catch(() => undefined);
      throw tooLarge(limits.maxBytes);
    }
    if (!response.body) throw notAudio("The audio URL answered with an empty body.");
    return response;
  }
}

function resolveLocation(location: string, base: URL): string | null {
  try {
    return new URL(location, base).href;
  } catch {
    return null;
  }
}

/** One request: the connect timeout runs until the status and headers arrive, the deadline throughout. */
async function fetchOnce(
  url: string,
  headers: Record<string, string>,
  connectTimeoutMs: number,
  deadline: Deadline,
): Promise<Response> {
  const connect = new AbortController();
  let connectExpired = false;
  const timer = setTimeout(() => {
    connectExpired = true;
    connect.abort();
  }, connectTimeoutMs);
  const onDeadline = () => connect.abort();
  deadline.signal.addEventListener("abort", onDeadline, { once: true });
  try {
    return await fetch(url, { method: "GET", headers, redirect: "manual", signal: connect.signal });
  } catch {
    if (connectExpired) throw timeoutError(`The audio URL did not answer within ${connectTimeoutMs} ms.`);
    if (deadline.expired) throw timeoutError(deadline.message);
    // the error's text may name the URL; the caller gets the code
    throw new AudioFetchError("audio_url_unreachable", "The audio URL could not be reached.", true);
  } finally {
    clearTimeout(timer);
    deadline.signal.removeEventListener("abort", onDeadline);
  }
}

/** storeAudioStream's refusals and the body's failures as fetch errors. */
function asFetchError(error: unknown, maxBytes: number, deadline: Deadline): unknown {
  if (error instanceof AudioFetchError) return error;
  if (error instanceof StorageError) {
    if (error.code === "payload_too_large") return tooLarge(maxBytes);
    if (error.code === "unsupported_audio") return notAudio(error.message.replace("The body", "The audio URL's body"));
    if (error.code === "empty_body") return notAudio("The audio URL answered with an empty body.");
    return error;
  }
  if (deadline.expired) return timeoutError(deadline.message);
  return new AudioFetchError("audio_url_unreachable", "The audio URL's body broke off.", true);
}

function timeoutError(message: string): AudioFetchError {
  return new AudioFetchError("audio_url_timeout", message, true);
}

function tooLarge(maxBytes: number): AudioFetchError {
  return new AudioFetchError("audio_url_too_large", `The audio at the URL is larger than ${maxBytes} bytes.`, false);
}

function notAudio(message: string): AudioFetchError {
  return new AudioFetchError("audio_url_not_audio", message, false);
}
