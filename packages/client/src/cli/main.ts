/** The `vtt` command: parses the command line, calls the API through the client, prints, and exits with a class code. */
import { openAsBlob } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";

import { type Transcription, VttClient } from "../client.ts";
import { VttError } from "../errors.ts";
import { type Command, parseCommand, type TranscribeCommand, USAGE, UsageError, type WatchCommand } from "./args.ts";
import { resolveConnection } from "./config.ts";
import { errorCodeOf, EXIT, exitCodeFor, isUnreachable } from "./exit-codes.ts";
import { formatDuration, progressLine, StatusLine } from "./progress.ts";

export interface CliIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

const VERSION = "0.1.0";
const SPINNER = "|/-\\";

function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

function printText(io: CliIo, text: string): void {
  io.stdout.write(text.endsWith("\n") ? text : text + "\n");
}

/** Runs one command line; resolves to the exit status (never throws). */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let command: Command | undefined;
  try {
    command = parseCommand(argv);
    if (command.name === "help") {
      printText(io, USAGE);
      return EXIT.ok;
    }
    if (command.name === "version") {
      printText(io, VERSION);
      return EXIT.ok;
    }
    const status = new StatusLine(io.stderr, io.stderr.isTTY === true && !command.quiet);
    const client = new VttClient({
      ...resolveConnection(command.connection, io.env),
      headers: { "user-agent": `vtt-cli/${VERSION}` },
      onRetry: ({ status: code, delaySeconds, attempt }) =>
        status.update(`the API answered ${code}; retrying in ${delaySeconds}s (retry ${attempt})`, { force: true }),
    });
    try {
      switch (command.name) {
        case "transcribe":
          return await transcribe(client, command, io, status);
        case "watch":
          return await watch(client, command, io, status);
        case "get": {
          if (command.format) printText(io, await client.transcript(command.id, command.format, io));
          else printJson(io, await client.get(command.id, io));
          return EXIT.ok;
        }
        case "list": {
          const query = { status: command.status, q: command.search, limit: command.limit, cursor: command.cursor };
          if (!command.all) {
            const page = await client.list(query, io);
            if (command.json) printJson(io, page);
            else {
              for (const job of page.data) printText(io, listLine(job));
              if (page.next_cursor) io.stderr.write(`more: vtt list --cursor ${page.next_cursor}\n`);
            }
            return EXIT.ok;
          }
          const jobs: Transcription[] = [];
          for await (const job of client.listAll({ status: command.status, q: command.search, limit: command.limit })) {
            if (command.json) jobs.push(job);
            else printText(io, listLine(job));
          }
          if (command.json) printJson(io, { data: jobs, next_cursor: null });
          return EXIT.ok;
        }
        case "delete":
          for (const id of command.ids) {
            await client.delete(id, io);
            if (!command.json) printText(io, `deleted ${id}`);
          }
          if (command.json) printJson(io, { deleted: command.ids });
          return EXIT.ok;
      }
    } finally {
      status.clear();
    }
  } catch (error) {
    return reportFailure(io, error, command);
  }
}

function reportFailure(io: CliIo, error: unknown, command: Command | undefined): number {
  const code = errorCodeOf(error);
  const message = isUnreachable(error)
    ? `the API did not answer (${error.cause?.code ?? error.cause?.message ?? "network error"})`
    : error instanceof Error
      ? error.message
      : String(error);
  if (error instanceof VttError && command && "json" in command && command.json) {
    printJson(io, { error: error.problem ?? { status: error.status, code } });
  }
  io.stderr.write(`vtt: ${error instanceof VttError ? message : `${code}: ${message}`}\n`);
  if (error instanceof UsageError) io.stderr.write(`run "vtt help" for usage\n`);
  if (code === "unreachable") io.stderr.write("vtt: is the service running at that URL? (locally: npm start)\n");
  return exitCodeFor(error);
}

/** `tr_…  completed  2026-11-24T06:00:00Z  whisper-pool  11.0s  talk.wav` */
function listLine(job: Transcription): string {
  const duration = job.duration_seconds === null ? "-" : `${job.duration_seconds.toFixed(1)}s`;
  return [job.id, job.status.padEnd(10), job.created_at, job.provider, duration, job.file_name ?? ""]
    .join("  ")
    .trimEnd();
}

/** Prints a finished job as asked: the job JSON, or its transcript; a failed job exits 3 with its code. */
async function finish(
  client: VttClient,
  job: Transcription,
  command: { json: boolean; format: TranscribeCommand["format"] },
  io: CliIo,
): Promise<number> {
  if (job.status === "failed") {
    if (command.json) printJson(io, job);
    io.stderr.write(`vtt: ${job.error?.code ?? "job_failed"}: ${job.error?.message ?? "the job failed"} (${job.id})\n`);
    return EXIT.jobFailed;
  }
  if (command.json) printJson(io, job);
  else printText(io, await client.transcript(job.id, command.format, io));
  return EXIT.ok;
}

/**
 * The job's state on the status line while waiting; it ticks on its own, because a long-poll holds each request for
 * up to a minute and the elapsed time should not freeze meanwhile.
 */
class WaitingDisplay {
  readonly #status: StatusLine;
  readonly #timer: ReturnType<typeof setInterval>;
  #job: Transcription | null = null;
  #startedMs = 0;
  #tick = 0;

  constructor(status: StatusLine) {
    this.#status = status;
    this.#timer = setInterval(() => this.#draw(false), 250);
    this.#timer.unref();
  }

  show(job: Transcription): void {
    this.#startedMs ||= Date.now();
    this.#job = job;
    this.#draw(true);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#status.clear();
  }

  #draw(force: boolean): void {
    const job = this.#job;
    if (!job) return;
    const delayed = job.delayed ? ` (${job.delay_reason ?? "delayed"})` : "";
    const elapsed = formatDuration((Date.now() - this.#startedMs) / 1000);
    const spinner = SPINNER[this.#tick++ % SPINNER.length];
    this.#status.update(`${spinner} ${job.status}${delayed} ${job.id}  ${elapsed}`, { force });
  }
}

async function transcribe(client: VttClient, command: TranscribeCommand, io: CliIo, status: StatusLine) {
  const isUrl = /^https?:\/\//i.test(command.input);
  let audio: Blob | string = command.input;
  let label = command.input;
  if (!isUrl) {
    const info = await stat(command.input).catch(() => null);
    if (!info?.isFile()) throw new UsageError(`no such file: ${command.input}`);
    audio = await openAsBlob(command.input);
    label = path.basename(command.input);
  }
  const uploadStarted = Date.now();
  const waiting = new WaitingDisplay(status);
  const job = await client
    .transcribe(audio, {
      ...command.fields,
      audioUrlHeaders: command.audioUrlHeaders,
      idempotencyKey: command.idempotencyKey,
      wait: command.wait,
      timeoutMs: command.timeoutSeconds === undefined ? undefined : command.timeoutSeconds * 1000,
      signal: io.signal,
      onProgress: (progress) => {
        const done = progress.totalBytes !== null && progress.sentBytes >= progress.totalBytes;
        status.update(progressLine({ label, ...progress, elapsedMs: Date.now() - uploadStarted }), { force: done });
      },
      onUpdate: (current) => waiting.show(current),
    })
    .finally(() => waiting.stop());
  if (!command.wait) {
    if (command.json) printJson(io, job);
    else printText(io, job.id);
    return EXIT.ok;
  }
  return finish(client, job, command, io);
}

async function watch(client: VttClient, command: WatchCommand, io: CliIo, status: StatusLine) {
  const waiting = new WaitingDisplay(status);
  const job = await client
    .waitFor(command.id, {
      signal: io.signal,
      timeoutMs: command.timeoutSeconds === undefined ? undefined : command.timeoutSeconds * 1000,
      onUpdate: (current) => waiting.show(current),
    })
    .finally(() => waiting.stop());
  return finish(client, job, command, io);
}
