/** Token bucket (pure): `limitPerMinute` tokens of capacity, refilled continuously at the same rate per minute. */

export interface BucketState {
  tokens: number;
  /** epoch ms of the last refill */
  updatedAt: number;
}

export interface TakeResult {
  state: BucketState;
  allowed: boolean;
  /** whole seconds until `cost` tokens are available again (0 when allowed) */
  retryAfterSeconds: number;
}

/** Takes `cost` tokens if there are enough; a cost above the capacity is charged as the whole capacity. */
export function takeTokens(state: BucketState | null, now: number, limitPerMinute: number, cost: number): TakeResult {
  const capacity = Math.max(1, limitPerMinute);
  const perMs = capacity / 60_000;
  const previous = state ?? { tokens: capacity, updatedAt: now };
  const elapsed = Math.max(0, now - previous.updatedAt);
  const tokens = Math.min(capacity, previous.tokens + elapsed * perMs);
  const charge = Math.min(Math.max(0, cost), capacity);
  if (tokens >= charge) return { state: { tokens: tokens - charge, updatedAt: now }, allowed: true, retryAfterSeconds: 0 };
  return { state: { tokens, updatedAt: now }, allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((charge - tokens) / perMs / 1000)) };
}

/**
 * Charges `cost` after the fact (bytes of an upload that declared no length): always succeeds, and may leave the
 * bucket in debt down to minus one capacity, so the key's next requests wait until it has refilled.
 */
export function chargeTokens(state: BucketState | null, now: number, limitPerMinute: number, cost: number): BucketState {
  const capacity = Math.max(1, limitPerMinute);
  const previous = state ?? { tokens: capacity, updatedAt: now };
  const tokens = Math.min(capacity, previous.tokens + Math.max(0, now - previous.updatedAt) * (capacity / 60_000));
  return { tokens: Math.max(-capacity, tokens - Math.max(0, cost)), updatedAt: now };
}
