/**
 * A full picture of what the Worker has stored (every D1 row that matters, every R2 object with its size and etag),
 * so a security test can prove that a hostile request changed nothing at all.
 */
import { env } from "cloudflare:workers";
import { expect } from "vitest";

import type { ProblemBody } from "../../src/http/problem.ts";

/** Tables compared row by row; `api_keys.last_used_at` is left out (written in the background on every use). */
export const SNAPSHOT_TABLES = [
  "tenants",
  "transcriptions",
  "api_keys",
  "webhook_events",
  "webhook_attempts",
  "dead_letters",
  "audit_log",
  "job_features",
  "transcript_feedback",
] as const;

export interface StorageSnapshot {
  d1: Record<string, Record<string, unknown>[]>;
  r2: { key: string; size: number; etag: string }[];
}

export async function listAllObjects(prefix?: string): Promise<R2Object[]> {
  const objects: R2Object[] = [];
  let cursor: string | undefined;
  do {
    const listed = await env.BUCKET.list({ prefix, cursor, limit: 1000 });
    objects.push(...listed.objects);
    cursor = listed.truncated ? listed.cursor : undefined;
  } while (cursor);
  return objects;
}

/**
 * Everything stored, or with `tenantId` only what belongs to that tenant (its rows in every table and its objects
 * under `audio/<tenant>/` and `transcripts/<tenant>/`).
 */
export async function snapshot(tenantId?: string): Promise<StorageSnapshot> {
  const d1: StorageSnapshot["d1"] = {};
  for (const table of SNAPSHOT_TABLES) {
    const where = tenantId === undefined ? "" : table === "tenants" ? " where id = ?1" : " where tenant_id = ?1";
    const statement = env.DB.prepare(`select * from ${table}${where} order by rowid`);
    const { results } = await (tenantId === undefined ? statement : statement.bind(tenantId)).all<
      Record<string, unknown>
    >();
    d1[table] = results.map((row) => {
      if (table !== "api_keys") return row;
      const { last_used_at: _ignored, ...rest } = row;
      return rest;
    });
  }
  const objects =
    tenantId === undefined
      ? await listAllObjects()
      : [...(await listAllObjects(`audio/${tenantId}/`)), ...(await listAllObjects(`transcripts/${tenantId}/`))];
  const r2 = objects
    .map((o) => ({ key: o.key, size: o.size, etag: o.etag }))
    .sort((a, b) => a.key.localeCompare(b.key));
  return { d1, r2 };
}

/** Asserts that storage now equals `before`, table by table so a failure names what changed. */
export async function expectUnchanged(before: StorageSnapshot, label = "", tenantId?: string): Promise<void> {
  const after = await snapshot(tenantId);
  for (const table of SNAPSHOT_TABLES) expect(after.d1[table], `${label} D1 ${table}`).toEqual(before.d1[table]);
  expect(after.r2, `${label} R2 objects`).toEqual(before.r2);
}

export type Problem = ProblemBody;

/**
 * Rows the API writes only after long waits, for the data set a security test guards: a failed webhook attempt for
 * `eventJobId`'s event and a pending dead-letter item for `deadJobId`.
 */
export async function seedAttemptAndDeadLetter(
  tenantId: string,
  eventJobId: string,
  deadJobId: string,
  statusCode = 500,
): Promise<void> {
  const now = Date.now();
  const [event] = (
    await env.DB.prepare("select id from webhook_events where job_id = ?").bind(eventJobId).all<{ id: string }>()
  ).results;
  expect(event, `webhook event of ${eventJobId}`).toBeDefined();
  await env.DB.prepare(
    "insert into webhook_attempts (event_id, tenant_id, job_id, attempt, status_code, latency_ms, error, created_at) values (?, ?, ?, 1, ?, 9, null, ?)",
  )
    .bind(event!.id, tenantId, eventJobId, statusCode, now)
    .run();
  await env.DB.prepare(
    `insert into dead_letters (job_id, tenant_id, provider, classification, reason, first_dead_at, last_dead_at, redrive_count, next_redrive_at)
     values (?, ?, 'whisper-pool', 'recoverable', 'provider_unavailable', ?, ?, 0, ?)`,
  )
    .bind(deadJobId, tenantId, now, now, now + 3_600_000)
    .run();
}

/** Asserts an RFC 9457 problem response with the given status and stable code; returns the body. */
export async function expectProblem(res: Response, status: number, code: string): Promise<Problem> {
  const text = await res.text();
  expect(res.status, `status (body: ${text.slice(0, 300)})`).toBe(status);
  expect(res.headers.get("content-type") ?? "", "content-type").toContain("application/problem+json");
  let body: Problem;
  try {
    body = JSON.parse(text) as Problem;
  } catch {
    throw new Error(`problem body is not JSON: ${text.slice(0, 300)}`);
  }
  expect(body.code, `code (body: ${text.slice(0, 300)})`).toBe(code);
  expect(body.status).toBe(status);
  expect(body.type).toBe(`https://docs.vtt.dev/errors/${code}`);
  return body;
}

/** OpenAI's error body, as the OpenAI-compatible routes (`/v1/audio/*`, `/v1/models`) answer every refusal. */
export interface OpenAIProblem {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const OPENAI_ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "invalid_request_error",
  409: "invalid_request_error",
  413: "invalid_request_error",
  429: "rate_limit_error",
};

/** Asserts OpenAI's error body with the given status, stable `code` and (when given) `param`; returns the body. */
export async function expectOpenAIError(
  res: Response,
  status: number,
  code: string,
  param?: string | null,
): Promise<OpenAIProblem> {
  const text = await res.text();
  expect(res.status, `status (body: ${text.slice(0, 300)})`).toBe(status);
  expect(res.headers.get("content-type") ?? "", "content-type").toContain("application/json");
  const body = JSON.parse(text) as OpenAIProblem;
  expect(Object.keys(body)).toEqual(["error"]);
  const { param: sentParam, ...rest } = body.error;
  expect(rest).toEqual({ message: expect.any(String), type: OPENAI_ERROR_TYPES[status] ?? "server_error", code });
  if (param !== undefined) expect(sentParam, "param").toBe(param);
  else expect(sentParam === null || typeof sentParam === "string", "param").toBe(true);
  return body;
}
