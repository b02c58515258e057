/** `GET /v1/status`: per-provider availability and the backlog, for any key (degraded mode stays visible). */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../app.context.ts";
import { breakerFor } from "../breaker/circuit-breaker.ts";
import { parseProviderList } from "../providers/registry.ts";
import { countActiveJobs } from "../storage/jobs.repo.ts";
import { readAllShards } from "../storage/shard-fanout.ts";
import { json, TAGS } from "./openapi.ts";
import { ShardFailures } from "./schemas.ts";
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
            shards: ShardFailures.openapi({
              description:
                "admin key: job shards whose backlog is missing from `backlog` (they failed or did not answer); " +
                "always empty for a tenant key",
            }),
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
    // tenant keys see their own backlog (in their shard); the admin key sees the whole service, summed over every
    // job shard (its request is not placed: c.var.db is the directory)
    const tenantId = c.var.principal.tenantId;
    const { backlog, failed } = tenantId
      ? { backlog: await countActiveJobs(c.var.db, tenantId), failed: [] }
      : await serviceBacklog(c.env);
    return c.json(
      {
        status: providers.every((p) => p.available) ? ("operational" as const) : ("degraded" as const),
        providers,
        backlog,
        shards: failed,
      },
      200,
    );
  },
);

/** The backlog of every job shard, summed; shards that failed are listed and left out. */
async function serviceBacklog(env: AppEnv["Bindings"]) {
  const reads = await readAllShards(env, (db) => countActiveJobs(db, null));
  const backlog = { queued: 0, processing: 0, parked: 0 };
  for (const { value } of reads.values) {
    backlog.queued += value.queued;
    backlog.processing += value.processing;
    backlog.parked += value.parked;
  }
  return { backlog, failed: reads.failed };
}
