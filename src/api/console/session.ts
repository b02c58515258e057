/**
 * Console sessions over HTTP: the cookie, opening a session from an API key, validating it on every request, and the
 * cross-site checks every state-changing request passes (docs/console.md).
 */
import { timingSafeEqual } from "@vtt/pool-contract";
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";

import type { AppEnv } from "../../app.context.ts";
import { grantsScope, hashApiKey, isBootstrapAdminKey, parseScopes, type Scope } from "../../auth/api-keys.ts";
import { placeRequest, READ_METHODS, TENANT_READ_ONLY_RETRY_AFTER_SECONDS } from "../../auth/middleware.ts";
import { consoleSessionLifetimes, isDevelopment } from "../../config.ts";
import {
  csrfToken,
  randomToken,
  sessionSigningKey,
  sha256Hex,
  signSessionId,
  verifySessionCookie,
} from "../../domain/console-session.ts";
import type { Env } from "../../env.ts";
import {
  type ConsoleSessionRow,
  type ConsoleSessionWithKey,
  deleteConsoleSession,
  findConsoleSession,
  insertConsoleSession,
  touchConsoleSession,
} from "../../storage/console-sessions.repo.ts";
import type { Db } from "../../storage/db.ts";
import { masterKeys } from "../../storage/sealed-objects.ts";
import { directoryDb } from "../../storage/shards.ts";
import { findApiKeyByHash } from "../../storage/tenants.repo.ts";

/** The signed-in session a console page renders for. */
export interface ConsoleSession {
  idHash: string;
  kind: ConsoleSessionRow["kind"];
  tenantId: string | null;
  /** the value every state-changing form carries in its `csrf_token` field */
  csrfToken: string;
  /** the scopes of the key a tenant session was opened with (read on every request); none for the operator */
  scopes: Scope[];
  /** the tenant's placement (tenant sessions) */
  tenant: ConsoleSessionWithKey["tenant"];
}

export interface ConsoleEnv {
  Bindings: AppEnv["Bindings"];
  Variables: AppEnv["Variables"] & { session: ConsoleSession };
}

/** Writing last_seen_at at most this often keeps page views from costing a D1 write each. */
const LAST_SEEN_WRITE_INTERVAL_MS = 60_000;

const COOKIE_NAME = "vtt_console";

/**
 * `__Host-vtt_console`: the prefix pins the cookie to this host, https and Path=/. Browsers refuse it without Secure,
 * so local development over http uses the plain name.
 */
function cookieOptions(env: Env) {
  return isDevelopment(env) ? { path: "/", secure: false } : { path: "/", secure: true, prefix: "host" as const };
}

const signingKeys = new Map<string, Promise<CryptoKey>>();
function signingKey(env: Env): Promise<CryptoKey> {
  const secret = masterKeys(env)[0]!.secret;
  let key = signingKeys.get(secret);
  if (!key) {
    key = sessionSigningKey(secret);
    signingKeys.set(secret, key);
  }
  return key;
}

/** What an API key presented at sign-in opens: a session kind, or why it opens none. */
export type SignInOutcome =
  | { ok: true; kind: "operator" }
  | { ok: true; kind: "tenant"; tenantId: string; apiKeyId: string }
  | { ok: false; reason: "invalid_key" | "missing_read_scope" };

export async function checkSignInKey(db: Db, env: Env, key: string, now = Date.now()): Promise<SignInOutcome> {
  if (isBootstrapAdminKey(key, env.ADMIN_API_KEY)) return { ok: true, kind: "operator" };
  const row = await findApiKeyByHash(db, await hashApiKey(key));
  if (!row || row.revokedAt !== null || (row.expiresAt !== null && row.expiresAt <= now)) {
    return { ok: false, reason: "invalid_key" };
  }
  if (!grantsScope(parseScopes(row.scopes), "transcriptions:read")) return { ok: false, reason: "missing_read_scope" };
  return { ok: true, kind: "tenant", tenantId: row.tenantId, apiKeyId: row.id };
}

/** Stores a new session for `outcome` and sets its cookie. */
export async function openSession(
  c: Context<AppEnv>,
  outcome: Extract<SignInOutcome, { ok: true }>,
  now = Date.now(),
): Promise<void> {
  const id = randomToken();
  const { absoluteMs } = consoleSessionLifetimes(c.env);
  await insertConsoleSession(directoryDb(c.env), {
    idHash: await sha256Hex(id),
    kind: outcome.kind,
    tenantId: outcome.kind === "tenant" ? outcome.tenantId : null,
    apiKeyId: outcome.kind === "tenant" ? outcome.apiKeyId : null,
    operatorKeyHash: outcome.kind === "operator" ? await sha256Hex(c.env.ADMIN_API_KEY ?? "") : null,
    csrfSecret: randomToken(),
    createdAt: now,
    expiresAt: now + absoluteMs,
    lastSeenAt: now,
  });
  setCookie(c, COOKIE_NAME, await signSessionId(await signingKey(c.env), id), {
    ...cookieOptions(c.env),
    httpOnly: true,
    sameSite: "Strict",
    maxAge: Math.floor(absoluteMs / 1000),
  });
}

export function clearSessionCookie(c: Context<AppEnv>): void {
  deleteCookie(c, COOKIE_NAME, cookieOptions(c.env));
}

/**
 * The request's valid session, or null: the signature holds, the row exists, neither the absolute nor the idle end
 * has passed, and the key it was opened with is still active (for the operator: ADMIN_API_KEY is unchanged).
 */
export async function currentSession(c: Context<AppEnv>, now = Date.now()): Promise<ConsoleSession | null> {
  const raw = sessionCookie(c);
  const id = await verifySessionCookie(await signingKey(c.env), raw);
  if (!id) return null;
  const idHash = await sha256Hex(id);
  const directory = directoryDb(c.env);
  const found = await findConsoleSession(directory, idHash);
  if (!found) return null;
  const { session, key, tenant } = found;
  const { idleMs } = consoleSessionLifetimes(c.env);
  const keyActive =
    session.kind === "tenant"
      ? key !== null && key.revokedAt === null && (key.expiresAt === null || key.expiresAt > now)
      : !!c.env.ADMIN_API_KEY && session.operatorKeyHash === (await sha256Hex(c.env.ADMIN_API_KEY));
  if (!keyActive || session.expiresAt <= now || session.lastSeenAt + idleMs <= now) {
    await deleteConsoleSession(directory, idHash);
    return null;
  }
  if (now - session.lastSeenAt > LAST_SEEN_WRITE_INTERVAL_MS) {
    c.executionCtx.waitUntil(touchConsoleSession(directory, idHash, now).catch(() => undefined));
  }
  return {
    idHash,
    kind: session.kind,
    tenantId: session.tenantId,
    csrfToken: await csrfToken(session.csrfSecret),
    scopes: key ? parseScopes(key.scopes) : [],
    tenant,
  };
}

/** Whether a form's `csrf_token` field is this session's token (constant-time). */
export function csrfFieldMatches(session: ConsoleSession, presented: unknown): boolean {
  return typeof presented === "string" && timingSafeEqual(presented, session.csrfToken);
}

/**
 * Whether a state-changing request came from this origin. Browsers send `Sec-Fetch-Site` on every request, and
 * scripts cannot set it, so when present it decides. Older browsers send `Origin` instead; under the console's
 * `Referrer-Policy: no-referrer`, Chromium sends `Origin: null` on same-origin form posts, which is why
 * `Sec-Fetch-Site` comes first. Clients with neither (curl) carry no ambient cookie a forger could ride, and still
 * need the session's CSRF token.
 */
export function isSameOriginRequest(c: Context<AppEnv>): boolean {
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined) return site === "same-origin";
  const origin = c.req.header("origin");
  return origin === undefined || origin === new URL(c.req.url).origin;
}

function sessionCookie(c: Context<AppEnv>): string | undefined {
  const options = cookieOptions(c.env);
  return "prefix" in options ? getCookie(c, COOKIE_NAME, options.prefix) : getCookie(c, COOKIE_NAME);
}

/**
 * Pages behind sign-in: without a valid session, a GET is sent to the sign-in page and anything else refused. A
 * stale cookie is cleared, but only when the request carried one: a cross-site request (which SameSite=Strict sends
 * without the cookie) must not be able to clear a valid session's cookie.
 */
export const requireSession = createMiddleware<ConsoleEnv>(async (c, next) => {
  const app = c as unknown as Context<AppEnv>;
  const session = await currentSession(app);
  if (!session) {
    if (sessionCookie(app) !== undefined) clearSessionCookie(app);
    if (c.req.method === "GET" || c.req.method === "HEAD") return c.redirect("/console/sign-in", 303);
    return c.text("Your console session has ended; sign in again.", 401);
  }
  c.set("session", session);
  // a tenant's pages work inside its shard and region, as its API requests do
  if (session.kind === "tenant") placeRequest(app, session.tenant);
  // a tenant being moved to another shard (src/tenants/move.ts) reads but does not write; signing out still works
  if (c.var.tenantReadOnly && !READ_METHODS.has(c.req.method) && c.req.path !== "/console/sign-out") {
    return c.text(
      "This account is being moved to another storage location and is read-only for a few minutes; try again then.",
      503,
      { "retry-after": String(TENANT_READ_ONLY_RETRY_AFTER_SECONDS) },
    );
  }
  await next();
});
