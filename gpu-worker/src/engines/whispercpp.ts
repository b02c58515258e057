/**
 * The `whispercpp` engine: whisper.cpp in-process of a child "engine host" (see whispercpp-host.ts) that holds one
 * loaded model and decodes a batch's windows in parallel states over it.
 *
 * Cancelling a window (per-job timeout) kills the host, which is the only way to stop a running whisper.cpp decode;
 * the other windows of that batch are re-sent to a fresh host, so they lose time but not their result.
 */
import { type ChildProcess, fork } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

import type { Logger } from "../log.ts";
import {
  type EngineDescription,
  type EngineWindow,
  type EngineWindowResult,
  type TranscriptionEngine,
  WindowAbortedError,
} from "./engine.ts";
import type { HostLoadRequest, HostReply, HostRunRequest } from "./whispercpp-host.ts";

/** A window that crashed the host this many times fails with an engine error instead of being re-sent again. */
const MAX_CRASHES_PER_WINDOW = 2;
/** Lines of the host's stderr kept for crash reports. */
const STDERR_TAIL_LINES = 20;
const HOST_ENTRY = path.join(import.meta.dirname, "whispercpp-host.ts");

/** Options for {@link WhisperCppEngine}. */
export interface WhisperCppEngineOptions {
  binding: "smart-whisper" | "fugood";
  modelPath: string;
  /** Reported as `result.model`, e.g. `ggml-base.en`. */
  modelName: string;
  synthetic: boolean;
  /** The model's vocabulary is multilingual: it can translate (false when left out). */
  multilingual?: boolean;
  /** Windows decoded at once (the batch size). */
  capacity: number;
  /** Threads per decoding state. */
  threads: number;
  maxTokens: number;
  temperatureInc: number;
  bestOf: number;
  useGpu: boolean;
  logger: Logger;
  /** Called after each host restart (metrics). */
  onHostRestart?: (reason: string) => void;
}

interface InFlight {
  id: number;
  window: EngineWindow;
  resolve: (result: EngineWindowResult) => void;
  reject: (error: unknown) => void;
  crashes: number;
  /** The host the window was last sent to; only that host's exit re-sends it. */
  sentTo: Host | null;
  detach: () => void;
}

interface Host {
  child: ChildProcess;
  stderr: string[];
  /** Set when the pool killed it on purpose (a cancelled window), so the exit is not counted as a crash. */
  killedForAbort: boolean;
  /** Set by close(): the exit is expected. */
  stopping: boolean;
}

/** whisper.cpp through a Node binding, in a restartable child process. */
export class WhisperCppEngine implements TranscriptionEngine {
  readonly description: EngineDescription;
  readonly capacity: number;
  readonly #options: WhisperCppEngineOptions;
  readonly #inFlight = new Map<number, InFlight>();
  #host: Host | null = null;
  #starting: Promise<Host> | null = null;
  #nextId = 1;
  #closed = false;

  constructor(options: WhisperCppEngineOptions) {
    this.#options = options;
    this.capacity = options.capacity;
    this.description = {
      engine: "whispercpp",
      backend: options.binding,
      model: options.modelName,
      synthetic: options.synthetic,
      translates: options.multilingual ?? false,
      // @fugood's results carry segments only, no token timings
      wordTimestamps: options.binding === "smart-whisper",
    };
  }

  get ready(): boolean {
    return this.#host !== null && !this.#closed;
  }

  /** The host's process id (tests use it to see a restart). */
  get hostPid(): number | undefined {
    return this.#host?.child.pid;
  }

  async start(): Promise<void> {
    await this.#ensureHost();
  }

  transcribeBatch(windows: EngineWindow[]): Promise<PromiseSettledResult<EngineWindowResult>[]> {
    return Promise.allSettled(windows.map((window) => this.#run(window)));
  }

  /**
   * Frees the model by stopping the host. The pool calls this after its workers drained; a window still in flight
   * then (shutdown deadline passed) fails, and its job is recovered by another replica once its lock lapses.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const entry of [...this.#inFlight.values()]) this.#settle(entry, { error: new Error("the engine is closed") });
    const host = this.#host ?? (await this.#starting?.catch(() => null));
    this.#host = null;
    if (host) {
      host.stopping = true;
      await stopChild(host.child);
    }
  }

  #run(window: EngineWindow): Promise<EngineWindowResult> {
    if (this.#closed) return Promise.reject(new Error("the engine is closed"));
    if (window.signal?.aborted) return Promise.reject(new WindowAbortedError(window.signal.reason));
    return new Promise((resolve, reject) => {
      const entry: InFlight = {
        id: this.#nextId++,
        window,
        resolve,
        reject,
        crashes: 0,
        sentTo: null,
        detach: () => undefined,
      };
      if (window.signal) {
        const signal = window.signal;
        const onAbort = (): void => this.#abort(entry, signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
        entry.detach = () => signal.removeEventListener("abort", onAbort);
      }
      this.#inFlight.set(entry.id, entry);
      this.#dispatch(entry);
    });
  }

  #dispatch(entry: InFlight): void {
    this.#ensureHost().then(
      (host) => {
        if (!this.#inFlight.has(entry.id)) return;
        const { durationMs, language, prompt, task, temperature, wordTimestamps } = entry.window;
        // a window is a view into the job's whole decoded audio; structured clone would copy the whole buffer
        const view = entry.window.samples;
        const samples = view.byteOffset === 0 && view.byteLength === view.buffer.byteLength ? view : view.slice();
        entry.sentTo = host;
        // a send to a host that is dying fails quietly; its exit re-sends the window
        const run: HostRunRequest = {
          kind: "run",
          id: entry.id,
          samples,
          durationMs,
          language,
          prompt,
          translate: task === "translate",
          temperature,
          wordTimestamps,
        };
        host.child.send(run, () => undefined);
      },
      (error: unknown) => this.#settle(entry, { error }),
    );
  }

  #settle(entry: InFlight, outcome: { result: EngineWindowResult } | { error: unknown }): void {
    if (!this.#inFlight.delete(entry.id)) return;
    entry.detach();
    if ("result" in outcome) entry.resolve(outcome.result);
    else entry.reject(outcome.error);
  }

  /** Cancels one window: the only way to stop its decode is to kill the host; the others are re-sent on exit. */
  #abort(entry: InFlight, reason: unknown): void {
    if (!this.#inFlight.has(entry.id)) return;
    this.#settle(entry, { error: new WindowAbortedError(reason) });
    const host = entry.sentTo;
    if (host && host.child.exitCode === null && host.child.signalCode === null) {
      host.killedForAbort = true;
      // new work goes to a fresh host at once instead of waiting for this one to exit
      if (this.#host === host) this.#host = null;
      host.child.kill("SIGKILL");
    }
  }

  #ensureHost(): Promise<Host> {
    if (this.#host) return Promise.resolve(this.#host);
    this.#starting ??= this.#spawnHost().finally(() => {
      this.#starting = null;
    });
    return this.#starting;
  }

  async #spawnHost(): Promise<Host> {
    const options = this.#options;
    const child = fork(HOST_ENTRY, [], {
      execArgv: ["--import", pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href],
      serialization: "advanced",
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      // every parallel state occupies one libuv worker thread for the whole decode
      env: { ...process.env, UV_THREADPOOL_SIZE: String(Math.max(4, options.capacity + 2)) },
    });
    const host: Host = { child, stderr: [], killedForAbort: false, stopping: false };
    const keepLine = (line: string): void => {
      host.stderr.push(line);
      if (host.stderr.length > STDERR_TAIL_LINES) host.stderr.shift();
    };
    child.stdout!.on("data", (chunk: Buffer) => chunk.toString().split("\n").filter(Boolean).forEach(keepLine));
    child.stderr!.on("data", (chunk: Buffer) => chunk.toString().split("\n").filter(Boolean).forEach(keepLine));
    const loadRequest: HostLoadRequest = {
      kind: "load",
      binding: options.binding,
      modelPath: options.modelPath,
      useGpu: options.useGpu,
      parallel: options.capacity,
      threads: options.threads,
      maxTokens: options.maxTokens,
      temperatureInc: options.temperatureInc,
      bestOf: options.bestOf,
    };
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null, signal: string | null): void =>
        reject(
          new Error(
            `the engine host exited while loading the model (${signal ?? code}): ${host.stderr.slice(-5).join(" | ")}`,
          ),
        );
      child.once("exit", onExit);
      child.once("error", reject);
      child.on("error", (error) => options.logger.warn("engine_host_error", { error }));
      child.on("message", (reply: HostReply) => {
        if (reply.kind === "ready") {
          child.off("exit", onExit);
          resolve();
        } else if (reply.kind === "load_failed") {
          child.off("exit", onExit);
          child.kill("SIGKILL");
          reject(
            new Error(`loading ${options.modelPath} failed: ${reply.message}; ${host.stderr.slice(-5).join(" | ")}`),
          );
        } else {
          this.#onReply(reply);
        }
      });
      child.send(loadRequest);
    });
    options.logger.info("engine_host_ready", {
      pid: child.pid,
      binding: options.binding,
      model: options.modelName,
      load_ms: Math.round(performance.now() - started),
    });
    child.once("exit", (code, signal) => this.#onHostExit(host, code, signal));
    this.#host = host;
    return host;
  }

  #onReply(reply: HostReply): void {
    if (reply.kind !== "result" && reply.kind !== "error") return;
    const entry = this.#inFlight.get(reply.id);
    if (!entry) return;
    if (reply.kind === "result") this.#settle(entry, { result: reply.result });
    else this.#settle(entry, { error: new Error(`whisper.cpp failed: ${reply.message}`) });
  }

  #onHostExit(host: Host, code: number | null, signal: string | null): void {
    if (this.#host === host) this.#host = null;
    if (host.stopping) return;
    const reason = host.killedForAbort ? "window_cancelled" : `exit_${signal ?? code}`;
    if (!host.killedForAbort) {
      this.#options.logger.error("engine_host_crashed", {
        pid: host.child.pid,
        code,
        signal,
        stderr: host.stderr.slice(-5),
      });
    }
    this.#options.onHostRestart?.(reason);
    for (const entry of [...this.#inFlight.values()]) {
      if (entry.sentTo !== host) continue;
      if (!host.killedForAbort) entry.crashes++;
      if (entry.crashes >= MAX_CRASHES_PER_WINDOW || this.#closed) {
        this.#settle(entry, {
          error: new Error(`the engine host crashed (${signal ?? code}) ${entry.crashes} times on this window`),
        });
      } else {
        this.#dispatch(entry);
      }
    }
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}
