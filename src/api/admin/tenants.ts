/** `/v1/admin/tenants`: list, read and create tenants, change their retention windows, erase one with all it stored. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../../app.context.ts";
import { eraseTenant } from "../../compliance/erasure.ts";
import { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT } from "../../config.ts";
import { ApiError } from "../../http/problem.ts";
import { DEFAULT_AUDIO_RETENTION_SECONDS, MAX_AUDIO_RETENTION_SECONDS } from "../../jobs/retention-policy.ts";
import { isWellFormedId, newId } from "../../lib/ids.ts";
import type { Db } from "../../storage/db.ts";
import {
  getTenant,
  insertTenant,
  listTenants,
  type TenantRetentionColumns,
  type TenantRow,
  updateTenantRetention,
} from "../../storage/tenants.repo.ts";
import { json, problem, TAGS } from "../openapi.ts";
import { ErasureReceiptSchema, TenantCreate, TenantListSchema, TenantSchema, TenantUpdate } from "../schemas.ts";
import { validationHook } from "../validation.ts";

export const TenantParam = z.object({ tenant: z.string().openapi({ param: { name: "tenant", in: "path" } }) });

export const tenantRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const createTenantRoute = createRoute({
  method: "post",
  path: "/v1/admin/tenants",
  operationId: "createTenant",
  tags: [TAGS.admin],
  summary: "Create a tenant",
  security: [{ bearerAuth: ["admin"] }],
  request: { body: { content: json(TenantCreate), required: true } },
  responses: { 201: { description: "Created", content: json(TenantSchema) }, 422: problem("Invalid body") },
});

type RetentionInput = { audio_seconds?: number | null; transcript_seconds?: number | null };

/** A tenant as the API shows it, retention defaults filled in. */
export function tenantObject(row: TenantRow) {
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
export function retentionColumns(input: RetentionInput | undefined): TenantRetentionColumns {
  if (!input) return {};
  if (typeof input.audio_seconds === "number" && input.audio_seconds > MAX_AUDIO_RETENTION_SECONDS) {
    throw new ApiError(
      422,
      "validation_failed",
      `retention.audio_seconds: at most ${MAX_AUDIO_RETENTION_SECONDS} seconds (30 days)`,
      [{ field: "retention.audio_seconds", message: `at most ${MAX_AUDIO_RETENTION_SECONDS}` }],
    );
  }
  return {
    ...(input.audio_seconds !== undefined ? { audioRetentionSeconds: input.audio_seconds } : {}),
    ...(input.transcript_seconds !== undefined ? { transcriptRetentionSeconds: input.transcript_seconds } : {}),
  };
}

tenantRoutes.openapi(createTenantRoute, async (c) =>
  c.json(tenantObject(await createTenantRow(c.var.db, c.req.valid("json"))), 201),
);

/** Creates a tenant (retention windows optional); returns its row. */
export async function createTenantRow(db: Db, input: z.infer<typeof TenantCreate>): Promise<TenantRow> {
  const { name, retention } = input;
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
  await insertTenant(db, row);
  return row;
}

const TenantListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_LIST_LIMIT).optional().openapi({ example: 20 }),
  cursor: z
    .string()
    .refine((id) => isWellFormedId(id, "tenant"), "a tenant id from `next_cursor`")
    .optional(),
});

tenantRoutes.openapi(
  createRoute({
    method: "get",
    path: "/v1/admin/tenants",
    operationId: "listTenants",
    tags: [TAGS.admin],
    summary: "List tenants, newest first",
    description: "Keyset pagination: pass `next_cursor` back as `cursor`.",
    security: [{ bearerAuth: ["admin"] }],
    request: { query: TenantListQuery },
    responses: {
      200: { description: "A page of tenants", content: json(TenantListSchema) },
      400: problem("Bad cursor"),
    },
  }),
  async (c) => {
    const { limit = DEFAULT_LIST_LIMIT, cursor } = c.req.valid("query");
    const rows = await listTenants(c.var.db, { limit: limit + 1, beforeId: cursor });
    const page = rows.slice(0, limit);
    return c.json({ data: page.map(tenantObject), next_cursor: rows.length > limit ? page.at(-1)!.id : null }, 200);
  },
);

tenantRoutes.openapi(
  createRoute({
    method: "get",
    path: "/v1/admin/tenants/{tenant}",
    operationId: "getTenant",
    tags: [TAGS.admin],
    summary: "Get a tenant",
    security: [{ bearerAuth: ["admin"] }],
    request: { params: TenantParam },
    responses: { 200: { description: "The tenant", content: json(TenantSchema) }, 404: problem("No such tenant") },
  }),
  async (c) => {
    const tenantId = c.req.valid("param").tenant;
    const row = isWellFormedId(tenantId, "tenant") ? await getTenant(c.var.db, tenantId) : null;
    if (!row) throw new ApiError(404, "not_found", "No tenant with that id.");
    return c.json(tenantObject(row), 200);
  },
);

const updateTenantRoute = createRoute({
  method: "patch",
  path: "/v1/admin/tenants/{tenant}",
  operationId: "updateTenant",
  tags: [TAGS.admin],
  summary: "Change a tenant's retention windows (applies to jobs uploaded afterwards)",
  security: [{ bearerAuth: ["admin"] }],
  request: { params: TenantParam, body: { content: json(TenantUpdate), required: true } },
  responses: {
    200: { description: "Updated", content: json(TenantSchema) },
    404: problem("No such tenant"),
    422: problem("Invalid body"),
  },
});

tenantRoutes.openapi(updateTenantRoute, async (c) => {
  const tenantId = c.req.valid("param").tenant;
  const changes = retentionColumns(c.req.valid("json").retention);
  const row = isWellFormedId(tenantId, "tenant") ? await updateTenantRetention(c.var.db, tenantId, changes) : null;
  if (!row) throw new ApiError(404, "not_found", "No tenant with that id.");
  return c.json(tenantObject(row), 200);
});

tenantRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/v1/admin/tenants/{tenant}",
    operationId: "deleteTenant",
    tags: [TAGS.admin],
    summary: "Erase a tenant and everything it stored",
    security: [{ bearerAuth: ["admin"] }],
    request: { params: TenantParam },
    responses: {
      200: { description: "Receipt", content: json(ErasureReceiptSchema) },
      400: problem("Malformed tenant id"),
    },
  }),
  async (c) => {
    const tenantId = c.req.valid("param").tenant;
    if (!isWellFormedId(tenantId, "tenant")) throw new ApiError(400, "invalid_parameters", "tenant: not a tenant id");
    return c.json(await eraseTenant(c.env, c.var.db, tenantId), 200);
  },
);
