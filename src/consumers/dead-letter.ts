/**
 * Dead-letter consumer: a message lands here only when the transcription consumer itself kept crashing on it
 * (provider failures are retried and failed inside the consumer). The job must not stay active forever: fail it.
 */
import { drizzle } from "drizzle-orm/d1";
import type { Env, JobMessage } from "../env.ts";
import { storeFailure } from "../jobs/results.ts";
import { log } from "../lib/log.ts";
import * as schema from "../storage/schema.ts";

export async function handleDeadLetterBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = drizzle(env.DB, { schema });
  for (const message of batch.messages) {
    const body = message.body as Partial<JobMessage> | null;
    if (body && typeof body.job_id === "string") {
      const failed = await storeFailure(db, body.job_id, "retries_exhausted", "The job could not be processed after repeated attempts.");
      log("dead_letter", { job_id: body.job_id, failed });
    } else {
      log("dead_letter", { message_id: message.id, malformed: true });
    }
    message.ack();
  }
}
