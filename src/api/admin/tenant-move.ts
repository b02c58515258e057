/** `POST /v1/admin/tenants/{tenant}/move`: move a tenant to another shard or region (src/tenants/move.ts). */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";

import type { AppEnv } from "../../app.context.ts";
import { ApiError } from "../../http/problem.ts";
import { isWellFormedId } from "../../lib/ids.ts";
import { moveTenant } from "../../tenants/move.ts";
import { json, problem, TAGS } from "../openapi.ts";
import { TenantMove, TenantMoveResult } from "../schemas.ts";
import { validationHook } from "../validation.ts";
import { tenantObject, TenantParam } from "./tenants.ts";

export const tenantMoveRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

tenantMoveRoutes.openapi(
  createRoute({
    method: "post",
    path: "/v1/admin/tenants/{tenant}/move",
    operationId: "moveTenant",
    tags: [TAGS.admin],
    summary: "Move a tenant, its rows and (across regions) its objects, to another shard or region",
    description:
      "Copy, verify, switch, delete. The tenant is read-only (503 `tenant_read_only`) from the start until the switch, which waits out `API_KEY_CACHE_SECONDS` twice. Refused (409 `tenant_busy`) while it has queued or processing jobs, unfinished uploads or pending webhook events. A failure before the switch leaves the tenant where it was; re-running the command is safe and finishes an interrupted deletion. At most `TENANT_MOVE_MAX_JOBS` jobs per tenant.",
    security: [{ bearerAuth: ["admin"] }],
    request: { params: TenantParam, body: { content: json(TenantMove), required: true } },
    responses: {
      200: { description: "Moved (or already there)", content: json(TenantMoveResult) },
      404: problem("No such tenant"),
      409: problem("Busy (`tenant_busy`) or the copy did not verify (`move_verification_failed`)"),
      422: problem("Unknown shard or region, or a tenant too large for one move"),
      503: problem("A database could not serve (`storage_unavailable`) or the region takes no tenants"),
    },
  }),
  async (c) => {
    const tenantId = c.req.valid("param").tenant;
    if (!isWellFormedId(tenantId, "tenant")) throw new ApiError(404, "not_found", "No tenant with that id.");
    const { shard, region } = c.req.valid("json");
    const result = await moveTenant(c.env, tenantId, shard !== undefined ? { shard } : { region: region! });
    return c.json({ status: "completed" as const, ...result, tenant: tenantObject(result.tenant, c.env) }, 200);
  },
);
