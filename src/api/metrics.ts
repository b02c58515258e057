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
  security: [{ bearerAuth: ["admin"] }],
  responses: {
    200: { description: "The metrics", content: { [PROMETHEUS_CONTENT_TYPE]: { schema: z.string() } } },
  },
});

metrics.get("/metrics", authenticate, requireOperator, async (c) => {
  const now = Date.now();
  // drift is served from the cron's snapshot: computing it reads days of features
  const [drift, quality] = await Promise.all([
    cachedDriftFamilies(c.var.db, now),
    qualityMetricFamilies(c.var.db, now),
  ]);
  const families = await edgeMetricFamilies(c.env, c.var.db, now, [...drift, ...quality]);
  return c.body(renderExposition(families), 200, {
    "content-type": PROMETHEUS_CONTENT_TYPE,
    "cache-control": "no-store",
  });
});
