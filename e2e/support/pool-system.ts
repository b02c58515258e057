/**
 * The whole system as `npm start` runs it, for e2e tests that need the Whisper pool: a private redis-server, the pool
 * (`npm start -w gpu-worker`, whisper.cpp on the synthetic model) and `wrangler dev` with the pool as its provider,
 * the two signing key rings shared. Resolves once both answer; the caller stops them with `stopAll()` and removes
 * `stateDir`.
 */
import type { ChildProcess } from "node:child_process";
import path from "node:path";

// plain ESM helper shared with `npm start`
import { freePort, run, startPrivateRedis, waitForHttp } from "../../scripts/lib/dev-env.mjs";
import { startWranglerDev } from "./wrangler-dev.ts";

const ROOT = path.resolve(import.meta.dirname, "..", "..");

export interface PoolSystemOptions {
  /** names the processes and the state folder */
  label: string;
  /** the bootstrap admin key */
  adminKey: string;
  /** Worker settings beyond the pool's (e.g. more PROVIDERS and their vendors) */
  vars?: Record<string, string>;
  /** pool settings beyond the bridge keys, port, Redis and model */
  poolEnv?: NodeJS.ProcessEnv;
  /** collect every line the pool and the Worker print */
  poolLogs?: string[];
  workerLogs?: string[];
}

export interface PoolSystem {
  /** the Worker's `http://127.0.0.1:<port>` */
  base: string;
  poolUrl: string;
  /** wrangler dev's `--persist-to` folder */
  stateDir: string;
}

/** The Worker's settings for the pool path: signing rings, audio URLs, encryption, short retries. */
function workerVars(base: string, poolUrl: string, adminKey: string): Record<string, string> {
  return {
    ENVIRONMENT: "development",
    ADMIN_API_KEY: adminKey,
    PROVIDERS: "whisper-pool",
    PUBLIC_BASE_URL: base,
    POOL_URL: poolUrl,
    POOL_SIGNING_KEYS: "e2e:edge-to-pool",
    POOL_CALLBACK_KEYS: "e2e:pool-to-edge",
    AUDIO_URL_KEYS: "e2e:audio-url",
    ENCRYPTION_KEYS: "e2e:e2e-master-key-0123456789abcdefghijkl",
    RETRY_BASE_SECONDS: "1",
    RETRY_CAP_SECONDS: "5",
  };
}

function collect(into: string[], child: ChildProcess) {
  child.stdout?.on("data", (chunk: Buffer) => into.push(...chunk.toString().split("\n")));
  child.stderr?.on("data", (chunk: Buffer) => into.push(...chunk.toString().split("\n")));
}

/** Starts Redis, the pool and the Worker (module comment). */
export async function startPoolSystem(options: PoolSystemOptions): Promise<PoolSystem> {
  const redisUrl = await startPrivateRedis(`e2e-${options.label}-redis`);
  const [workerPort, poolPort] = await Promise.all([freePort(), freePort()]);
  const base = `http://127.0.0.1:${workerPort}`;
  const poolUrl = `http://127.0.0.1:${poolPort}`;
  const vars = { ...workerVars(base, poolUrl, options.adminKey), ...options.vars };
  // as scripts/start.mjs starts the pool
  const pool = run(`e2e-${options.label}-pool`, "npm", ["start", "--silent", "-w", "gpu-worker"], {
    cwd: ROOT,
    quiet: true,
    env: {
      ...process.env,
      REDIS_URL: redisUrl,
      PORT: String(poolPort),
      BRIDGE_KEYS: vars.POOL_SIGNING_KEYS,
      CALLBACK_KEYS: vars.POOL_CALLBACK_KEYS,
      WHISPER_MODEL: "synthetic:mini",
      ...options.poolEnv,
    },
  });
  if (options.poolLogs) collect(options.poolLogs, pool);
  const dev = await startWranglerDev({ label: options.label, port: workerPort, vars, logs: options.workerLogs });
  await Promise.all([dev.ready, waitForHttp(`${poolUrl}/readyz`, 180_000)]);
  return { base, poolUrl, stateDir: dev.stateDir };
}
