/**
 * A private, throwaway `redis-server` for local runs and tests: free port, loopback only, no persistence.
 * Used by `npm start` when REDIS_URL is unset and by the pool's tests (real Redis, never a mock).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";

/** How long to wait for redis-server to accept connections. */
const STARTUP_TIMEOUT_MS = 10_000;
const PORT_ATTEMPTS = 3;

/** Shown when the binary is missing. */
export const REDIS_INSTALL_HINT =
  "redis-server was not found. Install Redis ≥ 6.2 (Debian/Ubuntu: `sudo apt-get install -y redis-server`; " +
  "macOS: `brew install redis`) or set REDIS_URL to an existing server (e.g. redis://127.0.0.1:6379).";

/** Options for {@link startPrivateRedis}. */
export interface PrivateRedisOptions {
  /** Path or name of the binary; default `redis-server` from PATH. */
  binary?: string;
  /** Forward the server's own log lines here (default: dropped). */
  onLog?: (line: string) => void;
}

/** A running private Redis. */
export interface PrivateRedis {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  pid: number;
  /** Stops the server (SIGTERM, then SIGKILL after 3 s) and removes its scratch directory. */
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` on a free loopback port with persistence off.
 * Throws an error carrying {@link REDIS_INSTALL_HINT} when the binary is missing.
 */
export async function startPrivateRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  let lastError: unknown;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await findFreePort();
    try {
      return await launch(port, options);
    } catch (error) {
      lastError = error;
      if (error instanceof Error && error.message === REDIS_INSTALL_HINT) throw error;
    }
  }
  throw lastError;
}

async function launch(port: number, options: PrivateRedisOptions): Promise<PrivateRedis> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "vtt-redis-"));
  const child = spawn(
    options.binary ?? "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
      "--protected-mode",
      "yes",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const stop = async (): Promise<void> => {
    await terminate(child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForReady(child, options.onLog);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `redis://127.0.0.1:${port}`, port, pid: child.pid!, stop };
}

function waitForReady(child: ChildProcess, onLog?: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(
      () => fail(new Error(`redis-server did not start within ${STARTUP_TIMEOUT_MS} ms: ${output.slice(-500)}`)),
      STARTUP_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString();
      output += text;
      for (const line of text.split("\n")) if (line.trim()) onLog?.(line);
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    };
    const fail = (error: Error): void => {
      clearTimeout(timer);
      reject(error);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("error", (error: NodeJS.ErrnoException) =>
      fail(error.code === "ENOENT" ? new Error(REDIS_INSTALL_HINT) : error),
    );
    child.once("exit", (code) => fail(new Error(`redis-server exited with code ${code}: ${output.slice(-500)}`)));
  });
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
  await exited;
  clearTimeout(timer);
}

/** Asks the OS for a free loopback port. */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
