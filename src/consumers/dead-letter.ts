/**
 * Dead-letter inspector. A message lands in `vtt-jobs-dlq` after the queue's `max_retries`; this consumer (and the
 * cron re-drive) classify the job: permanently corrupted input fails at once with its code; recoverable jobs are
 * parked and re-driven with growing delay once their provider's breaker lets calls through, until
 * `DEAD_LETTER_MAX_AGE_SECONDS`, after which they fail with `retries_exhausted`.
 */
import { and, asc, eq, isNull, lte } from "drizzle-orm";
import { createDb } from "../storage/db.ts";
import type { Db } from "../storage/db.ts";
import { breakerFor } from "../breaker/circuit-breaker.ts";
import { maxUploadBytes } from "../config.ts";
import { sniffAudio, SNIFF_BYTES } from "../domain/audio-format.ts";
import type { Env, JobMessage } from "../env.ts";
import { enqueueJob } from "../jobs/enqueue.ts";
import { classifyDeadLetter, DEFAULT_DEAD_LETTER_MAX_AGE_SECONDS, redriveDelaySeconds } from "../jobs/dead-letter-policy.ts";
import { storeFailure } from "../jobs/results.ts";
import { DELAY_DEAD_LETTERED, isTerminal } from "../jobs/state.ts";
import { log } from "../lib/log.ts";
import { traceIdOf } from "../observability/trace.ts";
import { getJobById } from "../storage/jobs.repo.ts";
import * as schema from "../storage/schema.ts";
import { getSealedPrefix } from "../storage/sealed-objects.ts";
import { deadLetters, transcriptions, type TranscriptionRow } from "../storage/schema.ts";

const REDRIVE_BATCH = 50;

export async function handleDeadLetterBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = createDb(env);
  for (const message of batch.messages) {
    const body = message.body as Partial<JobMessage> | null;
    const job = body && typeof body.job_id === "string" ? await getJobById(db, body.job_id) : null;
    if (!job || isTerminal(job.status)) {
      log("dead_letter_ignored", { job_id: body?.job_id, reason: job ? job.status : "deleted" });
    } else {
      await inspect(env, db, job);
    }
    message.ack();
  }
}

/** Classifies one dead-lettered job and records the verdict. */
export async function inspect(env: Env, db: Db, job: TranscriptionRow, now = Date.now()): Promise<"corrupt" | "recoverable"> {
  // a prefix that does not decrypt (tampered, or its master key version is gone) reads as missing audio
  const bytes = job.audioKey ? await getSealedPrefix(env, job.tenantId, job.audioKey, SNIFF_BYTES).catch(() => null) : null;
  const verdict = classifyDeadLetter(
    { size: bytes ? (bytes.byteLength > 0 ? job.audioBytes : 0) : null, maxBytes: maxUploadBytes(env), sniffsAsAudio: !!bytes && sniffAudio(bytes) !== null },
    job.delayedReason ?? job.errorCode,
  );
  const [existing] = await db.select().from(deadLetters).where(eq(deadLetters.jobId, job.id)).limit(1);
  const redriveCount = existing?.redriveCount ?? 0;
  const base = { tenantId: job.tenantId, provider: job.provider, classification: verdict.classification, reason: verdict.reason, lastDeadAt: now };
  if (verdict.classification === "corrupt") {
    await storeFailure(env, db, job, verdict.code, `Dead-lettered: ${verdict.reason}.`);
    await upsert(db, job.id, { ...base, nextRedriveAt: null, resolvedAt: now, resolution: "failed" }, now);
  } else {
    await db.update(transcriptions).set({ delayedReason: DELAY_DEAD_LETTERED, status: "queued", updatedAt: now }).where(eq(transcriptions.id, job.id)).run();
    await upsert(db, job.id, { ...base, nextRedriveAt: now + redriveDelaySeconds(redriveCount) * 1000, resolvedAt: null, resolution: null }, now);
  }
  log("dead_letter", { job_id: job.id, tenant_id: job.tenantId, provider: job.provider, classification: verdict.classification, reason: verdict.reason, trace_id: traceIdOf(job.traceparent) ?? undefined });
  return verdict.classification;
}

async function upsert(db: Db, jobId: string, values: Omit<typeof deadLetters.$inferInsert, "jobId" | "firstDeadAt">, now: number) {
  await db
    .insert(deadLetters)
    .values({ jobId, firstDeadAt: now, ...values })
    .onConflictDoUpdate({ target: deadLetters.jobId, set: values })
    .run();
}

/** Sends a parked job back to the transcription queue now. */
export async function redrive(env: Env, db: Db, jobId: string, now = Date.now()): Promise<boolean> {
  const [item] = await db.select().from(deadLetters).where(and(eq(deadLetters.jobId, jobId), isNull(deadLetters.resolvedAt))).limit(1);
  if (!item) return false;
  const [job] = await db.select({ traceparent: transcriptions.traceparent }).from(transcriptions).where(eq(transcriptions.id, jobId)).limit(1);
  const traceparent = job?.traceparent ?? undefined;
  await enqueueJob(env, { id: item.jobId, tenantId: item.tenantId, traceparent });
  await db
    .update(deadLetters)
    .set({ redriveCount: item.redriveCount + 1, nextRedriveAt: now + redriveDelaySeconds(item.redriveCount + 1) * 1000 })
    .where(eq(deadLetters.jobId, jobId))
    .run();
  await db.update(transcriptions).set({ enqueuedAt: now, updatedAt: now }).where(eq(transcriptions.id, jobId)).run();
  log("dead_letter_redriven", { job_id: jobId, redrive: item.redriveCount + 1, trace_id: traceIdOf(traceparent) ?? undefined });
  return true;
}

/** Cron: resolve settled items, fail ones past the maximum age, re-drive the rest whose breaker lets calls through. */
export async function redriveDue(env: Env, db: Db, now = Date.now()): Promise<{ redriven: number; expired: number; resolved: number }> {
  const maxAgeMs = (Number(env.DEAD_LETTER_MAX_AGE_SECONDS) > 0 ? Number(env.DEAD_LETTER_MAX_AGE_SECONDS) : DEFAULT_DEAD_LETTER_MAX_AGE_SECONDS) * 1000;
  const due = await db
    .select()
    .from(deadLetters)
    .where(and(isNull(deadLetters.resolvedAt), lte(deadLetters.nextRedriveAt, now)))
    .orderBy(asc(deadLetters.nextRedriveAt))
    .limit(REDRIVE_BATCH);
  const counts = { redriven: 0, expired: 0, resolved: 0 };
  const breakerOpen = new Map<string, boolean>();
  for (const item of due) {
    const job = await getJobById(db, item.jobId);
    if (!job || isTerminal(job.status)) {
      await db.update(deadLetters).set({ resolvedAt: now, resolution: job ? job.status : "deleted", nextRedriveAt: null }).where(eq(deadLetters.jobId, item.jobId)).run();
      counts.resolved++;
      continue;
    }
    if (now - item.firstDeadAt > maxAgeMs) {
      await storeFailure(env, db, job, "retries_exhausted", "The provider did not recover within the dead-letter window.");
      await db.update(deadLetters).set({ resolvedAt: now, resolution: "expired", nextRedriveAt: null }).where(eq(deadLetters.jobId, item.jobId)).run();
      counts.expired++;
      continue;
    }
    if (!breakerOpen.has(job.provider)) {
      const snapshot = await breakerFor(env, job.provider).snapshot(job.provider);
      breakerOpen.set(job.provider, snapshot.state.status === "open");
    }
    if (breakerOpen.get(job.provider)) {
      await db.update(deadLetters).set({ nextRedriveAt: now + redriveDelaySeconds(item.redriveCount) * 1000 }).where(eq(deadLetters.jobId, item.jobId)).run();
      continue;
    }
    if (await redrive(env, db, item.jobId, now)) counts.redriven++;
  }
  return counts;
}
