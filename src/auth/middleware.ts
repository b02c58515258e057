/** Authentication middleware: resolves the bearer key to a principal (tenant + scopes) on `c.var.principal`. */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";

import type { AppEnv } from "../app.context.ts";
import { apiKeyCacheMs } from "../config.ts";
import { ApiError } from "../http/problem.ts";
import { appendRateLimitFields } from "../ratelimit/rate-limit-fields.ts";
import { chargeKey } from "../ratelimit/rate-limiter.ts";
import { createDb } from "../storage/db.ts";
import { directoryDb, placeEnv, tenantShard } from "../storage/shards.ts";
import { findApiKeyWithTenant, type TenantPlacementRow, touchApiKey } from "../storage/tenants.repo.ts";
import { bearerToken, hashApiKey, isBootstrapAdminKey, parseScopes, type Scope } from "./api-keys.ts";
import { authAttemptOf, refuseAuthentication, refuseKnownThrottled } from "./failed-auth-throttle.ts";
import { cachedKey, cacheKey } from "./key-cache.ts";

export interface Principal {
  /** null for the bootstrap admin key, which belongs to no tenant */
  tenantId: string | null;
  keyId: string | null;
  scopes: Scope[];
}

/** Writing last_used_at at most this often keeps hot keys from costing a D1 write per request. */
const LAST_USED_WRITE_INTERVAL_MS = 60_000;

export const authenticate = createMiddleware<AppEnv>(async (c, next) => {
  const token = bearerToken(c.req.header("authorization"));
  const attempt = authAttemptOf(c.env, c.req.raw.headers, token, c.req.path);
  refuseKnownThrottled(attempt);
  if (!token) {
    const detail = "Send an API key as `Authorization: Bearer <key>`.";
    const error = new ApiError(401, "unauthenticated", detail, undefined, { "www-authenticate": "Bearer" });
    return refuseAuthentication(c.env, attempt, error);
  }
  if (isBootstrapAdminKey(token, c.env.ADMIN_API_KEY)) {
    c.set("principal", { tenantId: null, keyId: null, scopes: ["admin"] });
    return next();
  }
  const hash = await hashApiKey(token);
  const now = Date.now();
  const directory = directoryDb(c.env);
  const cacheMs = apiKeyCacheMs(c.env);
  let found = cacheMs > 0 ? cachedKey(hash, now) : null;
  if (!found) {
    found = await findApiKeyWithTenant(directory, hash);
    if (found) cacheKey(hash, found, now, cacheMs);
  }
  const key = found?.key;
  if (!key || key.revokedAt !== null || (key.expiresAt !== null && key.expiresAt <= now)) {
    const detail = "The API key is unknown, revoked or expired.";
    const error = new ApiError(401, "invalid_api_key", detail, undefined, { "www-authenticate": "Bearer" });
    return refuseAuthentication(c.env, attempt, error);
  }
  if (key.lastUsedAt === null || now - key.lastUsedAt > LAST_USED_WRITE_INTERVAL_MS) {
    c.executionCtx.waitUntil(touchApiKey(directory, key.id, now).catch(() => undefined));
  }
  // upload bytes and concurrent uploads are reserved by the upload route itself (src/api/upload-budget.ts)
  const charge = await chargeKey(c.env, key.id);
  if (charge.retryAfterSeconds !== null) {
    throw new ApiError(
      429,
      "rate_limited",
      `Too many requests for this API key; retry in ${charge.retryAfterSeconds} s.`,
      undefined,
      { "retry-after": String(charge.retryAfterSeconds), ...charge.fields },
    );
  }
  c.set("principal", { tenantId: key.tenantId, keyId: key.id, scopes: parseScopes(key.scopes) });
  placeRequest(c, found!.tenant);
  await next();
  // every answer to a limited key says what is left of its requests, beside any policy the route reported itself
  appendRateLimitFields(c.res.headers, charge.fields);
});

/**
 * From here on the request works inside its tenant's shard and region: `c.env` is the placed environment (its `DB`,
 * `BUCKET`, queues and pool are the tenant's) and `c.var.db` the shard. A tenant being moved is read-only.
 */
export function placeRequest(c: Context<AppEnv>, tenant: TenantPlacementRow | null): void {
  const placed = placeEnv(c.env, tenantShard(c.env, tenant ?? { region: null, shard: null, formerShards: null }));
  c.env = placed;
  c.set("db", createDb(placed));
  c.set("tenantReadOnly", tenant?.readOnlySince != null);
}

/** Retry-After of a write refused while the tenant is being moved (a move takes seconds to minutes). */
export const TENANT_READ_ONLY_RETRY_AFTER_SECONDS = 30;
/** Methods that never write: allowed while the tenant is read-only. */
export const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * While its tenant is being moved to another shard (src/tenants/move.ts) a request that could write is refused with
 * 503 `tenant_read_only` and Retry-After; reads keep working. Runs after `authenticate` (which sets the flag).
 */
export const refuseWritesWhileMoving = createMiddleware<AppEnv>(async (c, next) => {
  if (c.var.tenantReadOnly && !READ_METHODS.has(c.req.method)) {
    throw new ApiError(
      503,
      "tenant_read_only",
      "This account is being moved to another storage location and is read-only for a few minutes; retry.",
      undefined,
      { "retry-after": String(TENANT_READ_ONLY_RETRY_AFTER_SECONDS) },
    );
  }
  return next();
});

/** Requires a scope; tenant routes additionally require a tenant-bound key. */
export function requireScope(scope: Scope, options: { tenant: boolean } = { tenant: true }) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const principal = c.var.principal;
    if (options.tenant && !principal.tenantId) {
      throw new ApiError(403, "tenant_required", "This route needs a tenant API key, not the bootstrap admin key.");
    }
    // a tenant key with `admin` may also act on its own tenant's transcriptions
    if (!principal.scopes.includes(scope) && !(scope !== "admin" && principal.scopes.includes("admin"))) {
      throw new ApiError(403, "insufficient_scope", `This key lacks the \`${scope}\` scope.`);
    }
    return next();
  });
}

/**
 * The operator plane (`/v1/admin/*`): only keys that belong to no tenant (the bootstrap `ADMIN_API_KEY`). A tenant
 * key, even one holding the `admin` scope, is refused the same way whatever tenant or job id it names, so the
 * answer tells it nothing about other tenants.
 */
export const requireOperator = createMiddleware<AppEnv>(async (c, next) => {
  const principal = c.var.principal;
  if (principal.tenantId !== null || !principal.scopes.includes("admin")) {
    throw new ApiError(
      403,
      "operator_required",
      "This route is for the service operator's admin key, not tenant keys.",
    );
  }
  return next();
});

/** The caller's tenant; only valid behind requireScope(…, {tenant: true}). */
export function tenantOf(principal: Principal): string {
  if (!principal.tenantId) throw new ApiError(403, "tenant_required");
  return principal.tenantId;
}
