/** `/v1/admin/breakers`: read and force the per-provider circuit breakers (operator plane). */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../../app.context.ts";
import { breakerFor } from "../../breaker/circuit-breaker.ts";
import { ApiError } from "../../http/problem.ts";
import { parseProviderList } from "../../providers/registry.ts";
import { iso, json, problem, TAGS } from "../openapi.ts";
import { validationHook } from "../validation.ts";

export const breakers = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

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

/** A provider's breaker as the API shows it (the console shows the same). */
export async function breakerView(env: AppEnv["Bindings"], provider: string) {
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

breakers.openapi(
  createRoute({
    method: "get",
    path: "/v1/admin/breakers",
    operationId: "listBreakers",
    tags: [TAGS.admin],
    summary: "Every enabled provider's circuit breaker",
    security: [{ bearerAuth: ["admin"] }],
    responses: { 200: { description: "Breakers", content: json(z.object({ data: z.array(BreakerView) })) } },
  }),
  async (c) => c.json({ data: await Promise.all(parseProviderList(c.env).map((p) => breakerView(c.env, p))) }, 200),
);

breakers.openapi(
  createRoute({
    method: "post",
    path: "/v1/admin/breakers/{provider}/{action}",
    operationId: "forceBreaker",
    tags: [TAGS.admin],
    summary: "Force a breaker open (held until closed) or closed",
    security: [{ bearerAuth: ["admin"] }],
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
    return c.json(await forceBreaker(c.env, provider, action), 200);
  },
);

/** Forces an enabled provider's breaker open (held until closed) or closed; 404 for any other provider. */
export async function forceBreaker(env: AppEnv["Bindings"], provider: string, action: "open" | "close") {
  if (!parseProviderList(env).includes(provider as never))
    throw new ApiError(404, "not_found", "No such enabled provider.");
  await breakerFor(env, provider).force(provider, action === "open" ? "open" : "closed");
  return breakerView(env, provider);
}
