/**
 * Looking inside a test pool's Redis: every key under a prefix whose name or content (string, list, set, sorted
 * set, hash, stream) mentions a string, to prove that an erased job left nothing behind.
 */
import { Redis } from "ioredis";

/** Keys under `prefix` that mention `needle`, as `key (name)` or `key (type)` when only the content does. */
export async function redisTraces(redisUrl: string, prefix: string, needle: string): Promise<string[]> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const found: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      for (const key of keys) {
        if (key.includes(needle)) {
          found.push(`${key} (name)`);
          continue;
        }
        const type = await redis.type(key);
        const content = await contentOf(redis, key, type);
        if (content.some((value) => value.includes(needle))) found.push(`${key} (${type})`);
      }
    } while (cursor !== "0");
    return found.sort();
  } finally {
    redis.disconnect();
  }
}

async function contentOf(redis: Redis, key: string, type: string): Promise<string[]> {
  switch (type) {
    case "string":
      return [(await redis.get(key)) ?? ""];
    case "list":
      return redis.lrange(key, 0, -1);
    case "set":
      return redis.smembers(key);
    case "zset":
      return redis.zrange(key, 0, -1);
    case "hash":
      return Object.entries(await redis.hgetall(key)).flat();
    case "stream":
      return (await redis.xrange(key, "-", "+")).flatMap(([, fields]) => fields);
    default:
      return [];
  }
}

/**
 * How many BullMQ workers of `queue` under `prefix` are blocked waiting for a job (BZPOPMIN on the queue's marker):
 * 0 once every such worker stopped taking new jobs.
 */
export async function workersWaitingForJobs(redisUrl: string, prefix: string, queue: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const list = (await redis.client("LIST")) as string;
    // BullMQ names a worker's blocking connection `{prefix}:{base64(queue name)}`
    const name = `${prefix}:${Buffer.from(queue).toString("base64")}`;
    return list.split("\n").filter((line) => line.includes(` name=${name} `) && /\bcmd=bzpopmin\b/.test(line)).length;
  } finally {
    redis.disconnect();
  }
}
