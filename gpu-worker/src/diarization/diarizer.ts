/**
 * The pool's diarization stage: starts the diarization host (host.ts) with both models, runs one job's audio at a
 * time through it, and turns sherpa-onnx's turns into {@link SpeakerTurn}s. A job whose signal aborts while its
 * audio is being diarized kills the host (sherpa-onnx cannot be interrupted); the next job starts a fresh one.
 */
import { type ChildProcess, fork } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

import type { Logger } from "../log.ts";
import { speakerName, type SpeakerTurn } from "./assign.ts";
import type { ResolvedDiarizationModel } from "./models.ts";
import type { DiarizationHostReply, DiarizationLoadRequest, DiarizeRequest } from "./protocol.ts";

const HOST_ENTRY = path.join(import.meta.dirname, "host.ts");
const STDERR_TAIL_LINES = 20;

/** Options for {@link Diarizer}. */
export interface DiarizerOptions {
  segmentation: ResolvedDiarizationModel;
  embedding: ResolvedDiarizationModel;
  threads: number;
  /** Cosine-distance threshold of the clustering when the job gives no exact count (sherpa-onnx default 0.5). */
  threshold: number;
  minDurationOn: number;
  minDurationOff: number;
  logger: Logger;
}

/** What a dispatch asks of the clustering (the contract's `speakers`). */
export interface SpeakerCounts {
  expected: number | null;
  min: number | null;
  max: number | null;
}

/** A diarized job. */
export interface DiarizationResult {
  turns: SpeakerTurn[];
  /** Clusters found, and how many diarization passes that took (2 when min/max forced a re-run). */
  clusters: number;
  passes: number;
  ms: number;
}

interface Host {
  child: ChildProcess;
  stderr: string[];
  stopping: boolean;
}

/** The diarization stage of a pool with both models configured. */
export class Diarizer {
  readonly #options: DiarizerOptions;
  #host: Host | null = null;
  #starting: Promise<Host> | null = null;
  /** Jobs run one after another: the host diarizes one signal at a time. */
  #queue: Promise<unknown> = Promise.resolve();
  #nextId = 1;
  #closed = false;
  #ready = false;

  constructor(options: DiarizerOptions) {
    this.#options = options;
  }

  /** True once the models loaded (the pool accepts speaker-label jobs from then on). */
  get ready(): boolean {
    return this.#ready && !this.#closed;
  }

  /** What `/readyz` and the logs say about the stage. */
  get description(): { segmentation: string; embedding: string; synthetic: boolean } {
    return {
      segmentation: this.#options.segmentation.name,
      embedding: this.#options.embedding.name,
      synthetic: this.#options.segmentation.synthetic || this.#options.embedding.synthetic,
    };
  }

  /** Loads both models in the host; rejects with the host's reason when sherpa-onnx refuses them. */
  async start(): Promise<void> {
    await this.#ensureHost();
    this.#ready = true;
  }

  /**
   * Diarizes `sampleCount` float32 samples (16 kHz mono) in `file`. Runs after the jobs queued before it; `signal`
   * withdraws it while queued and kills the host while it runs.
   */
  diarize(file: string, sampleCount: number, counts: SpeakerCounts, signal: AbortSignal): Promise<DiarizationResult> {
    const run = this.#queue.then(() => this.#run(file, sampleCount, counts, signal));
    this.#queue = run.catch(() => undefined);
    // a job aborted while it waits for the host fails at once (its turn then ends without running)
    let onAbort = (): void => undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    return Promise.race([run, aborted]).finally(() => signal.removeEventListener("abort", onAbort));
  }

  /** Stops the host. */
  async close(): Promise<void> {
    this.#closed = true;
    const host = this.#host ?? (await this.#starting?.catch(() => null));
    this.#host = null;
    if (host) {
      host.stopping = true;
      await stopChild(host.child);
    }
  }

  async #run(
    file: string,
    sampleCount: number,
    counts: SpeakerCounts,
    signal: AbortSignal,
  ): Promise<DiarizationResult> {
    signal.throwIfAborted();
    if (this.#closed) throw new Error("the diarization stage is closed");
    const host = await this.#ensureHost();
    signal.throwIfAborted();
    const id = this.#nextId++;
    const request: DiarizeRequest = {
      kind: "diarize",
      id,
      file,
      sampleCount,
      expected: counts.expected,
      min: counts.min,
      max: counts.max,
      threshold: this.#options.threshold,
    };
    const started = performance.now();
    return new Promise<DiarizationResult>((resolve, reject) => {
      const cleanup = (): void => {
        host.child.off("message", onMessage);
        host.child.off("exit", onExit);
        signal.removeEventListener("abort", onAbort);
      };
      const onMessage = (reply: DiarizationHostReply): void => {
        if ((reply.kind !== "result" && reply.kind !== "error") || reply.id !== id) return;
        cleanup();
        if (reply.kind === "error") {
          reject(new Error(`diarization failed: ${reply.message}`));
          return;
        }
        resolve({
          turns: reply.turns.map((t) => ({ start: t.start, end: t.end, speaker: speakerName(t.speaker) })),
          clusters: reply.clusters,
          passes: reply.passes,
          ms: performance.now() - started,
        });
      };
      const onExit = (code: number | null, exitSignal: string | null): void => {
        cleanup();
        reject(
          new Error(
            `the diarization host exited during a job (${exitSignal ?? code}): ${host.stderr.slice(-5).join(" | ")}`,
          ),
        );
      };
      const onAbort = (): void => {
        cleanup();
        // sherpa-onnx cannot be interrupted: the host goes, the next job starts a fresh one
        host.stopping = true;
        host.child.kill("SIGKILL");
        if (this.#host === host) this.#host = null;
        reject(signal.reason);
      };
      host.child.on("message", onMessage);
      host.child.once("exit", onExit);
      signal.addEventListener("abort", onAbort, { once: true });
      host.child.send(request);
    });
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
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    const host: Host = { child, stderr: [], stopping: false };
    const keepLine = (line: string): void => {
      host.stderr.push(line);
      if (host.stderr.length > STDERR_TAIL_LINES) host.stderr.shift();
    };
    child.stdout!.on("data", (chunk: Buffer) => chunk.toString().split("\n").filter(Boolean).forEach(keepLine));
    child.stderr!.on("data", (chunk: Buffer) => chunk.toString().split("\n").filter(Boolean).forEach(keepLine));
    child.on("error", (error) => options.logger.warn("diarization_host_error", { error }));
    const load: DiarizationLoadRequest = {
      kind: "load",
      segmentationModel: options.segmentation.path,
      embeddingModel: options.embedding.path,
      threads: options.threads,
      minDurationOn: options.minDurationOn,
      minDurationOff: options.minDurationOff,
    };
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const fail = (message: string): void => {
        child.off("exit", onExit);
        child.off("message", onMessage);
        child.kill("SIGKILL");
        reject(new Error(message));
      };
      const onExit = (code: number | null, signal: string | null): void =>
        fail(
          `the diarization host exited while loading ${options.segmentation.path} and ${options.embedding.path} ` +
            `(${signal ?? code}): ${host.stderr.slice(-5).join(" | ")}`,
        );
      const onMessage = (reply: DiarizationHostReply): void => {
        if (reply.kind === "ready") {
          child.off("exit", onExit);
          child.off("message", onMessage);
          if (reply.sampleRate !== 16000) {
            fail(`the diarization models expect ${reply.sampleRate} Hz audio; the pool decodes to 16000 Hz`);
            return;
          }
          resolve();
        } else if (reply.kind === "load_failed") {
          fail(`loading the diarization models failed: ${reply.message}; ${host.stderr.slice(-5).join(" | ")}`);
        }
      };
      child.once("exit", onExit);
      child.on("message", onMessage);
      child.send(load);
    });
    options.logger.info("diarization_host_ready", {
      pid: child.pid,
      ...this.description,
      load_ms: Math.round(performance.now() - started),
    });
    child.once("exit", (code, signal) => {
      if (this.#host === host) this.#host = null;
      if (!host.stopping) {
        options.logger.error("diarization_host_crashed", {
          pid: child.pid,
          code,
          signal,
          stderr: host.stderr.slice(-5),
        });
      }
    });
    if (this.#closed) {
      host.stopping = true;
      await stopChild(child);
      throw new Error("the diarization stage is closed");
    }
    this.#host = host;
    return host;
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
