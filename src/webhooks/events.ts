/** Creating webhook events for job outcomes and handing them to the delivery queue. */
import type { Env, WebhookMessage } from "../env.ts";
import { log } from "../lib/log.ts";
import type { Db } from "../storage/db.ts";
import type { TranscriptionRow } from "../storage/schema.ts";
import { getTenant, setFirstWebhookSecret } from "../storage/tenants.repo.ts";
import { insertJobEventOnce } from "../storage/webhooks.repo.ts";
import { generateWebhookSecret, newWebhookEventId } from "./signature.ts";

export type JobEventType = "transcription.completed" | "transcription.failed";

/** The body sent to the receiver: the outcome and links, never the transcript itself. */
export function webhookPayload(
  job: Pick<TranscriptionRow, "id">,
  type: JobEventType,
  status: string,
  publicBaseUrl: string,
  now: number,
) {
  const self = `${publicBaseUrl.replace(/\/$/, "")}/v1/transcriptions/${job.id}`;
  return {
    type,
    timestamp: new Date(now).toISOString(),
    data: { id: job.id, object: "transcription", status, links: { self, transcript: `${self}/transcript` } },
  };
}

/**
 * Records the event once per job outcome (the unique (job_id, type) index makes concurrent callers agree on one
 * event id) and enqueues its delivery. Jobs without a webhook URL get no event.
 */
export async function emitJobEvent(
  env: Env,
  db: Db,
  job: Pick<TranscriptionRow, "id" | "tenantId" | "webhookUrl">,
  type: JobEventType,
): Promise<string | null> {
  if (!job.webhookUrl) return null;
  const now = Date.now();
  const status = type === "transcription.completed" ? "completed" : "failed";
  const id = newWebhookEventId(now);
  const payload = JSON.stringify(webhookPayload(job, type, status, env.PUBLIC_BASE_URL ?? "", now));
  const eventId = await insertJobEventOnce(db, {
    id,
    tenantId: job.tenantId,
    jobId: job.id,
    type,
    url: job.webhookUrl,
    payload,
    status: "pending",
    createdAt: now,
  });
  if (!eventId) return null;
  await env.WEBHOOKS.send({ v: 1, event_id: eventId } satisfies WebhookMessage, { contentType: "json" });
  log("webhook_enqueued", { job_id: job.id, event_id: eventId, type });
  return eventId;
}

/** The tenant's signing secrets: current first, plus the previous one during its grace period. */
export async function signingSecrets(db: Db, tenantId: string, now = Date.now()): Promise<string[]> {
  const tenant = await getTenant(db, tenantId);
  if (!tenant) return [];
  let current = tenant.webhookSecret;
  if (!current) {
    // only the first writer's secret sticks
    const generated = generateWebhookSecret();
    current = (await setFirstWebhookSecret(db, tenantId, generated)) ?? generated;
  }
  const secrets = [current];
  if (tenant.webhookSecretPrevious && (tenant.webhookSecretPreviousUntil ?? 0) > now)
    secrets.push(tenant.webhookSecretPrevious);
  return secrets;
}
