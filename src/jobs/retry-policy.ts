/** Retry policy for retryable provider failures: exponential backoff with full jitter (pure). */
import { cappedExponentialBackoff } from "@vtt/pool-contract";

export interface RetryPolicyOptions {
  /** delay before the first retry, seconds */
  baseSeconds: number;
  /** upper bound of any single delay, seconds */
  capSeconds: number;
}

/** `max_retries` itself is the queue consumer's setting in wrangler.toml: after it, messages go to the DLQ. */
export const DEFAULT_RETRY_POLICY: RetryPolicyOptions = { baseSeconds: 5, capSeconds: 600 };

/**
 * Delay before the next delivery. `attempt` is the 1-based delivery that just failed (Queues' `message.attempts`).
 * Full jitter: uniform in [0, min(cap, base·2^(attempt-1))]; a provider's Retry-After is a floor.
 */
export function backoffDelaySeconds(
  attempt: number,
  policy: RetryPolicyOptions = DEFAULT_RETRY_POLICY,
  retryAfterSeconds: number | null = null,
  random: () => number = Math.random,
): number {
  const ceiling = cappedExponentialBackoff(attempt - 1, { base: policy.baseSeconds, cap: policy.capSeconds });
  const jittered = Math.floor(random() * (ceiling + 1));
  const floor = retryAfterSeconds ?? 0;
  // Queues accept at most 12 hours of delay
  return Math.min(43_200, Math.max(jittered, floor));
}

/** Reads the policy from settings, falling back to defaults for anything missing or malformed. */
export function retryPolicyFromSettings(settings: {
  RETRY_BASE_SECONDS?: string;
  RETRY_CAP_SECONDS?: string;
}): RetryPolicyOptions {
  const num = (value: string | undefined, fallback: number) => {
    const n = Number(value);
    return value !== undefined && Number.isFinite(n) && n >= 0 ? n : fallback;
  };
  return {
    baseSeconds: num(settings.RETRY_BASE_SECONDS, DEFAULT_RETRY_POLICY.baseSeconds),
    capSeconds: num(settings.RETRY_CAP_SECONDS, DEFAULT_RETRY_POLICY.capSeconds),
  };
}
