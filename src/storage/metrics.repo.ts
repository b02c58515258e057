/**
 * Aggregates across tenants for the operator's `GET /metrics`: every query here reads indexed windows (completed_at,
 * status, id ranges) and groups in SQL, so a scrape stays cheap at millions of jobs (docs/benchmarks.md).
 */
import { sql } from "drizzle-orm";

import { ulid } from "../lib/ids.ts";
import type { Db } from "./db.ts";

/** SQL for each latency stage in ms (null when the job never started). */
const STAGE_SQL: Record<string, string> = {
  queue_wait: "(started_at - created_at)",
  processing: "(completed_at - started_at)",
  end_to_end: "(completed_at - created_at)",
};

/** Per provider and status: counts, retries, audio seconds, and for each stage `<stage>_count/_sum/_avg/_max/_b<i>`. */
export interface FinishedJobStats {
  provider: string;
  status: string;
  n: number;
  retries: number;
  audio_s: number;
  processed_ms: number;
  [column: string]: string | number | null;
}

/** One pass over the jobs finished since `since`, with cumulative latency buckets (seconds) per stage. */
export async function finishedJobStats(
  db: Db,
  since: number,
  stages: readonly string[],
  bucketsSeconds: readonly number[],
): Promise<FinishedJobStats[]> {
  const stageColumns = stages.flatMap((stage) => {
    const ms = STAGE_SQL[stage];
    if (!ms) throw new RangeError(`unknown latency stage ${stage}`);
    return [
      `count(${ms}) as ${stage}_count`,
      `coalesce(sum(${ms}), 0) as ${stage}_sum`,
      `avg(${ms}) as ${stage}_avg`,
      `max(${ms}) as ${stage}_max`,
      ...bucketsSeconds.map(
        (le, i) => `sum(case when ${ms} <= ${Number(le) * 1000} then 1 else 0 end) as ${stage}_b${i}`,
      ),
    ];
  });
  const query = `select provider, status, count(*) as n, coalesce(sum(attempts - 1), 0) as retries,
      coalesce(sum(case when status = 'completed' then duration_seconds else 0 end), 0) as audio_s,
      coalesce(sum(case when status = 'completed' and duration_seconds > 0 then completed_at - started_at else 0 end), 0)
        as processed_ms,
      ${stageColumns.join(",\n      ")}
    from transcriptions where completed_at >= ${Math.floor(since)} group by provider, status`;
  // built from this module's constants and numbers only, so sql.raw is safe here
  return db.all<FinishedJobStats>(sql.raw(query));
}

/** Active jobs grouped by provider, status and delay reason, with the oldest creation time of each group. */
export function activeJobGroups(db: Db) {
  return db.all<{ provider: string; status: string; delayed_reason: string | null; n: number; oldest: number }>(
    sql`select provider, status, delayed_reason, count(*) as n, min(created_at) as oldest
        from transcriptions where status in ('queued', 'processing') group by provider, status, delayed_reason`,
  );
}

/** Unresolved dead letters per classification, with the oldest first death. */
export function pendingDeadLetterGroups(db: Db) {
  return db.all<{ classification: string; n: number; oldest: number | null }>(
    sql`select classification, count(*) as n, min(first_dead_at) as oldest
        from dead_letters where resolved_at is null group by classification`,
  );
}

/** Ids are `tr_` + ULID, time ordered: the smallest id of a millisecond bounds a primary-key range scan. */
const firstIdAt = (ms: number) => `tr_${ulid(ms).slice(0, 10)}${"0".repeat(16)}`;

/** Jobs created since `since`, per provider. */
export function jobsCreatedSince(db: Db, since: number) {
  return db.all<{ provider: string; n: number }>(
    sql`select provider, count(*) as n from transcriptions where id >= ${firstIdAt(since)} group by provider`,
  );
}

/** Jobs failed since `since`, per provider and error code. */
export function jobsFailedSince(db: Db, since: number) {
  return db.all<{ provider: string; code: string | null; n: number }>(
    sql`select provider, error_code as code, count(*) as n from transcriptions
        where completed_at >= ${since} and status = 'failed' group by provider, error_code`,
  );
}

/** Webhook events created since `since`, per status. */
export function webhookEventsSince(db: Db, since: number) {
  return db.all<{ status: string; n: number }>(
    sql`select status, count(*) as n from webhook_events where created_at >= ${since} group by status`,
  );
}
