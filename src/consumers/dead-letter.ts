/** `vtt-jobs-dlq` consumer: hands each dead-lettered job that is still active to the inspector. */
import type { Env, JobMessage } from "../env.ts";
import { inspect } from "../jobs/dead-letters.ts";
import { isTerminal } from "../jobs/state.ts";
import { log } from "../lib/log.ts";
import { createDb } from "../storage/db.ts";
import { getJobById } from "../storage/jobs.repo.ts";
import { placeById } from "../storage/shards.ts";

export async function handleDeadLetterBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    const body = message.body as Partial<JobMessage> | null;
    // the job's own shard and region (its id names them)
    const placed = body && typeof body.job_id === "string" ? placeById(env, body.job_id) : null;
    const db = placed ? createDb(placed) : null;
    const job = placed && db ? await getJobById(db, body!.job_id!) : null;
    if (!job || isTerminal(job.status)) {
      log("dead_letter_ignored", {
        job_id: body?.job_id,
        reason: job ? job.status : placed ? "deleted" : "unknown_shard",
      });
    } else {
      await inspect(placed!, db!, job);
    }
    message.ack();
  }
}
