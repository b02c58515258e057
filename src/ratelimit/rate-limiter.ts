/**
 * Per-API-key rate limits (one Durable Object per key, SQLite-backed): requests per minute and uploaded bytes per
 * minute, as token buckets.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";
import { type BucketState, chargeTokens, takeTokens } from "./token-bucket.ts";

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

  /** Charges `cost` unconditionally (the work is already done); the debt delays the key's next requests. */
  async charge(kind: LimitKind, cost: number, limitPerMinute: number): Promise<void> {
    const state = (await this.ctx.storage.get<BucketState>(kind)) ?? null;
    await this.ctx.storage.put(kind, chargeTokens(state, Date.now(), limitPerMinute, cost));
  }
}

function limit(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && value !== "" && Number.isFinite(n) && n > 0 ? n : fallback;
}

/**
 * Charges one request (and, for uploads, the declared bytes) to the key; returns the wait when over a limit. A body
 * of unknown length (chunked) is charged after the upload (`chargeUploadedBytes`); here it only has to find the
 * bytes bucket out of debt.
 */
export async function chargeKey(env: Env, keyId: string, declaredBytes: number | "unknown" | null): Promise<number | null> {
  const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(keyId));
  const requests = await stub.take("requests", 1, limit(env.RATE_LIMIT_REQUESTS_PER_MINUTE, DEFAULT_REQUESTS_PER_MINUTE));
  if (!requests.allowed) return requests.retryAfterSeconds;
  if (declaredBytes === "unknown" || (declaredBytes && declaredBytes > 0)) {
    const cost = declaredBytes === "unknown" ? 0 : declaredBytes;
    const bytes = await stub.take("bytes", cost, limit(env.RATE_LIMIT_BYTES_PER_MINUTE, DEFAULT_BYTES_PER_MINUTE));
    if (!bytes.allowed) return bytes.retryAfterSeconds;
  }
  return null;
}

/** Charges the bytes of an upload that had no Content-Length, once they are known. */
export async function chargeUploadedBytes(env: Env, keyId: string, bytes: number): Promise<void> {
  const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(keyId));
  await stub.charge("bytes", bytes, limit(env.RATE_LIMIT_BYTES_PER_MINUTE, DEFAULT_BYTES_PER_MINUTE));
}
