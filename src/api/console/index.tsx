/**
 * `/console`: the HTML console for tenants and the operator, served by this Worker (docs/console.md). Not part of
 * the public API document. Every response carries the console's own strict CSP; every POST passes the cross-site
 * check, and every POST behind sign-in the session's CSRF token.
 */
import type { Context } from "hono";
import { Hono } from "hono";
import { createMiddleware } from "hono/factory";

import type { AppEnv } from "../../app.context.ts";
import { authAttemptOf, refuseAuthentication, refuseKnownThrottled } from "../../auth/failed-auth-throttle.ts";
import { ApiError } from "../../http/problem.ts";
import { deleteConsoleSession } from "../../storage/console-sessions.repo.ts";
import { directoryDb } from "../../storage/shards.ts";
import { CONSOLE_ASSETS } from "./assets.generated.ts";
import { operatorConsole, operatorHome } from "./operator.tsx";
import { SignInPage } from "./pages.tsx";
import {
  checkSignInKey,
  clearSessionCookie,
  type ConsoleEnv,
  csrfFieldMatches,
  isSameOriginRequest,
  openSession,
  requireSession,
} from "./session.ts";
import { CONSOLE_CSS } from "./styles.ts";
import { tenantConsole, tenantHome } from "./tenant.tsx";

/** Scripts, styles and everything else from this origin only; no inline code, no framing, forms post here only. */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "media-src 'self'",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join("; ");

/** An API key is at most this long; anything longer is refused before hashing. */
const MAX_KEY_CHARS = 512;

const SIGN_IN_ERRORS = {
  invalid_key: "That key is unknown, revoked or expired.",
  missing_read_scope: "That key lacks the transcriptions:read scope; sign in with a key that has it.",
  cross_site: "The sign-in form must be sent from this console.",
} as const;

/** Methods that change nothing; every other one passes the cross-site and CSRF checks. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export const consoleApp = new Hono<ConsoleEnv>();

// only the console's paths: this router is mounted at the root, and the API keeps its own headers
const consoleHeaders = createMiddleware<ConsoleEnv>(async (c, next) => {
  await next();
  c.res.headers.set("content-security-policy", CONSOLE_CSP);
  c.res.headers.set("x-frame-options", "DENY");
  c.res.headers.set("referrer-policy", "no-referrer");
  if (!c.res.headers.has("cache-control")) c.res.headers.set("cache-control", "no-store");
});
consoleApp.use("/console", consoleHeaders);
consoleApp.use("/console/*", consoleHeaders);

consoleApp.get("/console/assets/console.css", (c) =>
  c.body(CONSOLE_CSS, 200, { "content-type": "text/css; charset=utf-8", "cache-control": "public, max-age=300" }),
);

// the bundled browser modules (src/api/console/browser, built by `npm run console:build`); no session needed
consoleApp.get("/console/assets/:name", (c) => {
  const name = c.req.param("name");
  const asset = Object.hasOwn(CONSOLE_ASSETS, name) ? CONSOLE_ASSETS[name] : undefined;
  if (!asset) return c.text("Not found", 404);
  if (c.req.header("if-none-match") === asset.etag) return c.body(null, 304, { etag: asset.etag });
  return c.body(asset.body, 200, { "content-type": asset.type, etag: asset.etag, "cache-control": "no-cache" });
});

consoleApp.get("/console/sign-in", (c) => c.html(<SignInPage />));

consoleApp.post("/console/sign-in", async (c) => {
  const app = c as unknown as Context<AppEnv>;
  if (!isSameOriginRequest(app)) return c.html(<SignInPage error={SIGN_IN_ERRORS.cross_site} />, 403);
  const form = await c.req.parseBody();
  const key = typeof form.api_key === "string" ? form.api_key.trim() : "";
  const attempt = authAttemptOf(c.env, c.req.raw.headers, key || null, c.req.path);
  try {
    refuseKnownThrottled(attempt);
    const outcome = key && key.length <= MAX_KEY_CHARS ? await checkSignInKey(directoryDb(c.env), c.env, key) : null;
    if (outcome?.ok) {
      await openSession(app, outcome);
      return c.redirect("/console", 303);
    }
    if (outcome?.reason === "missing_read_scope") {
      return c.html(<SignInPage error={SIGN_IN_ERRORS.missing_read_scope} />, 403);
    }
    // the throttle counts tenant-key and operator-key guesses in their own buckets, as on the API
    await refuseAuthentication(c.env, attempt, new ApiError(401, "invalid_api_key", SIGN_IN_ERRORS.invalid_key));
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 429)) {
      const headers = error.status === 429 ? { "retry-after": error.headers?.["retry-after"] ?? "60" } : undefined;
      return c.html(<SignInPage error={error.detail ?? SIGN_IN_ERRORS.invalid_key} />, error.status, headers);
    }
    throw error;
  }
  return c.html(<SignInPage error={SIGN_IN_ERRORS.invalid_key} />, 401);
});

// every state-changing request: from this origin (checked first, before the session), then with the CSRF token
consoleApp.use("/console/*", async (c, next) => {
  if (SAFE_METHODS.has(c.req.method)) return next();
  if (!isSameOriginRequest(c as unknown as Context<AppEnv>)) return c.text("Cross-site request refused.", 403);
  await next();
});

// behind sign-in from here on
consoleApp.use("/console", requireSession);
consoleApp.use("/console/*", requireSession);

consoleApp.use("/console/*", async (c, next) => {
  if (SAFE_METHODS.has(c.req.method)) return next();
  const form = await c.req.parseBody();
  if (!csrfFieldMatches(c.var.session, form.csrf_token)) {
    return c.text("The form's CSRF token is missing or wrong; reload the page and try again.", 403);
  }
  await next();
});

consoleApp.post("/console/sign-out", async (c) => {
  await deleteConsoleSession(directoryDb(c.env), c.var.session.idHash);
  clearSessionCookie(c as unknown as Context<AppEnv>);
  return c.redirect("/console/sign-in", 303);
});

consoleApp.get("/console", (c) => (c.var.session.kind === "operator" ? operatorHome(c) : tenantHome(c)));
consoleApp.route("/console/transcripts", tenantConsole);
consoleApp.route("/console/operator", operatorConsole);
