/**
 * The served OpenAPI document: valid OpenAPI 3.1 (checked by a real validator), complete (every route the app serves
 * is in it, or excluded here by name with a reason), and usable by a client generator (operationIds, tags, servers,
 * response headers, typed transcript, webhooks).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { TAGS } from "../../src/api/openapi.ts";
import { LOCAL_SERVER_URL } from "../../src/api/openapi-document.ts";
import { createApp } from "../../src/app.ts";
import { JOB_EVENT_STATUS, jobEventSchema, webhookPayload } from "../../src/webhooks/events.ts";
import { BASE, call, callWith, createTenant, multipartUpload } from "../helpers/api.ts";

/** Routes the app serves that are deliberately not in the document, `METHOD /path` with `{param}`s. */
const UNDOCUMENTED: Record<string, string> = {
  "GET /v1/uploads/{id}":
    "Hono serves HEAD through the GET handler: documented as `HEAD /v1/uploads/{id}` (tus); a plain GET answers 405",
  "GET /docs": "the HTML viewer of this document, not an API",
  "GET /docs/init.js": "the viewer's start-up script",
  "GET /internal/audio/{id}":
    "the Whisper pool's audio fetch, authorised by a per-job signed URL; its contract is docs/pool-contract.md",
  "POST /internal/pool/callback":
    "the Whisper pool's signed result callback (HMAC, not API keys); its schema is @vtt/pool-contract's",
  "PUT /internal/redactions/{id}/{resultId}":
    "the Whisper pool's upload of a redacted copy, authorised by a signed URL; its contract is docs/pool-contract.md §5",
};

/** The HTML console (docs/console.md): pages and forms for browsers, not the API. */
const CONSOLE_PATH = /^[A-Z]+ \/console(\/|$)/;

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

interface Operation {
  operationId?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, { headers?: Record<string, unknown>; content?: Record<string, { schema: unknown }> }>;
}
interface Document {
  openapi: string;
  servers: { url: string }[];
  tags: { name: string }[];
  paths: Record<string, Record<string, Operation>>;
  webhooks: Record<string, Record<string, Operation>>;
  components: { headers: Record<string, unknown>; schemas: Record<string, unknown> };
}

async function servedDocument(): Promise<Document> {
  const res = await call("/openapi.json");
  expect(res.status).toBe(200);
  return (await res.json()) as Document;
}

function operations(items: Record<string, Record<string, Operation>>): [string, Operation][] {
  return Object.entries(items).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((m): [string, Operation] => [`${m.toUpperCase()} ${path}`, item[m]!]),
  );
}

/** What the app answers: Hono's registered routes, without middleware, `:param` (or `:param{regex}`) as `{param}`. */
function servedRoutes(): Set<string> {
  const routes = createApp().routes.filter((r) => r.method !== "ALL");
  return new Set(routes.map((r) => `${r.method} ${r.path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, "{$1}")}`));
}

/** Hono answers HEAD with a GET route's handler: a documented HEAD is served where its GET is (tus uses HEAD). */
const withImpliedHead = (served: Set<string>) =>
  new Set([...served, ...[...served].filter((k) => k.startsWith("GET ")).map((k) => k.replace(/^GET /, "HEAD "))]);

describe("the OpenAPI document", () => {
  it("is valid OpenAPI 3.1 for @seriousme/openapi-schema-validator, every $ref resolving", async () => {
    const document = await servedDocument();
    expect(document.openapi).toBe("3.1.0");
    const res = await env.OPENAPI_VALIDATOR.fetch("http://validator/", {
      method: "POST",
      body: JSON.stringify(document),
    });
    const result = (await res.json()) as { valid: boolean; version: string; errors: unknown };
    expect(result.errors).toBeNull();
    expect(result).toMatchObject({ valid: true, version: "3.1" });
  });

  it("the validator refuses a broken document (so a pass above means something)", async () => {
    const document = await servedDocument();
    const broken = structuredClone(document);
    broken.paths["/v1/transcriptions"]!.post!.responses["202"]!.headers = { Location: { $ref: "#/nowhere" } };
    const res = await env.OPENAPI_VALIDATOR.fetch("http://validator/", {
      method: "POST",
      body: JSON.stringify(broken),
    });
    expect(((await res.json()) as { valid: boolean }).valid).toBe(false);
  });

  it("documents every route the app serves, except the named exclusions", async () => {
    const documented = new Set(operations((await servedDocument()).paths).map(([key]) => key));
    const served = servedRoutes();
    const missing = [...served].filter(
      (route) => !documented.has(route) && !(route in UNDOCUMENTED) && !CONSOLE_PATH.test(route),
    );
    expect(
      missing,
      "routes missing from /openapi.json: document them or add them to UNDOCUMENTED with a reason",
    ).toEqual([]);
    // an exclusion must name a route that exists and is not documented after all
    expect(Object.keys(UNDOCUMENTED).filter((route) => !served.has(route) || documented.has(route))).toEqual([]);
    // and the document describes no route the app does not serve
    expect([...documented].filter((route) => !withImpliedHead(served).has(route))).toEqual([]);
  });

  it("gives every operation a unique lowerCamel operationId and one of the service's tags", async () => {
    const document = await servedDocument();
    const all = [...operations(document.paths), ...operations(document.webhooks)];
    const allowed = new Set<string>(Object.values(TAGS));
    for (const [key, operation] of all) {
      expect(operation.operationId, key).toMatch(/^[a-z][A-Za-z0-9]*$/);
      expect(operation.tags?.length, key).toBe(1);
      expect(allowed.has(operation.tags![0]!), `${key}: tag ${operation.tags![0]}`).toBe(true);
    }
    const ids = all.map(([, operation]) => operation.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(document.tags.map((t) => t.name)).toEqual(Object.values(TAGS));
  });

  it("lists the deployment's PUBLIC_BASE_URL and the local dev server as servers", async () => {
    expect((await servedDocument()).servers.map((s) => s.url)).toEqual([BASE, LOCAL_SERVER_URL]);
    const res = await callWith({ PUBLIC_BASE_URL: undefined }, "/openapi.json");
    expect(((await res.json()) as Document).servers.map((s) => s.url)).toEqual([LOCAL_SERVER_URL]);
  });

  it("declares the headers and error answers where the code sends them", async () => {
    const { paths, components } = await servedDocument();
    for (const name of ["Location", "RetryAfter", "IdempotentReplayed", "XTraceId", "RateLimitPolicy", "RateLimit"]) {
      expect(components.headers[name], name).toBeDefined();
    }
    const upload = paths["/v1/transcriptions"]!.post!;
    expect(Object.keys(upload.responses)).toEqual(
      expect.arrayContaining(["200", "202", "400", "401", "409", "413", "415", "422", "429", "503"]),
    );
    expect(Object.keys(upload.responses["202"]!.headers!)).toEqual(
      expect.arrayContaining(["Location", "RateLimit-Policy", "RateLimit", "X-Trace-Id"]),
    );
    expect(Object.keys(upload.responses["200"]!.headers!)).toEqual(
      expect.arrayContaining(["Location", "Idempotent-Replayed"]),
    );
    expect(upload.parameters?.some((p) => p.in === "header" && p.name === "idempotency-key")).toBe(true);
    for (const [key, operation] of operations(paths)) {
      for (const [status, response] of Object.entries(operation.responses)) {
        expect(response.headers?.["X-Trace-Id"], `${key} ${status}`).toBeDefined();
      }
      if (!operation.security) continue;
      expect(Object.keys(operation.responses["429"]!.headers!), key).toEqual(
        expect.arrayContaining(["Retry-After", "RateLimit-Policy", "RateLimit"]),
      );
      expect(operation.responses["401"], key).toBeDefined();
    }
    // bodies read through the byte limit can be 413; the feedback route's review can be 409 before completion
    expect(paths["/v1/admin/tenants"]!.post!.responses["413"]).toBeDefined();
    expect(paths["/v1/transcriptions/{id}/feedback"]!.post!.responses["409"]).toBeDefined();
    expect(paths["/v1/transcriptions/{id}/transcript"]!.get!.responses["409"]).toBeDefined();
  });

  it("real answers carry every header their documented responses declare", async () => {
    const { paths } = await servedDocument();
    const t = await createTenant("documented-headers");
    const declared = (path: string, method: string, status: string) =>
      Object.keys(paths[path]![method]!.responses[status]!.headers ?? {});
    const uploaded = await multipartUpload(t.key, { provider: "whisper-pool" });
    expect(uploaded.status).toBe(202);
    for (const name of declared("/v1/transcriptions", "post", "202")) {
      expect(uploaded.headers.get(name), `202 ${name}`).not.toBeNull();
    }
    const listed = await call("/v1/transcriptions", { key: t.key });
    expect(listed.status).toBe(200);
    for (const name of declared("/v1/transcriptions", "get", "200")) {
      expect(listed.headers.get(name), `200 ${name}`).not.toBeNull();
    }
    const limits = { RATE_LIMIT_REQUESTS_PER_MINUTE: "1" };
    await callWith(limits, "/v1/transcriptions", { key: t.key });
    const refused = await callWith(limits, "/v1/transcriptions", { key: t.key });
    expect(refused.status).toBe(429);
    for (const name of declared("/v1/transcriptions", "get", "429")) {
      expect(refused.headers.get(name), `429 ${name}`).not.toBeNull();
    }
  });

  it("types the transcript export with the schema the job object's transcript fields come from", async () => {
    const { paths, components } = await servedDocument();
    const transcript = paths["/v1/transcriptions/{id}/transcript"]!.get!.responses["200"]!.content!;
    expect(transcript["application/json"]!.schema).toEqual({ $ref: "#/components/schemas/Transcript" });
    const schema = components.schemas.Transcript as { required: string[]; properties: Record<string, unknown> };
    expect(schema.required).toEqual(
      expect.arrayContaining(["id", "text", "segments", "language", "duration_seconds", "model"]),
    );
    expect(schema.properties.segments).toEqual({ type: "array", items: { $ref: "#/components/schemas/Segment" } });
    expect(schema.properties.words).toEqual(
      expect.objectContaining({ type: "array", items: { $ref: "#/components/schemas/Word" } }),
    );
  });

  it("describes both job events in `webhooks`, with their payloads and the Standard Webhooks headers", async () => {
    const { webhooks } = await servedDocument();
    expect(Object.keys(webhooks).sort()).toEqual(Object.keys(JOB_EVENT_STATUS).sort());
    for (const [type, item] of Object.entries(webhooks)) {
      const operation = item.post!;
      const headerNames = operation.parameters!.filter((p) => p.in === "header").map((p) => p.name);
      expect(headerNames.sort()).toEqual(["webhook-id", "webhook-signature", "webhook-timestamp"]);
      expect(operation.requestBody!.content["application/json"]!.schema).toMatchObject({
        $ref: expect.stringMatching(/^#\/components\/schemas\/Transcription(Completed|Failed)Event$/),
      });
      expect(type).toMatch(/^transcription\.(completed|failed)$/);
    }
  });

  it("the webhook schema is the one the sent payload is built to", () => {
    for (const type of ["transcription.completed", "transcription.failed"] as const) {
      const payload = webhookPayload({ id: "tr_01JD7Y7W8Q3N5X6T2R9M4K1B0C" }, type, "https://edge.test/", Date.now());
      expect(jobEventSchema(type).parse(payload)).toEqual(payload);
      expect(payload.data.links.self).toBe("https://edge.test/v1/transcriptions/tr_01JD7Y7W8Q3N5X6T2R9M4K1B0C");
    }
  });
});
