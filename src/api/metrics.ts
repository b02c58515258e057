/** `GET /metrics`: Prometheus exposition of the Worker's metrics, for the operator key only. */
import { OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../app.context.ts";
import { authenticate, requireOperator } from "../auth/middleware.ts";
import { cachedDriftFamilies } from "../drift/drift-snapshot.ts";
import { edgeMetricFamilies } from "../observability/edge-metrics.ts";
import { PROMETHEUS_CONTENT_TYPE, renderExposition } from "../observability/prometheus.ts";
import { qualityMetricFamilies } from "../quality/feedback.ts";
import { TAGS } from "./openapi.ts";

export const metrics = new OpenAPIHono<AppEnv>();

metrics.openAPIRegistry.registerPath({
  method: "get",
  path: "/metrics",
  operationId: "getMetrics",
  tags: [TAGS.service],
  summary: "Prometheus text exposition of the service's metrics (operator key only)",
  description:
    "Job figures are per job shard (`shard` label; sum them across shards) with `vtt_shard_up{shard}`: a shard that " +
    "fails or does not answer in time is 0 and its series are left out, the others are served (200).",
  security: [{ bearerAuth: ["admin"] }],
  responses: {
    200: { description: "The metrics", content: { [PROMETHEUS_CONTENT_TYPE]: { schema: z.string() } } },
  },
});

metrics.get("/metrics", authenticate, requireOperator, async (c) => {
  // every shard's figures, labelled `shard`; a failing shard is vtt_shard_up 0 and the rest is still served. Drift
  // is served from the cron's per-shard snapshot (computing it reads days of features).
  const families = await edgeMetricFamilies(c.env, [cachedDriftFamilies, qualityMetricFamilies]);
  return c.body(renderExposition(families), 200, {
    "content-type": PROMETHEUS_CONTENT_TYPE,
    "cache-control": "no-store",
  });
});
