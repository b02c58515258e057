/** One exit status per class of failure, so scripts can tell "try later" from "fix the request" (README, docs/api.md). */
import { VttError, WaitTimeoutError } from "../errors.ts";
import { UsageError } from "./args.ts";
import { ConfigError } from "./config.ts";

export const EXIT = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  jobFailed: 3,
  refused: 4,
  unauthorized: 5,
  notFound: 6,
  unavailable: 7,
  timedOut: 8,
} as const;

/** fetch's own failure (refused, reset, DNS, TLS): nothing answered, which is not the request's fault. */
export function isUnreachable(error: unknown): error is TypeError & { cause?: { message?: string; code?: string } } {
  return error instanceof TypeError && error.message === "fetch failed";
}

export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError || error instanceof ConfigError) return EXIT.usage;
  if (error instanceof WaitTimeoutError) return EXIT.timedOut;
  if (error instanceof VttError) {
    if (error.status === 401 || error.status === 403) return EXIT.unauthorized;
    if (error.status === 404) return EXIT.notFound;
    if (error.status === 429 || error.status >= 500) return EXIT.unavailable;
    return EXIT.refused;
  }
  return isUnreachable(error) ? EXIT.unavailable : EXIT.unexpected;
}

/** The code printed with a failure: the problem's `code`, or a name for what went wrong locally. */
export function errorCodeOf(error: unknown): string {
  if (error instanceof VttError || error instanceof WaitTimeoutError) return error.code;
  if (error instanceof UsageError) return "usage";
  if (error instanceof ConfigError) return "config";
  return isUnreachable(error) ? "unreachable" : "error";
}
