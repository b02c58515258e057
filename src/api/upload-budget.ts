/** The upload route's hold on its API key's byte budget and concurrency cap (src/ratelimit/rate-limiter.ts). */
import { maxConcurrentUploadsPerKey, maxUploadBodyBytes } from "../config.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../http/problem.ts";
import { log } from "../lib/log.ts";
import { rateLimitFields } from "../ratelimit/rate-limit-fields.ts";
import {
  beginUpload,
  concurrentUploadsPolicy,
  uploadBytesPolicy,
  type UploadReservation,
} from "../ratelimit/rate-limiter.ts";

const UNLIMITED: UploadReservation = { end: async () => undefined, fields: {} };

/**
 * Reserves the upload's bytes (the declared length, or the largest valid body when none is declared) and one of the
 * key's upload slots before any of the body is read. Throws ApiError 429 `rate_limited` (bytes per minute) or
 * `too_many_concurrent_uploads`, both with Retry-After and the refusing policy's RateLimit-Policy / RateLimit fields. Keys outside any tenant (`keyId` null) are not limited.
 */
export async function reserveUploadBudget(
  env: Env,
  keyId: string | null,
  declaredBytes: number | null,
): Promise<UploadReservation> {
  if (!keyId) return UNLIMITED;
  const maxConcurrent = maxConcurrentUploadsPerKey(env);
  const reserveBytes = declaredBytes ?? maxUploadBodyBytes(env);
  const admission = await beginUpload(env, keyId, { reserveBytes, maxConcurrent });
  if (admission.allowed) return endingQuietly(admission.reservation);
  const refused = { remaining: 0, resetSeconds: admission.retryAfterSeconds };
  const policy = admission.limit === "concurrency" ? concurrentUploadsPolicy(maxConcurrent) : uploadBytesPolicy(env);
  const retryAfter = { "retry-after": String(admission.retryAfterSeconds), ...rateLimitFields([policy, refused]) };
  if (admission.limit === "concurrency") {
    throw new ApiError(
      429,
      "too_many_concurrent_uploads",
      `This API key already has ${maxConcurrent} uploads in progress; retry when one of them ends.`,
      undefined,
      retryAfter,
    );
  }
  throw new ApiError(
    429,
    "rate_limited",
    `This API key's upload bytes per minute are spent; retry in ${admission.retryAfterSeconds} s.`,
    undefined,
    retryAfter,
  );
}

/**
 * Ending runs in a `finally` after the job is answered for: a failure there must not turn a stored upload into an
 * error. The slot then frees itself when its lease ends; the unread part of the reservation stays charged.
 */
function endingQuietly(reservation: UploadReservation): UploadReservation {
  return {
    fields: reservation.fields,
    end: (bytesRead) =>
      reservation.end(bytesRead).catch((error: unknown) => {
        log("upload_budget_end_failed", { error: error instanceof Error ? error.name : "unknown" });
      }),
  };
}
