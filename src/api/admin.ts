/** `/v1/admin`: tenants and API keys. Needs the `admin` scope (the bootstrap key from `ADMIN_API_KEY` has it). */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import type { AppEnv } from "../app.context.ts";
import { DEFAULT_TENANT_SCOPES, generateApiKey, hashApiKey, KEY_DISPLAY_PREFIX_LENGTH } from "../auth/api-keys.ts";
import { requireOperator } from "../auth/middleware.ts";
import { ApiError } from "../http/problem.ts";
import { isWellFormedId, newId } from "../lib/ids.ts";
import { DEFAULT_AUDIO_RETENTION_SECONDS, MAX_AUDIO_RETENTION_SECONDS } from "../jobs/retention-policy.ts";
import { apiKeys, tenants } from "../storage/schema.ts";
import { KeyCreate, KeyCreated, ProblemSchema, TenantCreate, TenantSchema, TenantUpdate } from "./schemas.ts";
import { validationHook } from "./validation.ts";

const problem = (description: string) => ({ description, content: { "application/problem+json": { schema: ProblemSchema } } });
const json = <T extends z.ZodTypeAny>(schema: T) => ({ "application/json": { schema } });
const TenantParam = z.object({ tenant: z.string().openapi({ param: { name: "tenant", in: "path" } }) });

export const admin = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
admin.use("/v1/admin/*", requireOperator);

const createTenantRoute = createRoute({
  method: "post",
  path: "/v1/admin/tenants",
  summary: "Create a tenant",
  security: [{ bearerAuth: [] }],
  request: { body: { content: json(TenantCreate), required: true } },
  responses: { 201: { description: "Created", content: json(TenantSchema) }, 422: problem("Invalid body") },
});

type TenantRow = typeof tenants.$inferSelect;
type RetentionInput = { audio_seconds?: number | null; transcript_seconds?: number | null };

function tenantObject(row: TenantRow) {
  return {
    id: row.id,
    name: row.name,
    created_at: new Date(row.createdAt).toISOString(),
    retention: {
      audio_seconds: row.audioRetentionSeconds ?? DEFAULT_AUDIO_RETENTION_SECONDS,
      transcript_seconds: row.transcriptRetentionSeconds,
    },
  };
}

/** Only the fields that were sent change; null resets a window to its default. */
function retentionColumns(input: RetentionInput | undefined): Partial<Pick<TenantRow, "audioRetentionSeconds" | "transcriptRetentionSeconds">> {
  if (!input) return {};
  if (typeof input.audio_seconds === "number" && input.audio_seconds > MAX_AUDIO_RETENTION_SECONDS) {
    throw new ApiError(422, "validation_failed", `retention.audio_seconds: at most ${MAX_AUDIO_RETENTION_SECONDS} seconds (30 days)`, [
      { field: "retention.audio_seconds", message: `at most ${MAX_AUDIO_RETENTION_SECONDS}` },
    ]);
  }
  return {
    ...(input.audio_seconds !== undefined ? { audioRetentionSeconds: input.audio_seconds } : {}),
    ...(input.transcript_seconds !== undefined ? { transcriptRetentionSeconds: input.transcript_seconds } : {}),
  };
}

admin.openapi(createTenantRoute, async (c) => {
  const { name, retention } = c.req.valid("json");
  const row: TenantRow = {
    id: newId("tenant"),
    name,
    createdAt: Date.now(),
    webhookSecret: null,
    webhookSecretPrevious: null,
    webhookSecretPreviousUntil: null,
    audioRetentionSeconds: null,
    transcriptRetentionSeconds: null,
    ...retentionColumns(retention),
  };
  await c.var.db.insert(tenants).values(row).run();
  return c.json(tenantObject(row), 201);
});

const updateTenantRoute = createRoute({
  method: "patch",
  path: "/v1/admin/tenants/{tenant}",
  summary: "Change a tenant's retention windows (applies to jobs uploaded afterwards)",
  security: [{ bearerAuth: [] }],
  request: { params: TenantParam, body: { content: json(TenantUpdate), required: true } },
  responses: { 200: { description: "Updated", content: json(TenantSchema) }, 404: problem("No such tenant"), 422: problem("Invalid body") },
});

admin.openapi(updateTenantRoute, async (c) => {
  const tenantId = c.req.valid("param").tenant;
  const changes = retentionColumns(c.req.valid("json").retention);
  const [row] = isWellFormedId(tenantId, "tenant")
    ? Object.keys(changes).length
      ? await c.var.db.update(tenants).set(changes).where(eq(tenants.id, tenantId)).returning()
      : await c.var.db.select().from(tenants).where(eq(tenants.id, tenantId)).limit(1)
    : [];
  if (!row) throw new ApiError(404, "not_found", "No tenant with that id.");
  return c.json(tenantObject(row), 200);
});

const createKeyRoute = createRoute({
  method: "post",
  path: "/v1/admin/tenants/{tenant}/keys",
  summary: "Create an API key for a tenant (the key is shown once)",
  security: [{ bearerAuth: [] }],
  request: { params: TenantParam, body: { content: json(KeyCreate), required: false } },
  responses: { 201: { description: "Created", content: json(KeyCreated) }, 404: problem("No such tenant") },
});

admin.openapi(createKeyRoute, async (c) => {
  const tenantId = c.req.valid("param").tenant;
  const input = c.req.valid("json") ?? {};
  const [tenant] = isWellFormedId(tenantId, "tenant")
    ? await c.var.db.select().from(tenants).where(eq(tenants.id, tenantId)).limit(1)
    : [];
  if (!tenant) throw new ApiError(404, "not_found", "No tenant with that id.");
  const expiresAt = input.expires_at ? Date.parse(input.expires_at) : null;
  if (expiresAt !== null && expiresAt <= Date.now()) throw new ApiError(422, "validation_failed", "expires_at must be in the future.");
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
  await c.var.db.insert(apiKeys).values(row).run();
  return c.json(
    {
      id: row.id,
      tenant_id: tenantId,
      name: row.name,
      key,
      prefix: row.prefix,
      scopes,
      created_at: new Date(row.createdAt).toISOString(),
      expires_at: expiresAt === null ? null : new Date(expiresAt).toISOString(),
    },
    201,
  );
});

const revokeKeyRoute = createRoute({
  method: "post",
  path: "/v1/admin/tenants/{tenant}/keys/{key}/revoke",
  summary: "Revoke an API key",
  security: [{ bearerAuth: [] }],
  request: { params: TenantParam.extend({ key: z.string().openapi({ param: { name: "key", in: "path" } }) }) },
  responses: { 204: { description: "Revoked" }, 404: problem("No such key") },
});

admin.openapi(revokeKeyRoute, async (c) => {
  const { tenant, key } = c.req.valid("param");
  const rows = await c.var.db
    .update(apiKeys)
    .set({ revokedAt: Date.now() })
    .where(and(eq(apiKeys.tenantId, tenant), eq(apiKeys.id, key)))
    .returning({ id: apiKeys.id });
  if (!rows.length) throw new ApiError(404, "not_found", "No such key for that tenant.");
  return c.body(null, 204);
});
