/** D1 queries for transcription jobs. Every tenant-facing read and write is scoped by tenant id. */
import { and, desc, eq, inArray, isNull, lt, lte, or, sql } from "drizzle-orm";

import type { NormalisedTranscript } from "../providers/types.ts";
import type { Db } from "./db.ts";
import { inSlices } from "./limits.ts";
import { type JobStatus, type NewTranscriptionRow, type TranscriptionRow, transcriptions } from "./schema.ts";

const ACTIVE: JobStatus[] = ["queued", "processing"];

export async function insertJob(db: Db, row: NewTranscriptionRow): Promise<void> {
  await db.insert(transcriptions).values(row).run();
}

export async function getTenantJob(db: Db, tenantId: string, id: string): Promise<TranscriptionRow | null> {
  const [row] = await db
    .select()
    .from(transcriptions)
    .where(and(eq(transcriptions.tenantId, tenantId), eq(transcriptions.id, id)))
    .limit(1);
  return row ?? null;
}

/** Internal lookups (queue consumer, pool callback) by id alone. */
export async function getJobById(db: Db, id: string): Promise<TranscriptionRow | null> {
  const [row] = await db.select().from(transcriptions).where(eq(transcriptions.id, id)).limit(1);
  return row ?? null;
}

/** Keyset pagination on (tenant_id[, status], id): ids are time ordered, so pages stay stable under inserts. */
export async function listTenantJobs(
  db: Db,
  tenantId: string,
  options: { status?: JobStatus; limit: number; beforeId?: string },
): Promise<TranscriptionRow[]> {
  const conditions = [eq(transcriptions.tenantId, tenantId)];
  if (options.status) conditions.push(eq(transcriptions.status, options.status));
  if (options.beforeId) conditions.push(lt(transcriptions.id, options.beforeId));
  return db
    .select()
    .from(transcriptions)
    .where(and(...conditions))
    .orderBy(desc(transcriptions.id))
    .limit(options.limit);
}

/** queued|processing → processing; returns null when the job is gone or already terminal (redelivery). */
export async function markProcessing(
  db: Db,
  id: string,
  now: number,
  provider?: string,
): Promise<TranscriptionRow | null> {
  const [row] = await db
    .update(transcriptions)
    .set({
      status: "processing",
      delayedReason: null,
      ...(provider ? { provider } : {}),
      startedAt: sql`coalesce(${transcriptions.startedAt}, ${now})`,
      attempts: sql`${transcriptions.attempts} + 1`,
      updatedAt: now,
    })
    .where(and(eq(transcriptions.id, id), inArray(transcriptions.status, ACTIVE)))
    .returning();
  return row ?? null;
}

export async function markDispatched(db: Db, id: string, now: number): Promise<boolean> {
  const rows = await db
    .update(transcriptions)
    .set({ dispatchedAt: now, updatedAt: now })
    .where(and(eq(transcriptions.id, id), eq(transcriptions.status, "processing")))
    .returning({ id: transcriptions.id });
  return rows.length > 0;
}

export async function markEnqueueFailed(db: Db, id: string, now: number): Promise<void> {
  await db.update(transcriptions).set({ enqueuedAt: null, updatedAt: now }).where(eq(transcriptions.id, id)).run();
}

/** Retention windows start when a job finishes (null windows stay null: SQL arithmetic on null is null). */
function retentionDeadlines(now: number) {
  return {
    audioDeleteAt: sql<number | null>`${now} + ${transcriptions.retainAudioSeconds} * 1000`,
    deleteAt: sql<number | null>`${now} + ${transcriptions.retainSeconds} * 1000`,
  };
}

/**
 * Stores the result only if the job is still active: of concurrent or duplicate completions exactly one wins.
 * Returns the completed row to the winner, null to the losers (and for a job deleted meanwhile).
 */
export async function completeJob(
  db: Db,
  id: string,
  result: NormalisedTranscript,
  storage: {
    transcriptKey: string;
    inlineText: string | null;
    /** a redacted job: entity counts (JSON), and where audio was redacted its new object (size, container: the
     * rewrite of a compressed file is WAV) and the toned spans */
    pii?: { entities: string; audio?: { audioKey: string; audioBytes: number; audioFormat: string; spans: string } };
  },
  now: number,
): Promise<TranscriptionRow | null> {
  const audio = storage.pii?.audio;
  const rows = await db
    .update(transcriptions)
    .set({
      status: "completed",
      text: storage.inlineText,
      transcriptKey: storage.transcriptKey,
      ...(storage.pii ? { piiEntities: storage.pii.entities } : {}),
      ...(audio
        ? {
            audioKey: audio.audioKey,
            audioBytes: audio.audioBytes,
            audioFormat: audio.audioFormat,
            piiAudioSpans: audio.spans,
          }
        : {}),
      segmentCount: result.segments.length,
      language: result.language,
      languageProbability: result.language_probability ?? null,
      durationSeconds: result.duration_seconds,
      model: result.model,
      errorCode: null,
      errorMessage: null,
      pendingAudioRedaction: null,
      completedAt: now,
      updatedAt: now,
      ...retentionDeadlines(now),
    })
    .where(and(eq(transcriptions.id, id), inArray(transcriptions.status, ACTIVE)))
    .returning();
  return rows[0] ?? null;
}

/**
 * Records a stored, text-redacted result that waits for its audio redaction (`pending_audio_redaction`), only if the
 * job is still active and records none yet: of duplicate pool callbacks exactly one sets it. Returns whether this call
 * set it. The job stays active (its status does not change).
 */
export async function setPendingAudioRedaction(db: Db, id: string, pending: string, now: number): Promise<boolean> {
  const rows = await db
    .update(transcriptions)
    .set({ pendingAudioRedaction: pending, updatedAt: now })
    .where(
      and(
        eq(transcriptions.id, id),
        inArray(transcriptions.status, ACTIVE),
        isNull(transcriptions.pendingAudioRedaction),
      ),
    )
    .returning({ id: transcriptions.id });
  return rows.length > 0;
}

/** Fails the job only if it is still active; returns the failed row, or null when another outcome came first. */
export async function failJob(
  db: Db,
  id: string,
  code: string,
  message: string,
  now: number,
): Promise<TranscriptionRow | null> {
  const rows = await db
    .update(transcriptions)
    .set({
      status: "failed",
      errorCode: code,
      errorMessage: message.slice(0, 1000),
      completedAt: now,
      updatedAt: now,
      ...retentionDeadlines(now),
    })
    .where(and(eq(transcriptions.id, id), inArray(transcriptions.status, ACTIVE)))
    .returning();
  return rows[0] ?? null;
}

/** Deletes the row and returns the R2 keys that belonged to it (null when it did not exist for this tenant). */
export async function deleteTenantJob(
  db: Db,
  tenantId: string,
  id: string,
): Promise<{ audioKey: string | null; transcriptKey: string | null } | null> {
  const [row] = await db
    .delete(transcriptions)
    .where(and(eq(transcriptions.tenantId, tenantId), eq(transcriptions.id, id)))
    .returning({ audioKey: transcriptions.audioKey, transcriptKey: transcriptions.transcriptKey });
  return row ?? null;
}

/**
 * Records the fetched audio of an `audio_url` job, once: only an active job not fetched before is updated, and the
 * sealed headers are dropped (never needed again). Returns the updated row, or null when the job was deleted,
 * finished or fetched by another delivery meanwhile.
 */
export async function recordFetchedAudio(
  db: Db,
  id: string,
  audio: { audioKey: string; bytes: number; format: string },
  now: number,
): Promise<TranscriptionRow | null> {
  const [row] = await db
    .update(transcriptions)
    .set({
      audioKey: audio.audioKey,
      audioBytes: audio.bytes,
      audioFormat: audio.format,
      audioFetchedAt: now,
      audioUrlHeadersSealed: null,
      updatedAt: now,
    })
    .where(
      and(eq(transcriptions.id, id), isNull(transcriptions.audioFetchedAt), inArray(transcriptions.status, ACTIVE)),
    )
    .returning();
  return row ?? null;
}

/** Sets or clears why an active job waits (`delay_reason`); internal, by id. */
export async function setDelayReason(db: Db, id: string, reason: string | null, now: number): Promise<void> {
  await db.update(transcriptions).set({ delayedReason: reason, updatedAt: now }).where(eq(transcriptions.id, id)).run();
}

/** Parks a dead-lettered job as queued with its delay reason until the re-drive schedule sends it again. */
export async function parkJob(db: Db, id: string, reason: string, now: number): Promise<void> {
  await db
    .update(transcriptions)
    .set({ delayedReason: reason, status: "queued", updatedAt: now })
    .where(eq(transcriptions.id, id))
    .run();
}

/** Records that a queue message for the job was sent (again) now. */
export async function markEnqueued(db: Db, id: string, now: number): Promise<void> {
  await db.update(transcriptions).set({ enqueuedAt: now, updatedAt: now }).where(eq(transcriptions.id, id)).run();
}

export interface StuckJob {
  id: string;
  tenantId: string;
  status: JobStatus;
  traceparent: string | null;
}

/**
 * Jobs that would otherwise sit forever: queued without a sent message, queued and untouched for `queuedStaleMs`
 * (dead-lettered ones wait for their re-drive schedule instead), or processing past `processingDeadlineMs`.
 */
export async function listStuckJobs(
  db: Db,
  options: { now: number; queuedStaleMs: number; processingDeadlineMs: number; limit: number },
): Promise<StuckJob[]> {
  const { now } = options;
  return db
    .select({
      id: transcriptions.id,
      tenantId: transcriptions.tenantId,
      status: transcriptions.status,
      traceparent: transcriptions.traceparent,
    })
    .from(transcriptions)
    .where(
      or(
        and(eq(transcriptions.status, "queued"), isNull(transcriptions.enqueuedAt)),
        and(
          eq(transcriptions.status, "queued"),
          isNull(transcriptions.delayedReason),
          lt(transcriptions.updatedAt, now - options.queuedStaleMs),
        ),
        and(eq(transcriptions.status, "processing"), lt(transcriptions.updatedAt, now - options.processingDeadlineMs)),
      ),
    )
    .limit(options.limit);
}

/** Puts still-active jobs back to queued with a fresh enqueue time (their messages were just re-sent). */
export async function requeueJobs(db: Db, ids: string[], now: number): Promise<void> {
  for (const slice of inSlices(ids)) {
    await db
      .update(transcriptions)
      .set({ status: "queued", enqueuedAt: now, dispatchedAt: null, updatedAt: now })
      .where(and(inArray(transcriptions.id, slice), inArray(transcriptions.status, ACTIVE)))
      .run();
  }
}

/** How many jobs wait in `queued` across the service. */
export async function countQueuedJobs(db: Db): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)` })
    .from(transcriptions)
    .where(eq(transcriptions.status, "queued"));
  return Number(row?.n ?? 0);
}

/** Active jobs by state, for one tenant or (null) the whole service. */
export async function countActiveJobs(
  db: Db,
  tenantId: string | null,
): Promise<{ queued: number; processing: number; parked: number }> {
  const [row] = await db
    .select({
      queued: sql<number>`sum(case when ${transcriptions.status} = 'queued' then 1 else 0 end)`,
      processing: sql<number>`sum(case when ${transcriptions.status} = 'processing' then 1 else 0 end)`,
      parked: sql<number>`sum(case when ${transcriptions.delayedReason} is not null then 1 else 0 end)`,
    })
    .from(transcriptions)
    .where(
      and(
        tenantId ? eq(transcriptions.tenantId, tenantId) : undefined,
        sql`${transcriptions.status} in ('queued', 'processing')`,
      ),
    );
  return {
    queued: Number(row?.queued ?? 0),
    processing: Number(row?.processing ?? 0),
    parked: Number(row?.parked ?? 0),
  };
}

/** Jobs whose audio retention window has passed (audio first: it is the most sensitive part). */
export async function listJobsWithAudioDue(
  db: Db,
  now: number,
  limit: number,
): Promise<{ id: string; tenantId: string; audioKey: string | null }[]> {
  return db
    .select({ id: transcriptions.id, tenantId: transcriptions.tenantId, audioKey: transcriptions.audioKey })
    .from(transcriptions)
    .where(lte(transcriptions.audioDeleteAt, now))
    .limit(limit);
}

/** Marks the audio of these jobs as purged (the objects are already deleted). */
export async function markAudioPurged(db: Db, ids: string[], now: number): Promise<void> {
  for (const slice of inSlices(ids)) {
    await db
      .update(transcriptions)
      // the headers of an audio_url never fetched (a bearer token) go with the audio
      .set({ audioKey: null, audioUrlHeadersSealed: null, audioDeleteAt: null, audioPurgedAt: now })
      .where(inArray(transcriptions.id, slice))
      .run();
  }
}

/** Jobs whose whole retention window has passed. */
export async function listExpiredJobs(db: Db, now: number, limit: number): Promise<{ id: string; tenantId: string }[]> {
  return db
    .select({ id: transcriptions.id, tenantId: transcriptions.tenantId })
    .from(transcriptions)
    .where(lte(transcriptions.deleteAt, now))
    .limit(limit);
}
