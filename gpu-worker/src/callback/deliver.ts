/**
 * Delivering a result to the edge: `POST {callback_url}` signed with the first CALLBACK_KEYS key
 * (docs/pool-contract.md §3). Each attempt signs afresh, so a retried callback is never stale.
 */
import { signedHeaders, type SigningKey } from "../../../src/domain/signing.ts";
import type { ResultSegment, ResultWord } from "../batch/stitch.ts";
import type { FailureCode } from "../errors.ts";

/** The completed callback's `result`. */
export interface CallbackResult {
  text: string;
  segments: ResultSegment[];
  words?: ResultWord[];
  language: string | null;
  duration_seconds: number;
  model: string;
  timings: { queue_ms: number; fetch_ms: number; decode_ms: number; inference_ms: number; total_ms: number };
}

/** The callback body, exactly as the edge's `PoolCallback` schema expects it. */
export type CallbackBody =
  | { job_id: string; status: "completed"; result: CallbackResult }
  | { job_id: string; status: "failed"; error: { code: FailureCode; message: string; retryable: false } };

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
export async function deliverCallback(url: string, body: CallbackBody, options: DeliverOptions): Promise<DeliveryOutcome> {
  const raw = JSON.stringify(body);
  const headers: Record<string, string> = { "content-type": "application/json", ...(await signedHeaders(options.keys, raw)) };
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

/** Capped exponential backoff for callback retries: base, 2×base, 4×base, … up to cap. */
export function callbackBackoffMs(attemptsMade: number, baseMs: number, capMs: number): number {
  const exponent = Math.min(Math.max(attemptsMade - 1, 0), 30);
  return Math.min(capMs, baseMs * 2 ** exponent);
}
