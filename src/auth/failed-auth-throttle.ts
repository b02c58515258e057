/**
 * Throttling of failed and unauthenticated requests per client address, so keys cannot be guessed at line rate (the
 * attack pass sent 2,000 random keys in 4.5 s, each costing a hash and a D1 read, and 1,500 operator-key guesses).
 *
 * Buckets are `RateLimiter` Durable Objects (the same token bucket as the per-key limits) named after the address:
 * one for tenant-key failures, and a smaller one of its own for the operator key (`/v1/admin/*`, or a token that is
 * not a tenant key). A failure is charged after it happens; once a bucket is empty the failure is answered `429
 * auth_rate_limited` instead of 401, and this isolate remembers the block so the address's next attempts are refused
 * before any hashing, D1 read or Durable Object call. Other isolates learn it from the bucket on the first failure
 * they see; a correct key there is still served.
 */
import { authFailuresPerMinute, operatorAuthFailuresPerMinute } from "../config.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../http/problem.ts";
import { rateLimitFields } from "../ratelimit/rate-limit-fields.ts";
import { API_KEY_PREFIX } from "./api-keys.ts";

/** An authentication attempt's bucket: DO name and its limit per minute. */
export interface AuthAttempt {
  bucket: string;
  limitPerMinute: number;
  /** the `RateLimit-Policy` name of the bucket's kind */
  policy: "auth-failures" | "operator-auth-failures";
}

/** Blocks this isolate has learned: bucket name → epoch ms when the bucket has a token again. */
const knownBlocks = new Map<string, number>();
/** Bound on `knownBlocks`, so a flood of addresses cannot grow the isolate's memory. */
const MAX_KNOWN_BLOCKS = 10_000;

const ADDRESS_SHAPE = /^[0-9A-Fa-f:.]{2,45}$/;

/**
 * The address a bucket is kept for: `CF-Connecting-IP` (set by Cloudflare, not by the client), an IPv6 address cut
 * to its /64 (one subscriber holds a whole /64), `unknown` without a usable header (local runtimes).
 */
export function clientAddressBucket(headers: Headers): string {
  const ip = headers.get("cf-connecting-ip")?.trim() ?? "";
  if (!ADDRESS_SHAPE.test(ip)) return "unknown";
  if (!ip.includes(":")) return ip;
  const [head = "", tail = ""] = ip.toLowerCase().split("::");
  const headGroups = head ? head.split(":") : [];
  const tailGroups = ip.includes("::") && tail ? tail.split(":") : [];
  const zeros = new Array<string>(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill("0");
  const groups = [...headGroups, ...zeros, ...tailGroups].slice(0, 4).map((g) => g.replace(/^0+(?=.)/, ""));
  return `${groups.join(":")}::/64`;
}

/** Which bucket an attempt with `token` (null when absent) on `path` is charged to. */
export function authAttemptOf(env: Env, headers: Headers, token: string | null, path: string): AuthAttempt {
  const address = clientAddressBucket(headers);
  const operator = path.startsWith("/v1/admin/") || (token !== null && !token.startsWith(API_KEY_PREFIX));
  return operator
    ? {
        bucket: `auth-failures:operator:${address}`,
        limitPerMinute: operatorAuthFailuresPerMinute(env),
        policy: "operator-auth-failures",
      }
    : { bucket: `auth-failures:${address}`, limitPerMinute: authFailuresPerMinute(env), policy: "auth-failures" };
}

function throttled(attempt: AuthAttempt, retryAfterSeconds: number): ApiError {
  const policy = { name: attempt.policy, quota: attempt.limitPerMinute, windowSeconds: 60 };
  return new ApiError(
    429,
    "auth_rate_limited",
    `Too many failed authentications from this address; retry in ${retryAfterSeconds} s.`,
    undefined,
    {
      "retry-after": String(retryAfterSeconds),
      ...rateLimitFields([policy, { remaining: 0, resetSeconds: retryAfterSeconds }]),
    },
  );
}

/**
 * Throws `429 auth_rate_limited` when this isolate already knows the attempt's bucket is empty, before the key is
 * looked at.
 */
export function refuseKnownThrottled(attempt: AuthAttempt, now = Date.now()): void {
  const until = knownBlocks.get(attempt.bucket);
  if (until === undefined) return;
  if (until <= now) {
    knownBlocks.delete(attempt.bucket);
    return;
  }
  throw throttled(attempt, Math.max(1, Math.ceil((until - now) / 1000)));
}

/**
 * Charges a failed or unauthenticated attempt to its bucket and throws: `failure` (the 401) while the bucket had a
 * token, `429 auth_rate_limited` with `Retry-After` once it is empty.
 */
export async function refuseAuthentication(env: Env, attempt: AuthAttempt, failure: ApiError): Promise<never> {
  const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(attempt.bucket));
  // the caller is refused either way: a Durable Object hiccup must not turn its 401 into a 500
  const charged = await stub.take("requests", 1, attempt.limitPerMinute).catch(() => null);
  if (charged === null || charged.allowed) throw failure;
  const { retryAfterSeconds } = charged;
  if (knownBlocks.size >= MAX_KNOWN_BLOCKS) knownBlocks.clear();
  knownBlocks.set(attempt.bucket, Date.now() + retryAfterSeconds * 1000);
  throw throttled(attempt, retryAfterSeconds);
}
