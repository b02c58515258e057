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
  if (tokens >= charge)
    return { state: { tokens: tokens - charge, updatedAt: now }, allowed: true, retryAfterSeconds: 0 };
  return {
    state: { tokens, updatedAt: now },
    allowed: false,
    retryAfterSeconds: Math.max(1, Math.ceil((charge - tokens) / perMs / 1000)),
  };
}

function refill(state: BucketState | null, now: number, capacity: number): number {
  const previous = state ?? { tokens: capacity, updatedAt: now };
  return Math.min(capacity, previous.tokens + Math.max(0, now - previous.updatedAt) * (capacity / 60_000));
}

/**
 * Reserves `cost` tokens for work whose size is only bounded (an upload): admitted once the bucket holds the cost, or
 * a full bucket for a cost above the capacity, and then charged in full, so the bucket may go into debt (without a
 * floor) and the key waits until it has refilled. Nothing is capped: an upload larger than a minute's budget costs
 * what it is. Return what was not used with {@link refundTokens}.
 */
export function reserveTokens(
  state: BucketState | null,
  now: number,
  limitPerMinute: number,
  cost: number,
): TakeResult {
  const capacity = Math.max(1, limitPerMinute);
  const tokens = refill(state, now, capacity);
  const charge = Math.max(0, cost);
  const needed = Math.min(charge, capacity);
  if (tokens >= needed) {
    return { state: { tokens: tokens - charge, updatedAt: now }, allowed: true, retryAfterSeconds: 0 };
  }
  const waitSeconds = Math.ceil((needed - tokens) / (capacity / 60_000) / 1000);
  return { state: { tokens, updatedAt: now }, allowed: false, retryAfterSeconds: Math.max(1, waitSeconds) };
}

/** Gives back the unused part of a reservation (never above the capacity); a negative refund charges the overrun. */
export function refundTokens(
  state: BucketState | null,
  now: number,
  limitPerMinute: number,
  refund: number,
): BucketState {
  const capacity = Math.max(1, limitPerMinute);
  return { tokens: Math.min(capacity, refill(state, now, capacity) + refund), updatedAt: now };
}

/** What a bucket holds now, for the `RateLimit` field: whole tokens left and seconds until it is full again. */
export function bucketQuota(state: BucketState, limitPerMinute: number): { remaining: number; resetSeconds: number } {
  const capacity = Math.max(1, limitPerMinute);
  const missing = Math.max(0, capacity - state.tokens);
  return {
    remaining: Math.max(0, Math.floor(state.tokens)),
    resetSeconds: Math.ceil(missing / (capacity / 60_000) / 1000),
  };
}
