/**
 * The operator's dead-letter inspector over every job shard: one list merged by job id (newest first, a job id as the
 * cursor), re-drive of one item in the shard its id names, and "re-drive all" in every shard. A shard that fails is
 * reported (`failed`) and the others are served.
 */
import type { Env } from "../env.ts";
import type { Db } from "../storage/db.ts";
import {
  type DeadLetterRow,
  type DeadLetterState,
  listDeadLetters,
  listPendingRecoverableJobIds,
} from "../storage/dead-letters.repo.ts";
import type { JobStatus } from "../storage/schema.ts";
import { readAllShards, type ShardFailure, shardOfJobId } from "../storage/shard-fanout.ts";
import { redrive } from "./dead-letters.ts";

/** Pending recoverable items one "re-drive all" sends per shard. */
export const REDRIVE_ALL_PER_SHARD = 500;

export interface DeadLetterPage {
  items: { item: DeadLetterRow; jobStatus: JobStatus | null }[];
  /** the last job id of this page when there are more items; pass back as `cursor` */
  nextCursor: string | null;
  failed: ShardFailure[];
}

/**
 * One page of items of every shard, newest job first, after `cursor` (a job id of an earlier page). Each shard gives
 * its first `limit + 1` items after the cursor, so the merged first `limit` are the global first `limit`. Items of a
 * shard that failed are missing from this page and from later pages built on its cursor: re-read from the start once
 * the shard answers again.
 */
export async function listDeadLettersOfAllShards(
  env: Env,
  options: { state: DeadLetterState; limit: number; cursor?: string },
): Promise<DeadLetterPage> {
  const reads = await readAllShards(env, (db) => listDeadLetters(db, options.state, options.limit + 1, options.cursor));
  const merged = reads.values
    .flatMap(({ value }) => value)
    .sort((a, b) => (a.item.jobId < b.item.jobId ? 1 : a.item.jobId > b.item.jobId ? -1 : 0));
  const items = merged.slice(0, options.limit);
  const nextCursor = merged.length > options.limit ? items[items.length - 1]!.item.jobId : null;
  return { items, nextCursor, failed: reads.failed };
}

/** Re-drives every pending recoverable item (up to {@link REDRIVE_ALL_PER_SHARD} per shard) in every shard. */
export async function redriveAllShards(env: Env): Promise<{ redriven: number; failed: ShardFailure[] }> {
  const reads = await readAllShards(env, async (db, _shard, placed) => {
    let redriven = 0;
    for (const jobId of await listPendingRecoverableJobIds(db, REDRIVE_ALL_PER_SHARD))
      if (await redrive(placed, db, jobId)) redriven++;
    return redriven;
  });
  return { redriven: reads.values.reduce((n, { value }) => n + value, 0), failed: reads.failed };
}

/**
 * Runs `action` in the shard the job id names (its database and placed environment). An id whose shard suffix names
 * no shard has no item anywhere: `onUnknown` answers (the API's 404), and no other shard is read.
 */
export async function inJobShard<T>(
  env: Env,
  jobId: string,
  action: (placed: Env, db: Db) => Promise<T>,
  onUnknown: () => T,
): Promise<T> {
  const target = shardOfJobId(env, jobId);
  return target ? action(target.env, target.db) : onUnknown();
}
