/**
 * Dead-letter decisions. A message lands in `vtt-jobs-dlq` after the queue's `max_retries`; this consumer (and the
 * cron re-drive) classify the job: permanently corrupted input fails at once with its code; recoverable jobs are
 * parked and re-driven with growing delay once their provider's breaker lets calls through, until
 * `DEAD_LETTER_MAX_AGE_SECONDS`, after which they fail with `retries_exhausted`.
 */
import { breakerFor } from "../breaker/circuit-breaker.ts";
import { audioFetchLimits, maxUploadBytes, settings } from "../config.ts";
import { SNIFF_BYTES, sniffAudio } from "../domain/audio-format.ts";
import type { Env } from "../env.ts";
import { log } from "../lib/log.ts";
import { traceIdOf } from "../observability/trace.ts";
import type { Db } from "../storage/db.ts";
import {
  getDeadLetter,
  getPendingDeadLetter,
  listDueDeadLetters,
  resolveDeadLetter,
  scheduleRedrive,
  upsertDeadLetter,
} from "../storage/dead-letters.repo.ts";
import { getJobById, markEnqueued, parkJob } from "../storage/jobs.repo.ts";
import { DELAY_DEAD_LETTERED, type TranscriptionRow } from "../storage/schema.ts";
import { getSealedPrefix } from "../storage/sealed-objects.ts";
import { classifyDeadLetter, redriveDelaySeconds } from "./dead-letter-policy.ts";
import { enqueueJob } from "./enqueue.ts";
import { needsAudioFetch } from "./fetch-audio.ts";
import { storeFailure } from "./results.ts";
import { isTerminal } from "./state.ts";

const REDRIVE_BATCH = 50;

/** Classifies one dead-lettered job and records the verdict. */
export async function inspect(
  env: Env,
  db: Db,
  job: TranscriptionRow,
  now = Date.now(),
): Promise<"corrupt" | "recoverable"> {
  // a prefix that does not decrypt (tampered, or its master key version is gone) reads as missing audio
  const bytes = job.audioKey
    ? await getSealedPrefix(env, job.tenantId, job.audioKey, SNIFF_BYTES).catch(() => null)
    : null;
  const verdict = classifyDeadLetter(
    {
      size: bytes ? (bytes.byteLength > 0 ? job.audioBytes : 0) : null,
      // audio fetched from a URL may exceed the upload limit, up to its own
      maxBytes: job.audioUrlSealed === null ? maxUploadBytes(env) : audioFetchLimits(env).maxBytes,
      sniffsAsAudio: !!bytes && sniffAudio(bytes) !== null,
      awaitingFetch: needsAudioFetch(job),
    },
    job.delayedReason ?? job.errorCode,
  );
  const existing = await getDeadLetter(db, job.id);
  const redriveCount = existing?.redriveCount ?? 0;
  const base = {
    tenantId: job.tenantId,
    provider: job.provider,
    classification: verdict.classification,
    reason: verdict.reason,
    lastDeadAt: now,
  };
  if (verdict.classification === "corrupt") {
    await storeFailure(env, db, job, verdict.code, `Dead-lettered: ${verdict.reason}.`);
    await upsertDeadLetter(db, job.id, { ...base, nextRedriveAt: null, resolvedAt: now, resolution: "failed" }, now);
  } else {
    await parkJob(db, job.id, DELAY_DEAD_LETTERED, now);
    const nextRedriveAt = now + redriveDelaySeconds(redriveCount) * 1000;
    await upsertDeadLetter(db, job.id, { ...base, nextRedriveAt, resolvedAt: null, resolution: null }, now);
  }
  log("dead_letter", {
    job_id: job.id,
    tenant_id: job.tenantId,
    provider: job.provider,
    classification: verdict.classification,
    reason: verdict.reason,
    trace_id: traceIdOf(job.traceparent) ?? undefined,
  });
  return verdict.classification;
}

/** Sends a parked job back to the transcription queue now. */
export async function redrive(env: Env, db: Db, jobId: string, now = Date.now()): Promise<boolean> {
  const item = await getPendingDeadLetter(db, jobId);
  if (!item) return false;
  const job = await getJobById(db, jobId);
  const traceparent = job?.traceparent ?? undefined;
  await enqueueJob(env, { id: item.jobId, tenantId: item.tenantId, traceparent });
  const redriveCount = item.redriveCount + 1;
  await scheduleRedrive(db, jobId, { redriveCount, nextRedriveAt: now + redriveDelaySeconds(redriveCount) * 1000 });
  await markEnqueued(db, jobId, now);
  log("dead_letter_redriven", {
    job_id: jobId,
    redrive: item.redriveCount + 1,
    trace_id: traceIdOf(traceparent) ?? undefined,
  });
  return true;
}

/** Cron: resolve settled items, fail ones past the maximum age, re-drive the rest whose breaker lets calls through. */
export async function redriveDue(
  env: Env,
  db: Db,
  now = Date.now(),
): Promise<{ redriven: number; expired: number; resolved: number }> {
  const maxAgeMs = settings(env).DEAD_LETTER_MAX_AGE_SECONDS * 1000;
  const due = await listDueDeadLetters(db, now, REDRIVE_BATCH);
  const counts = { redriven: 0, expired: 0, resolved: 0 };
  const breakerOpen = new Map<string, boolean>();
  for (const item of due) {
    const job = await getJobById(db, item.jobId);
    if (!job || isTerminal(job.status)) {
      await resolveDeadLetter(db, item.jobId, job ? job.status : "deleted", now);
      counts.resolved++;
      continue;
    }
    if (now - item.firstDeadAt > maxAgeMs) {
      await storeFailure(
        env,
        db,
        job,
        "retries_exhausted",
        "The provider did not recover within the dead-letter window.",
      );
      await resolveDeadLetter(db, item.jobId, "expired", now);
      counts.expired++;
      continue;
    }
    if (!breakerOpen.has(job.provider)) {
      const snapshot = await breakerFor(env, job.provider).snapshot(job.provider);
      breakerOpen.set(job.provider, snapshot.state.status === "open");
    }
    if (breakerOpen.get(job.provider)) {
      await scheduleRedrive(db, item.jobId, { nextRedriveAt: now + redriveDelaySeconds(item.redriveCount) * 1000 });
      continue;
    }
    if (await redrive(env, db, item.jobId, now)) counts.redriven++;
  }
  return counts;
}
