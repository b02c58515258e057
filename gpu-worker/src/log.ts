/**
 * Structured JSON logs, one object per line on stdout, carrying `job_id` and `trace_id` when known.
 */

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Fields every log line may carry; anything else is free-form context. */
export type LogFields = Record<string, unknown> & { job_id?: string; trace_id?: string };

/** A minimal structured logger; `child()` binds fields (e.g. the job id) to every line. */
export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; defaults to stdout. */
  write?: (line: string) => void;
  bound?: LogFields;
}

/** Creates a JSON-lines logger. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = LEVEL_RANK[options.level ?? "info"];
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const bound = options.bound ?? {};
  const emit = (level: Exclude<LogLevel, "silent">, event: string, fields?: LogFields): void => {
    if (LEVEL_RANK[level] < threshold) return;
    write(JSON.stringify({ time: new Date().toISOString(), level, event, ...bound, ...fields }, errorReplacer));
  };
  return {
    debug: (event, fields) => emit("debug", event, fields),
    info: (event, fields) => emit("info", event, fields),
    warn: (event, fields) => emit("warn", event, fields),
    error: (event, fields) => emit("error", event, fields),
    child: (fields) => createLogger({ ...options, bound: { ...bound, ...fields } }),
  };
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

/** The trace id (32 hex) of a W3C `traceparent` header, or undefined when absent or malformed. */
export function traceIdFromTraceparent(traceparent: string | null | undefined): string | undefined {
  const match = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/.exec(traceparent?.trim().toLowerCase() ?? "");
  return match?.[1];
}
