/** `/v1/admin/tenants/{tenant}/keys`: list, mint (shown once) and revoke a tenant's API keys. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../../app.context.ts";
import { DEFAULT_TENANT_SCOPES, generateApiKey, hashApiKey, KEY_DISPLAY_PREFIX_LENGTH } from "../../auth/api-keys.ts";
import { forgetKeys } from "../../auth/key-cache.ts";
import type { Env } from "../../env.ts";
import { ApiError } from "../../http/problem.ts";
import { isWellFormedId, newId } from "../../lib/ids.ts";
import type { Db } from "../../storage/db.ts";
import { directoryDb } from "../../storage/shards.ts";
import { type ApiKeyRow, getTenant, insertApiKey, listTenantKeys, revokeApiKey } from "../../storage/tenants.repo.ts";
import { iso, json, problem, TAGS } from "../openapi.ts";
import { ApiKeyListSchema, KeyCreate, KeyCreated } from "../schemas.ts";
import { validationHook } from "../validation.ts";
import { TenantParam } from "./tenants.ts";

export const keyRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

/** A key as the API lists it (never the key itself). */
export function keyObject(row: ApiKeyRow, now: number) {
  const status =
    row.revokedAt !== null ? "revoked" : row.expiresAt !== null && row.expiresAt <= now ? "expired" : "active";
  return {
    id: row.id,
    tenant_id: row.tenantId,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes.split(" ").filter(Boolean),
    status,
    created_at: new Date(row.createdAt).toISOString(),
    expires_at: iso(row.expiresAt),
    revoked_at: iso(row.revokedAt),
    last_used_at: iso(row.lastUsedAt),
  } as const;
}

keyRoutes.openapi(
  createRoute({
    method: "get",
    path: "/v1/admin/tenants/{tenant}/keys",
    operationId: "listApiKeys",
    tags: [TAGS.admin],
    summary: "List a tenant's API keys (never the keys themselves), newest first",
    security: [{ bearerAuth: ["admin"] }],
    request: { params: TenantParam },
    responses: { 200: { description: "The keys", content: json(ApiKeyListSchema) }, 404: problem("No such tenant") },
  }),
  async (c) => {
    const tenantId = c.req.valid("param").tenant;
    const tenant = isWellFormedId(tenantId, "tenant") ? await getTenant(directoryDb(c.env), tenantId) : null;
    if (!tenant) throw new ApiError(404, "not_found", "No tenant with that id.");
    const now = Date.now();
    return c.json(
      { data: (await listTenantKeys(directoryDb(c.env), tenantId)).map((row) => keyObject(row, now)) },
      200,
    );
  },
);

const createKeyRoute = createRoute({
  method: "post",
  path: "/v1/admin/tenants/{tenant}/keys",
  operationId: "createApiKey",
  tags: [TAGS.admin],
  summary: "Create an API key for a tenant (the key is shown once)",
  security: [{ bearerAuth: ["admin"] }],
  request: { params: TenantParam, body: { content: json(KeyCreate), required: false } },
  responses: { 201: { description: "Created", content: json(KeyCreated) }, 404: problem("No such tenant") },
});

keyRoutes.openapi(createKeyRoute, async (c) =>
  c.json(await mintApiKey(directoryDb(c.env), c.req.valid("param").tenant, c.req.valid("json") ?? {}), 201),
);

/** Mints a key for a tenant and returns it, the only time it is ever shown; 404 for an unknown tenant. */
export async function mintApiKey(db: Db, tenantId: string, input: z.infer<typeof KeyCreate>) {
  const tenant = isWellFormedId(tenantId, "tenant") ? await getTenant(db, tenantId) : null;
  if (!tenant) throw new ApiError(404, "not_found", "No tenant with that id.");
  const expiresAt = input.expires_at ? Date.parse(input.expires_at) : null;
  if (expiresAt !== null && expiresAt <= Date.now())
    throw new ApiError(422, "validation_failed", "expires_at must be in the future.");
  const key = generateApiKey();
  const scopes = input.scopes ?? DEFAULT_TENANT_SCOPES;
  const row = {
    id: newId("apiKey"),
    tenantId,
    name: input.name ?? null,
    prefix: key.slice(0, KEY_DISPLAY_PREFIX_LENGTH),
    keyHash: await hashApiKey(key),
    scopes: scopes.join(" "),
    createdAt: Date.now(),
    expiresAt,
  };
  await insertApiKey(db, row);
  return {
    id: row.id,
    tenant_id: tenantId,
    name: row.name,
    key,
    prefix: row.prefix,
    scopes,
    created_at: new Date(row.createdAt).toISOString(),
    expires_at: expiresAt === null ? null : new Date(expiresAt).toISOString(),
  };
}

const revokeKeyRoute = createRoute({
  method: "post",
  path: "/v1/admin/tenants/{tenant}/keys/{key}/revoke",
  operationId: "revokeApiKey",
  tags: [TAGS.admin],
  summary: "Revoke an API key",
  security: [{ bearerAuth: ["admin"] }],
  request: { params: TenantParam.extend({ key: z.string().openapi({ param: { name: "key", in: "path" } }) }) },
  responses: { 204: { description: "Revoked" }, 404: problem("No such key") },
});

keyRoutes.openapi(revokeKeyRoute, async (c) => {
  const { tenant, key } = c.req.valid("param");
  if (!(await revokeKey(c.env, tenant, key))) throw new ApiError(404, "not_found", "No such key for that tenant.");
  return c.body(null, 204);
});

/** Revokes a key in the directory; this isolate forgets it at once (others within API_KEY_CACHE_SECONDS). */
export async function revokeKey(env: Env, tenantId: string, keyId: string): Promise<boolean> {
  const revoked = await revokeApiKey(directoryDb(env), tenantId, keyId, Date.now());
  forgetKeys({ keyId });
  return revoked;
}
