/**
 * Starting real pools for tests: a private redis-server per test file, a fresh BullMQ prefix per pool, the mini
 * synthetic model, short clips, one greedy pass and few tokens so the suite stays fast on two cores.
 */
import type { PoolOptions } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { type RunningPool, startPool, type StartPoolHooks } from "../../src/pool.ts";
import { CACHE_DIR } from "./audio.ts";
import { BRIDGE_KEYS, CALLBACK_KEYS } from "./edge.ts";

let counter = 0;

/** Settings every test pool shares. */
export function testPoolOptions(redisUrl: string, overrides: Partial<PoolOptions> = {}): PoolOptions {
  return {
    redisUrl,
    host: "127.0.0.1",
    port: 0,
    queuePrefix: `t${process.pid}-${Date.now()}-${counter++}`,
    bridgeKeys: BRIDGE_KEYS,
    callbackKeys: CALLBACK_KEYS,
    whisperModel: "synthetic:mini",
    modelCacheDir: `${CACHE_DIR}/models`,
    whisperTemperatureInc: 0,
    whisperBestOf: 1,
    whisperMaxTokens: 24,
    whisperThreads: 1,
    batchSize: 2,
    batchWaitMs: 20,
    jobBackoffMs: 100,
    callbackBackoffMs: 50,
    callbackBackoffCapMs: 200,
    logLevel: (process.env.POOL_TEST_LOG_LEVEL as PoolOptions["logLevel"]) ?? "silent",
    ...overrides,
  };
}

/** Starts a pool with {@link testPoolOptions}. */
export function startTestPool(
  redisUrl: string,
  overrides: Partial<PoolOptions> & StartPoolHooks = {},
): Promise<RunningPool> {
  const level = (process.env.POOL_TEST_LOG_LEVEL as PoolOptions["logLevel"]) ?? "silent";
  return startPool({ logger: createLogger({ level }), ...testPoolOptions(redisUrl, overrides), ...overrides });
}
