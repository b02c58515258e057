/** `webhook_events` and `webhook_attempts`: one event per job outcome and the log of its delivery attempts. */
import { and, asc, eq, sql } from "drizzle-orm";

import type { Db } from "./db.ts";
import { webhookAttempts, webhookEvents } from "./schema.ts";

export type WebhookEventRow = typeof webhookEvents.$inferSelect;
export type WebhookAttemptRow = typeof webhookAttempts.$inferSelect;

/**
 * Inserts the job's event for `type` unless one exists (the unique (job_id, type) index makes concurrent callers agree)
 * and returns the id that won, or null when the job's event could not be found.
 */
export async function insertJobEventOnce(db: Db, event: typeof webhookEvents.$inferInsert): Promise<string | null> {
  await db.insert(webhookEvents).values(event).onConflictDoNothing().run();
  const [row] = await db
    .select({ id: webhookEvents.id })
    .from(webhookEvents)
    .where(and(eq(webhookEvents.jobId, event.jobId), eq(webhookEvents.type, event.type)))
    .limit(1);
  return row?.id ?? null;
}

/** Internal lookup by event id (the delivery consumer). */
export async function getWebhookEvent(db: Db, eventId: string): Promise<WebhookEventRow | null> {
  const [row] = await db.select().from(webhookEvents).where(eq(webhookEvents.id, eventId)).limit(1);
  return row ?? null;
}

/** When the first delivery attempt of an event was made (null before any). */
export async function firstAttemptAt(db: Db, eventId: string): Promise<number | null> {
  const [row] = await db
    .select({ at: sql<number | null>`min(${webhookAttempts.createdAt})` })
    .from(webhookAttempts)
    .where(eq(webhookAttempts.eventId, eventId));
  return row?.at ?? null;
}

export async function insertWebhookAttempt(db: Db, attempt: typeof webhookAttempts.$inferInsert): Promise<void> {
  await db.insert(webhookAttempts).values(attempt).run();
}

/** Records the attempt count and the event's state after an attempt. */
export async function settleWebhookEvent(
  db: Db,
  eventId: string,
  update: { attempts: number; status: WebhookEventRow["status"]; completedAt: number | null },
): Promise<void> {
  await db.update(webhookEvents).set(update).where(eq(webhookEvents.id, eventId)).run();
}

/** A job's events, oldest first, and every attempt of them, within a tenant. */
export async function listJobDeliveries(
  db: Db,
  tenantId: string,
  jobId: string,
): Promise<{ events: WebhookEventRow[]; attempts: WebhookAttemptRow[] }> {
  const events = await db
    .select()
    .from(webhookEvents)
    .where(and(eq(webhookEvents.tenantId, tenantId), eq(webhookEvents.jobId, jobId)))
    .orderBy(asc(webhookEvents.createdAt));
  const attempts = await db
    .select()
    .from(webhookAttempts)
    .where(and(eq(webhookAttempts.tenantId, tenantId), eq(webhookAttempts.jobId, jobId)))
    .orderBy(asc(webhookAttempts.eventId), asc(webhookAttempts.attempt));
  return { events, attempts };
}
