/**
 * A tenant's rows in one job shard, table by table, as moving it to another shard needs them (src/tenants/move.ts):
 * what would race a move, copying in D1-sized batches, counting and deleting. Every table with a `tenant_id` that a
 * shard holds is listed in MOVED_TABLES; the directory's own tables (api_keys, console_sessions) never move.
 */
import { and, asc, count, eq, gt, inArray, isNull, or, type SQL } from "drizzle-orm";
import type { SQLiteColumn, SQLiteTable } from "drizzle-orm/sqlite-core";

import type { Db } from "./db.ts";
import {
  auditLog,
  deadLetters,
  jobFeatures,
  resumableUploads,
  tenants,
  transcriptFeedback,
  transcriptions,
  transcriptTokens,
  webhookAttempts,
  webhookEvents,
} from "./schema.ts";

/**
 * Rows read per page and inserted per D1 batch. A batch is one round trip and one transaction; each insert is one
 * row, so no statement comes near D1's 100 bound parameters (transcriptions has ~60 columns).
 */
export const MOVE_ROWS_PER_BATCH = 50;

interface MovedTable {
  table: SQLiteTable;
  tenantId: SQLiteColumn;
  /** the columns pages are ordered and resumed by (the primary key) */
  order: SQLiteColumn[];
  /** an autoincrement id that is the target shard's to assign (its ids belong to other tenants there) */
  dropColumn?: string;
}

/** Every tenant table of a job shard, parents first (transcriptions reference the tenant row). */
export const MOVED_TABLES = {
  transcriptions: { table: transcriptions, tenantId: transcriptions.tenantId, order: [transcriptions.id] },
  dead_letters: { table: deadLetters, tenantId: deadLetters.tenantId, order: [deadLetters.jobId] },
  webhook_events: { table: webhookEvents, tenantId: webhookEvents.tenantId, order: [webhookEvents.id] },
  webhook_attempts: {
    table: webhookAttempts,
    tenantId: webhookAttempts.tenantId,
    order: [webhookAttempts.id],
    dropColumn: "id",
  },
  job_features: { table: jobFeatures, tenantId: jobFeatures.tenantId, order: [jobFeatures.jobId] },
  transcript_feedback: {
    table: transcriptFeedback,
    tenantId: transcriptFeedback.tenantId,
    order: [transcriptFeedback.jobId],
  },
  transcript_tokens: {
    table: transcriptTokens,
    tenantId: transcriptTokens.tenantId,
    order: [transcriptTokens.token, transcriptTokens.jobId, transcriptTokens.position],
  },
  resumable_uploads: { table: resumableUploads, tenantId: resumableUploads.tenantId, order: [resumableUploads.id] },
  audit_log: { table: auditLog, tenantId: auditLog.tenantId, order: [auditLog.id] },
} satisfies Record<string, MovedTable>;

export type MovedTableName = keyof typeof MOVED_TABLES;
export const MOVED_TABLE_NAMES = Object.keys(MOVED_TABLES) as MovedTableName[];

/** What in a shard would race a move: work that consumers, pool callbacks or tus PATCHes find by id. */
export interface TenantActivity {
  active_jobs: number;
  unfinished_uploads: number;
  pending_webhooks: number;
}

export async function tenantActivity(db: Db, tenantId: string, now: number): Promise<TenantActivity> {
  const [[jobs], [uploads], [webhooks]] = await db.batch([
    db
      .select({ n: count() })
      .from(transcriptions)
      .where(and(eq(transcriptions.tenantId, tenantId), inArray(transcriptions.status, ["queued", "processing"]))),
    db
      .select({ n: count() })
      .from(resumableUploads)
      .where(
        and(
          eq(resumableUploads.tenantId, tenantId),
          isNull(resumableUploads.completedAt),
          gt(resumableUploads.expiresAt, now),
        ),
      ),
    db
      .select({ n: count() })
      .from(webhookEvents)
      .where(and(eq(webhookEvents.tenantId, tenantId), eq(webhookEvents.status, "pending"))),
  ]);
  return { active_jobs: jobs?.n ?? 0, unfinished_uploads: uploads?.n ?? 0, pending_webhooks: webhooks?.n ?? 0 };
}

/** The tenant's rows per table in one shard. */
export async function countTenantRows(db: Db, tenantId: string): Promise<Record<MovedTableName, number>> {
  const queries = MOVED_TABLE_NAMES.map((name) => {
    const t: MovedTable = MOVED_TABLES[name];
    return db.select({ n: count() }).from(t.table).where(eq(t.tenantId, tenantId));
  });
  const counts = await db.batch(queries as [(typeof queries)[number], ...(typeof queries)[number][]]);
  return Object.fromEntries(MOVED_TABLE_NAMES.map((name, i) => [name, counts[i]![0]?.n ?? 0])) as Record<
    MovedTableName,
    number
  >;
}

/** Rows strictly after `after` in `order` (a keyset over the primary key, one or more columns). */
function afterKey(order: SQLiteColumn[], after: unknown[]): SQL | undefined {
  const [first, ...rest] = order;
  if (!first) return undefined;
  const [value, ...more] = after;
  if (!rest.length) return gt(first, value);
  // (a > x) or (a = x and rest > more)
  const tail = afterKey(rest, more)!;
  return or(gt(first, value), and(eq(first, value), tail));
}

/**
 * Copies every row of the tenant in one table from `from` to `to`, page by page; returns how many were copied. The
 * target must not hold the tenant's rows already (clearTenantRows first): a re-run starts from a clean target.
 */
export async function copyTenantTable(from: Db, to: Db, name: MovedTableName, tenantId: string): Promise<number> {
  const t: MovedTable = MOVED_TABLES[name];
  let copied = 0;
  let after: unknown[] | null = null;
  for (;;) {
    const where = after ? and(eq(t.tenantId, tenantId), afterKey(t.order, after)) : eq(t.tenantId, tenantId);
    const rows = (await from
      .select()
      .from(t.table)
      .where(where)
      .orderBy(...t.order.map((c) => asc(c)))
      .limit(MOVE_ROWS_PER_BATCH)) as Record<string, unknown>[];
    if (!rows.length) return copied;
    const inserts = rows.map((row) => {
      const values = { ...row };
      if (t.dropColumn) delete values[t.dropColumn];
      return to.insert(t.table).values(values).onConflictDoNothing();
    });
    await to.batch(inserts as [(typeof inserts)[number], ...(typeof inserts)[number][]]);
    copied += rows.length;
    const last = rows.at(-1)!;
    after = t.order.map((c) => last[keyOf(t.table, c)]);
    if (rows.length < MOVE_ROWS_PER_BATCH) return copied;
  }
}

/** The drizzle property name of a column (rows are keyed by it, not by the SQL name). */
function keyOf(table: SQLiteTable, column: SQLiteColumn): string {
  const columns = table as unknown as Record<string, unknown>;
  const key = Object.keys(columns).find((k) => columns[k] === column);
  if (!key) throw new Error(`column ${column.name} is not in its table`);
  return key;
}

/**
 * Deletes the tenant's rows of every moved table in one shard, children first, then (unless `keepTenantRow`: the
 * shard is also the directory) the shard's copy of the tenant row. Returns what went per table.
 */
export async function clearTenantRows(
  db: Db,
  tenantId: string,
  options: { keepTenantRow: boolean },
): Promise<Record<MovedTableName | "tenants", number>> {
  const removed = {} as Record<MovedTableName | "tenants", number>;
  for (const name of [...MOVED_TABLE_NAMES].reverse()) {
    const t: MovedTable = MOVED_TABLES[name];
    const result = await db.delete(t.table).where(eq(t.tenantId, tenantId));
    removed[name] = result.meta.changes ?? 0;
  }
  removed.tenants = 0;
  if (!options.keepTenantRow) {
    const result = await db.delete(tenants).where(eq(tenants.id, tenantId));
    removed.tenants = result.meta.changes ?? 0;
  }
  return removed;
}
