/** `/v1/admin/dead-letters`: the dead-letter inspector's items, re-drive and fail (operator plane). */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../../app.context.ts";
import { ApiError } from "../../http/problem.ts";
import { inJobShard, listDeadLettersOfAllShards, redriveAllShards } from "../../jobs/dead-letter-inspector.ts";
import { redrive } from "../../jobs/dead-letters.ts";
import { storeFailure } from "../../jobs/results.ts";
import { isWellFormedId } from "../../lib/ids.ts";
import type { Db } from "../../storage/db.ts";
import { getPendingDeadLetter, resolveDeadLetter } from "../../storage/dead-letters.repo.ts";
import { getJobById } from "../../storage/jobs.repo.ts";
import { iso, json, problem, TAGS } from "../openapi.ts";
import { ShardFailures } from "../schemas.ts";
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
    summary: "Dead-lettered jobs with their classification, of every job shard",
    description:
      "Newest job first, merged across job shards by job id. Pass `next_cursor` back as `cursor` for the next page. " +
      "A shard that fails is listed in `shards` and its items are missing; the others are served.",
    security: [{ bearerAuth: ["admin"] }],
    request: {
      query: z.object({
        state: z.enum(["pending", "resolved", "all"]).optional(),
        limit: z.coerce.number().int().min(1).max(500).optional(),
        cursor: z
          .string()
          .refine((id) => isWellFormedId(id, "transcription"), "a job id from `next_cursor`")
          .optional(),
      }),
    },
    responses: {
      200: {
        description: "Items",
        content: json(
          z.object({
            data: z.array(DeadLetterView),
            next_cursor: z.string().nullable().openapi({ description: "pass back as `cursor`; null on the last page" }),
            shards: ShardFailures,
          }),
        ),
      },
      400: problem("Bad state, limit or cursor"),
    },
  }),
  async (c) => {
    const { state = "pending", limit = 100, cursor } = c.req.valid("query");
    const page = await listDeadLettersOfAllShards(c.env, { state, limit, cursor });
    return c.json(
      {
        next_cursor: page.nextCursor,
        shards: page.failed,
        data: page.items.map(({ item, jobStatus }) => ({
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
    summary: "Re-drive every pending recoverable item now, in every job shard",
    security: [{ bearerAuth: ["admin"] }],
    responses: {
      200: {
        description: "How many were sent; shards that failed are listed in `shards`",
        content: json(z.object({ redriven: z.number().int(), shards: ShardFailures })),
      },
    },
  }),
  async (c) => {
    const { redriven, failed } = await redriveAllShards(c.env);
    return c.json({ redriven, shards: failed }, 200);
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
    const jobId = c.req.valid("param").job;
    if (
      !(await inJobShard(
        c.env,
        jobId,
        (env, db) => redrive(env, db, jobId),
        () => false,
      ))
    )
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
    const jobId = c.req.valid("param").job;
    return c.json({ failed: await inJobShard(c.env, jobId, (env, db) => failDeadLetter(env, db, jobId), noItem) }, 200);
  },
);

const noItem = (): never => {
  throw new ApiError(404, "not_found", "No pending dead-letter item for that job.");
};

/** Fails a pending item's job now (`dead_lettered`) and resolves the item; 404 when there is no pending item. */
export async function failDeadLetter(env: AppEnv["Bindings"], db: Db, jobId: string): Promise<boolean> {
  const item = await getPendingDeadLetter(db, jobId);
  const job = item ? await getJobById(db, jobId) : null;
  if (!item || !job) throw new ApiError(404, "not_found", "No pending dead-letter item for that job.");
  const failed = await storeFailure(env, db, job, "dead_lettered", "Failed by an operator from the dead-letter queue.");
  await resolveDeadLetter(db, jobId, "failed_by_admin", Date.now());
  return failed;
}
