#!/usr/bin/env node
// `npm run transcribe -- file.wav [vtt transcribe options]`: the `vtt` CLI (packages/client) pointed at the local
// deployment. Without --key or VTT_API_KEY it makes (once) a development tenant and key with the bootstrap admin key
// from .dev.vars, cached under .wrangler/. Everything else is `vtt transcribe` (`npx vtt help`).
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { parseVars } from "./lib/dev-env.mjs";

const args = process.argv.slice(2);
const flag = (name) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const base = (flag("--url") ?? process.env.VTT_API_URL ?? process.env.VTT_URL ?? "http://127.0.0.1:8787").replace(
  /\/$/,
  "",
);

async function problem(res) {
  const text = await res.text();
  try {
    const body = JSON.parse(text);
    return `${res.status} ${body.code ?? ""}: ${body.detail ?? body.title ?? text}`;
  } catch {
    return `${res.status}: ${text.slice(0, 200)}`;
  }
}

/** For local development: make (once) a tenant and key with the bootstrap admin key, cached under .wrangler/. */
async function developmentKey() {
  const cache = ".wrangler/dev-api-key";
  if (existsSync(cache)) {
    const cached = readFileSync(cache, "utf8").trim();
    // after `rm -rf .wrangler/state` the cached key no longer exists: make a new one instead of failing the upload
    const check = await fetch(`${base}/v1/transcriptions?limit=1`, { headers: { authorization: `Bearer ${cached}` } });
    await check.body?.cancel();
    if (check.status !== 401) return cached;
  }
  const admin = existsSync(".dev.vars") ? parseVars(readFileSync(".dev.vars", "utf8")).ADMIN_API_KEY : undefined;
  if (!admin) throw new Error("no --key given, no VTT_API_KEY, and no ADMIN_API_KEY in .dev.vars");
  const headers = { authorization: `Bearer ${admin}`, "content-type": "application/json" };
  const tenant = await fetch(`${base}/v1/admin/tenants`, {
    method: "POST",
    headers,
    body: JSON.stringify({ name: "local-dev" }),
  });
  if (!tenant.ok) throw new Error(`creating a dev tenant failed: ${await problem(tenant)}`);
  const { id } = await tenant.json();
  const key = await fetch(`${base}/v1/admin/tenants/${id}/keys`, {
    method: "POST",
    headers,
    body: JSON.stringify({ name: "transcribe-cli" }),
  });
  if (!key.ok) throw new Error(`creating a dev key failed: ${await problem(key)}`);
  const created = await key.json();
  mkdirSync(".wrangler", { recursive: true });
  writeFileSync(cache, created.key, { mode: 0o600 });
  return created.key;
}

try {
  const key = flag("--key") ?? process.env.VTT_API_KEY ?? (await developmentKey());
  const vtt = fileURLToPath(new URL("../packages/client/bin/vtt.js", import.meta.url));
  const cli = spawn(process.execPath, [vtt, "transcribe", ...args], {
    stdio: "inherit",
    env: { ...process.env, VTT_API_URL: base, VTT_API_KEY: key },
  });
  cli.on("exit", (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
} catch (error) {
  console.error(String(error.message ?? error));
  if (String(error.cause?.code ?? "").includes("ECONNREFUSED")) {
    console.error(`is the service running at ${base}? (npm start)`);
  }
  process.exit(1);
}
