/**
 * One structured JSON line per event. Never pass audio, transcript text, secrets or API keys.
 *
 * Fields bound with `withLogContext` (trace id, job id, tenant) are added to every line logged inside the callback,
 * including in code it calls, so a request or a queue message can be followed end to end by its `trace_id`.
 */
import { AsyncLocalStorage } from "node:async_hooks";

type Fields = Record<string, unknown>;

const context = new AsyncLocalStorage<Fields>();

export function withLogContext<T>(fields: Fields, fn: () => T): T {
  const defined = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== null));
  return context.run({ ...context.getStore(), ...defined }, fn);
}

export function log(event: string, fields: Fields = {}): void {
  console.log(JSON.stringify({ ts: new Date().toISOString(), event, ...context.getStore(), ...fields }));
}
