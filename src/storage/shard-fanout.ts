/**
 * Operator reads over every job shard (`/metrics`, `/v1/admin/*` lists, the operator console): each shard is read at
 * once, under a deadline, and a shard that fails or does not answer in time is reported by code and left out while
 * the others are served. Built on {@link forEachShard}; the error names the reason only, never a D1 message (D1
 * errors echo statement parameters).
 */
import { type Shard, shardOfId } from "../domain/placement.ts";
import type { Env } from "../env.ts";
import { log } from "../lib/log.ts";
import type { Db } from "./db.ts";
import { isDatabaseUnavailable } from "./errors.ts";
import { forEachShard, placeEnv, placementOf, shardDb } from "./shards.ts";

/** How long one shard may take to answer an operator read before it is reported as `shard_timeout`. */
export const SHARD_READ_TIMEOUT_MS = 10_000;

/** Why a shard's part is missing from an answer. */
export type ShardErrorCode = "storage_unavailable" | "shard_timeout" | "internal_error";

/** A shard left out of an answer, as answers list it (`shards`). */
export interface ShardFailure {
  shard: string;
  error: ShardErrorCode;
}

export interface ShardReads<T> {
  /** the shards that answered, in placement order */
  values: { shard: Shard; value: T }[];
  /** the shards that did not, in placement order */
  failed: ShardFailure[];
}

export interface ShardReadOptions {
  /**
   * the deadline per shard (default {@link SHARD_READ_TIMEOUT_MS}); null = none, for work that writes (a walk that
   * moved on while a shard's batch still ran would skip what that batch had not reached)
   */
  timeoutMs?: number | null;
}

export class ShardTimeoutError extends Error {
  constructor(shard: string, ms: number) {
    super(`Shard ${shard} did not answer within ${ms} ms.`);
    this.name = "ShardTimeoutError";
  }
}

/** The stable code of a shard's failure: a database that cannot serve, a deadline missed, or anything else. */
export function shardErrorCode(error: unknown): ShardErrorCode {
  if (error instanceof ShardTimeoutError) return "shard_timeout";
  return isDatabaseUnavailable(error) ? "storage_unavailable" : "internal_error";
}

/**
 * Runs `task` in every shard at once (its database and placed environment) and splits the outcomes into answers and
 * failures. A failure is logged (`shard_read_failed`, with the error's name) and never thrown.
 */
export async function readAllShards<T>(
  env: Env,
  task: (db: Db, shard: Shard, placed: Env) => Promise<T>,
  options: ShardReadOptions = {},
): Promise<ShardReads<T>> {
  const timeoutMs = options.timeoutMs === undefined ? SHARD_READ_TIMEOUT_MS : options.timeoutMs;
  const outcomes = await forEachShard(env, (db, shard, placed) =>
    withDeadline(task(db, shard, placed), shard.code, timeoutMs),
  );
  const reads: ShardReads<T> = { values: [], failed: [] };
  for (const { shard, outcome } of outcomes) {
    if (outcome.status === "fulfilled") {
      reads.values.push({ shard, value: outcome.value });
      continue;
    }
    const error = shardErrorCode(outcome.reason);
    log("shard_read_failed", {
      shard: shard.code,
      error,
      name: outcome.reason instanceof Error ? outcome.reason.name : "unknown",
    });
    reads.failed.push({ shard: shard.code, error });
  }
  return reads;
}

/**
 * Runs `task` in one shard (its database and placed environment) under the same deadline: the answer, or the shard's
 * failure as {@link readAllShards} reports it (logged, never thrown). For walks that work in one shard per call.
 */
export async function readOneShard<T>(
  env: Env,
  shard: Shard,
  task: (db: Db, shard: Shard, placed: Env) => Promise<T>,
  options: ShardReadOptions = {},
): Promise<{ value: T; failed: null } | { value: null; failed: ShardFailure }> {
  const placed = placeEnv(env, shard);
  try {
    const work = task(shardDb(placed, shard), shard, placed);
    const timeoutMs = options.timeoutMs === undefined ? SHARD_READ_TIMEOUT_MS : options.timeoutMs;
    return { value: await withDeadline(work, shard.code, timeoutMs), failed: null };
  } catch (reason) {
    const error = shardErrorCode(reason);
    log("shard_read_failed", { shard: shard.code, error, name: reason instanceof Error ? reason.name : "unknown" });
    return { value: null, failed: { shard: shard.code, error } };
  }
}

async function withDeadline<T>(work: Promise<T>, shard: string, ms: number | null): Promise<T> {
  if (ms === null) return work;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ShardTimeoutError(shard, ms)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The shard a job or upload id names, with its database and placed environment; null for an unknown shard suffix. */
export function shardOfJobId(env: Env, id: string): { db: Db; env: Env; shard: Shard } | null {
  const shard = shardOfId(placementOf(env), id);
  if (!shard) return null;
  const placed = placeEnv(env, shard);
  return { db: shardDb(placed, shard), env: placed, shard };
}
