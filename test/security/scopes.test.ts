/**
 * Scopes against data, route by route, derived from the app's own OpenAPI document: each route documents the scopes
 * that guard it (`security: [{bearerAuth: [...]}]`), the rules below judge those scopes against what the route's
 * responses contain, and every documented scope is checked to be enforced. A route added later is covered without a
 * row here.
 */
import { beforeAll, describe, expect, it } from "vitest";

import { isOpenAIPath } from "../../src/api/openai/errors.ts";
import { type Scope, SCOPES } from "../../src/auth/api-keys.ts";
import { adminKey, call, createTenant } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";
import { expectOpenAIError, expectProblem } from "./snapshot.ts";

interface Schema {
  $ref?: string;
  type?: string | string[];
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  allOf?: Schema[];
  anyOf?: Schema[];
  oneOf?: Schema[];
}
interface Operation {
  security?: Record<string, string[]>[];
  responses?: Record<string, { content?: Record<string, { schema?: Schema }> }>;
}
interface Route {
  route: string;
  method: string;
  path: string;
  scopes: string[] | null;
  /** every property name in the route's 2xx responses, with its description */
  fields: { name: string; description: string }[];
}

/** Response fields that carry a secret (the webhook signing secret, minted API keys): read scope or admin only. */
const isSecretField = (f: { name: string; description: string }) =>
  /secret|^key$/i.test(f.name) || /whsec_/.test(f.description);
/** Response fields that carry transcript content. */
const TRANSCRIPT_FIELDS = ["text", "segments", "words", "corrected_text"];
/**
 * Write routes whose response schema includes transcript fields but that must leave them empty for a key without
 * read scope; each is checked below by behaviour.
 */
const WRITE_ROUTES_WITHOUT_TRANSCRIPT_FOR_WRITERS = ["POST /v1/transcriptions"];

const routes: Route[] = [];

function collectFields(
  schema: Schema | undefined,
  components: Record<string, Schema>,
  seen: Set<string>,
  out: Route["fields"],
): void {
  if (!schema) return;
  if (schema.$ref) {
    const name = schema.$ref.replace("#/components/schemas/", "");
    if (seen.has(name)) return;
    seen.add(name);
    return collectFields(components[name], components, seen, out);
  }
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    out.push({ name, description: property.description ?? "" });
    collectFields(property, components, seen, out);
  }
  collectFields(schema.items, components, seen, out);
  if (typeof schema.additionalProperties === "object")
    collectFields(schema.additionalProperties, components, seen, out);
  for (const part of [...(schema.allOf ?? []), ...(schema.anyOf ?? []), ...(schema.oneOf ?? [])])
    collectFields(part, components, seen, out);
}

beforeAll(async () => {
  const doc = (await (await call("/openapi.json")).json()) as {
    paths: Record<string, Record<string, Operation>>;
    components?: { schemas?: Record<string, Schema> };
  };
  const components = doc.components?.schemas ?? {};
  for (const [path, operations] of Object.entries(doc.paths)) {
    if (!path.startsWith("/v1/")) continue;
    for (const [method, operation] of Object.entries(operations)) {
      if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
      const requirement = operation.security?.find((r) => "bearerAuth" in r);
      const fields: Route["fields"] = [];
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (!status.startsWith("2")) continue;
        for (const media of Object.values(response.content ?? {}))
          collectFields(media.schema, components, new Set(), fields);
      }
      routes.push({
        route: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        scopes: requirement?.bearerAuth ?? null,
        fields,
      });
    }
  }
  expect(routes.length).toBeGreaterThan(15);
});

const needsRead = (scopes: string[]) => scopes.includes("transcriptions:read") || scopes.includes("admin");

describe("the scopes each route documents fit the data it returns", () => {
  it("every /v1 route documents its bearer scopes, and only known ones", () => {
    for (const r of routes) {
      expect(r.scopes, `${r.route} has no bearerAuth requirement`).not.toBeNull();
      for (const scope of r.scopes!) expect(SCOPES as readonly string[], r.route).toContain(scope);
    }
    for (const r of routes.filter((r) => r.path.startsWith("/v1/admin/"))) expect(r.scopes, r.route).toEqual(["admin"]);
  });

  it("a route whose answer contains a secret needs the read scope (or admin)", () => {
    const withSecrets = routes.filter((r) => r.fields.some(isSecretField));
    // the rule has something to judge: the webhook secret routes and key minting
    expect(withSecrets.map((r) => r.route)).toEqual(
      expect.arrayContaining([
        "GET /v1/webhooks/secret",
        "POST /v1/webhooks/secret/rotate",
        "POST /v1/admin/tenants/{tenant}/keys",
      ]),
    );
    for (const r of withSecrets)
      expect(needsRead(r.scopes!), `${r.route} returns a secret under ${JSON.stringify(r.scopes)}`).toBe(true);
  });

  it("a route whose answer contains transcript content needs the read scope, or is checked to withhold it", () => {
    for (const r of routes.filter((r) => r.fields.some((f) => TRANSCRIPT_FIELDS.includes(f.name)))) {
      if (WRITE_ROUTES_WITHOUT_TRANSCRIPT_FOR_WRITERS.includes(r.route)) continue;
      expect(needsRead(r.scopes!), `${r.route} returns transcript content under ${JSON.stringify(r.scopes)}`).toBe(
        true,
      );
    }
  });
});

describe("every documented scope is enforced", () => {
  let tenantId: string;
  const keys = new Map<string, string>();
  async function keyWith(scopes: Scope[]): Promise<string> {
    const label = [...scopes].sort().join(" ");
    if (!keys.has(label)) {
      const res = await call(`/v1/admin/tenants/${tenantId}/keys`, {
        method: "POST",
        key: adminKey(),
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ scopes }),
      });
      expect(res.status, await res.clone().text()).toBe(201);
      keys.set(label, ((await res.json()) as { key: string }).key);
    }
    return keys.get(label)!;
  }
  // a model id is the deployment's, not a tenant's: name one that exists
  const fill = (path: string) =>
    path.replace(/\{(\w+)\}/g, (_, name: string) => (name === "model" ? "whisper-1" : "tr_01ZZZZZZZZZZZZZZZZZZZZZZZZ"));

  beforeAll(async () => {
    ({ tenantId } = await createTenant("scope-walk"));
  });

  it("a key missing one documented scope is refused before anything else happens", async () => {
    let checked = 0;
    for (const r of routes) {
      for (const scope of r.scopes ?? []) {
        const admin = r.path.startsWith("/v1/admin/");
        // `admin` grants the tenant scopes, so a key meant to lack one lacks admin too
        const held = admin ? [...SCOPES] : SCOPES.filter((s) => s !== scope && s !== "admin");
        const res = await call(fill(r.path), { method: r.method, key: await keyWith(held) });
        const code = admin ? "operator_required" : "insufficient_scope";
        // the OpenAI-compatible routes answer in OpenAI's error shape, the rest in problem+json
        if (isOpenAIPath(r.path)) await expectOpenAIError(res, 403, code);
        else await expectProblem(res, 403, code);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(15);
  });

  it("a route documenting no scope answers a read-only and a write-only key alike", async () => {
    const open = routes.filter((r) => r.scopes?.length === 0);
    expect(open.map((r) => r.route)).toEqual(["GET /v1/models", "GET /v1/models/{model}", "GET /v1/status"]);
    for (const r of open) {
      for (const scopes of [["transcriptions:read"], ["transcriptions:write"]] as Scope[][]) {
        expect((await call(fill(r.path), { method: r.method, key: await keyWith(scopes) })).status, r.route).toBe(200);
      }
    }
  });

  it("rotating the webhook secret needs read and write; a write-only key gets no secret", async () => {
    await expectProblem(
      await call("/v1/webhooks/secret/rotate", { method: "POST", key: await keyWith(["transcriptions:write"]) }),
      403,
      "insufficient_scope",
    );
    await expectProblem(
      await call("/v1/webhooks/secret/rotate", { method: "POST", key: await keyWith(["transcriptions:read"]) }),
      403,
      "insufficient_scope",
    );
    const rotated = await call("/v1/webhooks/secret/rotate", {
      method: "POST",
      key: await keyWith(["transcriptions:read", "transcriptions:write"]),
    });
    expect(rotated.status).toBe(200);
    expect(((await rotated.json()) as { secret: string }).secret).toMatch(/^whsec_/);
  });

  it("an upload replayed by a write-only key does not carry the finished transcript", async () => {
    const upload = (key: string) =>
      call("/v1/transcriptions?provider=whisper-pool", {
        method: "POST",
        key,
        body: makeWav(0.2),
        headers: { "content-type": "audio/wav", "idempotency-key": "scope-walk-replay" },
      });
    const first = await upload(await keyWith(["transcriptions:read", "transcriptions:write"]));
    expect(first.status, await first.clone().text()).toBe(202);
    const id = ((await first.json()) as { id: string }).id;
    expect(await (await poolCallback(completedCallback(id))).json()).toEqual({ ok: true, applied: true });

    const writer = await upload(await keyWith(["transcriptions:write"]));
    expect(writer.status).toBe(200);
    expect(writer.headers.get("idempotent-replayed")).toBe("true");
    const writerView = (await writer.json()) as { id: string; status: string; text: string | null; segments: unknown };
    expect(writerView).toMatchObject({ id, status: "completed", text: null, segments: null });

    const reader = (await (await upload(await keyWith(["transcriptions:read", "transcriptions:write"]))).json()) as {
      text: string | null;
    };
    expect(reader.text).toContain("ask not");
  });
});
