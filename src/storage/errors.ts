/**
 * Storage raises its own errors, never HTTP ones: the kind says what went wrong, the code is the stable machine code
 * the API reports, and the HTTP layer (src/app.ts) maps the kind to a status.
 */
export type StorageErrorKind = "invalid_input" | "too_large" | "unsupported" | "conflict" | "unavailable";

export class StorageError extends Error {
  constructor(
    readonly kind: StorageErrorKind,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "StorageError";
  }
}

/** What a D1 database that cannot serve says (workerd's and D1's own messages), as opposed to a bad statement. */
const UNAVAILABLE =
  /D1_ERROR|D1 DB|network connection lost|overloaded|storage operation exceeded|reset because|internal error/i;
const STATEMENT_FAULT = /constraint|syntax error|no such (table|column)|datatype mismatch/i;

/**
 * Whether an error (or what it wraps: drizzle wraps the driver's error as `cause`) says a database could not serve
 * the query, e.g. a job shard that is down. Such a request is answered 503 with Retry-After, never 500: it is
 * nobody's bad input, and it is retried.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth++) {
    if (STATEMENT_FAULT.test(cause.message)) return false;
    if (UNAVAILABLE.test(cause.message)) return true;
  }
  return false;
}
