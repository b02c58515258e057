/** The command line: `vtt <command> [arguments] [options]`, parsed into a typed command (pure; no I/O). */
import { parseArgs, type ParseArgsConfig } from "node:util";

import type { JobStatus, TranscriptFormat, TranscriptionFields } from "../client.ts";
import type { ConnectionFlags } from "./config.ts";

export const FORMATS: readonly TranscriptFormat[] = ["txt", "srt", "vtt", "json"];
const STATUSES: readonly JobStatus[] = ["queued", "processing", "completed", "failed"];

export const USAGE = `usage: vtt <command> [options]

commands:
  transcribe <file|url>   upload a file (or submit a URL), wait, print the transcript
  get <id>                print a job as JSON (or its transcript with --format)
  list                    list jobs, newest first (--search: inside transcripts)
  delete <id>...          delete jobs with their transcripts and audio
  watch <id>              wait for a job to finish, then print it like transcribe

transcribe options:
  --format txt|srt|vtt|json   transcript format to print (default txt)
  --wait / --no-wait          wait for the job (default) or print its id at once
  --json                      print the job object instead of the transcript
  --language xx  --provider name  --prompt text  --webhook-url url  --subject-id id
  --metadata key=value (repeatable)  --delete-after seconds  --idempotency-key key
  --header "Name: value" (repeatable; sent with the service's fetch of a URL)
  --timeout seconds           give up waiting after this long
list options:
  --status queued|processing|completed|failed  --search 'words "a phrase"'  --limit n  --cursor c  --all  --json

connection (every command):
  --url URL  --key KEY     else VTT_API_URL / VTT_API_KEY, else a profile of the config file
  --profile NAME           profile of the config file (else VTT_PROFILE, else its default_profile)
  --config FILE            config file (else VTT_CONFIG, else ~/.config/vtt/config.json)
  --quiet                  no progress display, even on a terminal

exit codes: 0 done, 1 unexpected error, 2 usage or configuration, 3 the job failed, 4 refused by the API (4xx),
            5 authentication or scope (401/403), 6 not found (404), 7 unavailable or rate limited (429, 5xx,
            unreachable), 8 gave up waiting (--timeout)`;

/** A usage problem: the CLI prints it with the usage and exits 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

interface Common {
  connection: ConnectionFlags;
  json: boolean;
  quiet: boolean;
}

export interface TranscribeCommand extends Common {
  name: "transcribe";
  input: string;
  format: TranscriptFormat;
  wait: boolean;
  timeoutSeconds: number | undefined;
  idempotencyKey: string | undefined;
  audioUrlHeaders: Record<string, string> | undefined;
  fields: {
    language?: string;
    provider?: TranscriptionFields["provider"];
    prompt?: string;
    webhook_url?: string;
    subject_id?: string;
    metadata?: Record<string, string>;
    delete_after_seconds?: number;
  };
}
export interface GetCommand extends Common {
  name: "get";
  id: string;
  format: TranscriptFormat | undefined;
}
export interface ListCommand extends Common {
  name: "list";
  status: JobStatus | undefined;
  search: string | undefined;
  limit: number | undefined;
  cursor: string | undefined;
  all: boolean;
}
export interface DeleteCommand extends Common {
  name: "delete";
  ids: string[];
}
export interface WatchCommand extends Common {
  name: "watch";
  id: string;
  format: TranscriptFormat;
  timeoutSeconds: number | undefined;
}
export type Command =
  TranscribeCommand | GetCommand | ListCommand | DeleteCommand | WatchCommand | { name: "help" } | { name: "version" };

const COMMON_OPTIONS = {
  url: { type: "string" },
  key: { type: "string" },
  profile: { type: "string" },
  config: { type: "string" },
  json: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

const FORMAT_OPTION = { format: { type: "string", short: "f" } } as const;
const TIMEOUT_OPTION = { timeout: { type: "string" } } as const;

const OPTIONS = {
  transcribe: {
    ...FORMAT_OPTION,
    ...TIMEOUT_OPTION,
    wait: { type: "boolean" },
    // parseArgs of Node 20 has no `allowNegative`
    "no-wait": { type: "boolean" },
    language: { type: "string", short: "l" },
    provider: { type: "string" },
    prompt: { type: "string" },
    "webhook-url": { type: "string" },
    "subject-id": { type: "string" },
    metadata: { type: "string", multiple: true },
    "delete-after": { type: "string" },
    "idempotency-key": { type: "string" },
    header: { type: "string", multiple: true },
  },
  get: { ...FORMAT_OPTION },
  list: {
    status: { type: "string" },
    search: { type: "string" },
    limit: { type: "string" },
    cursor: { type: "string" },
    all: { type: "boolean" },
  },
  delete: {},
  watch: { ...FORMAT_OPTION, ...TIMEOUT_OPTION },
} as const satisfies Record<string, ParseArgsConfig["options"]>;

type CommandName = keyof typeof OPTIONS;

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], what: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`${what} must be one of ${allowed.join(", ")} (got "${value}")`);
  }
  return value as T;
}

function wholeNumber(value: string | undefined, what: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`${what} must be a whole number ≥ ${min}`);
  return Number(value);
}

/** `key=value` pairs (repeatable `--metadata`), split at the first `=`. */
function pairs(values: string[] | undefined, separator: string, what: string): Record<string, string> | undefined {
  if (!values?.length) return undefined;
  const result: Record<string, string> = {};
  for (const entry of values) {
    const at = entry.indexOf(separator);
    if (at <= 0) throw new UsageError(`${what} takes name${separator}value (got "${entry}")`);
    result[entry.slice(0, at).trim()] = entry.slice(at + separator.length).trim();
  }
  return result;
}

function exactlyOne(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected one ${what}`);
  return positionals[0]!;
}

/** Parses `argv` (without `node` and the script). Throws UsageError. */
export function parseCommand(argv: readonly string[]): Command {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") return { name: "help" };
  if (name === "--version" || name === "version") return { name: "version" };
  if (!Object.hasOwn(OPTIONS, name)) throw new UsageError(`unknown command "${name}"`);
  const command = name as CommandName;
  let parsed;
  try {
    parsed = parseArgs({
      args: [...rest],
      options: { ...COMMON_OPTIONS, ...OPTIONS[command] },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const positionals = parsed.positionals;
  if (values.help) return { name: "help" };
  const string = (option: string) => values[option] as string | undefined;
  const common: Common = {
    connection: { url: string("url"), key: string("key"), profile: string("profile"), config: string("config") },
    json: values.json === true,
    quiet: values.quiet === true,
  };
  switch (command) {
    case "transcribe": {
      if (values.wait && values["no-wait"]) throw new UsageError("--wait and --no-wait contradict each other");
      const deleteAfter = wholeNumber(string("delete-after"), "--delete-after");
      return {
        ...common,
        name: "transcribe",
        input: exactlyOne(positionals, "audio file or URL"),
        format: oneOf(string("format"), FORMATS, "--format") ?? "txt",
        wait: values["no-wait"] !== true,
        timeoutSeconds: wholeNumber(string("timeout"), "--timeout", 1),
        idempotencyKey: string("idempotency-key"),
        audioUrlHeaders: pairs(values.header as string[] | undefined, ":", "--header"),
        fields: {
          language: string("language"),
          // the API judges the name (`unknown_provider`); the CLI does not keep its own list
          provider: string("provider") as TranscriptionFields["provider"],
          prompt: string("prompt"),
          webhook_url: string("webhook-url"),
          subject_id: string("subject-id"),
          metadata: pairs(values.metadata as string[] | undefined, "=", "--metadata"),
          delete_after_seconds: deleteAfter,
        },
      };
    }
    case "get":
      return {
        ...common,
        name: "get",
        id: exactlyOne(positionals, "job id"),
        format: oneOf(string("format"), FORMATS, "--format"),
      };
    case "list":
      if (positionals.length) throw new UsageError("list takes no arguments");
      return {
        ...common,
        name: "list",
        status: oneOf(string("status"), STATUSES, "--status"),
        search: string("search"),
        limit: wholeNumber(string("limit"), "--limit", 1),
        cursor: string("cursor"),
        all: values.all === true,
      };
    case "delete":
      if (!positionals.length) throw new UsageError("expected at least one job id");
      return { ...common, name: "delete", ids: positionals };
    case "watch":
      return {
        ...common,
        name: "watch",
        id: exactlyOne(positionals, "job id"),
        format: oneOf(string("format"), FORMATS, "--format") ?? "txt",
        timeoutSeconds: wholeNumber(string("timeout"), "--timeout", 1),
      };
  }
}
