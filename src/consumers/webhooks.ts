/**
 * Webhook delivery consumer (queue `vtt-webhooks`), separate from transcription so a slow receiver never holds a job.
 * Each attempt is signed afresh (same `webhook-id`, new timestamp), recorded, and retried per the delivery policy.
 */
import { checkWebhookUrl, parseAllowedHosts } from "@vtt/pool-contract";

import { isDevelopment } from "../config.ts";
import type { Env, WebhookMessage } from "../env.ts";
import { log } from "../lib/log.ts";
import { createDb, type Db } from "../storage/db.ts";
import { directoryDb, placeById } from "../storage/shards.ts";
import {
  firstAttemptAt as firstAttemptTime,
  getWebhookEvent,
  insertWebhookAttempt,
  settleWebhookEvent,
} from "../storage/webhooks.repo.ts";
import { decideAfterAttempt, parseRetryAfter, WEBHOOK_TIMEOUT_MS } from "../webhooks/delivery-policy.ts";
import { signingSecrets } from "../webhooks/events.ts";
import { signWebhook } from "../webhooks/signature.ts";

export async function handleWebhookBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  await Promise.all(
    batch.messages.map((message) => {
      // the event lives in its job's shard; messages from before shards carry no job id (the first shard)
      const jobId = (message.body as Partial<WebhookMessage> | null)?.job_id;
      const placed = typeof jobId === "string" ? placeById(env, jobId) : env;
      if (!placed) {
        log("webhook_message_ignored", { job_id: jobId, reason: "unknown_shard" });
        message.ack();
        return;
      }
      return deliver(message, placed, createDb(placed));
    }),
  );
}

async function deliver(message: Message<unknown>, env: Env, db: Db): Promise<void> {
  const eventId = (message.body as Partial<WebhookMessage> | null)?.event_id;
  if (typeof eventId !== "string") {
    message.ack();
    return;
  }
  const event = await getWebhookEvent(db, eventId);
  // deleted with its job, or already settled by an earlier delivery of this message
  if (!event || event.status !== "pending") {
    message.ack();
    return;
  }
  const attempt = event.attempts + 1;
  const now = Date.now();
  const firstAttemptAt = (await firstAttemptTime(db, event.id)) ?? now;

  const development = isDevelopment(env);
  const target = checkWebhookUrl(event.url, {
    development,
    allowedHosts: parseAllowedHosts(env.WEBHOOK_ALLOWED_HOSTS, development),
  });
  let statusCode: number | null = null;
  let error: string | null = null;
  let retryAfter: number | null = null;
  const started = Date.now();
  if (!target.ok) {
    error = `blocked: ${target.reason}`;
  } else {
    const headers = await signWebhook({
      id: event.id,
      timestamp: Math.floor(now / 1000),
      body: event.payload,
      secrets: await signingSecrets(directoryDb(env), event.tenantId, now),
    });
    try {
      const res = await fetch(target.url.toString(), {
        method: "POST",
        headers: { ...headers, "content-type": "application/json", "user-agent": "vtt-webhooks/1" },
        body: event.payload,
        redirect: "manual",
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      });
      statusCode = res.status;
      retryAfter = parseRetryAfter(res.headers.get("retry-after"), Date.now());
      await res.body?.cancel();
    } catch (e) {
      error =
        e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError") ? "timeout" : "network_error";
    }
  }
  const latencyMs = Date.now() - started;
  await insertWebhookAttempt(db, {
    eventId: event.id,
    tenantId: event.tenantId,
    jobId: event.jobId,
    attempt,
    statusCode,
    latencyMs,
    error,
    createdAt: now,
  });

  // a URL the guard refuses will not become acceptable by waiting
  const decision = target.ok
    ? decideAfterAttempt({
        attempt,
        status: statusCode,
        firstAttemptAt,
        now: Date.now(),
        retryAfterSeconds: retryAfter,
      })
    : ({ action: "give_up", reason: "blocked_url" } as const);
  const settled = decision.action === "done" ? "delivered" : decision.action === "give_up" ? "gave_up" : "pending";
  await settleWebhookEvent(db, event.id, {
    attempts: attempt,
    status: settled,
    completedAt: settled === "pending" ? null : Date.now(),
  });
  log("webhook_attempt", {
    event_id: event.id,
    job_id: event.jobId,
    tenant_id: event.tenantId,
    attempt,
    status_code: statusCode,
    error,
    latency_ms: latencyMs,
    decision: decision.action,
  });
  if (decision.action === "retry") message.retry({ delaySeconds: decision.delaySeconds });
  else message.ack();
}
