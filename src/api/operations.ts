/**
 * Operator routes: circuit breakers and dead letters (`admin` scope), and `/v1/status`, the per-provider availability
 * any key may read (degraded mode: uploads keep being accepted while providers are down).
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { and, desc, eq, isNotNull, isNull, sql } from "drizzle-orm";
import type { AppEnv } from "../app.context.ts";
import { requireOperator } from "../auth/middleware.ts";
import { breakerFor } from "../breaker/circuit-breaker.ts";
import { redrive } from "../consumers/dead-letter.ts";
import { storeFailure } from "../jobs/results.ts";
import { ApiError } from "../http/problem.ts";
import { parseProviderList } from "../providers/registry.ts";
import { getJobById } from "../storage/jobs.repo.ts";
import { rewrapBatch, staleFieldCount } from "../storage/rewrap.ts";
import { deadLetters, transcriptions } from "../storage/schema.ts";
import { ProblemSchema } from "./schemas.ts";
import { validationHook } from "./validation.ts";

export const operations = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
const problem = (description: string) => ({ description, content: { "application/problem+json": { schema: ProblemSchema } } });
const json = <T extends z.ZodTypeAny>(schema: T) => ({ "application/json": { schema } });
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const admin = requireOperator;

const BreakerView = z
  .object({
    provider: z.string(),
    status: z.enum(["closed", "open", "half_open"]),
    failure_rate: z.number(),
    forced_open: z.boolean(),
    next_attempt_at: z.string().nullable(),
    cooldown_ms: z.number(),
    counters: z.record(z.string(), z.number()),
  })
  .openapi("Breaker");

async function breakerView(env: AppEnv["Bindings"], provider: string) {
  const snap = await breakerFor(env, provider).snapshot(provider);
  return {
    provider,
    status: snap.state.status,
    failure_rate: snap.failure_rate,
    forced_open: snap.state.forcedOpen,
    next_attempt_at: iso(snap.state.nextAttemptAt),
    cooldown_ms: snap.state.cooldownMs,
    counters: { ...snap.state.counters },
  };
}

operations.openapi(
  createRoute({
    method: "get",
    path: "/v1/admin/breakers",
    summary: "Every enabled provider's circuit breaker",
    security: [{ bearerAuth: [] }],
    middleware: [admin] as const,
    responses: { 200: { description: "Breakers", content: json(z.object({ data: z.array(BreakerView) })) } },
  }),
  async (c) => c.json({ data: await Promise.all(parseProviderList(c.env).map((p) => breakerView(c.env, p))) }, 200),
);

operations.openapi(
  createRoute({
    method: "post",
    path: "/v1/admin/breakers/{provider}/{action}",
    summary: "Force a breaker open (held until closed) or closed",
    security: [{ bearerAuth: [] }],
    middleware: [admin] as const,
    request: {
      params: z.object({
        provider: z.string().openapi({ param: { name: "provider", in: "path" } }),
        action: z.enum(["open", "close"]).openapi({ param: { name: "action", in: "path" } }),
      }),
    },
    responses: { 200: { description: "The breaker", content: json(BreakerView) }, 404: problem("Unknown provider") },
  }),
  async (c) => {
    const { provider, action } = c.req.valid("param");
    if (!parseProviderList(c.env).includes(provider as never)) throw new ApiError(404, "not_found", "No such enabled provider.");
    await breakerFor(c.env, provider).force(provider, action === "open" ? "open" : "closed");
    return c.json(await breakerView(c.env, provider), 200);
  },
);

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

operations.openapi(
  createRoute({
    method: "get",
    path: "/v1/admin/dead-letters",
    summary: "Dead-lettered jobs with their classification",
    security: [{ bearerAuth: [] }],
    middleware: [admin] as const,
    request: { query: z.object({ state: z.enum(["pending", "resolved", "all"]).optional(), limit: z.coerce.number().int().min(1).max(500).optional() }) },
    responses: { 200: { description: "Items", content: json(z.object({ data: z.array(DeadLetterView) })) } },
  }),
  async (c) => {
    const { state = "pending", limit = 100 } = c.req.valid("query");
    const where = state === "pending" ? isNull(deadLetters.resolvedAt) : state === "resolved" ? isNotNull(deadLetters.resolvedAt) : undefined;
    const rows = await c.var.db
      .select({ item: deadLetters, jobStatus: transcriptions.status })
      .from(deadLetters)
      .leftJoin(transcriptions, eq(transcriptions.id, deadLetters.jobId))
      .where(where)
      .orderBy(desc(deadLetters.lastDeadAt))
      .limit(limit);
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

operations.openapi(
  createRoute({
    method: "post",
    path: "/v1/admin/dead-letters/redrive",
    summary: "Re-drive every pending recoverable item now",
    security: [{ bearerAuth: [] }],
    middleware: [admin] as const,
    responses: { 200: { description: "How many were sent", content: json(z.object({ redriven: z.number().int() })) } },
  }),
  async (c) => {
    const pending = await c.var.db
      .select({ jobId: deadLetters.jobId })
      .from(deadLetters)
      .where(and(isNull(deadLetters.resolvedAt), eq(deadLetters.classification, "recoverable")))
      .limit(500);
    let redriven = 0;
    for (const { jobId } of pending) if (await redrive(c.env, c.var.db, jobId)) redriven++;
    return c.json({ redriven }, 200);
  },
);

operations.openapi(
  createRoute({
    method: "post",
    path: "/v1/admin/dead-letters/{job}/redrive",
    summary: "Re-drive one item now",
    security: [{ bearerAuth: [] }],
    middleware: [admin] as const,
    request: { params: JobParam },
    responses: { 202: { description: "Sent", content: json(z.object({ redriven: z.literal(true) })) }, 404: problem("No pending item") },
  }),
  async (c) => {
    if (!(await redrive(c.env, c.var.db, c.req.valid("param").job))) throw new ApiError(404, "not_found", "No pending dead-letter item for that job.");
    return c.json({ redriven: true as const }, 202);
  },
);

operations.openapi(
  createRoute({
    method: "post",
    path: "/v1/admin/dead-letters/{job}/fail",
    summary: "Fail one item's job now (`dead_lettered`)",
    security: [{ bearerAuth: [] }],
    middleware: [admin] as const,
    request: { params: JobParam },
    responses: { 200: { description: "Failed", content: json(z.object({ failed: z.boolean() })) }, 404: problem("No pending item") },
  }),
  async (c) => {
    const jobId = c.req.valid("param").job;
    const [item] = await c.var.db.select().from(deadLetters).where(and(eq(deadLetters.jobId, jobId), isNull(deadLetters.resolvedAt))).limit(1);
    const job = item ? await getJobById(c.var.db, jobId) : null;
    if (!item || !job) throw new ApiError(404, "not_found", "No pending dead-letter item for that job.");
    const failed = await storeFailure(c.env, c.var.db, job, "dead_lettered", "Failed by an operator from the dead-letter queue.");
    await c.var.db.update(deadLetters).set({ resolvedAt: Date.now(), resolution: "failed_by_admin", nextRedriveAt: null }).where(eq(deadLetters.jobId, jobId)).run();
    return c.json({ failed }, 200);
  },
);

operations.openapi(
  createRoute({
    method: "get",
    path: "/v1/status",
    summary: "Per-provider availability and whether new jobs will be delayed",
    security: [{ bearerAuth: [] }],
    responses: {
      200: {
        description: "Status",
        content: json(
          z.object({
            status: z.enum(["operational", "degraded"]),
            providers: z.array(z.object({ provider: z.string(), available: z.boolean(), breaker: z.enum(["closed", "open", "half_open"]) })),
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
    const [row] = await c.var.db
      .select({
        queued: sql<number>`sum(case when ${transcriptions.status} = 'queued' then 1 else 0 end)`,
        processing: sql<number>`sum(case when ${transcriptions.status} = 'processing' then 1 else 0 end)`,
        parked: sql<number>`sum(case when ${transcriptions.delayedReason} is not null then 1 else 0 end)`,
      })
      .from(transcriptions)
      .where(and(tenantId ? eq(transcriptions.tenantId, tenantId) : undefined, sql`${transcriptions.status} in ('queued', 'processing')`));
    return c.json(
      {
        status: providers.every((p) => p.available) ? ("operational" as const) : ("degraded" as const),
        providers,
        backlog: { queued: Number(row?.queued ?? 0), processing: Number(row?.processing ?? 0), parked: Number(row?.parked ?? 0) },
      },
      200,
    );
  },
);

const RewrapQuery = z.object({
  cursor: z.string().max(1024).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional().openapi({ example: 100 }),
});
const RewrapResultSchema = z
  .object({
    objects_checked: z.number().int(),
    objects_rewrapped: z.number().int(),
    fields_resealed: z.number().int(),
    next_cursor: z.string().nullable().openapi({ description: "pass back as `cursor`; null once the bucket has been walked" }),
    stale_fields: z.number().int().openapi({ description: "sealed D1 fields still under an older master version" }),
  })
  .openapi("RewrapResult");

operations.openapi(
  createRoute({
    method: "post",
    path: "/v1/admin/encryption/rewrap",
    summary: "Move stored data to the newest encryption master key version (one batch per call)",
    description:
      "After putting a new version first in ENCRYPTION_KEYS: call until `next_cursor` is null and `stale_fields` is 0, then the old version can be removed.",
    security: [{ bearerAuth: [] }],
    middleware: [admin] as const,
    request: { query: RewrapQuery },
    responses: { 200: { description: "One batch done", content: json(RewrapResultSchema) }, 400: problem("Bad cursor or limit") },
  }),
  async (c) => {
    const { cursor, limit } = c.req.valid("query");
    const result = await rewrapBatch(c.env, c.var.db, { cursor, limit });
    return c.json({ ...result, stale_fields: await staleFieldCount(c.env, c.var.db) }, 200);
  },
);
