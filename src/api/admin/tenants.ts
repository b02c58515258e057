/** `/v1/admin/tenants`: list, read and create tenants, change their retention windows, erase one with all it stored. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../../app.context.ts";
import { forgetKeys } from "../../auth/key-cache.ts";
import { eraseTenant } from "../../compliance/erasure.ts";
import { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT } from "../../config.ts";
import { chooseShard, findRegion, legacyShard } from "../../domain/placement.ts";
import type { Env } from "../../env.ts";
import { ApiError } from "../../http/problem.ts";
import { DEFAULT_AUDIO_RETENTION_SECONDS, MAX_AUDIO_RETENTION_SECONDS } from "../../jobs/retention-policy.ts";
import { isWellFormedId, newId } from "../../lib/ids.ts";
import { createDb } from "../../storage/db.ts";
import { deleteTenantRecords } from "../../storage/erasure.repo.ts";
import { directoryDb, placeEnv, placementOf, shardDb, tenantShard } from "../../storage/shards.ts";
import {
  countTenantsPerShard,
  getTenant,
  insertTenant,
  listTenants,
  mirrorTenant,
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

/** A tenant as the API shows it, retention defaults and placement filled in. */
export function tenantObject(row: TenantRow, env: Env) {
  const shard = tenantShard(env, row);
  return {
    id: row.id,
    name: row.name,
    created_at: new Date(row.createdAt).toISOString(),
    retention: {
      audio_seconds: row.audioRetentionSeconds ?? DEFAULT_AUDIO_RETENTION_SECONDS,
      transcript_seconds: row.transcriptRetentionSeconds,
    },
    region: shard.region,
    shard: shard.code,
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
  c.json(tenantObject(await createTenantRow(c.env, c.req.valid("json")), c.env), 201),
);

/**
 * Creates a tenant (retention windows and region optional) in the directory, placed in the accepting shard of its
 * region with the fewest tenants, and its copy in that shard; returns its row. An unknown region is a 422.
 */
export async function createTenantRow(env: Env, input: z.infer<typeof TenantCreate>): Promise<TenantRow> {
  const { name, retention } = input;
  const placement = placementOf(env);
  const region = findRegion(placement, input.region ?? null);
  if (!region) {
    const known = placement.regions.map((r) => r.name).join(", ");
    throw new ApiError(422, "unknown_region", `region: one of ${known}`, [
      { field: "region", message: `one of ${known}` },
    ]);
  }
  const directory = directoryDb(env);
  const legacy = legacyShard(placement);
  const shard = chooseShard(region, await countTenantsPerShard(directory, region.name, legacy));
  if (!shard) {
    throw new ApiError(503, "region_full", `No shard of region ${region.name} accepts new tenants.`, undefined, {
      "retry-after": "3600",
    });
  }
  const row: TenantRow = {
    id: newId("tenant"),
    name,
    createdAt: Date.now(),
    webhookSecret: null,
    webhookSecretPrevious: null,
    webhookSecretPreviousUntil: null,
    audioRetentionSeconds: null,
    transcriptRetentionSeconds: null,
    region: region.name,
    shard: shard.code,
    formerShards: null,
    readOnlySince: null,
    ...retentionColumns(retention),
  };
  // the shard's copy first: a tenant the directory knows always has its rows' parent in its shard
  if (shard.binding !== placement.directory) await mirrorTenant(shardDb(env, shard), row);
  await insertTenant(directory, row);
  return row;
}

/** Changes a tenant's retention in the directory and in its shard's copy; null when there is no such tenant. */
export async function changeTenantRetention(
  env: Env,
  tenantId: string,
  changes: TenantRetentionColumns,
): Promise<TenantRow | null> {
  const row = await updateTenantRetention(directoryDb(env), tenantId, changes);
  const shard = row ? tenantShard(env, row) : null;
  if (row && shard && shard.binding !== placementOf(env).directory) await mirrorTenant(shardDb(env, shard), row);
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
    const rows = await listTenants(directoryDb(c.env), { limit: limit + 1, beforeId: cursor });
    const page = rows.slice(0, limit);
    return c.json(
      { data: page.map((row) => tenantObject(row, c.env)), next_cursor: rows.length > limit ? page.at(-1)!.id : null },
      200,
    );
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
    const row = isWellFormedId(tenantId, "tenant") ? await getTenant(directoryDb(c.env), tenantId) : null;
    if (!row) throw new ApiError(404, "not_found", "No tenant with that id.");
    return c.json(tenantObject(row, c.env), 200);
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
  const row = isWellFormedId(tenantId, "tenant") ? await changeTenantRetention(c.env, tenantId, changes) : null;
  if (!row) throw new ApiError(404, "not_found", "No tenant with that id.");
  return c.json(tenantObject(row, c.env), 200);
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
    return c.json(await eraseTenantEverywhere(c.env, tenantId), 200);
  },
);

/**
 * Erases a tenant: its keys and directory row first (no request of its can start after that), then everything in
 * its shard and its region's bucket. A tenant the directory no longer knows is swept in the first shard (an
 * interrupted earlier erasure).
 */
export async function eraseTenantEverywhere(env: Env, tenantId: string) {
  const directory = directoryDb(env);
  const row = await getTenant(directory, tenantId);
  const placement = placementOf(env);
  const shard = row ? tenantShard(env, row) : legacyShard(placement);
  const inDirectory = shard.binding === placement.directory ? null : await deleteTenantRecords(directory, tenantId);
  forgetKeys({ tenantId });
  const placed = placeEnv(env, shard);
  const receipt = await eraseTenant(placed, createDb(placed), tenantId);
  if (inDirectory) {
    receipt.erased.api_keys += inDirectory.api_keys;
    receipt.erased.tenants += inDirectory.tenants;
  }
  return receipt;
}
