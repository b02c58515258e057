/**
 * Multi-shard placements for tests: the directory in DB, job shards on env.test's spare D1 bindings (SHARD_US_0,
 * SHARD_US_1, SHARD_EU_0; wrangler.toml), buckets BUCKET and BUCKET_EU, queues per region. Tests pass the placement
 * as an `Env` override (`{ PLACEMENT }`), since env.test itself runs on one database.
 */
import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

/** The spare shard bindings of env.test, by shard code. */
const SHARD_BINDINGS = { us0: "SHARD_US_0", us1: "SHARD_US_1", eu0: "SHARD_EU_0" } as const;
export type ShardCode = keyof typeof SHARD_BINDINGS;

/**
 * `PLACEMENT` with regions `us` (the shards `us`, default us0 and us1) and `eu` (eu0), each with its bucket and
 * queues; the eu queues carry their own names, so the consumers map them.
 */
export function twoRegionPlacement(us: readonly ("us0" | "us1")[] = ["us0", "us1"]): string {
  return JSON.stringify({
    directory: "DB",
    regions: {
      us: {
        bucket: "BUCKET",
        jobs_queue: "JOBS",
        webhooks_queue: "WEBHOOKS",
        shards: us.map((code) => ({ code, binding: SHARD_BINDINGS[code] })),
      },
      eu: {
        bucket: "BUCKET_EU",
        jobs_queue: "JOBS_EU",
        webhooks_queue: "WEBHOOKS_EU",
        jobs_queue_name: "vtt-jobs-eu",
        webhooks_queue_name: "vtt-webhooks-eu",
        dead_letter_queue_name: "vtt-jobs-eu-dlq",
        shards: [{ code: "eu0", binding: SHARD_BINDINGS.eu0 }],
      },
    },
  });
}

/** A job shard's D1 binding in env.test. */
export function shardDatabase(code: ShardCode): D1Database {
  return (env as unknown as Record<string, D1Database>)[SHARD_BINDINGS[code]]!;
}

/** Applies the migrations to every spare shard (each test file's storage starts empty). */
export async function migrateShards(): Promise<void> {
  for (const code of Object.keys(SHARD_BINDINGS) as ShardCode[])
    await applyD1Migrations(shardDatabase(code), env.TEST_MIGRATIONS);
}

/** A D1 binding that cannot serve, as a database that is down answers. */
export function failingDatabase(): D1Database {
  const down = () => Promise.reject(new Error("D1_ERROR: Network connection lost."));
  const statement = { bind: () => statement, first: down, all: down, run: down, raw: down };
  return { prepare: () => statement, batch: down, exec: down, dump: down } as unknown as D1Database;
}
