/** Worker entry: HTTP API, queue consumers and cron. */
import { drizzle } from "drizzle-orm/d1";
import { createApp } from "./app.ts";
import { handleTranscriptionBatch } from "./consumers/transcription.ts";
import { handleDeadLetterBatch } from "./consumers/dead-letter.ts";
import type { Env } from "./env.ts";
import { sweepStuckJobs } from "./jobs/sweeper.ts";
import * as schema from "./storage/schema.ts";

export { CircuitBreaker } from "./breaker/circuit-breaker.ts";

const app = createApp();

export default {
  fetch: app.fetch,
  async queue(batch, env) {
    if (batch.queue.endsWith("-dlq")) return handleDeadLetterBatch(batch, env);
    return handleTranscriptionBatch(batch, env);
  },
  async scheduled(_controller, env, ctx) {
    ctx.waitUntil(sweepStuckJobs(env, drizzle(env.DB, { schema })).then(() => undefined));
  },
} satisfies ExportedHandler<Env>;
