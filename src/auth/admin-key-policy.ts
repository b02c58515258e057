/**
 * The operator key must be strong outside development. A Worker has no start-up hook to refuse to boot, so a weak
 * `ADMIN_API_KEY` fails every request closed instead (`503 admin_key_too_weak`), logged once per isolate, until the
 * operator replaces it (`openssl rand -base64 32`). An unset key is not weak: the operator plane is simply off.
 */
import { createMiddleware } from "hono/factory";

import type { AppEnv } from "../app.context.ts";
import { isDevelopment } from "../config.ts";
import { ApiError } from "../http/problem.ts";
import { log } from "../lib/log.ts";

/** 32 random bytes in base64url without padding; hex (64) and padded base64 (44) are longer. */
export const MIN_ADMIN_API_KEY_CHARS = 43;
/** A key of 43+ characters drawn from a handful of symbols (`aaaa…`, `0101…`) is not random. */
const MIN_DISTINCT_CHARS = 10;

/** Why `key` is too weak to guard the operator plane, or null when it is strong enough or unset. */
export function adminKeyWeakness(key: string | undefined): string | null {
  if (key === undefined || key === "") return null;
  if (key.length < MIN_ADMIN_API_KEY_CHARS) {
    return `shorter than ${MIN_ADMIN_API_KEY_CHARS} characters (32 random bytes)`;
  }
  if (new Set(key).size < MIN_DISTINCT_CHARS) return `fewer than ${MIN_DISTINCT_CHARS} distinct characters`;
  return null;
}

let weakKeyLogged = false;

/** Fails every request with 503 while a weak `ADMIN_API_KEY` is configured outside development. */
export const refuseWeakAdminKey = createMiddleware<AppEnv>(async (c, next) => {
  const weakness = isDevelopment(c.env) ? null : adminKeyWeakness(c.env.ADMIN_API_KEY);
  if (weakness === null) return next();
  if (!weakKeyLogged) {
    weakKeyLogged = true;
    log("insecure_configuration", { setting: "ADMIN_API_KEY", reason: weakness });
  }
  throw new ApiError(
    503,
    "admin_key_too_weak",
    "This deployment is misconfigured (its operator key is too weak) and serves no request until the operator " +
      "replaces it.",
  );
});
