/**
 * `job_features`: per-job drift features, and the bucket counts the drift report is computed from. Histograms are
 * counted in SQL (per feature one indexed range query over `completed_at` grouped by a `CASE` that reproduces
 * `bucketIndex`; the statements go to D1 as one batch), so a report never loads job rows into the Worker.
 */
import { type SQL, sql } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";

import type { FeatureBins } from "../drift/psi.ts";
import type { Db } from "./db.ts";
import { jobFeatures } from "./schema.ts";

export type JobFeaturesRow = typeof jobFeatures.$inferInsert;

/**
 * INSERT … SELECT … WHERE EXISTS: SQLite serialises writes, so either an erasure's batch sees this row, or this
 * statement no longer sees the job and writes nothing.
 */
export async function insertJobFeaturesWhileJobExists(db: Db, values: JobFeaturesRow): Promise<void> {
  const columns = Object.keys(values).map((key) =>
    sql.identifier((jobFeatures[key as keyof typeof jobFeatures] as SQLiteColumn).name),
  );
  const params = Object.values(values).map((value) => sql`${value ?? null}`);
  await db.run(sql`INSERT OR IGNORE INTO ${jobFeatures} (${sql.join(columns, sql`, `)})
    SELECT ${sql.join(params, sql`, `)}
    WHERE EXISTS (SELECT 1 FROM transcriptions WHERE id = ${values.jobId} AND tenant_id = ${values.tenantId})`);
}

/** One bucket count: feature index `f`, group, window (`cur` 1 = recent), bucket index `b`, count `n`. */
export interface BucketCountRow {
  f: number;
  provider: string;
  model: string;
  cur: number;
  b: number;
  n: number;
}

/** Bucket counts of each feature over (baselineFrom, to], split at currentFrom into baseline and recent window. */
export async function countFeatureBuckets(
  db: Db,
  window: { baselineFrom: number; currentFrom: number; to: number },
  filter: { provider?: string; model?: string },
  features: { bins: FeatureBins; column: keyof JobFeaturesRow }[],
): Promise<BucketCountRow[]> {
  const filters: SQL[] = [
    sql`${jobFeatures.completedAt} > ${sql.raw(integerLiteral(window.baselineFrom))}`,
    sql`${jobFeatures.completedAt} <= ${sql.raw(integerLiteral(window.to))}`,
  ];
  if (filter.provider !== undefined) filters.push(sql`${jobFeatures.provider} = ${filter.provider}`);
  if (filter.model !== undefined) filters.push(sql`${jobFeatures.model} = ${filter.model}`);
  const where = sql.join(filters, sql` AND `);
  const isCurrent = sql<number>`CASE WHEN ${jobFeatures.completedAt} > ${sql.raw(integerLiteral(window.currentFrom))} THEN 1 ELSE 0 END`;
  // one statement per feature, sent as one batch (one round trip): D1 caps a compound SELECT at a few terms
  const statements = features.map(({ bins, column }, i) => {
    const bucket = bucketSql(bins, jobFeatures[column] as SQLiteColumn);
    return db
      .select({
        f: sql<number>`${sql.raw(String(i))}`,
        provider: jobFeatures.provider,
        model: jobFeatures.model,
        cur: isCurrent,
        b: sql<number>`${bucket}`,
        n: sql<number>`count(*)`,
      })
      .from(jobFeatures)
      .where(where)
      .groupBy(jobFeatures.provider, jobFeatures.model, isCurrent, bucket);
  });
  const [first, ...rest] = statements;
  if (!first) return [];
  return (await db.batch([first, ...rest])).flat();
}

/**
 * SQL that gives a value's index into {@link bucketLabels}, exactly as {@link bucketIndex} does: numeric
 * (−∞, e0) → 0 … [e(n−1), +∞) → n, NULL → n + 1; categorical by trimmed lower-case match, unlisted → "other",
 * NULL or blank → missing. Edges and categories are constants of this module, written as literals (a query with one
 * bound parameter per edge would pass D1's 100-parameter limit).
 */
export function bucketSql(bins: FeatureBins, column: SQLiteColumn): SQL {
  if (bins.kind === "numeric") {
    const missing = bins.edges.length + 1;
    const cases = bins.edges.map(
      (edge, i) => sql` WHEN ${column} < ${sql.raw(numberLiteral(edge))} THEN ${sql.raw(String(i))}`,
    );
    return sql`CASE WHEN ${column} IS NULL THEN ${sql.raw(String(missing))}${sql.join(cases, sql``)} ELSE ${sql.raw(String(bins.edges.length))} END`;
  }
  const other = bins.categories.length;
  const missing = other + 1;
  const cases = bins.categories.map(
    (category, i) =>
      sql` WHEN lower(trim(${column})) = ${sql.raw(categoryLiteral(category))} THEN ${sql.raw(String(i))}`,
  );
  return sql`CASE WHEN ${column} IS NULL OR trim(${column}) = '' THEN ${sql.raw(String(missing))}${sql.join(cases, sql``)} ELSE ${sql.raw(String(other))} END`;
}

function numberLiteral(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError("bin edges must be finite");
  return String(value);
}

function integerLiteral(value: number): string {
  if (!Number.isSafeInteger(value)) throw new RangeError("window bounds must be integers");
  return String(value);
}

function categoryLiteral(category: string): string {
  const key = category.trim().toLowerCase();
  if (!/^[a-z0-9_-]+$/.test(key)) throw new RangeError(`category "${category}" is not a plain code`);
  return `'${key}'`;
}
