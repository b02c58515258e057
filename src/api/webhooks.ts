/** `/v1/webhooks/secret` and `/v1/transcriptions/{id}/webhooks`: a tenant's signing secret and delivery log. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../app.context.ts";
import { requireScope, tenantOf } from "../auth/middleware.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../http/problem.ts";
import { isWellFormedId } from "../lib/ids.ts";
import { getTenantJob } from "../storage/jobs.repo.ts";
import { directoryDb } from "../storage/shards.ts";
import { getTenant, rotateWebhookSecret } from "../storage/tenants.repo.ts";
import { listJobDeliveries } from "../storage/webhooks.repo.ts";
import { signingSecrets } from "../webhooks/events.ts";
import { generateWebhookSecret } from "../webhooks/signature.ts";
import { iso, problem, TAGS } from "./openapi.ts";
import { validationHook } from "./validation.ts";

/** How long the previous secret keeps signing after a rotation, so receivers can switch without dropping events. */
export const WEBHOOK_SECRET_GRACE_MS = 24 * 60 * 60 * 1000;

const SecretSchema = z
  .object({
    secret: z.string().openapi({ description: "Current `whsec_` secret" }),
    previous_secret: z.string().nullable(),
    previous_valid_until: z.string().nullable(),
  })
  .openapi("WebhookSecret");

const AttemptSchema = z.object({
  attempt: z.number().int(),
  status_code: z.number().int().nullable(),
  latency_ms: z.number().int(),
  error: z.string().nullable(),
  created_at: z.string(),
});
const DeliverySchema = z
  .object({
    event_id: z.string(),
    type: z.string(),
    status: z.enum(["pending", "delivered", "gave_up"]),
    url: z.string(),
    created_at: z.string(),
    attempts: z.array(AttemptSchema),
  })
  .openapi("WebhookDelivery");

export const webhooks = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

/** Webhook secrets live in the directory only (shards keep a copy of the tenant without them). */
async function secretView(c: { env: Env }, tenantId: string) {
  const directory = directoryDb(c.env);
  await signingSecrets(directory, tenantId);
  const tenant = await getTenant(directory, tenantId);
  const graceLive = (tenant?.webhookSecretPreviousUntil ?? 0) > Date.now();
  return {
    secret: tenant!.webhookSecret!,
    previous_secret: graceLive ? tenant!.webhookSecretPrevious : null,
    previous_valid_until: graceLive ? iso(tenant!.webhookSecretPreviousUntil) : null,
  };
}

webhooks.openapi(
  createRoute({
    method: "get",
    path: "/v1/webhooks/secret",
    operationId: "getWebhookSecret",
    tags: [TAGS.webhooks],
    summary: "Read the tenant's webhook signing secret (Standard Webhooks)",
    security: [{ bearerAuth: ["transcriptions:read"] }],
    middleware: [requireScope("transcriptions:read")] as const,
    responses: { 200: { description: "The secret", content: { "application/json": { schema: SecretSchema } } } },
  }),
  async (c) => c.json(await secretView(c, tenantOf(c.var.principal)), 200),
);

webhooks.openapi(
  createRoute({
    method: "post",
    path: "/v1/webhooks/secret/rotate",
    operationId: "rotateWebhookSecret",
    tags: [TAGS.webhooks],
    summary: "Rotate the webhook secret; the old one keeps signing beside the new one for 24 h",
    description: "Needs both scopes: rotating changes the secret (write) and the answer contains it (read).",
    // the answer carries both secrets: a key that may not read them must not get them by rotating
    security: [{ bearerAuth: ["transcriptions:write", "transcriptions:read"] }],
    middleware: [requireScope("transcriptions:write"), requireScope("transcriptions:read")] as const,
    responses: {
      200: { description: "The new secret", content: { "application/json": { schema: SecretSchema } } },
      403: problem("The key lacks `transcriptions:read` or `transcriptions:write`"),
    },
  }),
  async (c) => {
    const tenantId = tenantOf(c.var.principal);
    const [current] = await signingSecrets(directoryDb(c.env), tenantId);
    await rotateWebhookSecret(directoryDb(c.env), tenantId, {
      secret: generateWebhookSecret(),
      previous: current ?? null,
      previousUntil: Date.now() + WEBHOOK_SECRET_GRACE_MS,
    });
    return c.json(await secretView(c, tenantId), 200);
  },
);

webhooks.openapi(
  createRoute({
    method: "get",
    path: "/v1/transcriptions/{id}/webhooks",
    operationId: "listWebhookDeliveries",
    tags: [TAGS.webhooks],
    summary: "Webhook deliveries of a job with every attempt",
    security: [{ bearerAuth: ["transcriptions:read"] }],
    middleware: [requireScope("transcriptions:read")] as const,
    request: { params: z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) }) },
    responses: {
      200: {
        description: "Deliveries",
        content: { "application/json": { schema: z.object({ data: z.array(DeliverySchema) }) } },
      },
      404: problem("No such job in your tenant"),
    },
  }),
  async (c) => {
    const tenantId = tenantOf(c.var.principal);
    const id = c.req.valid("param").id;
    if (!isWellFormedId(id, "transcription") || !(await getTenantJob(c.var.db, tenantId, id))) {
      throw new ApiError(404, "not_found", "No transcription with that id.");
    }
    const { events, attempts } = await listJobDeliveries(c.var.db, tenantId, id);
    return c.json(
      {
        data: events.map((e) => ({
          event_id: e.id,
          type: e.type,
          status: e.status,
          url: e.url,
          created_at: iso(e.createdAt)!,
          attempts: attempts
            .filter((a) => a.eventId === e.id)
            .map((a) => ({
              attempt: a.attempt,
              status_code: a.statusCode,
              latency_ms: a.latencyMs,
              error: a.error,
              created_at: iso(a.createdAt)!,
            })),
        })),
      },
      200,
    );
  },
);
