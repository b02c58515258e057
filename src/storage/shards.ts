/**
 * The one place a database, bucket or queue is chosen by placement (src/domain/placement.ts): the directory, a job
 * shard, a region's bucket and queues. Bindings are looked up by the names the `PLACEMENT` setting gives; a name with
 * no binding of the right kind behind it is a deployment error and fails closed (PlacementError), never a fallback to
 * another region's resource.
 */
import { drizzle } from "drizzle-orm/d1";

import { parsePlacement, type Placement, PlacementError, type Region, type Shard } from "../domain/placement.ts";
import type { Env, JobMessage, WebhookMessage } from "../env.ts";
import type { Db } from "./db.ts";
import * as schema from "./schema.ts";

const placements = new WeakMap<object, Placement>();

/** The deployment's placement, parsed once per environment object. */
export function placementOf(env: Env): Placement {
  let placement = placements.get(env);
  if (!placement) {
    placement = parsePlacement(env.PLACEMENT);
    placements.set(env, placement);
  }
  return placement;
}

function binding(env: Env, name: string): unknown {
  return (env as unknown as Record<string, unknown>)[name];
}

function d1Binding(env: Env, name: string): D1Database {
  const value = binding(env, name);
  if (!value || typeof (value as D1Database).prepare !== "function") {
    throw new PlacementError(`PLACEMENT names the D1 binding ${name}, which this Worker does not have.`);
  }
  return value as D1Database;
}

/** Tenants, API key hashes, webhook secrets and each tenant's region and shard. */
export function directoryDb(env: Env): Db {
  return drizzle(d1Binding(env, placementOf(env).directory), { schema });
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
  task: (db: Db, shard: Shard) => Promise<T>,
): Promise<{ shard: Shard; outcome: PromiseSettledResult<T> }[]> {
  const { shards } = placementOf(env);
  const outcomes = await Promise.allSettled(shards.map(async (shard) => task(shardDb(env, shard), shard)));
  return shards.map((shard, i) => ({ shard, outcome: outcomes[i]! }));
}
