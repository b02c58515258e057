/**
 * The one way e2e files run the Worker under a real `wrangler dev`: a private state folder under the OS temp folder
 * (outside the project tree, so wrangler's file watcher never reloads the Worker because of it) that starts as a copy
 * of a D1 database with every migration applied (made once per run by e2e/global-setup.ts), its own inspector port
 * (so several dev servers never fight over 9229), the settings as `--var`s, and what wrangler prints kept on demand.
 * Stop it with `stopAll()` from scripts/lib/dev-env.mjs, which ends every child a file started.
 */
import type { ChildProcess } from "node:child_process";
import { cpSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { inject } from "vitest";

// plain ESM helper shared with `npm start`
import { freePort, run, waitForHttp } from "../../scripts/lib/dev-env.mjs";
import { applyMigrations, ROOT, WRANGLER } from "./migrations.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** a `--persist-to` folder whose local D1 has every migration applied (e2e/global-setup.ts) */
    e2eMigratedState: string;
  }
}

export interface WranglerDevOptions {
  /** names the child process and the state folder (`vtt-e2e-<label>-…`) */
  label: string;
  /** the port to listen on, when the caller needs the URL before the start (e.g. for PUBLIC_BASE_URL); else a free one */
  port?: number;
  /** the Worker's settings, passed as `--var NAME:value` */
  vars: Record<string, string>;
  /** extra environment for the wrangler process */
  env?: NodeJS.ProcessEnv;
  /** collects every line wrangler prints (the Worker's JSON logs included) */
  logs?: string[];
}

export interface WranglerDev {
  /** `http://127.0.0.1:<port>` */
  base: string;
  port: number;
  /** the `--persist-to` folder (D1, R2, Durable Objects, Queues); the caller removes it */
  stateDir: string;
  child: ChildProcess;
  /** resolves once `GET /healthz` answers 200 */
  ready: Promise<void>;
}

/** Starts `wrangler dev` (module comment); await `ready` before the first request. */
export async function startWranglerDev(options: WranglerDevOptions): Promise<WranglerDev> {
  const stateDir = mkdtempSync(path.join(tmpdir(), `vtt-e2e-${options.label}-`));
  const template = inject("e2eMigratedState");
  if (template) cpSync(template, stateDir, { recursive: true });
  else await applyMigrations(stateDir);
  const [port, inspectorPort] = await Promise.all([options.port ?? freePort(), freePort()]);
  const base = `http://127.0.0.1:${port}`;
  const varArgs = Object.entries(options.vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]);
  const args = ["dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort)];
  args.push("--persist-to", stateDir, ...varArgs);
  const child = run(`e2e-${options.label}-worker`, WRANGLER, args, {
    cwd: ROOT,
    quiet: true,
    env: { ...process.env, CI: "1", ...options.env },
  });
  const logs = options.logs;
  if (logs) {
    const keep = (chunk: Buffer) => logs.push(...chunk.toString().split("\n"));
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
  }
  return { base, port, stateDir, child, ready: waitForHttp(`${base}/healthz`, 180_000) };
}
