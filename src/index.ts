/** Worker entry: the HTTP API, the queue consumers (an exact queue → consumer map) and the cron tasks. */
import { createApp } from "./app.ts";
import { retryPoolErasures } from "./compliance/pool-erasure-retry.ts";
import { consoleSessionLifetimes, queueNames } from "./config.ts";
import { handleDeadLetterBatch } from "./consumers/dead-letter.ts";
import { handleTranscriptionBatch } from "./consumers/transcription.ts";
import { handleWebhookBatch } from "./consumers/webhooks.ts";
import { refreshDriftSnapshot } from "./drift/drift-snapshot.ts";
import type { Env } from "./env.ts";
import { redriveDue } from "./jobs/dead-letters.ts";
import { purgeExpired } from "./jobs/retention.ts";
import { sweepStuckJobs } from "./jobs/sweeper.ts";
import { log } from "./lib/log.ts";
import { deleteEndedConsoleSessions } from "./storage/console-sessions.repo.ts";
import { createDb, type Db } from "./storage/db.ts";
import { purgeExpiredUploads } from "./uploads/expiry.ts";

export { CircuitBreaker } from "./breaker/circuit-breaker.ts";
export { JobWaiter } from "./jobs/job-waiter.ts";
export { RateLimiter } from "./ratelimit/rate-limiter.ts";
export { ResumableUpload } from "./uploads/resumable-upload.ts";

type BatchHandler = (batch: MessageBatch<unknown>, env: Env) => Promise<void>;

/** Which consumer each configured queue feeds; a queue missing here is a deployment error, not a default. */
export function queueConsumers(env: Env): Map<string, BatchHandler> {
  const names = queueNames(env);
  return new Map<string, BatchHandler>([
    [names.jobs, handleTranscriptionBatch],
    [names.deadLetters, handleDeadLetterBatch],
    [names.webhooks, handleWebhookBatch],
  ]);
}

/** The cron's tasks, each run on its own so one failing task neither stops nor hides the others. */
export const CRON_TASKS: Record<string, (env: Env, db: Db) => Promise<unknown>> = {
  sweep_stuck_jobs: (env, db) => sweepStuckJobs(env, db),
  redrive_dead_letters: (env, db) => redriveDue(env, db),
  purge_expired: (env, db) => purgeExpired(env, db),
  refresh_drift_snapshot: (_env, db) => refreshDriftSnapshot(db),
  retry_pool_erasures: (env, db) => retryPoolErasures(env, db),
  purge_expired_uploads: (env, db) => purgeExpiredUploads(env, db),
  purge_console_sessions: (env, db) => deleteEndedConsoleSessions(db, Date.now(), consoleSessionLifetimes(env).idleMs),
};

/** Runs every cron task; one log line per task with its outcome. */
export async function runCronTasks(env: Env): Promise<PromiseSettledResult<unknown>[]> {
  const db = createDb(env);
  return Promise.all(
    Object.entries(CRON_TASKS).map(async ([task, run]): Promise<PromiseSettledResult<unknown>> => {
      const started = Date.now();
      const [outcome] = await Promise.allSettled([run(env, db)]);
      const fields = { task, duration_ms: Date.now() - started };
      if (outcome.status === "fulfilled") log("cron_task", { ...fields, outcome: "ok" });
      // the error's name only: a binding's message may echo data
      else log("cron_task", { ...fields, outcome: "failed", error: errorName(outcome.reason) });
      return outcome;
    }),
  );
}

const errorName = (error: unknown) => (error instanceof Error ? error.name : "unknown");

const app = createApp();

export default {
  fetch: app.fetch,
  async queue(batch, env, _ctx) {
    const consume = queueConsumers(env).get(batch.queue);
    if (!consume) {
      // thrown, so the batch is retried (and dead-lettered) instead of acknowledged by the wrong consumer
      log("queue_unknown", { queue: batch.queue, messages: batch.messages.length });
      throw new Error(`No consumer is configured for queue "${batch.queue}"`);
    }
    return consume(batch, env);
  },
  async scheduled(_controller, env, ctx) {
    ctx.waitUntil(runCronTasks(env).then(() => undefined));
  },
} satisfies ExportedHandler<Env>;
