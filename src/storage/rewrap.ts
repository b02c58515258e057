/**
 * After a master-key rotation: moves what is stored under older `ENCRYPTION_KEYS` versions to the newest one, a
 * bounded batch per call, so the old version can be retired. R2 objects keep their ciphertext and only get a new
 * wrapped data key (the body is copied as it is); sealed D1 fields are opened and sealed again.
 */
import { and, eq, like, not, or, sql } from "drizzle-orm";

import { isEnvelopeHeader, openField, rewrapHeader, sealedFieldVersion, sealField } from "../domain/envelope.ts";
import { startOfWalk, walkCursorAfter } from "../domain/shard-walk.ts";
import type { Env } from "../env.ts";
import { log } from "../lib/log.ts";
import type { Db } from "./db.ts";
import { transcriptFeedback, transcriptions } from "./schema.ts";
import { masterKeys } from "./sealed-objects.ts";
import { readAllShards, type ShardFailure } from "./shard-fanout.ts";
import { placementOf, regionBucket } from "./shards.ts";

export interface RewrapResult {
  objects_checked: number;
  objects_rewrapped: number;
  fields_resealed: number;
  /** pass back as `cursor` to continue the object listing; null once the bucket has been walked */
  next_cursor: string | null;
}

/** `audio/{tenant}/…` and `transcripts/{tenant}/…` belong to the tenant named by the second segment. */
function tenantOfKey(key: string): string | null {
  const [kind, tenant] = key.split("/");
  return (kind === "audio" || kind === "transcripts") && tenant ? tenant : null;
}

async function rewrapObjects(
  env: Env,
  bucket: R2Bucket,
  cursor: string | undefined,
  limit: number,
): Promise<Omit<RewrapResult, "fields_resealed">> {
  const ring = masterKeys(env);
  const listed = await bucket.list({ cursor, limit, include: ["customMetadata"] });
  let rewrapped = 0;
  for (const listedObject of listed.objects) {
    const tenantId = tenantOfKey(listedObject.key);
    const meta = listedObject.customMetadata;
    if (!tenantId || !isEnvelopeHeader(meta) || meta.kv === ring[0]!.version) continue;
    const object = await bucket.get(listedObject.key);
    if (!object || !isEnvelopeHeader(object.customMetadata)) continue;
    const header = await rewrapHeader(ring, tenantId, listedObject.key, object.customMetadata);
    await bucket.put(listedObject.key, object.body, {
      httpMetadata: object.httpMetadata,
      customMetadata: { ...object.customMetadata, ...header },
      // only if nobody replaced the object meanwhile
      onlyIf: { etagMatches: object.etag },
    });
    rewrapped++;
  }
  return {
    objects_checked: listed.objects.length,
    objects_rewrapped: rewrapped,
    next_cursor: listed.truncated ? listed.cursor : null,
  };
}

async function resealFields(env: Env, db: Db, limit: number): Promise<number> {
  const ring = masterKeys(env);
  const current = `enc1.${ring[0]!.version}.%`;
  const stale = (
    column:
      | typeof transcriptions.text
      | typeof transcriptions.audioUrlSealed
      | typeof transcriptions.audioUrlHeadersSealed
      | typeof transcriptFeedback.reason
      | typeof transcriptFeedback.correctedText,
  ) => and(like(column, "enc1.%"), not(like(column, current)));
  let count = 0;
  const texts = await db
    .select({ id: transcriptions.id, tenantId: transcriptions.tenantId, text: transcriptions.text })
    .from(transcriptions)
    .where(stale(transcriptions.text))
    .limit(limit);
  for (const row of texts) {
    const context = `transcriptions.text:${row.id}`;
    const plain = await openField(ring, row.tenantId, context, row.text!);
    await db
      .update(transcriptions)
      .set({ text: await sealField(ring, row.tenantId, context, plain) })
      .where(and(eq(transcriptions.id, row.id), eq(transcriptions.text, row.text!)))
      .run();
    count++;
  }
  // the source of audio_url jobs: the URL and the headers (AAD `transcriptions.{column}:{job_id}`)
  const sources = await db
    .select({
      id: transcriptions.id,
      tenantId: transcriptions.tenantId,
      audioUrlSealed: transcriptions.audioUrlSealed,
      audioUrlHeadersSealed: transcriptions.audioUrlHeadersSealed,
    })
    .from(transcriptions)
    .where(or(stale(transcriptions.audioUrlSealed), stale(transcriptions.audioUrlHeadersSealed)))
    .limit(limit);
  for (const row of sources) {
    const reseal = async (column: "audio_url" | "audio_url_headers", value: string | null) => {
      if (value === null || sealedFieldVersion(value) === ring[0]!.version) return value;
      const context = `transcriptions.${column}:${row.id}`;
      count++;
      return sealField(ring, row.tenantId, context, await openField(ring, row.tenantId, context, value));
    };
    await db
      .update(transcriptions)
      .set({
        audioUrlSealed: await reseal("audio_url", row.audioUrlSealed),
        audioUrlHeadersSealed: await reseal("audio_url_headers", row.audioUrlHeadersSealed),
      })
      .where(eq(transcriptions.id, row.id))
      .run();
  }
  const reviews = await db
    .select()
    .from(transcriptFeedback)
    .where(or(stale(transcriptFeedback.reason), stale(transcriptFeedback.correctedText)))
    .limit(limit);
  for (const row of reviews) {
    const reseal = async (field: "reason" | "corrected_text", value: string | null) => {
      if (value === null || sealedFieldVersion(value) === ring[0]!.version) return value;
      const context = `transcript_feedback.${field}:${row.jobId}`;
      count++;
      return sealField(ring, row.tenantId, context, await openField(ring, row.tenantId, context, value));
    };
    await db
      .update(transcriptFeedback)
      .set({
        reason: await reseal("reason", row.reason),
        correctedText: await reseal("corrected_text", row.correctedText),
      })
      .where(eq(transcriptFeedback.jobId, row.jobId))
      .run();
  }
  return count;
}

export interface RewrapWalkResult extends RewrapResult {
  /** sealed fields still under an older master version, in every shard that answered */
  stale_fields: number;
  /** shards whose fields were not resealed or counted in this call */
  shards: ShardFailure[];
}

/**
 * One call of the rewrap walk: a batch of one region's bucket (the cursor names the region and its listing
 * position; buckets are walked region by region, in placement order), and in every job shard at once up to `limit`
 * sealed fields resealed and the rest counted. Fields are found by their version, not by the cursor, so a shard that
 * fails is listed in `shards`, its `stale_fields` are missing from the count, and the next call simply tries it
 * again: the old version can be retired once `next_cursor` is null and a call reports `stale_fields` 0 with no
 * failed shard. An older plain cursor (an R2 listing cursor) goes on in the first region's bucket. Throws
 * `WalkCursorError` for a cursor of no walk.
 */
export async function rewrapWalk(
  env: Env,
  options: { cursor?: string; limit?: number } = {},
): Promise<RewrapWalkResult> {
  const limit = Math.min(Math.max(options.limit ?? 100, 1), 500);
  const placement = placementOf(env);
  const order = placement.regions.map((r) => r.name);
  const position = startOfWalk(order, {
    cursor: options.cursor,
    legacy: (raw) => ({ at: order[0]!, after: raw, only: false }),
  });
  const region = placement.regions.find((r) => r.name === position.at)!;
  const objects = await rewrapObjects(env, regionBucket(env, region), position.after ?? undefined, limit);
  const fields = await readAllShards(
    env,
    async (db, _shard, placed) => {
      const resealed = await resealFields(placed, db, limit);
      return { resealed, stale: await staleFieldCount(placed, db) };
    },
    { timeoutMs: null },
  );
  const resealed = fields.values.reduce((n, { value }) => n + value.resealed, 0);
  log("encryption_rewrap", {
    ...objects,
    region: region.name,
    next_cursor: undefined,
    fields_resealed: resealed,
    failed_shards: fields.failed.length,
  });
  return {
    ...objects,
    fields_resealed: resealed,
    next_cursor: walkCursorAfter(order, position, objects.next_cursor),
    stale_fields: fields.values.reduce((n, { value }) => n + value.stale, 0),
    shards: fields.failed,
  };
}

/** How much still sits under older versions in D1 (objects are counted by walking the bucket with `rewrapBatch`). */
export async function staleFieldCount(env: Env, db: Db): Promise<number> {
  const current = `enc1.${masterKeys(env)[0]!.version}.%`;
  const [t] = await db.all<{ n: number }>(
    sql`select count(*) as n from transcriptions where text like 'enc1.%' and text not like ${current}`,
  );
  const [u] = await db.all<{ n: number }>(
    sql`select count(*) as n from transcriptions where (audio_url_sealed like 'enc1.%' and audio_url_sealed not like ${current}) or (audio_url_headers_sealed like 'enc1.%' and audio_url_headers_sealed not like ${current})`,
  );
  const [f] = await db.all<{ n: number }>(
    sql`select count(*) as n from transcript_feedback where (reason like 'enc1.%' and reason not like ${current}) or (corrected_text like 'enc1.%' and corrected_text not like ${current})`,
  );
  return (t?.n ?? 0) + (u?.n ?? 0) + (f?.n ?? 0);
}
