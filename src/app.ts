/** Composition root of the HTTP API: middleware, routers, OpenAPI document and error mapping. */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { secureHeaders } from "hono/secure-headers";

import { admin } from "./api/admin/index.ts";
import { consoleApp } from "./api/console/index.tsx";
import { API_CSP, docs } from "./api/docs-page.ts";
import { feedbackRoutes } from "./api/feedback.ts";
import { internal } from "./api/internal.ts";
import { metrics } from "./api/metrics.ts";
import { audio } from "./api/openai/audio.ts";
import { isOpenAIPath, openAIErrorResponse } from "./api/openai/errors.ts";
import { models } from "./api/openai/models.ts";
import { openApiDocument, registerDocumentParts } from "./api/openapi-document.ts";
import { status } from "./api/status.ts";
import { subjects } from "./api/subjects.ts";
import { transcriptions } from "./api/transcriptions.ts";
import { uploads } from "./api/uploads.ts";
import { webhooks } from "./api/webhooks.ts";
import type { AppEnv } from "./app.context.ts";
import { refuseWeakAdminKey } from "./auth/admin-key-policy.ts";
import { authenticate, refuseWritesWhileMoving } from "./auth/middleware.ts";
import { corsOrigins, isDevelopment } from "./config.ts";
import { EnvelopeError } from "./domain/envelope.ts";
import { PlacementError } from "./domain/placement.ts";
import { limitRequestBodies } from "./http/body-limit.ts";
import { ApiError, problemResponse } from "./http/problem.ts";
import { log, withLogContext } from "./lib/log.ts";
import { childTraceparent, traceIdOf } from "./observability/trace.ts";
import { createDb } from "./storage/db.ts";
import { isDatabaseUnavailable, StorageError, type StorageErrorKind } from "./storage/errors.ts";

/** How each kind of storage failure reads over HTTP. */
const STORAGE_ERROR_STATUS = {
  invalid_input: 400,
  too_large: 413,
  unsupported: 415,
  conflict: 409,
  unavailable: 503,
} as const satisfies Record<StorageErrorKind, number>;

/** Retry-After of a 503 when a database could not serve (a job shard down or overloaded). */
const STORAGE_RETRY_AFTER_SECONDS = 5;

export function createApp() {
  const app = new OpenAPIHono<AppEnv>();

  app.use("*", async (c, next) => {
    // continue the caller's trace (W3C traceparent) or start one; every log line of the request carries its trace id
    const traceparent = childTraceparent(c.req.header("traceparent"));
    c.set("traceparent", traceparent);
    const traceId = traceIdOf(traceparent);
    const started = Date.now();
    await withLogContext({ trace_id: traceId }, async () => {
      await next();
      c.res.headers.set("x-trace-id", traceId ?? "");
      // the route pattern, not the path: paths carry ids, and /v1/subjects/{id} a person's identifier
      const route = c.req.matchedRoutes.findLast((r) => r.method !== "ALL")?.path ?? "unmatched";
      log("request", {
        method: c.req.method,
        route,
        status: c.res.status,
        duration_ms: Date.now() - started,
        tenant_id: c.get("principal")?.tenantId ?? undefined,
      });
    });
  });
  app.use(
    "*",
    secureHeaders({ strictTransportSecurity: "max-age=31536000; includeSubDomains", xFrameOptions: "DENY" }),
  );
  app.use("*", async (c, next) => {
    await next();
    if (!c.res.headers.has("content-security-policy")) c.res.headers.set("content-security-policy", API_CSP);
  });
  // a weak operator key fails every request closed (a Worker cannot refuse to start)
  app.use("*", refuseWeakAdminKey);
  app.use("*", async (c, next) => {
    // TLS only: an API key sent over plain http is already exposed, so the request is refused, not redirected
    if (!isDevelopment(c.env) && new URL(c.req.url).protocol !== "https:") {
      throw new ApiError(403, "https_required", "This API is served over HTTPS only; the request was not processed.");
    }
    await next();
  });
  // CORS stays off (no Access-Control-* headers, browsers block cross-origin calls) unless origins are configured
  app.use("*", async (c, next) => {
    const origins = corsOrigins(c.env);
    if (!origins.length) return next();
    return cors({
      origin: origins,
      allowMethods: ["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"],
      // the tus request headers (tus-js-client, Uppy) beside ours
      allowHeaders: [
        "authorization",
        "content-type",
        "idempotency-key",
        "tus-resumable",
        "upload-length",
        "upload-offset",
        "upload-metadata",
        "upload-checksum",
        "upload-defer-length",
        "x-http-method-override",
        "x-requested-with",
      ],
      exposeHeaders: [
        "location",
        "retry-after",
        "idempotent-replayed",
        "ratelimit-policy",
        "ratelimit",
        "x-trace-id",
        "tus-resumable",
        "tus-version",
        "tus-extension",
        "tus-max-size",
        "tus-checksum-algorithm",
        "upload-offset",
        "upload-length",
        "upload-expires",
        "transcription-id",
      ],
      maxAge: 600,
    })(c, next);
  });
  app.use("*", async (c, next) => {
    c.set("db", createDb(c.env));
    await next();
  });

  app.get("/healthz", (c) => c.json({ status: "ok" }));
  // the HTML console: cookie sessions of its own (src/api/console/session.ts), never the bearer middleware below
  app.route("/", consoleApp);
  app.route("/", internal);
  app.route("/", metrics);

  app.use("/v1/*", authenticate);
  // a tenant being moved to another shard reads but does not write
  app.use("/v1/*", refuseWritesWhileMoving);
  // every /v1 body except the streamed upload is read through a byte counter (src/http/body-limit.ts)
  app.use("/v1/*", limitRequestBodies());
  app.route("/", transcriptions);
  app.route("/", uploads);
  // OpenAI-compatible: /v1/audio/*, /v1/models (errors in OpenAI's shape, see errorResponse below)
  app.route("/", audio);
  app.route("/", models);
  app.route("/", webhooks);
  app.route("/", feedbackRoutes);
  app.route("/", status);
  app.route("/", subjects);
  app.route("/", admin);

  registerDocumentParts(app);
  app.get("/openapi.json", (c) => c.json(openApiDocument(app, c.env)));
  app.route("/", docs);

  app.notFound((c) => errorResponse(c, new ApiError(404, "not_found", "No such route.")));
  app.onError((error, c) => errorResponse(c, asApiError(error, c)));
  return app;
}

/** Errors in the shape the caller's SDK parses: OpenAI's on the OpenAI-compatible paths, problem+json elsewhere. */
function errorResponse(c: Context, error: ApiError): Response {
  return isOpenAIPath(new URL(c.req.url).pathname) ? openAIErrorResponse(error) : problemResponse(c, error);
}

/** Anything thrown while handling a request, as the ApiError it is answered with. */
function asApiError(error: Error, c: Context): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof StorageError) return new ApiError(STORAGE_ERROR_STATUS[error.kind], error.code, error.message);
  if (error instanceof PlacementError) {
    // a deployment error: refuse rather than guess where a tenant's data goes (residency)
    log("placement_invalid", { path: new URL(c.req.url).pathname });
    return new ApiError(
      503,
      "placement_invalid",
      "The service's data placement is misconfigured; operators have been alerted.",
    );
  }
  if (isDatabaseUnavailable(error)) {
    // a shard that is down fails only its own tenants' requests; nothing was written, so a retry is safe
    log("database_unavailable", { path: new URL(c.req.url).pathname, error: error.name });
    return new ApiError(
      503,
      "storage_unavailable",
      "Our storage for this account is briefly unavailable; retry.",
      undefined,
      {
        "retry-after": String(STORAGE_RETRY_AFTER_SECONDS),
      },
    );
  }
  if (error instanceof EnvelopeError) {
    // stored bytes that fail authentication or a retired master key version: our fault, never the caller's input
    log("envelope_error", { path: new URL(c.req.url).pathname, reason: error.reason });
    return new ApiError(
      500,
      "stored_data_unreadable",
      "A stored object could not be decrypted; operators have been alerted.",
    );
  }
  if (error instanceof HTTPException) {
    const status = error.status;
    const code =
      status === 405
        ? "method_not_allowed"
        : status === 415
          ? "unsupported_media_type"
          : /json/i.test(error.message)
            ? "malformed_json"
            : "bad_request";
    return new ApiError(status as 400, code, error.message);
  }
  log("unhandled_error", {
    path: new URL(c.req.url).pathname,
    error: error instanceof Error ? error.name : "unknown",
  });
  return new ApiError(500, "internal_error", "Something went wrong on our side.");
}
