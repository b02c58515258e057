/**
 * Retry policy for webhook deliveries: what to do after each attempt.
 *
 * 2xx is delivered; 410 Gone means the receiver asked us to stop; anything else (other statuses, timeouts, network
 * errors) is retried on an exponential schedule with jitter for about a day after the first attempt, as the
 * Standard Webhooks guidance recommends. Pure: the caller passes the clock and, in tests, the random source.
 */

/** Per-attempt request timeout. */
export const WEBHOOK_TIMEOUT_MS = 10_000;

/** Nominal wait before retry n (index 0 = after the first attempt), seconds: 5 s, 30 s, 2 min … 8 h. */
export const WEBHOOK_RETRY_DELAYS_SECONDS: readonly number[] = Object.freeze([
  5, 30, 120, 600, 1_800, 3_600, 7_200, 14_400, 28_800, 28_800,
]);

/** Attempts in total: the first one plus one per scheduled retry. */
export const WEBHOOK_MAX_ATTEMPTS = WEBHOOK_RETRY_DELAYS_SECONDS.length + 1;

/** No attempt is scheduled later than this after the first one. */
export const WEBHOOK_RETRY_WINDOW_SECONDS = 24 * 60 * 60;

/** Each delay is scaled by a random factor in [1 − x, 1 + x] so failing receivers are not hit in lock-step. */
export const WEBHOOK_RETRY_JITTER_RATIO = 0.2;

/** Shortest delay ever scheduled; avoids hammering a receiver when a `Retry-After` or the window end is tiny. */
export const WEBHOOK_MIN_RETRY_DELAY_SECONDS = 1;

/** Why a delivery was abandoned. */
export type WebhookGiveUpReason = "endpoint_gone" | "retry_window_exhausted" | "max_attempts_reached";

export type WebhookDeliveryDecision =
  { action: "done" } | { action: "retry"; delaySeconds: number } | { action: "give_up"; reason: WebhookGiveUpReason };

export interface AttemptOutcome {
  /** 1-based number of the attempt that just finished. */
  attempt: number;
  /** HTTP status of the response, or `null` for a timeout or network error. */
  status: number | null;
  /** When the first attempt was made, epoch ms. */
  firstAttemptAt: number;
  /** Now, epoch ms. */
  now: number;
  /** Parsed `Retry-After` of the response in seconds, if any; honoured when longer than the schedule. */
  retryAfterSeconds?: number | null;
  /** Random source in [0, 1); defaults to `Math.random`. Inject a constant for reproducible schedules. */
  random?: () => number;
}

/**
 * Decides what follows one attempt.
 * - 200–299 → `done`.
 * - 410 → `give_up` (`endpoint_gone`) at once.
 * - anything else → `retry` after the jittered schedule delay (or a longer `Retry-After`), clipped so the next
 *   attempt lands no later than `WEBHOOK_RETRY_WINDOW_SECONDS` after the first; `give_up` once the schedule or the
 *   window is used up.
 * @throws RangeError for an attempt number below 1 or non-finite times.
 */
export function decideAfterAttempt(outcome: AttemptOutcome): WebhookDeliveryDecision {
  const { attempt, status, firstAttemptAt, now } = outcome;
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be an integer ≥ 1, got ${attempt}`);
  if (!Number.isFinite(firstAttemptAt) || !Number.isFinite(now)) throw new RangeError("times must be finite epoch ms");

  if (status !== null && status >= 200 && status <= 299) return { action: "done" };
  if (status === 410) return { action: "give_up", reason: "endpoint_gone" };
  const remainingSeconds = Math.floor((firstAttemptAt + WEBHOOK_RETRY_WINDOW_SECONDS * 1000 - now) / 1000);
  if (remainingSeconds < WEBHOOK_MIN_RETRY_DELAY_SECONDS)
    return { action: "give_up", reason: "retry_window_exhausted" };
  if (attempt >= WEBHOOK_MAX_ATTEMPTS) return { action: "give_up", reason: "max_attempts_reached" };

  const random = outcome.random ?? Math.random;
  const nominal = WEBHOOK_RETRY_DELAYS_SECONDS[attempt - 1]!;
  const jitter = 1 + WEBHOOK_RETRY_JITTER_RATIO * (2 * random() - 1);
  let delaySeconds = Math.round(nominal * jitter);
  const retryAfter = outcome.retryAfterSeconds;
  if (retryAfter != null && Number.isFinite(retryAfter) && retryAfter > delaySeconds) {
    delaySeconds = Math.ceil(retryAfter);
  }
  delaySeconds = Math.max(WEBHOOK_MIN_RETRY_DELAY_SECONDS, Math.min(delaySeconds, remainingSeconds));
  return { action: "retry", delaySeconds };
}

export { parseRetryAfter } from "../lib/retry-after.ts";
