/** Worker entry: HTTP API, queue consumers and cron. */
import { createDb } from "./storage/db.ts";
import { createApp } from "./app.ts";
import { handleTranscriptionBatch } from "./consumers/transcription.ts";
import { handleDeadLetterBatch } from "./consumers/dead-letter.ts";
import { redriveDue } from "./jobs/dead-letters.ts";
import { handleWebhookBatch } from "./consumers/webhooks.ts";
import type { Env } from "./env.ts";
import { retryPoolErasures } from "./compliance/pool-erasure-retry.ts";
import { purgeExpired } from "./jobs/retention.ts";
import { refreshDriftSnapshot } from "./drift/drift-snapshot.ts";
import { sweepStuckJobs } from "./jobs/sweeper.ts";
import * as schema from "./storage/schema.ts";

export { CircuitBreaker } from "./breaker/circuit-breaker.ts";
export { RateLimiter } from "./ratelimit/rate-limiter.ts";

const app = createApp();

export default {
  fetch: app.fetch,
  async queue(batch, env, _ctx) {
    if (batch.queue.endsWith("-dlq")) return handleDeadLetterBatch(batch, env);
    if (batch.queue.startsWith("vtt-webhooks")) return handleWebhookBatch(batch, env);
    return handleTranscriptionBatch(batch, env);
  },
  async scheduled(_controller, env, ctx) {
    const db = createDb(env);
    ctx.waitUntil(Promise.all([sweepStuckJobs(env, db), redriveDue(env, db), purgeExpired(env, db), refreshDriftSnapshot(db), retryPoolErasures(env, db)]).then(() => undefined));
  },
} satisfies ExportedHandler<Env>;
