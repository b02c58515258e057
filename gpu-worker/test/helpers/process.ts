/**
 * Running `src/main.ts` as a real child process (what `npm start -w gpu-worker` runs), to kill it or send it SIGTERM.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { CACHE_DIR } from "./audio.ts";
import { BRIDGE_KEYS, CALLBACK_KEYS } from "./edge.ts";

const MAIN = path.resolve(import.meta.dirname, "../../src/main.ts");

/** One parsed JSON log line. */
export type LogLine = Record<string, unknown> & { event: string };

/** A pool running in a child process. */
export interface PoolProcess {
  child: ChildProcess;
  logs: LogLine[];
  /** Resolves with the first log line for `event` matching `predicate` (past or future). */
  waitForLog(event: string, predicate?: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const ring = (keys: { id: string; secret: string }[]): string => keys.map((k) => `${k.id}:${k.secret}`).join(",");

/** Starts main.ts with test settings plus `env`. */
export function spawnPool(env: Record<string, string>): PoolProcess {
  const child = spawn(
    process.execPath,
    ["--import", pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href, MAIN],
    {
      env: {
        PATH: process.env.PATH ?? "",
        HOST: "127.0.0.1",
        PORT: "0",
        BRIDGE_KEYS: ring(BRIDGE_KEYS),
        CALLBACK_KEYS: ring(CALLBACK_KEYS),
        WHISPER_MODEL: "synthetic:mini",
        MODEL_CACHE_DIR: path.join(CACHE_DIR, "models"),
        WHISPER_TEMPERATURE_INC: "0",
        WHISPER_BEST_OF: "1",
        WHISPER_MAX_TOKENS: "24",
        WHISPER_THREADS: "1",
        LOG_LEVEL: "debug",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const logs: LogLine[] = [];
  const listeners = new Set<() => void>();
  let buffered = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        // not a log line
      }
    }
    for (const listener of [...listeners]) listener();
  });
  child.stderr!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    logs,
    exited,
    waitForLog(event, predicate = () => true, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const found = logs.find((l) => l.event === event && predicate(l));
          if (!found) return false;
          listeners.delete(listener);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const listener = (): void => void check();
        const timer = setTimeout(() => {
          listeners.delete(listener);
          reject(new Error(`no "${event}" log within ${timeoutMs} ms; last: ${JSON.stringify(logs.slice(-3))}`));
        }, timeoutMs);
        if (!check()) listeners.add(listener);
      });
    },
  };
}

/** True while a process id is alive. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
