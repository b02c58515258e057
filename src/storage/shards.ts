/**
 * The one place a database, bucket or queue is chosen by placement (src/domain/placement.ts): the directory, a job
 * shard, a region's bucket and queues. Bindings are looked up by the names the `PLACEMENT` setting gives; a name with
 * no binding of the right kind behind it is a deployment error and fails closed (PlacementError), never a fallback to
 * another region's resource.
 */
import { drizzle } from "drizzle-orm/d1";

import {
  findRegion,
  findShard,
  legacyShard,
  parsePlacement,
  type Placement,
  PlacementError,
  type Region,
  type Shard,
  shardOfId,
} from "../domain/placement.ts";
import type { Env, JobMessage, WebhookMessage } from "../env.ts";
import type { Db } from "./db.ts";
import * as schema from "./schema.ts";

const placements = new WeakMap<object, Placement>();

/** The deployment's placement, parsed once per environment object. */
export function placementOf(env: Env): Placement {
  const base = baseEnvOf(env);
  let placement = placements.get(base);
  if (!placement) {
    placement = parsePlacement(base.PLACEMENT);
    placements.set(base, placement);
  }
  return placement;
}

const BASE_ENV = Symbol("base env");
const PLACED_SHARD = Symbol("placed shard");
const placedEnvs = new WeakMap<object, Map<string, Env>>();

/** The Worker's own environment behind a placed one (placeEnv), or `env` itself. */
export function baseEnvOf(env: Env): Env {
  return (env as unknown as Record<symbol, Env | undefined>)[BASE_ENV] ?? env;
}

/**
 * The environment as code working inside one shard sees it: `DB` is the shard's database, `BUCKET`, `JOBS`,
 * `WEBHOOKS` and `POOL_URL` are its region's. Everything below the request, consumer and cron entry points reads
 * these names, so choosing the placed environment once at the entry point keeps every write of a tenant inside its
 * region and shard. Built once per shard and environment.
 */
export function placeEnv(env: Env, shard: Shard): Env {
  const base = baseEnvOf(env);
  let byShard = placedEnvs.get(base);
  if (!byShard) placedEnvs.set(base, (byShard = new Map()));
  const cached = byShard.get(shard.code);
  if (cached) return cached;
  const region = findRegion(placementOf(base), shard.region);
  if (!region) throw new PlacementError(`Shard ${shard.code} names the unknown region ${shard.region}.`);
  const own = (value: unknown) => ({ value, enumerable: true });
  const placed = Object.create(base as object, {
    DB: own(d1Binding(base, shard.binding)),
    BUCKET: own(regionBucket(base, region)),
    JOBS: own(regionJobsQueue(base, region)),
    WEBHOOKS: own(regionWebhooksQueue(base, region)),
    POOL_URL: own(region.poolUrl ?? base.POOL_URL),
    [BASE_ENV]: { value: base },
    [PLACED_SHARD]: { value: shard },
  }) as Env;
  byShard.set(shard.code, placed);
  return placed;
}

/** The shard a placed environment works in; the legacy (first) shard for the Worker's own environment. */
export function shardOfEnv(env: Env): Shard {
  return (env as unknown as Record<symbol, Shard | undefined>)[PLACED_SHARD] ?? legacyShard(placementOf(env));
}

/** The code a new job or upload id carries: none in the first shard, so single-database ids keep their shape. */
export function idShardCode(env: Env): string | undefined {
  const shard = shardOfEnv(env);
  return shard === legacyShard(placementOf(env)) ? undefined : shard.code;
}

/** A tenant's placement as the directory records it (null columns: from before regions, the first shard). */
export interface TenantPlacementColumns {
  region: string | null;
  shard: string | null;
  formerShards: string | null;
}

/** The shard a tenant's jobs live in. A code the placement does not know is a deployment error (fail closed). */
export function tenantShard(env: Env, tenant: TenantPlacementColumns): Shard {
  const placement = placementOf(env);
  if (tenant.shard === null) return legacyShard(placement);
  const shard = findShard(placement, tenant.shard);
  if (!shard) throw new PlacementError(`A tenant is placed in shard ${tenant.shard}, which PLACEMENT does not name.`);
  return shard;
}

/**
 * The environment placed in the shard a job or upload id names (consumers, pool callbacks, upload objects: work
 * that starts from an id, not a tenant). Null for an id whose shard suffix names no configured shard.
 */
export function placeById(env: Env, id: string): Env | null {
  const shard = shardOfId(placementOf(env), id);
  return shard ? placeEnv(env, shard) : null;
}

/** Bindings are always looked up on the Worker's own environment: a placed one has `DB` etc. pointed elsewhere. */
function binding(env: Env, name: string): unknown {
  return (baseEnvOf(env) as unknown as Record<string, unknown>)[name];
}

function d1Binding(env: Env, name: string): D1Database {
  const value = binding(env, name);
  if (!value || typeof (value as D1Database).prepare !== "function") {
    throw new PlacementError(`PLACEMENT names the D1 binding ${name}, which this Worker does not have.`);
  }
  return value as D1Database;
}

const directories = new WeakMap<object, Db>();

/** Tenants, API key hashes, webhook secrets and each tenant's region and shard. */
export function directoryDb(env: Env): Db {
  const base = baseEnvOf(env);
  let db = directories.get(base);
  if (!db) directories.set(base, (db = drizzle(d1Binding(base, placementOf(base).directory), { schema })));
  return db;
}

/** A job shard: the jobs of its tenants and everything that hangs off a job. */
export function shardDb(env: Env, shard: Shard): Db {
  return drizzle(d1Binding(env, shard.binding), { schema });
}

/** The region's audio and transcript bucket (`jurisdiction = "eu"` for the EU bucket in production). */
export function regionBucket(env: Env, region: Region): R2Bucket {
  const value = binding(env, region.bucket);
  if (!value || typeof (value as R2Bucket).createMultipartUpload !== "function") {
    throw new PlacementError(`PLACEMENT names the R2 binding ${region.bucket}, which this Worker does not have.`);
  }
  return value as R2Bucket;
}

function queueBinding<Body>(env: Env, name: string): Queue<Body> {
  const value = binding(env, name);
  if (!value || typeof (value as Queue<Body>).send !== "function") {
    throw new PlacementError(`PLACEMENT names the queue binding ${name}, which this Worker does not have.`);
  }
  return value as Queue<Body>;
}

export function regionJobsQueue(env: Env, region: Region): Queue<JobMessage> {
  return queueBinding<JobMessage>(env, region.jobsQueue);
}

/** The region's webhook queue, or the service-wide `WEBHOOKS` queue when the region names none. */
export function regionWebhooksQueue(env: Env, region: Region): Queue<WebhookMessage> {
  return queueBinding<WebhookMessage>(env, region.webhooksQueue ?? "WEBHOOKS");
}

/**
 * Runs `task` once per shard, all at once, and reports each shard's outcome: one slow or failing shard neither stops
 * nor hides the others (cron tasks, operator lists, `/metrics`).
 */
export async function forEachShard<T>(
  env: Env,
  task: (db: Db, shard: Shard, placed: Env) => Promise<T>,
): Promise<{ shard: Shard; outcome: PromiseSettledResult<T> }[]> {
  const { shards } = placementOf(env);
  const outcomes = await Promise.allSettled(
    shards.map(async (shard) => {
      const placed = placeEnv(env, shard);
      return task(shardDb(placed, shard), shard, placed);
    }),
  );
  return shards.map((shard, i) => ({ shard, outcome: outcomes[i]! }));
}
