#!/usr/bin/env node
// Uploads an audio file to the local (or any) deployment, shows progress, waits and prints the transcript.
// Usage: npm run transcribe -- file.wav [--format txt|srt|vtt|json] [--provider name] [--language en]
//        [--url http://127.0.0.1:8787] [--key vtt_live_...]
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { Readable } from "node:stream";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    format: { type: "string", default: "txt" },
    provider: { type: "string" },
    language: { type: "string" },
    url: { type: "string", default: process.env.VTT_URL ?? "http://127.0.0.1:8787" },
    key: { type: "string", default: process.env.VTT_API_KEY },
    timeout: { type: "string", default: "600" },
  },
});
const file = positionals[0];
if (!file || !existsSync(file)) {
  console.error("usage: npm run transcribe -- <audio file> [--format txt|srt|vtt|json] [--provider p] [--language xx]");
  process.exit(2);
}
const base = values.url.replace(/\/$/, "");
const tty = process.stderr.isTTY;
const status = (line) => (tty ? process.stderr.write(`\r\x1b[K${line}`) : process.stderr.write(`${line}\n`));

function devVars() {
  if (!existsSync(".dev.vars")) return {};
  return Object.fromEntries(
    readFileSync(".dev.vars", "utf8")
      .split("\n")
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

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
  const admin = devVars().ADMIN_API_KEY;
  if (!admin) throw new Error("no --key given and no ADMIN_API_KEY in .dev.vars");
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

async function main() {
  const key = values.key ?? (await developmentKey());
  const size = statSync(file).size;
  let sent = 0;
  const counting = Readable.toWeb(createReadStream(file)).pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        sent += chunk.byteLength;
        status(`uploading ${file}: ${Math.round((sent / size) * 100)}% of ${(size / 1024).toFixed(0)} KiB`);
        controller.enqueue(chunk);
      },
    }),
  );
  const query = new URLSearchParams();
  if (values.provider) query.set("provider", values.provider);
  if (values.language) query.set("language", values.language);
  const res = await fetch(`${base}/v1/transcriptions?${query}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${key}`,
      "content-type": "application/octet-stream",
      "content-length": String(size),
    },
    body: counting,
    duplex: "half",
  });
  if (res.status !== 202) throw new Error(`upload rejected: ${await problem(res)}`);
  const job = await res.json();
  status(`queued ${job.id} (provider ${job.provider})`);
  const started = Date.now();
  const spinner = "|/-\\";
  for (let i = 0; ; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const poll = await fetch(`${base}/v1/transcriptions/${job.id}`, { headers: { authorization: `Bearer ${key}` } });
    if (!poll.ok) throw new Error(`polling failed: ${await problem(poll)}`);
    const current = await poll.json();
    const elapsed = ((Date.now() - started) / 1000).toFixed(1);
    status(`${spinner[i % 4]} ${current.status} ${job.id} ${elapsed}s attempts=${current.attempts}`);
    if (current.status === "failed") throw new Error(`job failed: ${current.error.code}: ${current.error.message}`);
    if (current.status === "completed") break;
    if (Date.now() - started > Number(values.timeout) * 1000) throw new Error("gave up waiting");
  }
  if (tty) process.stderr.write("\r\x1b[K");
  const transcript = await fetch(`${base}/v1/transcriptions/${job.id}/transcript?format=${values.format}`, {
    headers: { authorization: `Bearer ${key}` },
  });
  if (!transcript.ok) throw new Error(`transcript: ${await problem(transcript)}`);
  process.stdout.write(await transcript.text());
  process.stdout.write("\n");
  process.stderr.write(`done: ${job.id} in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
}

main().catch((error) => {
  if (tty) process.stderr.write("\n");
  console.error(String(error.message ?? error));
  if (String(error.cause?.code ?? "").includes("ECONNREFUSED"))
    console.error(`is the service running at ${base}? (npm start)`);
  process.exit(1);
});
