/**
 * A `fetch` that honours `Retry-After`: a 429 or 503 that says when to come back is retried after that long, a
 * bounded number of times. Only requests that can be sent again are retried (no body, or a small JSON body);
 * uploads are retried by `transcribe`, which can reopen their audio.
 */
import { parseRetryAfter } from "./errors.ts";

/** Statuses that mean "not now" rather than "no". */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 503]);
export const DEFAULT_MAX_RETRIES = 3;
/** A server asking for a longer wait than this gets its error back instead of a client that hangs. */
export const DEFAULT_MAX_RETRY_AFTER_SECONDS = 60;

export interface RetryInfo {
  url: string;
  status: number;
  /** 1 for the first retry */
  attempt: number;
  delaySeconds: number;
}

export interface RetryOptions {
  maxRetries?: number;
  maxRetryAfterSeconds?: number;
  /** called before each wait, e.g. to tell a person why nothing happens */
  onRetry?: (info: RetryInfo) => void;
}

/** How long to wait before retrying `response`, or null when it is final. */
export function retryDelaySeconds(
  response: Response,
  attempt: number,
  options: RetryOptions = {},
  nowMs = Date.now(),
): number | null {
  if (!RETRYABLE_STATUSES.has(response.status)) return null;
  if (attempt > (options.maxRetries ?? DEFAULT_MAX_RETRIES)) return null;
  const seconds = parseRetryAfter(response.headers.get("retry-after"), nowMs);
  if (seconds === null || seconds > (options.maxRetryAfterSeconds ?? DEFAULT_MAX_RETRY_AFTER_SECONDS)) return null;
  return seconds;
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal?: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function canResend(request: Request): boolean {
  if (request.body === null) return true;
  return (request.headers.get("content-type") ?? "").toLowerCase().startsWith("application/json");
}

/** Wraps `baseFetch` (as openapi-fetch calls it: one Request) with the Retry-After policy above. */
export function retryingFetch(baseFetch: typeof fetch, options: RetryOptions = {}) {
  return async (input: Request): Promise<Response> => {
    if (!canResend(input)) return baseFetch(input);
    for (let attempt = 1; ; attempt++) {
      const response = await baseFetch(input.clone());
      const delay = retryDelaySeconds(response, attempt, options);
      if (delay === null) return response;
      await response.body?.cancel();
      options.onRetry?.({ url: input.url, status: response.status, attempt, delaySeconds: delay });
      await sleep(delay * 1000, input.signal);
    }
  };
}
