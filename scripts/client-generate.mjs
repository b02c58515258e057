#!/usr/bin/env node
// `npm run client:generate`: serves the Worker briefly under `wrangler dev`, stores its /openapi.json as the client's
// committed snapshot (packages/client/openapi.json), then regenerates the client's types from it. Rerun after any
// change to a route's schema; the snapshot tests (test/api/openapi-snapshot.test.ts, packages/client) say when.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { freePort, run, runToEnd, stopAll, waitForHttp } from "./lib/dev-env.mjs";

const ROOT = path.resolve(import.meta.dirname, "..");
const SNAPSHOT = path.join(ROOT, "packages/client/openapi.json");
// the document does not depend on settings; these only let the Worker start without a .dev.vars
const VARS = {
  ENVIRONMENT: "development",
  ADMIN_API_KEY: "client-generate-admin-key-0123456789",
  PROVIDERS: "whisper-pool",
  POOL_URL: "http://127.0.0.1:9",
  POOL_SIGNING_KEYS: "g:generate",
  POOL_CALLBACK_KEYS: "g:generate",
  AUDIO_URL_KEYS: "g:generate",
  ENCRYPTION_KEYS: "g:client-generate-master-key-0123456789",
};

async function servedDocument() {
  const stateDir = mkdtempSync(path.join(tmpdir(), "vtt-client-generate-"));
  const [port, inspectorPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${port}`;
  const varArgs = Object.entries({ ...VARS, PUBLIC_BASE_URL: base }).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  const args = ["wrangler", "dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port"];
  run("client-generate", "npx", [...args, String(inspectorPort), "--persist-to", stateDir, ...varArgs], {
    cwd: ROOT,
    quiet: true,
    env: { ...process.env, CI: "1" },
  });
  try {
    await waitForHttp(`${base}/healthz`, 180_000);
    const res = await fetch(`${base}/openapi.json`);
    if (!res.ok) throw new Error(`GET /openapi.json answered ${res.status}`);
    return await res.json();
  } finally {
    await stopAll();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

const document = await servedDocument();
writeFileSync(SNAPSHOT, JSON.stringify(document, null, 2) + "\n");
console.log("wrote packages/client/openapi.json");
await runToEnd("npm", ["run", "--silent", "generate", "-w", "@vtt/client"], { cwd: ROOT });
