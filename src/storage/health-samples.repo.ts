/** `health_samples`: one row of service health per minute, for the operator console's charts (docs/storage-schema.md). */
import { asc, gte, lt } from "drizzle-orm";

import type { Db } from "./db.ts";
import { healthSamples } from "./schema.ts";

export type HealthSampleRow = typeof healthSamples.$inferSelect;

/** Writes a minute's sample; a second write for the same minute (a retried cron) replaces the first. */
export async function putHealthSample(db: Db, row: HealthSampleRow): Promise<void> {
  await db.insert(healthSamples).values(row).onConflictDoUpdate({ target: healthSamples.minute, set: row }).run();
}

/** Samples from `since` on, oldest first. */
export async function listHealthSamples(db: Db, since: number): Promise<HealthSampleRow[]> {
  return db.select().from(healthSamples).where(gte(healthSamples.minute, since)).orderBy(asc(healthSamples.minute));
}

/** Drops samples older than `before`. */
export async function deleteHealthSamplesBefore(db: Db, before: number): Promise<void> {
  await db.delete(healthSamples).where(lt(healthSamples.minute, before)).run();
}
