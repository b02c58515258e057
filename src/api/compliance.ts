/** Erasure routes: a subject within the caller's tenant, or (admin) a whole tenant. Both answer with a receipt. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app.context.ts";
import { requireOperator, requireScope, tenantOf } from "../auth/middleware.ts";
import { eraseSubject, eraseTenant } from "../compliance/erasure.ts";
import { ApiError } from "../http/problem.ts";
import { isWellFormedId } from "../lib/ids.ts";
import { ProblemSchema, SubjectIdParam } from "./schemas.ts";
import { validationHook } from "./validation.ts";

const ReceiptSchema = z
  .object({
    receipt_id: z.string(),
    scope: z.enum(["subject", "tenant", "retention"]),
    erased: z.object({
      transcriptions: z.number().int(),
      audio_objects: z.number().int(),
      transcript_objects: z.number().int(),
      webhook_events: z.number().int(),
      webhook_attempts: z.number().int(),
      dead_letters: z.number().int(),
      api_keys: z.number().int(),
      tenants: z.number().int(),
      pool_jobs: z.number().int(),
      pool_jobs_unconfirmed: z.number().int(),
      job_features: z.number().int(),
      feedback: z.number().int(),
    }),
    completed_at: z.string(),
  })
  .openapi("ErasureReceipt");

export const compliance = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

compliance.openapi(
  createRoute({
    method: "delete",
    path: "/v1/subjects/{subject_id}",
    summary: "Erase every recording, transcript and webhook record of one subject in your tenant",
    description: "Idempotent: erasing again returns a receipt with zero counts. The receipt is kept in the audit log without personal data.",
    security: [{ bearerAuth: [] }],
    middleware: [requireScope("transcriptions:write")] as const,
    request: { params: z.object({ subject_id: SubjectIdParam.openapi({ param: { name: "subject_id", in: "path" } }) }) },
    responses: {
      200: { description: "Receipt", content: { "application/json": { schema: ReceiptSchema } } },
      400: { description: "Malformed subject id", content: { "application/problem+json": { schema: ProblemSchema } } },
    },
  }),
  async (c) => c.json(await eraseSubject(c.env, c.var.db, tenantOf(c.var.principal), c.req.valid("param").subject_id), 200),
);

compliance.openapi(
  createRoute({
    method: "delete",
    path: "/v1/admin/tenants/{tenant}",
    summary: "Erase a tenant and everything it stored",
    security: [{ bearerAuth: [] }],
    middleware: [requireOperator] as const,
    request: { params: z.object({ tenant: z.string().openapi({ param: { name: "tenant", in: "path" } }) }) },
    responses: {
      200: { description: "Receipt", content: { "application/json": { schema: ReceiptSchema } } },
      400: { description: "Malformed tenant id", content: { "application/problem+json": { schema: ProblemSchema } } },
    },
  }),
  async (c) => {
    const tenantId = c.req.valid("param").tenant;
    if (!isWellFormedId(tenantId, "tenant")) throw new ApiError(400, "invalid_parameters", "tenant: not a tenant id");
    return c.json(await eraseTenant(c.env, c.var.db, tenantId), 200);
  },
);
