/** `/v1/admin/dead-letters`: the dead-letter inspector's items, re-drive and fail (operator plane). */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../../app.context.ts";
import { ApiError } from "../../http/problem.ts";
import { redrive } from "../../jobs/dead-letters.ts";
import { storeFailure } from "../../jobs/results.ts";
import type { Db } from "../../storage/db.ts";
import {
  getPendingDeadLetter,
  listDeadLetters,
  listPendingRecoverableJobIds,
  resolveDeadLetter,
} from "../../storage/dead-letters.repo.ts";
import { getJobById } from "../../storage/jobs.repo.ts";
import { iso, json, problem, TAGS } from "../openapi.ts";
import { validationHook } from "../validation.ts";

export const deadLetterRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const DeadLetterView = z
  .object({
    job_id: z.string(),
    tenant_id: z.string(),
    provider: z.string(),
    classification: z.enum(["recoverable", "corrupt"]),
    reason: z.string(),
    job_status: z.string().nullable(),
    redrive_count: z.number().int(),
    first_dead_at: z.string(),
    next_redrive_at: z.string().nullable(),
    resolved_at: z.string().nullable(),
    resolution: z.string().nullable(),
  })
  .openapi("DeadLetter");

deadLetterRoutes.openapi(
  createRoute({
    method: "get",
    path: "/v1/admin/dead-letters",
    operationId: "listDeadLetters",
    tags: [TAGS.admin],
    summary: "Dead-lettered jobs with their classification",
    security: [{ bearerAuth: ["admin"] }],
    request: {
      query: z.object({
        state: z.enum(["pending", "resolved", "all"]).optional(),
        limit: z.coerce.number().int().min(1).max(500).optional(),
      }),
    },
    responses: { 200: { description: "Items", content: json(z.object({ data: z.array(DeadLetterView) })) } },
  }),
  async (c) => {
    const { state = "pending", limit = 100 } = c.req.valid("query");
    const rows = await listDeadLetters(c.var.db, state, limit);
    return c.json(
      {
        data: rows.map(({ item, jobStatus }) => ({
          job_id: item.jobId,
          tenant_id: item.tenantId,
          provider: item.provider,
          classification: item.classification,
          reason: item.reason,
          job_status: jobStatus ?? null,
          redrive_count: item.redriveCount,
          first_dead_at: iso(item.firstDeadAt)!,
          next_redrive_at: iso(item.nextRedriveAt),
          resolved_at: iso(item.resolvedAt),
          resolution: item.resolution,
        })),
      },
      200,
    );
  },
);

const JobParam = z.object({ job: z.string().openapi({ param: { name: "job", in: "path" } }) });

deadLetterRoutes.openapi(
  createRoute({
    method: "post",
    path: "/v1/admin/dead-letters/redrive",
    operationId: "redriveDeadLetters",
    tags: [TAGS.admin],
    summary: "Re-drive every pending recoverable item now",
    security: [{ bearerAuth: ["admin"] }],
    responses: { 200: { description: "How many were sent", content: json(z.object({ redriven: z.number().int() })) } },
  }),
  async (c) => {
    let redriven = 0;
    for (const jobId of await listPendingRecoverableJobIds(c.var.db, 500))
      if (await redrive(c.env, c.var.db, jobId)) redriven++;
    return c.json({ redriven }, 200);
  },
);

deadLetterRoutes.openapi(
  createRoute({
    method: "post",
    path: "/v1/admin/dead-letters/{job}/redrive",
    operationId: "redriveDeadLetter",
    tags: [TAGS.admin],
    summary: "Re-drive one item now",
    security: [{ bearerAuth: ["admin"] }],
    request: { params: JobParam },
    responses: {
      202: { description: "Sent", content: json(z.object({ redriven: z.literal(true) })) },
      404: problem("No pending item"),
    },
  }),
  async (c) => {
    if (!(await redrive(c.env, c.var.db, c.req.valid("param").job)))
      throw new ApiError(404, "not_found", "No pending dead-letter item for that job.");
    return c.json({ redriven: true as const }, 202);
  },
);

deadLetterRoutes.openapi(
  createRoute({
    method: "post",
    path: "/v1/admin/dead-letters/{job}/fail",
    operationId: "failDeadLetter",
    tags: [TAGS.admin],
    summary: "Fail one item's job now (`dead_lettered`)",
    security: [{ bearerAuth: ["admin"] }],
    request: { params: JobParam },
    responses: {
      200: { description: "Failed", content: json(z.object({ failed: z.boolean() })) },
      404: problem("No pending item"),
    },
  }),
  async (c) => {
    return c.json({ failed: await failDeadLetter(c.env, c.var.db, c.req.valid("param").job) }, 200);
  },
);

/** Fails a pending item's job now (`dead_lettered`) and resolves the item; 404 when there is no pending item. */
export async function failDeadLetter(env: AppEnv["Bindings"], db: Db, jobId: string): Promise<boolean> {
  const item = await getPendingDeadLetter(db, jobId);
  const job = item ? await getJobById(db, jobId) : null;
  if (!item || !job) throw new ApiError(404, "not_found", "No pending dead-letter item for that job.");
  const failed = await storeFailure(env, db, job, "dead_lettered", "Failed by an operator from the dead-letter queue.");
  await resolveDeadLetter(db, jobId, "failed_by_admin", Date.now());
  return failed;
}
