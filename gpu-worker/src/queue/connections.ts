/** Redis connections of the pool (one for the queues, one for the workers, one for the lost-job watcher). */
import { Redis, type RedisOptions } from "ioredis";

import { settlesWithin } from "../lifecycle.ts";

/** Bound on a QUIT while Redis answers; past it the socket is dropped. */
const QUIT_TIMEOUT_MS = 5_000;

/** Opens a connection and waits until it is connected; later outages are reconnected by ioredis itself. */
export async function connectRedis(url: string, overrides: RedisOptions): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, ...overrides });
  redis.on("error", () => undefined); // reconnects on its own; readiness and 503s report the outage
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  return redis;
}

/** QUIT when Redis answers, otherwise drop the socket (an outage must not hold up shutdown). */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === "ready" && (await settlesWithin(redis.quit(), QUIT_TIMEOUT_MS))) return;
  redis.disconnect();
}
