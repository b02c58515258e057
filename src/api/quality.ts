/**
 * Drift and quality: `GET /v1/admin/drift` and `GET /v1/admin/quality` (operator plane), and
 * `POST /v1/transcriptions/{id}/feedback` (a tenant key with the `admin` scope reviews its own transcripts).
 * Design and limits: docs/observability.md ("Drift and quality").
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app.context.ts";
import { requireOperator, requireScope, tenantOf } from "../auth/middleware.ts";
import { ApiError } from "../http/problem.ts";
import { isWellFormedId } from "../lib/ids.ts";
import { DRIFT_DEFAULT_BASELINE_DAYS, DRIFT_DEFAULT_WINDOW_HOURS, driftReport } from "../observability/drift.ts";
import { DRIFT_FEATURES } from "../observability/features.ts";
import { PSI_DEFAULT_MIN_SAMPLES } from "../observability/psi.ts";
import {
  FEEDBACK_CORRECTION_MAX_CHARS,
  FEEDBACK_REASON_MAX_CHARS,
  QUALITY_DEFAULT_WEEKS,
  QUALITY_MAX_WEEKS,
  qualityReport,
  submitFeedback,
} from "../observability/quality.ts";
import { FEEDBACK_RATINGS } from "../storage/schema.ts";
import { ProblemSchema } from "./schemas.ts";
import { validationHook } from "./validation.ts";

const problem = (description: string) => ({ description, content: { "application/problem+json": { schema: ProblemSchema } } });
const json = <T extends z.ZodTypeAny>(schema: T) => ({ "application/json": { schema } });
const IdParam = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" }, example: "tr_01JD7Y7W8Q3N5X6T2R9M4K1B0C" }) });

// ---------- schemas ----------

export const FeedbackCreate = z
  .object({
    rating: z.enum(FEEDBACK_RATINGS),
    reason: z.string().trim().min(1).max(FEEDBACK_REASON_MAX_CHARS).optional().openapi({ description: "Why; required for a `bad` rating without `corrected_text`." }),
    corrected_text: z
      .string()
      .max(FEEDBACK_CORRECTION_MAX_CHARS)
      .optional()
      .openapi({ description: "What the transcript should have said; the service scores the stored transcript against it (WER, CER)." }),
  })
  .superRefine((value, ctx) => {
    if (value.rating === "bad" && value.reason === undefined && value.corrected_text === undefined) {
      ctx.addIssue({ code: "custom", path: ["reason"], message: "a bad rating needs a reason or a corrected_text" });
    }
  })
  .openapi("FeedbackCreate");

export const FeedbackSchema = z
  .object({
    job_id: z.string(),
    rating: z.enum(FEEDBACK_RATINGS),
    reason: z.string().nullable(),
    has_correction: z.boolean(),
    wer: z.number().nullable().openapi({ description: "Word error rate of the stored transcript against the correction; null without one, for an empty correction, or when the texts differ too much to align within the CPU budget." }),
    cer: z.number().nullable(),
    reference_words: z.number().int().nullable(),
    provider: z.string(),
    model: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
    replaced: z.boolean(),
  })
  .openapi("Feedback");

export const DriftQuery = z.object({
  window_hours: z.coerce.number().int().min(1).max(720).optional().openapi({ example: DRIFT_DEFAULT_WINDOW_HOURS, description: "Recent window, ending now (default 24)." }),
  baseline_days: z.coerce.number().int().min(1).max(90).optional().openapi({ example: DRIFT_DEFAULT_BASELINE_DAYS, description: "Baseline window right before the recent one (default 7)." }),
  min_samples: z.coerce.number().int().min(1).max(1_000_000).optional().openapi({ example: PSI_DEFAULT_MIN_SAMPLES, description: "Jobs each window needs for a verdict (default 100)." }),
  provider: z.string().max(64).optional(),
  model: z.string().max(200).optional(),
});

const HistogramBucket = z.object({ bin: z.string(), count: z.number().int() });
const WindowStats = z.object({ samples: z.number().int(), missing_share: z.number().nullable(), histogram: z.array(HistogramBucket) });
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
  })
  .openapi("DriftReport");

export const QualityQuery = z.object({
  weeks: z.coerce.number().int().min(1).max(QUALITY_MAX_WEEKS).optional().openapi({ example: QUALITY_DEFAULT_WEEKS, description: "ISO weeks to report, this one included (default 4)." }),
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
  })
  .openapi("QualityReport");

// ---------- routes ----------

export const quality = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const feedbackRoute = createRoute({
  method: "post",
  path: "/v1/transcriptions/{id}/feedback",
  summary: "Rate a completed transcript, optionally with the corrected text",
  description:
    "One review per job: a new one replaces the previous. The corrected text is scored against the stored transcript " +
    "(WER and CER after normalisation) and kept sealed with the tenant key; it is erased with the job.",
  security: [{ bearerAuth: [] }],
  middleware: [requireScope("admin")] as const,
  request: { params: IdParam, body: { content: json(FeedbackCreate), required: true } },
  responses: {
    201: { description: "Review stored", content: json(FeedbackSchema) },
    200: { description: "Review replaced", content: json(FeedbackSchema) },
    403: problem("The key lacks the admin scope"),
    404: problem("No such job in your tenant"),
    409: problem("The job has not completed"),
    422: problem("Invalid body"),
  },
});

quality.openapi(feedbackRoute, async (c) => {
  const tenantId = tenantOf(c.var.principal);
  const id = c.req.valid("param").id;
  if (!isWellFormedId(id, "transcription")) throw new ApiError(404, "not_found", "No transcription with that id.");
  const result = await submitFeedback(c.env, c.var.db, tenantId, id, c.req.valid("json"));
  return c.json(result, result.replaced ? 200 : 201);
});

const driftRoute = createRoute({
  method: "get",
  path: "/v1/admin/drift",
  summary: "Input and output drift per provider and model (PSI, recent window vs baseline)",
  security: [{ bearerAuth: [] }],
  middleware: [requireOperator] as const,
  request: { query: DriftQuery },
  responses: { 200: { description: "Drift report", content: json(DriftReportSchema) }, 403: problem("Not the operator key") },
});

quality.openapi(driftRoute, async (c) => {
  const query = c.req.valid("query");
  const report = await driftReport(c.var.db, {
    windowHours: query.window_hours,
    baselineDays: query.baseline_days,
    minSamples: query.min_samples,
    provider: query.provider,
    model: query.model,
  });
  const window = (w: { from: number; to: number }) => ({ from: new Date(w.from).toISOString(), to: new Date(w.to).toISOString() });
  return c.json({ ...report, current: window(report.current), baseline: window(report.baseline) }, 200);
});

const qualityRoute = createRoute({
  method: "get",
  path: "/v1/admin/quality",
  summary: "Transcript reviews per provider, model and ISO week: counts by rating, mean WER and CER",
  security: [{ bearerAuth: [] }],
  middleware: [requireOperator] as const,
  request: { query: QualityQuery },
  responses: { 200: { description: "Quality report", content: json(QualityReportSchema) }, 403: problem("Not the operator key") },
});

quality.openapi(qualityRoute, async (c) => {
  const query = c.req.valid("query");
  return c.json(await qualityReport(c.var.db, { weeks: query.weeks, provider: query.provider, model: query.model }), 200);
});
