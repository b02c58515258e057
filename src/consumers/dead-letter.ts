/** `vtt-jobs-dlq` consumer: hands each dead-lettered job that is still active to the inspector. */
import type { Env, JobMessage } from "../env.ts";
import { inspect } from "../jobs/dead-letters.ts";
import { failAudioRedaction } from "../jobs/results.ts";
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
    } else if (job.pendingAudioRedaction) {
      // the redaction of a stored result was retried until the queue gave up: the job fails, and its audio goes
      await failAudioRedaction(
        placed!,
        db!,
        job,
        "audio_redaction_failed",
        "The pool could not redact the audio: the retries are spent.",
      );
      log("dead_letter", { job_id: job.id, tenant_id: job.tenantId, classification: "audio_redaction_failed" });
    } else {
      await inspect(placed!, db!, job);
    }
    message.ack();
  }
}
