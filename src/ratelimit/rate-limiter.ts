/**
 * Per-API-key rate limits (one Durable Object per key, SQLite-backed): requests per minute and uploaded bytes per
 * minute, as token buckets.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";
import { type BucketState, takeTokens } from "./token-bucket.ts";

export type LimitKind = "requests" | "bytes";

export const DEFAULT_REQUESTS_PER_MINUTE = 600;
export const DEFAULT_BYTES_PER_MINUTE = 2 * 1024 * 1024 * 1024;

export class RateLimiter extends DurableObject<Env> {
  /** Charges `cost` against the bucket; the limit comes from the caller so settings change without a migration. */
  async take(kind: LimitKind, cost: number, limitPerMinute: number): Promise<{ allowed: boolean; retryAfterSeconds: number }> {
    const state = (await this.ctx.storage.get<BucketState>(kind)) ?? null;
    const result = takeTokens(state, Date.now(), limitPerMinute, cost);
    await this.ctx.storage.put(kind, result.state);
    return { allowed: result.allowed, retryAfterSeconds: result.retryAfterSeconds };
  }
}

function limit(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && value !== "" && Number.isFinite(n) && n > 0 ? n : fallback;
}

/** Charges one request (and, for uploads, the declared bytes) to the key; returns the wait when over a limit. */
export async function chargeKey(env: Env, keyId: string, declaredBytes: number | null): Promise<number | null> {
  const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(keyId));
  const requests = await stub.take("requests", 1, limit(env.RATE_LIMIT_REQUESTS_PER_MINUTE, DEFAULT_REQUESTS_PER_MINUTE));
  if (!requests.allowed) return requests.retryAfterSeconds;
  if (declaredBytes && declaredBytes > 0) {
    const bytes = await stub.take("bytes", declaredBytes, limit(env.RATE_LIMIT_BYTES_PER_MINUTE, DEFAULT_BYTES_PER_MINUTE));
    if (!bytes.allowed) return bytes.retryAfterSeconds;
  }
  return null;
}
