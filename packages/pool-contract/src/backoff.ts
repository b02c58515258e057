/**
 * Capped exponential backoff, the one formula behind every growing delay on both sides: the edge's provider retries
 * and dead-letter re-drives, its pool-erasure retries, and the pool's callback deliveries. Pure; callers add jitter
 * or floors themselves.
 */

/** Options for {@link cappedExponentialBackoff}. */
export interface CappedBackoffOptions {
  /** The first delay (doublings = 0), in whatever unit the caller uses. */
  base: number;
  /** Upper bound of any delay, same unit. */
  cap: number;
  /**
   * Doublings beyond this count as this many. The default keeps `2 ** doublings` finite, so a zero `base` stays 0
   * however many attempts were made.
   */
  maxDoublings?: number;
}

/** Largest exponent for which `2 ** n` is a finite double. */
const MAX_FINITE_DOUBLINGS = 1023;

/**
 * `base · 2^doublings`, at most `cap`: base, 2·base, 4·base, …, cap, cap. A negative `doublings` counts as 0, so
 * callers pass their attempt number minus one without clamping it first.
 */
export function cappedExponentialBackoff(doublings: number, options: CappedBackoffOptions): number {
  const exponent = Math.min(Math.max(doublings, 0), options.maxDoublings ?? MAX_FINITE_DOUBLINGS);
  return Math.min(options.cap, options.base * 2 ** exponent);
}
