// Shared by `npm start` and the benchmarks: local dev settings, free ports, child processes, readiness waits.
import { spawn } from "node:child_process";
import { appendFileSync, copyFileSync, existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";

/**
 * Creates .dev.vars from the example on first run, and adds settings the example gained since (e.g. a new secret)
 * to an existing one without touching the values already there; returns the parsed settings.
 */
export function ensureDevVars(root = process.cwd()) {
  const path = `${root}/.dev.vars`;
  const example = readFileSync(`${root}/.dev.vars.example`, "utf8");
  if (!existsSync(path)) {
    copyFileSync(`${root}/.dev.vars.example`, path);
    console.log("created .dev.vars from .dev.vars.example (development-only secrets)");
  }
  const have = parseVars(readFileSync(path, "utf8"));
  const missing = Object.entries(parseVars(example)).filter(([name]) => !(name in have));
  if (missing.length) {
    appendFileSync(path, `\n# added from .dev.vars.example\n${missing.map(([k, v]) => `${k}=${v}`).join("\n")}\n`);
    console.log(`added ${missing.map(([k]) => k).join(", ")} to .dev.vars from .dev.vars.example`);
  }
  return parseVars(readFileSync(path, "utf8"));
}

export function parseVars(text) {
  const vars = {};
  for (const line of text.split("\n")) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) vars[match[1]] = match[2];
  }
  return vars;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Spawns a child whose output is prefixed, and remembers it so `stopAll` can end it. */
const children = new Set();
export function run(label, command, args, options = {}) {
  // own process group, so stopping `npx wrangler dev` also stops the workerd it started
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], detached: true, ...options });
  children.add(child);
  const prefix = (stream, out) =>
    stream.on("data", (chunk) => {
      if (options.quiet) return;
      for (const line of chunk.toString().split("\n")) if (line.trim()) out.write(`[${label}] ${line}\n`);
    });
  prefix(child.stdout, process.stdout);
  prefix(child.stderr, process.stderr);
  child.on("exit", () => children.delete(child));
  return child;
}

export function runToEnd(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: "inherit", ...options });
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(" ")} exited ${code}`)),
    );
  });
}

export async function stopAll(signal = "SIGTERM") {
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise((resolve) => {
          const killGroup = (sig) => {
            try {
              process.kill(-child.pid, sig);
            } catch {
              child.kill(sig);
            }
          };
          const timer = setTimeout(() => {
            killGroup("SIGKILL");
            resolve();
          }, 10_000);
          child.on("exit", () => {
            clearTimeout(timer);
            // whatever the group leader left behind goes too
            try {
              process.kill(-child.pid, "SIGKILL");
            } catch {
              // already gone
            }
            resolve();
          });
          killGroup(signal);
        }),
    ),
  );
}

export async function waitForHttp(url, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${url}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Starts a private redis-server on a free port (no persistence) and resolves to its URL once it answers PING.
 * Explains how to install Redis when the binary is missing.
 */
export async function startPrivateRedis(label = "redis") {
  const { execFileSync } = await import("node:child_process");
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" });
  } catch {
    throw new Error(
      "redis-server was not found and REDIS_URL is not set.\n" +
        "  Install Redis (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis)\n" +
        "  or point REDIS_URL at a running server, then run npm start again.",
    );
  }
  const port = await freePort();
  run(label, "redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    quiet: true,
  });
  const { connect } = await import("node:net");
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => socket.write("PING\r\n"));
      socket.once("data", (data) => {
        socket.destroy();
        resolve(data.toString().startsWith("+PONG"));
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return `redis://127.0.0.1:${port}`;
    if (Date.now() > deadline) throw new Error("redis-server did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The D1 bindings of the local (top-level) wrangler.toml configuration: the directory and every job shard. Each one
 * gets every migration (each database uses its part of the schema). `config` is another configuration file to read
 * instead of `root`/wrangler.toml (bench/capacity generates one with more shards).
 */
export function localD1Bindings(root = process.cwd(), config = `${root}/wrangler.toml`) {
  const text = readFileSync(config, "utf8");
  const topLevel = text.split(/^\[env\./m)[0];
  const bindings = [...topLevel.matchAll(/^\[\[d1_databases\]\]\s*\nbinding\s*=\s*"([A-Z0-9_]+)"/gm)].map((m) => m[1]);
  if (!bindings.length) throw new Error("wrangler.toml has no top-level [[d1_databases]]");
  return bindings;
}

/**
 * Applies every migration to every local D1 database (`npm start`, e2e and benches), optionally under `persistTo`;
 * `config` names a wrangler configuration other than `root`/wrangler.toml.
 * @param {{ persistTo?: string, root?: string, config?: string, wrangler?: string, stdio?: import("node:child_process").StdioOptions }} [options]
 */
export async function applyLocalMigrations({ persistTo, root = process.cwd(), config, ...options } = {}) {
  for (const binding of localD1Bindings(root, config)) {
    await runToEnd(
      options.wrangler ?? "npx",
      [
        ...(options.wrangler ? [] : ["wrangler"]),
        "d1",
        "migrations",
        "apply",
        binding,
        "--local",
        ...(persistTo ? ["--persist-to", persistTo] : []),
        ...(config ? ["--config", config] : []),
      ],
      { cwd: root, env: { ...process.env, CI: "1" }, stdio: options.stdio ?? "inherit" },
    );
  }
}
