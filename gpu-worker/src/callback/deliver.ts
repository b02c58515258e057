/**
 * Delivering a result to the edge: `POST {callback_url}` signed with the first CALLBACK_KEYS key
 * (docs/pool-contract.md §3). Each attempt signs afresh, so a retried callback is never stale.
 */
import {
  cappedExponentialBackoff,
  type PoolCallbackBody,
  type PoolTask,
  signedHeaders,
  type SigningKey,
} from "@vtt/pool-contract";

import type { ResultSegment, ResultWord } from "../batch/stitch.ts";
import type { FailureCode } from "../errors.ts";

/** The completed callback's `result`: what the pool always fills in of the contract's `CallbackResultSchema`. */
export interface CallbackResult {
  text: string;
  segments: ResultSegment[];
  words?: ResultWord[];
  /** a code from the contract's language list, or null */
  language: string | null;
  duration_seconds: number;
  model: string;
  /** the task the pool ran: the edge refuses a translate job's result without it */
  task: PoolTask;
  timings: {
    queue_ms: number;
    fetch_ms: number;
    decode_ms: number;
    inference_ms: number;
    total_ms: number;
    /** speaker-label jobs: the diarization stage's time (src/diarization/) */
    diarization_ms?: number;
  };
}

/** The callback body the pool builds; the edge validates it with the contract's `PoolCallbackSchema`. */
export type CallbackBody =
  | { job_id: string; status: "completed"; result: CallbackResult }
  | { job_id: string; status: "failed"; error: { code: FailureCode; message: string; retryable: false } };
/** Fails to compile when a body the pool builds is not a `PoolCallbackBody`. */
type ConformsToContract<T extends PoolCallbackBody> = T;
export type ContractCallbackBody = ConformsToContract<CallbackBody>;

/** What one delivery attempt achieved. */
export type DeliveryOutcome =
  | { kind: "acknowledged"; status: number }
  /** Worth another attempt: network error, timeout, 408, 429, 5xx. */
  | { kind: "retry"; status: number | null; message: string }
  /** The edge refused it for good (another 4xx): retrying cannot help. */
  | { kind: "rejected"; status: number; message: string };

/** Options for {@link deliverCallback}. */
export interface DeliverOptions {
  keys: SigningKey[];
  timeoutMs: number;
  traceparent?: string | null;
  fetchImpl?: typeof fetch;
}

/** Makes one signed delivery attempt and classifies the answer. */
export async function deliverCallback(
  url: string,
  body: CallbackBody,
  options: DeliverOptions,
): Promise<DeliveryOutcome> {
  const raw = JSON.stringify(body);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    ...(await signedHeaders(options.keys, raw)),
  };
  if (options.traceparent) headers.traceparent = options.traceparent;
  let response: Response;
  try {
    response = await (options.fetchImpl ?? fetch)(url, {
      method: "POST",
      headers,
      body: raw,
      signal: AbortSignal.timeout(options.timeoutMs),
      redirect: "error",
    });
  } catch (error) {
    return { kind: "retry", status: null, message: (error as Error).message };
  }
  const text = (await response.text().catch(() => "")).slice(0, 500);
  if (response.ok) return { kind: "acknowledged", status: response.status };
  if (response.status === 408 || response.status === 429 || response.status >= 500) {
    return { kind: "retry", status: response.status, message: text };
  }
  return { kind: "rejected", status: response.status, message: text };
}

/** Doublings beyond this add nothing: the delay has long reached any sensible cap by then. */
const MAX_CALLBACK_BACKOFF_DOUBLINGS = 30;

/** Capped exponential backoff for callback retries: base, 2×base, 4×base, … up to cap. */
export function callbackBackoffMs(attemptsMade: number, baseMs: number, capMs: number): number {
  const doublings = attemptsMade - 1;
  return cappedExponentialBackoff(doublings, {
    base: baseMs,
    cap: capMs,
    maxDoublings: MAX_CALLBACK_BACKOFF_DOUBLINGS,
  });
}
