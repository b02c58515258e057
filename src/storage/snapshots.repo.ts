/** `metric_snapshots`: precomputed metric families (drift) that `/metrics` serves in one row read. */
import { eq } from "drizzle-orm";

import type { Db } from "./db.ts";
import { metricSnapshots } from "./schema.ts";

export type MetricSnapshotRow = typeof metricSnapshots.$inferSelect;

export async function getSnapshot(db: Db, name: string): Promise<MetricSnapshotRow | null> {
  const [row] = await db.select().from(metricSnapshots).where(eq(metricSnapshots.name, name)).limit(1);
  return row ?? null;
}

/** When the named snapshot was last computed (null before the first). */
export async function snapshotComputedAt(db: Db, name: string): Promise<number | null> {
  const [row] = await db
    .select({ computedAt: metricSnapshots.computedAt })
    .from(metricSnapshots)
    .where(eq(metricSnapshots.name, name))
    .limit(1);
  return row?.computedAt ?? null;
}

export async function putSnapshot(db: Db, row: MetricSnapshotRow): Promise<void> {
  await db.insert(metricSnapshots).values(row).onConflictDoUpdate({ target: metricSnapshots.name, set: row }).run();
}
