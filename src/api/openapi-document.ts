/**
 * The OpenAPI 3.1 document served at `/openapi.json`: the routers' route definitions, plus what every operation shares
 * because middleware in src/app.ts does it for every request (trace id, authentication, rate limits, body limits,
 * fail-closed configuration checks), the `servers`, the tags and the webhooks the service sends.
 */
import { type OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../app.context.ts";
import type { Env } from "../env.ts";
import { STREAMED_BODY_ROUTES } from "../http/body-limit.ts";
import { JOB_EVENT_STATUS, jobEventSchema, type JobEventType } from "../webhooks/events.ts";
import { isOpenAIPath } from "./openai/errors.ts";
import { OpenAIErrorSchema } from "./openai/schemas.ts";
import { HEADER_COMPONENTS, headers, json, TAGS } from "./openapi.ts";
import { ProblemSchema } from "./schemas.ts";

/** Where `wrangler dev` serves the Worker. */
export const LOCAL_SERVER_URL = "http://127.0.0.1:8787";

const TAG_DESCRIPTIONS: Record<(typeof TAGS)[keyof typeof TAGS], string> = {
  Transcriptions: "Upload audio, read, list, export and delete transcription jobs",
  "OpenAI-compatible": "Routes shaped like OpenAI's audio API, for its client libraries",
  Webhooks: "The signing secret and the delivery log of the events this service sends",
  Subjects: "Erasure of one person's recordings",
  Feedback: "Reviews of transcripts",
  Service: "Health, availability, metrics and this document",
  Admin: "The operator plane: only the operator key (`ADMIN_API_KEY`)",
};

const PROBLEM_REF = { $ref: "#/components/schemas/Problem" };

/** The Standard Webhooks headers every delivery carries (https://www.standardwebhooks.com). */
const WEBHOOK_HEADERS = {
  "webhook-id": "The event id; the same on every attempt, so a receiver can drop duplicates",
  "webhook-timestamp": "Unix seconds when this attempt was signed; refuse stale ones",
  "webhook-signature":
    "`v1,<base64 HMAC-SHA256 of id.timestamp.body>` with the secret from `GET /v1/webhooks/secret`; space-separated, " +
    "two signatures during a secret rotation",
} as const;
const WEBHOOK_HEADER_SCHEMA = z.object(
  Object.fromEntries(
    Object.entries(WEBHOOK_HEADERS).map(([name, description]) => [name, z.string().openapi({ description })]),
  ),
);

/**
 * Registers what the routers cannot declare themselves: shared components, the webhooks, and the routes of
 * src/app.ts. Call once, before the document is first generated.
 */
export function registerDocumentParts(app: OpenAPIHono<AppEnv>): void {
  const registry = app.openAPIRegistry;
  registry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer" });
  for (const [name, header] of Object.entries(HEADER_COMPONENTS)) {
    // plain JSON Schema objects: the registry's HeaderObject types `type` as a union of literals
    registry.registerComponent("headers", name, header as Parameters<typeof registry.registerComponent<"headers">>[2]);
  }
  registry.register("Problem", ProblemSchema);
  registry.register("OpenAIError", OpenAIErrorSchema);

  for (const type of Object.keys(JOB_EVENT_STATUS) as JobEventType[]) registerJobWebhook(app, type);

  registry.registerPath({
    method: "get",
    path: "/healthz",
    operationId: "getHealth",
    tags: [TAGS.service],
    summary: "Liveness: 200 while the Worker answers (stays 200 in degraded mode)",
    responses: { 200: { description: "Alive", content: json(z.object({ status: z.literal("ok") })) } },
  });
  registry.registerPath({
    method: "get",
    path: "/openapi.json",
    operationId: "getOpenApiDocument",
    tags: [TAGS.service],
    summary: "This OpenAPI 3.1 document",
    responses: { 200: { description: "The document", content: { "application/json": { schema: {} } } } },
  });
}

function registerJobWebhook(app: OpenAPIHono<AppEnv>, type: JobEventType): void {
  const name = type === "transcription.completed" ? "TranscriptionCompletedEvent" : "TranscriptionFailedEvent";
  app.openAPIRegistry.registerWebhook({
    method: "post",
    path: type,
    operationId: type === "transcription.completed" ? "notifyTranscriptionCompleted" : "notifyTranscriptionFailed",
    tags: [TAGS.webhooks],
    summary: `Sent to the job's \`webhook_url\` when a job ${JOB_EVENT_STATUS[type] === "completed" ? "completes" : "fails"}`,
    description:
      "Signed per Standard Webhooks. Any 2xx acknowledges; other answers and timeouts (10 s) are retried for about a " +
      "day with growing delays; `410 Gone` stops the retries at once.",
    request: {
      headers: WEBHOOK_HEADER_SCHEMA,
      body: { required: true, content: json(jobEventSchema(type).openapi(name)) },
    },
    responses: {
      200: { description: "Any 2xx acknowledges the event" },
      410: { description: "Stop sending: no further attempts for this event" },
    },
  });
}

/** The document for one deployment: `servers` from `PUBLIC_BASE_URL` (when it is a URL) and the local dev server. */
export function openApiDocument(app: OpenAPIHono<AppEnv>, env: Env) {
  const document = app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "Edge voice-to-text API",
      version: "1.0.0",
      description:
        "Asynchronous transcription: upload audio, poll the job or receive a webhook, export txt/srt/vtt/json.",
    },
    servers: serversOf(env),
    tags: Object.values(TAGS).map((name) => ({ name, description: TAG_DESCRIPTIONS[name] })),
  });
  declareSharedResponses((document.paths ?? {}) as Record<string, Json>);
  return document;
}

export function serversOf(env: Pick<Env, "PUBLIC_BASE_URL">): { url: string; description: string }[] {
  const servers = [];
  const base = env.PUBLIC_BASE_URL?.replace(/\/+$/, "");
  if (base && URL.canParse(base)) servers.push({ url: base, description: "This deployment" });
  if (base !== LOCAL_SERVER_URL) servers.push({ url: LOCAL_SERVER_URL, description: "Local `wrangler dev`" });
  return servers;
}

type Json = Record<string, unknown>;
interface Operation {
  security?: Record<string, string[]>[];
  parameters?: { in: string }[];
  requestBody?: unknown;
  responses?: Record<string, Json>;
}

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"] as const;

const OPENAI_ERROR_REF = { $ref: "#/components/schemas/OpenAIError" };

/** An error answer in the shape the path renders errors in (src/app.ts): OpenAI's on its routes, else problem+json. */
const errorContent = (path: string): Json =>
  isOpenAIPath(path)
    ? { "application/json": { schema: OPENAI_ERROR_REF } }
    : { "application/problem+json": { schema: PROBLEM_REF } };

/** The operator plane (and `/metrics`): only the bootstrap key, which no rate limiter counts. */
const isOperatorPath = (path: string) => path.startsWith("/v1/admin/") || path === "/metrics";

/**
 * Adds, to each operation, the answers middleware gives on every route it guards (a route's own declaration wins):
 * `X-Trace-Id` on every response; for authenticated routes 401, 429 (`Retry-After` and the rate-limit fields) and,
 * on tenant routes, the rate-limit fields on successes; 403 `operator_required` on the operator plane; 400/413/422
 * on bodies read through the byte limit and the zod validation hook; 400 on validated parameters; 503 where
 * configuration or storage fails closed.
 */
function declareSharedResponses(paths: Record<string, Json>): void {
  for (const [path, item] of Object.entries(paths)) {
    const problemResponse = (description: string, extraHeaders: Json = {}): Json => ({
      description,
      headers: { ...headers.traceId, ...extraHeaders },
      content: errorContent(path),
    });
    for (const method of METHODS) {
      const operation = item[method] as Operation | undefined;
      if (!operation) continue;
      const responses = (operation.responses ??= {});
      const authenticated = operation.security?.some((s) => "bearerAuth" in s) ?? false;
      const operator = isOperatorPath(path);
      if (authenticated) {
        responses["401"] ??= problemResponse("Missing, unknown, revoked or expired API key", {
          "WWW-Authenticate": { description: "`Bearer`", schema: { type: "string" } },
        });
        responses["429"] ??= {
          description: operator
            ? "Too many failed authentications from this address (`auth_rate_limited`)"
            : "The API key's requests per minute are spent (`rate_limited`), or too many failed authentications " +
              "from this address (`auth_rate_limited`)",
          content: errorContent(path),
        };
        const tooMany = responses["429"]!;
        tooMany.headers = { ...headers.retryAfter, ...headers.rateLimit, ...(tooMany.headers as Json) };
        if (operator) responses["403"] ??= problemResponse("Not the operator key (`operator_required`)");
        else
          for (const [status, response] of Object.entries(responses))
            if (status.startsWith("2")) response.headers = { ...headers.rateLimit, ...(response.headers as Json) };
      }
      if (operation.requestBody && !STREAMED_BODY_ROUTES.includes(`${method.toUpperCase()} ${path}`)) {
        responses["413"] ??= problemResponse("The request body is over its limit (`payload_too_large`)");
        // src/api/validation.ts: a body that is not JSON is 400, well-formed JSON with wrong fields 422
        responses["400"] ??= problemResponse("The body is not JSON (`malformed_json`)");
        responses["422"] ??= problemResponse("The body fails validation (`validation_failed`, with `errors`)");
      }
      if (operation.parameters?.some((p) => p.in === "query" || p.in === "path")) {
        responses["400"] ??= problemResponse("A query or path parameter fails validation (`invalid_parameters`)");
      }
      responses["503"] ??= problemResponse(
        "The deployment fails closed: a weak operator key (`admin_key_too_weak`), no `ENCRYPTION_KEYS` " +
          "(`encryption_not_configured`), or storage unavailable",
      );
      for (const response of Object.values(responses)) {
        response.headers = { ...(response.headers as Json), ...headers.traceId };
      }
    }
  }
}
