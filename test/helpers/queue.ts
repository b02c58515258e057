/**
 * Delivers queue messages to the Worker's real `queue()` handler, as Cloudflare Queues would, and reports what the
 * consumer did with each one. The `[env.test]` queues have no consumers, so every consumer test drives them here.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";

import { queueNames } from "../../src/config.ts";
import type { Env, JobMessage, WebhookMessage } from "../../src/env.ts";
import worker from "../../src/index.ts";

/** The queue names the Worker is configured with (`JOBS_QUEUE`, `JOBS_DLQ`, `WEBHOOKS_QUEUE` or their defaults). */
export const QUEUES = queueNames(env);

/** One message to deliver; the id defaults to one unique within the test file. */
export interface QueuedMessage<Body = unknown> {
  body: Body;
  id?: string;
  /** delivery attempt, 1 for the first (Queues counts up on every retry) */
  attempts?: number;
}

/**
 * The runtime's record of a batch, as `getQueueResult` returns it. Spelled out here because the 2023-07-01
 * compatibility types this project compiles against do not declare `FetcherQueueResult`.
 */
export interface QueueResult {
  outcome: string;
  ackAll: boolean;
  retryBatch: { retry: boolean; delaySeconds?: number };
  explicitAcks: string[];
  /** the retried messages (this runtime leaves `delaySeconds` out: see {@link Delivery.retryDelays}) */
  retryMessages: { msgId: string; delaySeconds?: number }[];
}

/** What the consumer did with a batch: the runtime's own result, plus the retried ids and their delays. */
export interface Delivery extends QueueResult {
  /** ids of the delivered messages, in batch order */
  ids: string[];
  /** ids of the messages retried one by one (`message.retry()`), in order */
  retried: string[];
  /** `delaySeconds` asked for each retried message, by id (undefined when the consumer gave none) */
  retryDelays: Map<string, number | undefined>;
  /** what `queue()` threw; only with {@link DeliveryOptions.captureError} (otherwise the delivery rejects with it) */
  error?: unknown;
}

/** Options of a delivery. */
export interface DeliveryOptions {
  /** bindings overridden for this delivery only (limits, timeouts, a failover chain) */
  env?: Partial<Env>;
  /** return an error thrown by `queue()` in {@link Delivery.error} instead of rejecting, for tests of failing batches */
  captureError?: boolean;
}

let sequence = 0;

/** Delivers `messages` as one batch from `queue` to the Worker's `queue()` handler and waits for the outcome. */
export async function deliver(
  queue: string,
  messages: readonly QueuedMessage[],
  options: DeliveryOptions = {},
): Promise<Delivery> {
  const batch = createMessageBatch(
    queue,
    messages.map((message) => ({
      id: message.id ?? `msg-${sequence++}`,
      timestamp: new Date(),
      attempts: message.attempts ?? 1,
      body: message.body,
    })),
  );
  // getQueueResult drops each retry's delaySeconds, so the delays are recorded on the way to the runtime
  const retryDelays = new Map<string, number | undefined>();
  for (const message of batch.messages) {
    const retry = message.retry.bind(message);
    message.retry = (retryOptions?: QueueRetryOptions) => {
      retryDelays.set(message.id, retryOptions?.delaySeconds);
      retry(retryOptions);
    };
  }
  const ctx = createExecutionContext();
  let failure: { error: unknown } | undefined;
  try {
    await worker.queue(batch, (options.env ? { ...env, ...options.env } : env) as Env, ctx);
  } catch (error) {
    if (!options.captureError) throw error;
    failure = { error };
  }
  const result = (await getQueueResult(batch, ctx)) as QueueResult;
  return {
    ...result,
    ids: batch.messages.map((message) => message.id),
    retried: result.retryMessages.map((message) => message.msgId),
    retryDelays,
    ...failure,
  };
}

/** The jobs-queue message for a job, as the upload route sends it (ids only). */
export function jobMessage(jobId: string, tenantId: string): JobMessage {
  return { v: 1, job_id: jobId, tenant_id: tenantId };
}

/** Delivers one jobs-queue message per job id, in one batch, all at the same attempt. */
export function deliverJobs(
  jobIds: readonly string[],
  tenantId: string,
  options: DeliveryOptions & { attempts?: number } = {},
): Promise<Delivery> {
  const messages = jobIds.map((jobId) => ({ body: jobMessage(jobId, tenantId), attempts: options.attempts }));
  return deliver(QUEUES.jobs, messages, options);
}

/**
 * Delivers the message a pool callback sends for a `redact_pii_audio` job (`kind: "audio_redaction"`): the consumer
 * redacts the stored result's audio and completes the job.
 */
export function deliverAudioRedactions(
  jobIds: readonly string[],
  tenantId: string,
  options: DeliveryOptions & { attempts?: number } = {},
): Promise<Delivery> {
  const messages = jobIds.map((jobId) => ({
    body: { ...jobMessage(jobId, tenantId), kind: "audio_redaction" } satisfies JobMessage,
    attempts: options.attempts,
  }));
  return deliver(QUEUES.jobs, messages, options);
}

/** Delivers job messages on the dead-letter queue, as Queues does after `max_retries` (5) failed deliveries. */
export function deliverDeadLetters(
  jobIds: readonly string[],
  tenantId: string,
  options: DeliveryOptions = {},
): Promise<Delivery> {
  const messages = jobIds.map((jobId) => ({ body: jobMessage(jobId, tenantId), attempts: 6 }));
  return deliver(QUEUES.deadLetters, messages, options);
}

/** Delivers one webhooks-queue message per event, in one batch; `attempts` counts earlier tries of that event. */
export function deliverWebhooks(
  events: readonly (string | { eventId: string; attempts?: number })[],
  options: DeliveryOptions = {},
): Promise<Delivery> {
  const messages = events.map((event) => {
    const { eventId, attempts } = typeof event === "string" ? { eventId: event, attempts: undefined } : event;
    const body: WebhookMessage = { v: 1, event_id: eventId };
    return { body, attempts };
  });
  return deliver(QUEUES.webhooks, messages, options);
}
