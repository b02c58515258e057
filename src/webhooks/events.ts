/** Creating webhook events for job outcomes and handing them to the delivery queue. */
import { z } from "zod";

import type { SpeakerSummary } from "../domain/speakers.ts";
import type { Env, WebhookMessage } from "../env.ts";
import { log } from "../lib/log.ts";
import type { Db } from "../storage/db.ts";
import type { TranscriptionRow } from "../storage/schema.ts";
import { getTenant, setFirstWebhookSecret } from "../storage/tenants.repo.ts";
import { insertJobEventOnce } from "../storage/webhooks.repo.ts";
import { generateWebhookSecret, newWebhookEventId } from "./signature.ts";

/** Each job event and the job status it reports. */
export const JOB_EVENT_STATUS = {
  "transcription.completed": "completed",
  "transcription.failed": "failed",
} as const;
export type JobEventType = keyof typeof JOB_EVENT_STATUS;

/**
 * The body sent to the receiver for one event type: the outcome and links, never the transcript itself. The same
 * schema types `webhookPayload` and describes the event in the OpenAPI document's `webhooks`.
 */
export function jobEventSchema<T extends JobEventType>(type: T) {
  return z.object({
    type: z.literal(type),
    timestamp: z.iso.datetime(),
    data: z.object({
      id: z.string(),
      object: z.literal("transcription"),
      status: z.literal(JOB_EVENT_STATUS[type]),
      links: z.object({
        self: z.string().describe("the job: `GET` it with a read-scoped key"),
        transcript: z.string().describe("the transcript export"),
      }),
      speakers: z
        .array(z.object({ label: z.string(), talk_time_seconds: z.number() }))
        .optional()
        .describe("completed jobs with `speaker_labels` or `multichannel`: each speaker's label and talk time"),
    }),
  });
}
export type JobEvent<T extends JobEventType = JobEventType> = z.infer<ReturnType<typeof jobEventSchema<T>>>;

export function webhookPayload<T extends JobEventType>(
  job: Pick<TranscriptionRow, "id">,
  type: T,
  publicBaseUrl: string,
  now: number,
  speakers?: SpeakerSummary[],
): JobEvent<T> {
  const self = `${publicBaseUrl.replace(/\/$/, "")}/v1/transcriptions/${job.id}`;
  return {
    type,
    timestamp: new Date(now).toISOString(),
    data: {
      id: job.id,
      object: "transcription",
      status: JOB_EVENT_STATUS[type],
      links: { self, transcript: `${self}/transcript` },
      ...(speakers ? { speakers } : {}),
    },
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
  speakers?: SpeakerSummary[],
): Promise<string | null> {
  if (!job.webhookUrl) return null;
  const now = Date.now();
  const id = newWebhookEventId(now);
  const payload = JSON.stringify(webhookPayload(job, type, env.PUBLIC_BASE_URL ?? "", now, speakers));
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
  await env.WEBHOOKS.send({ v: 1, event_id: eventId, job_id: job.id } satisfies WebhookMessage, {
    contentType: "json",
  });
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
