/** Failures of the API as values: RFC 9457 problem details with the service's stable `code`. */
import type { components } from "./schema.d.ts";

export type Problem = components["schemas"]["Problem"];

/** A non-2xx answer of the API. `code` is the problem's stable code (`not_found`, `rate_limited`, …). */
export class VttError extends Error {
  override readonly name = "VttError";
  readonly status: number;
  readonly code: string;
  readonly detail: string | undefined;
  /** the whole problem+json body, or null when the answer was not one */
  readonly problem: Problem | null;
  /** seconds the server asked the client to wait (Retry-After), if it did */
  readonly retryAfterSeconds: number | null;

  constructor(status: number, problem: Problem | null, retryAfterSeconds: number | null = null, text = "") {
    const code = problem?.code ?? `http_${status}`;
    const detail = problem?.detail ?? problem?.title ?? (text.slice(0, 200) || undefined);
    super(detail ? `${code}: ${detail}` : code);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.problem = problem;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** Reads a failed response's body into a VttError (the body is consumed). */
  static async fromResponse(response: Response): Promise<VttError> {
    const text = await response.text().catch(() => "");
    return VttError.fromBody(response, text);
  }

  /** From a body already read (openapi-fetch parses it to JSON when it can). */
  static fromBody(response: Response, body: unknown): VttError {
    const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
    let parsed = body;
    if (typeof body === "string") {
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = null;
      }
    }
    const problem = isProblem(parsed) ? parsed : null;
    return new VttError(response.status, problem, retryAfter, typeof body === "string" ? body : "");
  }
}

/** `waitFor` gave up before the job finished (its `timeoutMs` passed). */
export class WaitTimeoutError extends Error {
  override readonly name = "WaitTimeoutError";
  readonly code = "wait_timeout";

  constructor(readonly jobId: string) {
    super(`wait_timeout: ${jobId} had not finished when the wait ran out`);
  }
}

function isProblem(value: unknown): value is Problem {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { code?: unknown }).code === "string" &&
    typeof (value as { status?: unknown }).status === "number"
  );
}

/** Retry-After as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3); null when absent or unreadable. */
export function parseRetryAfter(header: string | null, nowMs = Date.now()): number | null {
  if (header === null) return null;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - nowMs) / 1000));
}
