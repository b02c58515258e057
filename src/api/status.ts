/** `GET /v1/status`: per-provider availability and the backlog, for any key (degraded mode stays visible). */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../app.context.ts";
import { breakerFor } from "../breaker/circuit-breaker.ts";
import { parseProviderList } from "../providers/registry.ts";
import { countActiveJobs } from "../storage/jobs.repo.ts";
import { json, TAGS } from "./openapi.ts";
import { validationHook } from "./validation.ts";

export const status = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

status.openapi(
  createRoute({
    method: "get",
    path: "/v1/status",
    operationId: "getStatus",
    tags: [TAGS.service],
    summary: "Per-provider availability and whether new jobs will be delayed",
    security: [{ bearerAuth: [] }],
    responses: {
      200: {
        description: "Status",
        content: json(
          z.object({
            status: z.enum(["operational", "degraded"]),
            providers: z.array(
              z.object({
                provider: z.string(),
                available: z.boolean(),
                breaker: z.enum(["closed", "open", "half_open"]),
              }),
            ),
            backlog: z.object({ queued: z.number().int(), processing: z.number().int(), parked: z.number().int() }),
          }),
        ),
      },
    },
  }),
  async (c) => {
    const providers = await Promise.all(
      parseProviderList(c.env).map(async (provider) => {
        const snap = await breakerFor(c.env, provider).snapshot(provider);
        return { provider, available: snap.state.status !== "open", breaker: snap.state.status };
      }),
    );
    // tenant keys see their own backlog; the admin key sees the whole service
    const tenantId = c.var.principal.tenantId;
    const backlog = await countActiveJobs(c.var.db, tenantId);
    return c.json(
      {
        status: providers.every((p) => p.available) ? ("operational" as const) : ("degraded" as const),
        providers,
        backlog,
      },
      200,
    );
  },
);
