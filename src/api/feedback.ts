/**
 * `POST /v1/transcriptions/{id}/feedback`: a tenant key with the `admin` scope reviews its own transcripts.
 * Design and limits: docs/observability.md ("Drift and quality").
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../app.context.ts";
import { requireScope, tenantOf } from "../auth/middleware.ts";
import { ApiError } from "../http/problem.ts";
import { isWellFormedId } from "../lib/ids.ts";
import { FEEDBACK_CORRECTION_MAX_CHARS, FEEDBACK_REASON_MAX_CHARS, submitFeedback } from "../quality/feedback.ts";
import { FEEDBACK_RATINGS } from "../storage/schema.ts";
import { IdParam, json, problem, TAGS } from "./openapi.ts";
import { validationHook } from "./validation.ts";

export const FeedbackCreate = z
  .object({
    rating: z.enum(FEEDBACK_RATINGS),
    reason: z
      .string()
      .trim()
      .min(1)
      .max(FEEDBACK_REASON_MAX_CHARS)
      .optional()
      .openapi({ description: "Why; required for a `bad` rating without `corrected_text`." }),
    corrected_text: z.string().max(FEEDBACK_CORRECTION_MAX_CHARS).optional().openapi({
      description:
        "What the transcript should have said; the service scores the stored transcript against it (WER, CER).",
    }),
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
    wer: z.number().nullable().openapi({
      description:
        "Word error rate of the stored transcript against the correction; null without one, for an empty correction, or when the texts differ too much to align within the CPU budget.",
    }),
    cer: z.number().nullable(),
    reference_words: z.number().int().nullable(),
    provider: z.string(),
    model: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
    replaced: z.boolean(),
  })
  .openapi("Feedback");

export const feedbackRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const feedbackRoute = createRoute({
  method: "post",
  path: "/v1/transcriptions/{id}/feedback",
  operationId: "submitFeedback",
  tags: [TAGS.feedback],
  summary: "Rate a completed transcript, optionally with the corrected text",
  description:
    "One review per job: a new one replaces the previous. The corrected text is scored against the stored transcript " +
    "(WER and CER after normalisation) and kept sealed with the tenant key; it is erased with the job.",
  security: [{ bearerAuth: ["admin"] }],
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

feedbackRoutes.openapi(feedbackRoute, async (c) => {
  const tenantId = tenantOf(c.var.principal);
  const id = c.req.valid("param").id;
  if (!isWellFormedId(id, "transcription")) throw new ApiError(404, "not_found", "No transcription with that id.");
  const result = await submitFeedback(c.env, c.var.db, tenantId, id, c.req.valid("json"));
  return c.json(result, result.replaced ? 200 : 201);
});
