/**
 * `GET /v1/admin/drift` and `GET /v1/admin/quality` (operator plane). Design and limits: docs/observability.md
 * ("Drift and quality").
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../../app.context.ts";
import { DRIFT_DEFAULT_BASELINE_DAYS, DRIFT_DEFAULT_WINDOW_HOURS, driftReportOfAllShards } from "../../drift/drift.ts";
import { DRIFT_FEATURES } from "../../drift/features.ts";
import { PSI_DEFAULT_MIN_SAMPLES } from "../../drift/psi.ts";
import { QUALITY_DEFAULT_WEEKS, QUALITY_MAX_WEEKS, qualityReportOfAllShards } from "../../quality/feedback.ts";
import { json, problem, TAGS } from "../openapi.ts";
import { ShardFailures } from "../schemas.ts";
import { validationHook } from "../validation.ts";

export const DriftQuery = z.object({
  window_hours: z.coerce
    .number()
    .int()
    .min(1)
    .max(720)
    .optional()
    .openapi({ example: DRIFT_DEFAULT_WINDOW_HOURS, description: "Recent window, ending now (default 24)." }),
  baseline_days: z.coerce.number().int().min(1).max(90).optional().openapi({
    example: DRIFT_DEFAULT_BASELINE_DAYS,
    description: "Baseline window right before the recent one (default 7).",
  }),
  min_samples: z.coerce
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .optional()
    .openapi({ example: PSI_DEFAULT_MIN_SAMPLES, description: "Jobs each window needs for a verdict (default 100)." }),
  provider: z.string().max(64).optional(),
  model: z.string().max(200).optional(),
});

const HistogramBucket = z.object({ bin: z.string(), count: z.number().int() });
const WindowStats = z.object({
  samples: z.number().int(),
  missing_share: z.number().nullable(),
  histogram: z.array(HistogramBucket),
});
const Window = z.object({ from: z.string(), to: z.string() });

export const DriftReportSchema = z
  .object({
    current: Window,
    baseline: Window,
    min_samples: z.number().int(),
    groups: z.array(
      z.object({
        provider: z.string(),
        model: z.string(),
        baseline_samples: z.number().int(),
        current_samples: z.number().int(),
        features: z.array(
          z.object({
            feature: z.enum(DRIFT_FEATURES),
            psi: z.number().nullable(),
            verdict: z.enum(["stable", "moderate", "significant", "insufficient_data"]),
            baseline: WindowStats,
            current: WindowStats,
          }),
        ),
      }),
    ),
    shards: ShardFailures,
  })
  .openapi("DriftReport");

export const QualityQuery = z.object({
  weeks: z.coerce
    .number()
    .int()
    .min(1)
    .max(QUALITY_MAX_WEEKS)
    .optional()
    .openapi({ example: QUALITY_DEFAULT_WEEKS, description: "ISO weeks to report, this one included (default 4)." }),
  provider: z.string().max(64).optional(),
  model: z.string().max(200).optional(),
});

export const QualityReportSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    weeks: z.number().int(),
    data: z.array(
      z.object({
        provider: z.string(),
        model: z.string(),
        week: z.string().openapi({ example: "2026-W07" }),
        reviews: z.number().int(),
        good: z.number().int(),
        bad: z.number().int(),
        scored: z.number().int(),
        mean_wer: z.number().nullable(),
        mean_cer: z.number().nullable(),
      }),
    ),
    shards: ShardFailures,
  })
  .openapi("QualityReport");

// ---------- routes ----------

export const qualityRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const driftRoute = createRoute({
  method: "get",
  path: "/v1/admin/drift",
  operationId: "getDriftReport",
  tags: [TAGS.admin],
  summary: "Input and output drift per provider and model (PSI, recent window vs baseline)",
  description:
    "Computed over the job features of every job shard (histograms add up, PSI is of the merged histograms). A shard " +
    "that fails or does not answer in time is listed in `shards` and its jobs are missing; the others are served.",
  security: [{ bearerAuth: ["admin"] }],
  request: { query: DriftQuery },
  responses: {
    200: { description: "Drift report", content: json(DriftReportSchema) },
    403: problem("Not the operator key"),
  },
});

qualityRoutes.openapi(driftRoute, async (c) => {
  const query = c.req.valid("query");
  // every job shard: in a multi-shard placement the operator's `c.var.db` is the directory, which holds no jobs
  const { report, failed } = await driftReportOfAllShards(c.env, {
    windowHours: query.window_hours,
    baselineDays: query.baseline_days,
    minSamples: query.min_samples,
    provider: query.provider,
    model: query.model,
  });
  const window = (w: { from: number; to: number }) => ({
    from: new Date(w.from).toISOString(),
    to: new Date(w.to).toISOString(),
  });
  return c.json({ ...report, current: window(report.current), baseline: window(report.baseline), shards: failed }, 200);
});

const qualityRoute = createRoute({
  method: "get",
  path: "/v1/admin/quality",
  operationId: "getQualityReport",
  tags: [TAGS.admin],
  summary: "Transcript reviews per provider, model and ISO week: counts by rating, mean WER and CER",
  description:
    "Computed over the reviews of every job shard (means are over all reviews, not of per-shard means). A shard that " +
    "fails or does not answer in time is listed in `shards` and its reviews are missing; the others are served.",
  security: [{ bearerAuth: ["admin"] }],
  request: { query: QualityQuery },
  responses: {
    200: { description: "Quality report", content: json(QualityReportSchema) },
    403: problem("Not the operator key"),
  },
});

qualityRoutes.openapi(qualityRoute, async (c) => {
  const query = c.req.valid("query");
  const { report, failed } = await qualityReportOfAllShards(c.env, {
    weeks: query.weeks,
    provider: query.provider,
    model: query.model,
  });
  return c.json({ ...report, shards: failed }, 200);
});
