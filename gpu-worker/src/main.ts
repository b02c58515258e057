/**
 * `npm start -w gpu-worker`: runs one pool process configured from environment variables (docs/pool.md).
 * Without REDIS_URL it starts a private redis-server on a free port (local development only).
 * SIGTERM/SIGINT: finish the batch in flight, take nothing new, exit.
 */
import { ConfigError, poolOptionsFromEnv } from "./config.ts";
import { createLogger, type LogLevel } from "./log.ts";
import { type RunningPool, startPool } from "./pool.ts";
import { type PrivateRedis, startPrivateRedis } from "./redis-server.ts";

const logger = createLogger({ level: (process.env.LOG_LEVEL as LogLevel | undefined) ?? "info" });

async function main(): Promise<void> {
  let options;
  try {
    options = poolOptionsFromEnv(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  let privateRedis: PrivateRedis | null = null;
  if (!options.redisUrl) {
    try {
      privateRedis = await startPrivateRedis();
    } catch (error) {
      console.error(`Cannot start a private Redis: ${(error as Error).message}`);
      process.exit(1);
    }
    options.redisUrl = privateRedis.url;
    logger.warn("private_redis_started", {
      url: privateRedis.url,
      note: "REDIS_URL is unset: using a throwaway redis-server; jobs vanish when this process stops",
    });
  }
  let pool: RunningPool;
  try {
    pool = await startPool({ ...options, logger });
  } catch (error) {
    await privateRedis?.stop();
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  let signalled = false;
  const shutdown = (signal: string): void => {
    if (signalled) {
      logger.warn("shutdown_forced", { signal });
      process.exit(1);
    }
    signalled = true;
    logger.info("shutdown_requested", { signal });
    pool
      .stop()
      .then(() => privateRedis?.stop())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error("shutdown_failed", { error });
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((error: unknown) => {
  logger.error("pool_exit", { error });
  process.exit(1);
});
