/**
 * Per-API-key rate limits (one Durable Object per key, SQLite-backed): requests per minute and uploaded bytes per
 * minute as token buckets, and a cap on the key's concurrent uploads (leased slots).
 *
 * An upload reserves before its body is read: its declared length, or `MAX_UPLOAD_BYTES` when the length is unknown
 * (chunked), charged in full (the bucket may go into debt), plus one slot. When it ends, whatever it did not read is
 * refunded and the slot freed. A slot is a lease, so a request that dies without ending frees its slot by itself.
 */
import { DurableObject } from "cloudflare:workers";

import { settings } from "../config.ts";
import type { Env } from "../env.ts";
import { type QuotaPolicy, type QuotaState, rateLimitFields } from "./rate-limit-fields.ts";
import { bucketQuota, type BucketState, refundTokens, reserveTokens, takeTokens } from "./token-bucket.ts";

export type LimitKind = "requests" | "bytes";

/** How long an upload's slot is held at most; an upload still running after that no longer counts. */
export const UPLOAD_SLOT_LEASE_MS = 15 * 60_000;
/** Retry-After for a key at its concurrency cap: slots free as soon as one of its uploads ends. */
const SLOT_RETRY_AFTER_SECONDS = 1;

/** slot id → lease expiry (epoch ms) */
type UploadSlots = Record<string, number>;

export interface BeginUploadRequest {
  uploadId: string;
  reserveBytes: number;
  bytesPerMinute: number;
  maxConcurrent: number;
  leaseMs: number;
}

export type UploadAdmission =
  | { allowed: true; bytes: QuotaState; uploadsInFlight: number }
  | { allowed: false; limit: "bytes" | "concurrency"; retryAfterSeconds: number };

/** A charge's outcome and what is left of the bucket afterwards. */
export interface TakeOutcome extends QuotaState {
  allowed: boolean;
  retryAfterSeconds: number;
}

export class RateLimiter extends DurableObject<Env> {
  /** Charges `cost` against the bucket; the limit comes from the caller so settings change without a migration. */
  async take(kind: LimitKind, cost: number, limitPerMinute: number): Promise<TakeOutcome> {
    const state = (await this.ctx.storage.get<BucketState>(kind)) ?? null;
    const result = takeTokens(state, Date.now(), limitPerMinute, cost);
    await this.ctx.storage.put(kind, result.state);
    return {
      allowed: result.allowed,
      retryAfterSeconds: result.retryAfterSeconds,
      ...bucketQuota(result.state, limitPerMinute),
    };
  }

  /** Admits an upload: a free slot first, then the byte reservation; nothing is held when it is refused. */
  async beginUpload(request: BeginUploadRequest): Promise<UploadAdmission> {
    const now = Date.now();
    const slots = liveSlots((await this.ctx.storage.get<UploadSlots>("uploads")) ?? {}, now);
    if (Object.keys(slots).length >= request.maxConcurrent) {
      await this.ctx.storage.put("uploads", slots);
      return { allowed: false, limit: "concurrency", retryAfterSeconds: SLOT_RETRY_AFTER_SECONDS };
    }
    const bucket = (await this.ctx.storage.get<BucketState>("bytes")) ?? null;
    const reserved = reserveTokens(bucket, now, request.bytesPerMinute, request.reserveBytes);
    await this.ctx.storage.put("bytes", reserved.state);
    if (!reserved.allowed) {
      await this.ctx.storage.put("uploads", slots);
      return { allowed: false, limit: "bytes", retryAfterSeconds: reserved.retryAfterSeconds };
    }
    await this.ctx.storage.put("uploads", { ...slots, [request.uploadId]: now + request.leaseMs });
    return {
      allowed: true,
      bytes: bucketQuota(reserved.state, request.bytesPerMinute),
      uploadsInFlight: Object.keys(slots).length + 1,
    };
  }

  /**
   * Ends an upload: refunds the unused part of its reservation (negative: charges bytes read beyond it) and frees its
   * slot (idempotent for the slot).
   */
  async endUpload(uploadId: string, refundBytes: number, bytesPerMinute: number): Promise<void> {
    const now = Date.now();
    const { [uploadId]: _ended, ...others } = (await this.ctx.storage.get<UploadSlots>("uploads")) ?? {};
    await this.ctx.storage.put("uploads", liveSlots(others, now));
    if (refundBytes !== 0) {
      const bucket = (await this.ctx.storage.get<BucketState>("bytes")) ?? null;
      await this.ctx.storage.put("bytes", refundTokens(bucket, now, bytesPerMinute, refundBytes));
    }
  }
}

function liveSlots(slots: UploadSlots, now: number): UploadSlots {
  return Object.fromEntries(Object.entries(slots).filter(([, expiresAt]) => expiresAt > now));
}

const limiterFor = (env: Env, keyId: string) => env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(keyId));

/** The rate-limit policies, named as the `RateLimit-Policy` field names them (docs/api.md). */
export const requestPolicy = (env: Env): QuotaPolicy => ({
  name: "requests",
  quota: settings(env).RATE_LIMIT_REQUESTS_PER_MINUTE,
  windowSeconds: 60,
});
export const uploadBytesPolicy = (env: Env): QuotaPolicy => ({
  name: "upload-bytes",
  quota: settings(env).RATE_LIMIT_BYTES_PER_MINUTE,
  windowSeconds: 60,
  unit: "content-bytes",
});
export const concurrentUploadsPolicy = (maxConcurrent: number): QuotaPolicy => ({
  name: "concurrent-uploads",
  quota: maxConcurrent,
  unit: "concurrent-requests",
});

/** A request charged to its key: the wait when it is over its requests per minute, and the rate-limit fields. */
export interface KeyCharge {
  retryAfterSeconds: number | null;
  fields: Record<string, string>;
}

/** Charges one request to the key. */
export async function chargeKey(env: Env, keyId: string): Promise<KeyCharge> {
  const policy = requestPolicy(env);
  const requests = await limiterFor(env, keyId).take("requests", 1, policy.quota);
  const state = requests.allowed ? requests : { remaining: 0, resetSeconds: requests.retryAfterSeconds };
  return {
    retryAfterSeconds: requests.allowed ? null : requests.retryAfterSeconds,
    fields: rateLimitFields([policy, state]),
  };
}

/** An admitted upload's hold on the key's budget; `end` exactly once, in a `finally`. */
export interface UploadReservation {
  /** refunds what was reserved but not read, and frees the slot */
  end(bytesRead: number): Promise<void>;
  /** the upload policies' `RateLimit-Policy` / `RateLimit` fields as admitted; none when the key is not limited */
  fields: Record<string, string>;
}

export interface UploadLimits {
  /** bytes to reserve: the declared length, or the per-upload maximum when the length is unknown */
  reserveBytes: number;
  maxConcurrent: number;
}

/** Reserves an upload's bytes and a slot for the key, or says which limit refused it and for how long. */
export async function beginUpload(
  env: Env,
  keyId: string,
  limits: UploadLimits,
): Promise<{ allowed: true; reservation: UploadReservation } | Extract<UploadAdmission, { allowed: false }>> {
  const limiter = limiterFor(env, keyId);
  const bytesPolicy = uploadBytesPolicy(env);
  const bytesPerMinute = bytesPolicy.quota;
  const uploadId = crypto.randomUUID();
  const admission = await limiter.beginUpload({
    uploadId,
    reserveBytes: limits.reserveBytes,
    bytesPerMinute,
    maxConcurrent: limits.maxConcurrent,
    leaseMs: UPLOAD_SLOT_LEASE_MS,
  });
  if (!admission.allowed) return admission;
  const slots = concurrentUploadsPolicy(limits.maxConcurrent);
  // a slot frees the moment an upload ends, so the concurrency quota has no reset time to announce
  const slotsLeft = { remaining: limits.maxConcurrent - admission.uploadsInFlight, resetSeconds: 0 };
  const reservation: UploadReservation = {
    end: (bytesRead) => limiter.endUpload(uploadId, limits.reserveBytes - bytesRead, bytesPerMinute),
    fields: rateLimitFields([bytesPolicy, admission.bytes], [slots, slotsLeft]),
  };
  return { allowed: true, reservation };
}
