#!/usr/bin/env node
// `npm start`: the whole system on this machine — wrangler dev (API, queue consumers, Durable Objects, cron, local
// D1/R2/Queues), a private redis-server when REDIS_URL is unset, and the Whisper pool.
import { applyLocalMigrations, ensureDevVars, run, startPrivateRedis, stopAll, waitForHttp } from "./lib/dev-env.mjs";

const WORKER_PORT = Number(process.env.PORT ?? 8787);

async function main() {
  const vars = ensureDevVars();
  console.log("applying D1 migrations to the local databases (directory and one job shard per region)");
  await applyLocalMigrations();

  const providers = (vars.PROVIDERS ?? "").split(",").map((p) => p.trim());
  if (providers.includes("whisper-pool")) {
    const redisUrl = process.env.REDIS_URL ?? (await startPrivateRedis());
    const poolPort = new URL(vars.POOL_URL ?? "http://127.0.0.1:8788").port || "8788";
    const model = process.env.WHISPER_MODEL ?? vars.WHISPER_MODEL ?? "synthetic:mini";
    console.log(`starting the Whisper pool on :${poolPort} (redis ${redisUrl}, model ${model})`);
    run("pool", "npm", ["start", "--silent", "-w", "gpu-worker"], {
      env: {
        ...process.env,
        REDIS_URL: redisUrl,
        PORT: poolPort,
        BRIDGE_KEYS: vars.POOL_SIGNING_KEYS,
        CALLBACK_KEYS: vars.POOL_CALLBACK_KEYS,
        WHISPER_MODEL: model,
        // random weights never reach whisper's confidence threshold: without this every window is re-decoded 5×
        ...(model.startsWith("synthetic:") && !process.env.WHISPER_TEMPERATURE_INC
          ? { WHISPER_TEMPERATURE_INC: "0" }
          : {}),
        NODE_ENV: "development",
      },
    });
  }

  run("worker", "npx", ["wrangler", "dev", "--ip", "127.0.0.1", "--port", String(WORKER_PORT)], {
    env: { ...process.env, CI: "1" },
  });
  await waitForHttp(`http://127.0.0.1:${WORKER_PORT}/healthz`, 120_000);
  console.log(
    `\nready: API http://127.0.0.1:${WORKER_PORT} (docs at /docs)\n` +
      `try:   npm run transcribe -- path/to/audio.wav\n` +
      `cron:  curl "http://127.0.0.1:${WORKER_PORT}/cdn-cgi/handler/scheduled"\n`,
  );
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    await stopAll();
    process.exit(0);
  });
}

main().catch(async (error) => {
  console.error(error.message ?? error);
  await stopAll();
  process.exit(1);
});
