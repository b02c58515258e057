/** Worker entry: the HTTP API, the queue consumers (an exact queue → consumer map) and the cron tasks. */
import { createApp } from "./app.ts";
import { retryPoolErasures } from "./compliance/pool-erasure-retry.ts";
import { purgeExpired } from "./compliance/retention.ts";
import { consoleSessionLifetimes, queueNames } from "./config.ts";
import { handleDeadLetterBatch } from "./consumers/dead-letter.ts";
import { handleTranscriptionBatch } from "./consumers/transcription.ts";
import { handleWebhookBatch } from "./consumers/webhooks.ts";
import { refreshDriftSnapshot } from "./drift/drift-snapshot.ts";
import type { Env } from "./env.ts";
import { redriveDue } from "./jobs/dead-letters.ts";
import { sweepStuckJobs } from "./jobs/sweeper.ts";
import { log } from "./lib/log.ts";
import { recordHealthSample } from "./observability/health-samples.ts";
import { deleteEndedConsoleSessions } from "./storage/console-sessions.repo.ts";
import { createDb, type Db } from "./storage/db.ts";
import { directoryDb, placeEnv, placementOf } from "./storage/shards.ts";
import { purgeExpiredUploads } from "./uploads/expiry.ts";

export { CircuitBreaker } from "./breaker/circuit-breaker.ts";
export { JobWaiter } from "./jobs/job-waiter.ts";
export { RateLimiter } from "./ratelimit/rate-limiter.ts";
export { ResumableUpload } from "./uploads/resumable-upload.ts";

type BatchHandler = (batch: MessageBatch<unknown>, env: Env) => Promise<void>;

/** Which consumer each configured queue feeds; a queue missing here is a deployment error, not a default. */
export function queueConsumers(env: Env): Map<string, BatchHandler> {
  const names = queueNames(env);
  const consumers = new Map<string, BatchHandler>([
    [names.jobs, handleTranscriptionBatch],
    [names.deadLetters, handleDeadLetterBatch],
    [names.webhooks, handleWebhookBatch],
  ]);
  // each region's own queues (PLACEMENT); the consumers take the shard from each message's job id
  for (const region of placementOf(env).regions) {
    const { jobs, webhooks, deadLetters } = region.queueNames;
    if (jobs) consumers.set(jobs, handleTranscriptionBatch);
    if (webhooks) consumers.set(webhooks, handleWebhookBatch);
    if (deadLetters) consumers.set(deadLetters, handleDeadLetterBatch);
  }
  return consumers;
}

/** The cron's tasks, each run on its own so one failing task neither stops nor hides the others. */
export const CRON_TASKS: Record<string, (env: Env, db: Db) => Promise<unknown>> = {
  sweep_stuck_jobs: (env, db) => sweepStuckJobs(env, db),
  redrive_dead_letters: (env, db) => redriveDue(env, db),
  purge_expired: (env, db) => purgeExpired(env, db),
  refresh_drift_snapshot: (_env, db) => refreshDriftSnapshot(db),
  record_health_sample: (_env, db) => recordHealthSample(db),
  retry_pool_erasures: (env, db) => retryPoolErasures(env, db),
  purge_expired_uploads: (env, db) => purgeExpiredUploads(env, db),
  purge_console_sessions: (env, db) => deleteEndedConsoleSessions(db, Date.now(), consoleSessionLifetimes(env).idleMs),
};

/** Tasks over directory data (console sessions); every other task runs once per job shard. */
export const DIRECTORY_CRON_TASKS = new Set(["purge_console_sessions"]);

/**
 * Runs every cron task, the shard tasks once per shard inside that shard's placement, all at once: a slow or
 * failing shard neither stops nor hides the others. One log line per task (and shard) with its outcome.
 */
export async function runCronTasks(env: Env): Promise<PromiseSettledResult<unknown>[]> {
  const { shards } = placementOf(env);
  type Run = { task: string; shard: string | null; run: () => Promise<unknown> };
  const runs = Object.entries(CRON_TASKS).flatMap(([task, run]): Run[] =>
    DIRECTORY_CRON_TASKS.has(task)
      ? [{ task, shard: null, run: () => run(env, directoryDb(env)) }]
      : shards.map((shard) => {
          const placed = placeEnv(env, shard);
          return { task, shard: shard.code, run: () => run(placed, createDb(placed)) };
        }),
  );
  return Promise.all(
    runs.map(async ({ task, shard, run }): Promise<PromiseSettledResult<unknown>> => {
      const started = Date.now();
      const [outcome] = await Promise.allSettled([run()]);
      const fields = { task, ...(shards.length > 1 && shard ? { shard } : {}), duration_ms: Date.now() - started };
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
