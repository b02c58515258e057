/**
 * A corpus of hostile and malformed requests. Every row must be answered with a 4xx problem+json carrying the
 * expected stable `code` (never a 5xx, never HTML) and must leave storage exactly as it was: every D1 row that matters
 * and every R2 object (key, size, etag) are compared before and after each request.
 *
 * Requests that should succeed despite hostile input (file names with traversal or control characters, HTML in
 * metadata, replayed pool callbacks) live in their own `describe` blocks below the table.
 */
import { signAudioUrl, signedHeaders, type SigningKey, signRedactionUpload } from "@vtt/pool-contract";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";

import type { Env } from "../../src/env.ts";
import { adminKey, call, callWith, createTenant, multipartUpload, rawUpload } from "../helpers/api.ts";
import { chunkedStream, makeWav } from "../helpers/audio.ts";
import { completedCallback, POOL_CALLBACK_RING } from "../helpers/pool.ts";
import { compressedAudio } from "../helpers/redacted-audio.ts";
import {
  expectOpenAIError,
  expectProblem,
  expectUnchanged,
  listAllObjects,
  seedAttemptAndDeadLetter,
  snapshot,
} from "./snapshot.ts";

// ---------- request builders ----------

const encoder = new TextEncoder();
const SCRIPT = "<script>alert(1)</script>";

function concat(chunks: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

interface Part {
  name: string;
  filename?: string;
  contentType?: string;
  body: Uint8Array | string;
}

/** A multipart body written byte by byte, so file names reach the parser exactly as given (raw UTF-8, NUL, bidi). */
function rawMultipart(
  parts: Part[],
  boundary = "hostile-7MA4YWxkTrZu0gW",
): { body: Uint8Array<ArrayBuffer>; contentType: string } {
  const chunks: Uint8Array[] = [];
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`;
    if (p.filename !== undefined) head += `; filename="${p.filename}"`;
    head += "\r\n";
    if (p.contentType) head += `Content-Type: ${p.contentType}\r\n`;
    head += "\r\n";
    chunks.push(
      encoder.encode(head),
      typeof p.body === "string" ? encoder.encode(p.body) : p.body,
      encoder.encode("\r\n"),
    );
  }
  chunks.push(encoder.encode(`--${boundary}--\r\n`));
  return { body: concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

function sendMultipart(key: string, parts: Part[], extraHeaders: Record<string, string> = {}): Promise<Response> {
  const { body, contentType } = rawMultipart(parts);
  return call("/v1/transcriptions", {
    method: "POST",
    key,
    body,
    headers: { "content-type": contentType, ...extraHeaders },
  });
}

/** The same body sent in 16 KiB chunks without a length, so the Worker refuses it while more is still coming. */
function sendMultipartStreaming(key: string, parts: Part[]): Promise<Response> {
  const { body, contentType } = rawMultipart(parts);
  return call("/v1/transcriptions", {
    method: "POST",
    key,
    body: chunkedStream(body, 16 * 1024),
    headers: { "content-type": contentType },
  });
}

const filePart = (bytes: Uint8Array = makeWav(0.1), filename = "clip.wav"): Part => ({
  name: "file",
  filename,
  contentType: "audio/wav",
  body: bytes,
});

function json(path: string, key: string, body: unknown, method = "POST"): Promise<Response> {
  return call(path, {
    method,
    key,
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

const PRODUCTION = { ENVIRONMENT: "production" } satisfies Partial<Env>;

/** A raw upload whose webhook URL is judged by production rules. */
const productionWebhook = (key: string, url: string) =>
  callWith(PRODUCTION, `/v1/transcriptions?webhook_url=${encodeURIComponent(url)}`, {
    method: "POST",
    key,
    body: makeWav(0.1),
    headers: { "content-type": "audio/wav" },
  });

/** A submission by URL judged by production rules (no development loopback allowance). */
const productionAudioUrl = (key: string, body: unknown) =>
  callWith(PRODUCTION, "/v1/transcriptions", {
    method: "POST",
    key,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

/** POSTs `body` to the pool callback signed with `ring` at `nowSeconds`, with header overrides. */
async function signedCallback(
  body: string,
  options: { ring?: SigningKey[]; nowSeconds?: number; signedBody?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers = await signedHeaders(
    options.ring ?? POOL_CALLBACK_RING,
    options.signedBody ?? body,
    options.nowSeconds,
  );
  return call("/internal/pool/callback", {
    method: "POST",
    body,
    headers: { ...headers, "content-type": "application/json", ...options.headers },
  });
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const audioUrl = (id: string, exp: number, kid: string, sig: string) =>
  `/internal/audio/${id}?exp=${exp}&kid=${kid}&sig=${sig}`;

/** A result id as the edge mints them (a ULID) for a redaction upload URL. */
const RESULT_ID = "01JAAAAAAAAAAAAAAAAAAAAAAA";
const redactionUrl = (id: string, resultId: string, exp: number, sig: string) =>
  `/internal/redactions/${id}/${resultId}?exp=${exp}&kid=a1&sig=${sig}`;
/** A PUT of `bytes` zero bytes with its length declared. */
const putBody = (bytes: number): RequestInit => ({
  method: "PUT",
  headers: { "content-length": String(bytes) },
  body: new Uint8Array(bytes),
});

/** The same key with one character changed (still well-formed). */
function mutate(key: string): string {
  const last = key.at(-1) === "A" ? "B" : "A";
  return key.slice(0, -1) + last;
}

// ---------- the baseline every row must leave untouched ----------

interface Baseline {
  a: { tenantId: string; key: string; keyId: string };
  b: { tenantId: string; key: string; keyId: string };
  readKey: string;
  writeKey: string;
  expiredKey: string;
  revokedKey: string;
  erasedTenantKey: string;
  /** a key of its own tenant for the rate-limit row, so its spent bucket touches no other row */
  rateKey: string;
  /** A's jobs: completed (pool, with webhook event and transcript), queued (pool, with subject and Idempotency-Key), failed */
  done: string;
  queued: string;
  failed: string;
  bJob: string;
}

let s: Baseline;

async function mintKey(tenantId: string, body: Record<string, unknown>): Promise<{ id: string; key: string }> {
  const res = await json(`/v1/admin/tenants/${tenantId}/keys`, adminKey(), body);
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as { id: string; key: string };
}

async function accepted(res: Response): Promise<string> {
  expect(res.status, await res.clone().text()).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

async function seedBaseline(): Promise<Baseline> {
  const a = await createTenant("hostile-a");
  const b = await createTenant("hostile-b");
  const readKey = (await mintKey(a.tenantId, { scopes: ["transcriptions:read"] })).key;
  const writeKey = (await mintKey(a.tenantId, { scopes: ["transcriptions:write"] })).key;
  const expiresAt = Date.now() + 1500;
  const expiredKey = (await mintKey(a.tenantId, { name: "short-lived", expires_at: new Date(expiresAt).toISOString() }))
    .key;
  const revoked = await mintKey(a.tenantId, { name: "revoked" });
  expect(
    (await call(`/v1/admin/tenants/${a.tenantId}/keys/${revoked.id}/revoke`, { method: "POST", key: adminKey() }))
      .status,
  ).toBe(204);
  const rateKey = (await createTenant("hostile-rate")).key;
  const erased = await createTenant("hostile-erased");
  expect((await call(`/v1/admin/tenants/${erased.tenantId}`, { method: "DELETE", key: adminKey() })).status).toBe(200);

  const done = await accepted(
    await multipartUpload(
      a.key,
      { provider: "whisper-pool", webhook_url: "https://hooks.example.com/a", subject_id: "person-a" },
      makeWav(0.2),
      "done.wav",
    ),
  );
  const completed = await signedCallback(JSON.stringify(completedCallback(done)));
  expect(await completed.json()).toEqual({ ok: true, applied: true });
  const queued = await accepted(
    await call("/v1/transcriptions?provider=whisper-pool&subject_id=person-a&metadata=%7B%22call%22%3A%2242%22%7D", {
      method: "POST",
      key: a.key,
      body: makeWav(0.2),
      headers: { "content-type": "audio/wav", "idempotency-key": "baseline-idempotency-key" },
    }),
  );
  const failed = await accepted(await multipartUpload(a.key, { provider: "whisper-pool" }, makeWav(0.1), "failed.wav"));
  await signedCallback(
    JSON.stringify({ job_id: failed, status: "failed", error: { code: "invalid_audio", message: "could not decode" } }),
  );
  const bJob = await accepted(
    await multipartUpload(b.key, { provider: "whisper-pool", subject_id: "person-a" }, makeWav(0.1), "b.wav"),
  );

  // rows the API only writes after long waits: a webhook attempt and a dead-letter item for A's queued job
  await seedAttemptAndDeadLetter(a.tenantId, done, queued, 503);

  // let the short-lived key expire
  const wait = expiresAt - Date.now() + 50;
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  return {
    a,
    b,
    readKey,
    writeKey,
    expiredKey,
    revokedKey: revoked.key,
    erasedTenantKey: erased.key,
    rateKey,
    done,
    queued,
    failed,
    bJob,
  };
}

beforeAll(async () => {
  s = await seedBaseline();
  const base = await snapshot();
  // the baseline really is there: 4 jobs, 4 audio objects + 1 transcript, a webhook event and attempt, a dead letter
  expect(base.d1.transcriptions).toHaveLength(4);
  expect(base.d1.webhook_events).toHaveLength(1);
  expect(base.d1.webhook_attempts).toHaveLength(1);
  expect(base.d1.dead_letters).toHaveLength(1);
  expect(base.d1.audit_log).toHaveLength(1);
  expect(base.r2.filter((o) => o.key.startsWith("audio/"))).toHaveLength(4);
  expect(base.r2.filter((o) => o.key.startsWith("transcripts/"))).toHaveLength(1);
}, 30_000);

// ---------- the corpus ----------

type Row = [name: string, send: () => Promise<Response>, status: number, code: string];

const tooBigDeclared = String(200 * 1024 * 1024);
const RIFF_OVER_GARBAGE = concat([
  encoder.encode("RIFF"),
  new Uint8Array([0x24, 0x08, 0, 0]),
  encoder.encode("WAVE"),
  encoder.encode("garbage!".repeat(64)),
]);
const ZIP = new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0, 8, 0, ...new Array(120).fill(7)]);
const PNG = new Uint8Array([
  0x89,
  0x50,
  0x4e,
  0x47,
  0x0d,
  0x0a,
  0x1a,
  0x0a,
  0,
  0,
  0,
  0x0d,
  0x49,
  0x48,
  0x44,
  0x52,
  ...new Array(120).fill(0),
]);
const PDF = encoder.encode("%PDF-1.7\n%âãÏÓ\n1 0 obj << /Type /Catalog >> endobj\n" + "x".repeat(200));
const HTML = encoder.encode(`<!doctype html><html><body>${SCRIPT}</body></html>` + " ".repeat(200));
const TEXT = encoder.encode(
  "hello, this is not audio at all, just some words typed into a file named like audio ".repeat(4),
);
const meta = (value: unknown) => JSON.stringify(value);

const rows: Row[] = [
  // --- authentication ---
  ["no Authorization header", () => call("/v1/transcriptions"), 401, "unauthenticated"],
  [
    "Basic credentials instead of a bearer key",
    () => call("/v1/transcriptions", { headers: { authorization: `Basic ${btoa("admin:admin")}` } }),
    401,
    "unauthenticated",
  ],
  [
    "Bearer without a token",
    () => call("/v1/transcriptions", { headers: { authorization: "Bearer" } }),
    401,
    "unauthenticated",
  ],
  [
    "token with markup characters",
    () => call("/v1/transcriptions", { headers: { authorization: `Bearer vtt_live_${SCRIPT}` } }),
    401,
    "unauthenticated",
  ],
  [
    "token over 512 characters",
    () => call("/v1/transcriptions", { key: `vtt_live_${"A".repeat(600)}` }),
    401,
    "unauthenticated",
  ],
  [
    "two bearer tokens in one header",
    () => call("/v1/transcriptions", { headers: { authorization: `Bearer ${s.a.key}, Bearer ${s.b.key}` } }),
    401,
    "unauthenticated",
  ],
  [
    "unknown well-formed key",
    () => call("/v1/transcriptions", { key: `vtt_live_${"A".repeat(43)}` }),
    401,
    "invalid_api_key",
  ],
  [
    "tenant key with its last character changed",
    () => call("/v1/transcriptions", { key: mutate(s.a.key) }),
    401,
    "invalid_api_key",
  ],
  [
    "admin key with a suffix",
    () => call("/v1/admin/tenants", { key: `${adminKey()}x`, method: "POST", body: "{}" }),
    401,
    "invalid_api_key",
  ],
  [
    "admin key prefix only",
    () => json("/v1/admin/tenants", adminKey().slice(0, 16), { name: "x" }),
    401,
    "invalid_api_key",
  ],
  ["expired key", () => call("/v1/transcriptions", { key: s.expiredKey }), 401, "invalid_api_key"],
  ["expired key uploading", () => multipartUpload(s.expiredKey), 401, "invalid_api_key"],
  ["revoked key", () => call(`/v1/transcriptions/${s.done}`, { key: s.revokedKey }), 401, "invalid_api_key"],
  [
    "revoked key deleting",
    () => call(`/v1/transcriptions/${s.done}`, { key: s.revokedKey, method: "DELETE" }),
    401,
    "invalid_api_key",
  ],
  ["key of an erased tenant", () => multipartUpload(s.erasedTenantKey), 401, "invalid_api_key"],
  [
    "random keys past AUTH_FAILURES_PER_MINUTE from one address",
    async () => {
      const guess = (i: number) =>
        callWith({ AUTH_FAILURES_PER_MINUTE: "3" }, "/v1/transcriptions", {
          key: `vtt_live_${"G".repeat(42)}${i}`,
          headers: { "cf-connecting-ip": "192.0.2.77" },
        });
      for (let i = 0; i < 3; i++) expect((await guess(i)).status).toBe(401);
      return guess(3);
    },
    429,
    "auth_rate_limited",
  ],
  [
    "operator-key guesses past OPERATOR_AUTH_FAILURES_PER_MINUTE",
    async () => {
      const guess = (i: number) =>
        callWith({ OPERATOR_AUTH_FAILURES_PER_MINUTE: "2" }, "/v1/admin/tenants", {
          method: "POST",
          key: `${adminKey().slice(0, 20)}-guess-${i}`,
          headers: { "cf-connecting-ip": "192.0.2.78" },
        });
      for (let i = 0; i < 2; i++) expect((await guess(i)).status).toBe(401);
      return guess(2);
    },
    429,
    "auth_rate_limited",
  ],

  // --- scopes ---
  ["bootstrap admin key on a tenant upload", () => multipartUpload(adminKey()), 403, "tenant_required"],
  [
    "bootstrap admin key reading a job",
    () => call(`/v1/transcriptions/${s.done}`, { key: adminKey() }),
    403,
    "tenant_required",
  ],
  ["read-only key uploads", () => multipartUpload(s.readKey), 403, "insufficient_scope"],
  [
    "read-only key deletes a job",
    () => call(`/v1/transcriptions/${s.done}`, { key: s.readKey, method: "DELETE" }),
    403,
    "insufficient_scope",
  ],
  [
    "read-only key erases a subject",
    () => call("/v1/subjects/person-a", { key: s.readKey, method: "DELETE" }),
    403,
    "insufficient_scope",
  ],
  [
    "read-only key erases a subject by body",
    () => json("/v1/subjects/erase", s.readKey, { subject_id: "person-a" }),
    403,
    "insufficient_scope",
  ],
  [
    "read-only key rotates the webhook secret",
    () => call("/v1/webhooks/secret/rotate", { key: s.readKey, method: "POST" }),
    403,
    "insufficient_scope",
  ],
  [
    "write-only key reads a job",
    () => call(`/v1/transcriptions/${s.done}`, { key: s.writeKey }),
    403,
    "insufficient_scope",
  ],
  [
    "write-only key reads the webhook secret",
    () => call("/v1/webhooks/secret", { key: s.writeKey }),
    403,
    "insufficient_scope",
  ],
  [
    "write-only key rotates the webhook secret (the answer carries it)",
    () => call("/v1/webhooks/secret/rotate", { key: s.writeKey, method: "POST" }),
    403,
    "insufficient_scope",
  ],
  ["tenant key creates a tenant", () => json("/v1/admin/tenants", s.a.key, { name: "mine" }), 403, "operator_required"],
  [
    "tenant key mints itself an admin key",
    () => json(`/v1/admin/tenants/${s.a.tenantId}/keys`, s.a.key, { scopes: ["admin"] }),
    403,
    "operator_required",
  ],
  [
    "tenant key revokes another tenant's key",
    () => call(`/v1/admin/tenants/${s.b.tenantId}/keys/${s.b.keyId}/revoke`, { key: s.a.key, method: "POST" }),
    403,
    "operator_required",
  ],
  [
    "tenant key erases another tenant",
    () => call(`/v1/admin/tenants/${s.b.tenantId}`, { key: s.a.key, method: "DELETE" }),
    403,
    "operator_required",
  ],
  [
    "tenant key moves its tenant to another shard",
    () => json(`/v1/admin/tenants/${s.a.tenantId}/move`, s.a.key, { shard: "us0" }),
    403,
    "operator_required",
  ],
  [
    "move to a shard no placement names",
    () => json(`/v1/admin/tenants/${s.a.tenantId}/move`, adminKey(), { shard: "zz9" }),
    422,
    "unknown_shard",
  ],
  [
    "move to a traversal-shaped region",
    () => json(`/v1/admin/tenants/${s.a.tenantId}/move`, adminKey(), { region: "../eu" }),
    422,
    "unknown_region",
  ],
  [
    "move naming both a shard and a region",
    () => json(`/v1/admin/tenants/${s.a.tenantId}/move`, adminKey(), { shard: "us0", region: "us" }),
    422,
    "validation_failed",
  ],
  [
    "move with an oversized shard code",
    () => json(`/v1/admin/tenants/${s.a.tenantId}/move`, adminKey(), { shard: "x".repeat(10_000) }),
    422,
    "validation_failed",
  ],
  [
    "move with an unknown field",
    () => json(`/v1/admin/tenants/${s.a.tenantId}/move`, adminKey(), { shard: "us0", force: true }),
    422,
    "validation_failed",
  ],
  [
    "move of a tenant id with SQL in it",
    () => json(`/v1/admin/tenants/tn_'%20or%201=1--/move`, adminKey(), { shard: "us0" }),
    404,
    "not_found",
  ],
  [
    "tenant key forces a breaker open",
    () => call("/v1/admin/breakers/openai/open", { key: s.a.key, method: "POST" }),
    403,
    "operator_required",
  ],
  [
    "tenant key fails a dead letter",
    () => call(`/v1/admin/dead-letters/${s.queued}/fail`, { key: s.a.key, method: "POST" }),
    403,
    "operator_required",
  ],
  [
    "tenant key lists dead letters",
    () => call("/v1/admin/dead-letters?state=all", { key: s.b.key }),
    403,
    "operator_required",
  ],

  // --- foreign and forged ids ---
  ["tenant B reads A's job", () => call(`/v1/transcriptions/${s.done}`, { key: s.b.key }), 404, "not_found"],
  // placement (issue 15): a shard suffix that names no shard, or one that is not the caller's, is a plain 404
  [
    "a job id with a forged shard suffix",
    () => call(`/v1/transcriptions/${s.done.slice(0, 29)}zz9`, { key: s.a.key }),
    404,
    "not_found",
  ],
  [
    "another tenant's job id with a shard suffix appended",
    () => call(`/v1/transcriptions/${s.done.slice(0, 29)}eu0`, { key: s.b.key }),
    404,
    "not_found",
  ],
  [
    "a tenant in a region that is not configured",
    () => json("/v1/admin/tenants", adminKey(), { name: "nowhere", region: "mars" }),
    422,
    "unknown_region",
  ],
  [
    "a region that is not a string",
    () => json("/v1/admin/tenants", adminKey(), { name: "nowhere", region: ["eu"] }),
    422,
    "validation_failed",
  ],
  [
    "tenant B exports A's transcript",
    () => call(`/v1/transcriptions/${s.done}/transcript?format=srt`, { key: s.b.key }),
    404,
    "not_found",
  ],
  [
    "tenant B reads A's webhook log",
    () => call(`/v1/transcriptions/${s.done}/webhooks`, { key: s.b.key }),
    404,
    "not_found",
  ],
  [
    "tenant B deletes A's job",
    () => call(`/v1/transcriptions/${s.queued}`, { key: s.b.key, method: "DELETE" }),
    404,
    "not_found",
  ],
  [
    "admin revokes A's key under B's tenant",
    () => call(`/v1/admin/tenants/${s.b.tenantId}/keys/${s.a.keyId}/revoke`, { key: adminKey(), method: "POST" }),
    404,
    "not_found",
  ],
  [
    "admin mints a key for a tenant that does not exist",
    () => json("/v1/admin/tenants/tn_01ZZZZZZZZZZZZZZZZZZZZZZZZ/keys", adminKey(), {}),
    404,
    "not_found",
  ],
  [
    "admin mints a key for a path-traversal tenant",
    () => json("/v1/admin/tenants/..%2F..%2Fetc/keys", adminKey(), {}),
    404,
    "not_found",
  ],
  [
    "job id with path traversal",
    () => call("/v1/transcriptions/..%2F..%2Fetc%2Fpasswd", { key: s.a.key }),
    404,
    "not_found",
  ],
  [
    "job id with SQL",
    () => call(`/v1/transcriptions/${encodeURIComponent("tr_' OR '1'='1")}`, { key: s.a.key }),
    404,
    "not_found",
  ],
  [
    "job id with markup",
    () => call(`/v1/transcriptions/${encodeURIComponent(SCRIPT)}`, { key: s.a.key }),
    404,
    "not_found",
  ],
  [
    "delete with a lower-cased id",
    () => call(`/v1/transcriptions/${s.queued.toLowerCase()}`, { key: s.a.key, method: "DELETE" }),
    404,
    "not_found",
  ],

  // --- sizes and framing ---
  [
    "raw body declaring 200 MB",
    () =>
      call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body: makeWav(0.1),
        headers: { "content-type": "audio/wav", "content-length": tooBigDeclared },
      }),
    413,
    "payload_too_large",
  ],
  [
    "multipart body declaring 200 MB",
    () => {
      const { body, contentType } = rawMultipart([filePart()]);
      return call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body,
        headers: { "content-type": contentType, "content-length": tooBigDeclared },
      });
    },
    413,
    "payload_too_large",
  ],
  [
    "raw stream over MAX_UPLOAD_BYTES without a declared length",
    () =>
      callWith({ MAX_UPLOAD_BYTES: "65536" }, "/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body: chunkedStream(makeWav(4), 16 * 1024),
        headers: { "content-type": "audio/wav" },
      }),
    413,
    "payload_too_large",
  ],
  [
    "multipart file over MAX_UPLOAD_BYTES",
    () => {
      const { body, contentType } = rawMultipart([filePart(makeWav(4))]);
      return callWith({ MAX_UPLOAD_BYTES: "65536" }, "/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body: chunkedStream(body, 16 * 1024),
        headers: { "content-type": contentType },
      });
    },
    413,
    "payload_too_large",
  ],
  [
    "raw audio over the named provider's size limit, no failover (never sent to the vendor)",
    () =>
      callWith({ OPENAI_MAX_AUDIO_BYTES: "65536" }, "/v1/transcriptions?provider=openai", {
        method: "POST",
        key: s.a.key,
        body: chunkedStream(makeWav(4), 16 * 1024),
        headers: { "content-type": "audio/wav" },
      }),
    422,
    "audio_too_large_for_provider",
  ],
  [
    "multipart audio over the default provider's size limit, no failover",
    () => {
      const { body, contentType } = rawMultipart([filePart(makeWav(4))]);
      return callWith({ OPENAI_MAX_AUDIO_BYTES: "65536", PROVIDERS: "openai" }, "/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body: chunkedStream(body, 16 * 1024),
        headers: { "content-type": contentType },
      });
    },
    422,
    "audio_too_large_for_provider",
  ],
  [
    "truncated multipart (no closing boundary)",
    () =>
      call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body: concat([
          encoder.encode('--b\r\ncontent-disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'),
          makeWav(0.1),
        ]),
        headers: { "content-type": "multipart/form-data; boundary=b" },
      }),
    400,
    "malformed_multipart",
  ],
  [
    "truncated multipart inside the part headers",
    () =>
      call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body: '--b\r\ncontent-disposition: form-data; name="fi',
        headers: { "content-type": "multipart/form-data; boundary=b" },
      }),
    400,
    "malformed_multipart",
  ],
  [
    "multipart without a boundary parameter",
    () =>
      call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body: "x",
        headers: { "content-type": "multipart/form-data" },
      }),
    400,
    "malformed_multipart",
  ],
  [
    "multipart whose boundary never appears",
    () =>
      call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body: makeWav(0.1),
        headers: { "content-type": "multipart/form-data; boundary=nowhere" },
      }),
    400,
    "malformed_multipart",
  ],
  [
    "multipart part without Content-Disposition",
    () =>
      call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body: "--b\r\ncontent-type: audio/wav\r\n\r\nRIFF\r\n--b--\r\n",
        headers: { "content-type": "multipart/form-data; boundary=b" },
      }),
    400,
    "malformed_multipart",
  ],
  [
    "multipart part headers over 8 KB",
    () => sendMultipart(s.a.key, [filePart(makeWav(0.1), `${"a".repeat(9000)}.wav`)]),
    400,
    "malformed_multipart",
  ],
  [
    "multipart field that is not UTF-8",
    () => sendMultipart(s.a.key, [{ name: "language", body: new Uint8Array([0xff, 0xfe, 0x65]) }, filePart()]),
    400,
    "malformed_multipart",
  ],
  // --- task (translate) ---
  ["task of an unknown value", () => multipartUpload(s.a.key, { task: "summarize" }), 422, "invalid_task"],
  ["task in capitals", () => multipartUpload(s.a.key, { task: "TRANSLATE" }), 422, "invalid_task"],
  ["task with markup", () => multipartUpload(s.a.key, { task: SCRIPT }), 422, "invalid_task"],
  ["task empty in the query", () => rawUpload(s.a.key, makeWav(0.1), "?task="), 422, "invalid_task"],
  [
    "task sent twice",
    () =>
      sendMultipart(s.a.key, [{ name: "task", body: "transcribe" }, { name: "task", body: "translate" }, filePart()]),
    422,
    "duplicate_field",
  ],
  [
    "task as a JSON array beside audio_url",
    () => json("/v1/transcriptions", s.a.key, { audio_url: "https://media.example.com/a.wav", task: ["translate"] }),
    422,
    "invalid_task",
  ],
  [
    "task=translate pinned to a provider that cannot translate (deepgram)",
    () => multipartUpload(s.a.key, { task: "translate", provider: "deepgram" }),
    422,
    "translation_unsupported",
  ],
  [
    "task=translate on a pool whose model the edge does not know",
    () => rawUpload(s.a.key, makeWav(0.1), "?task=translate&provider=whisper-pool"),
    422,
    "translation_unsupported",
  ],
  [
    "task=translate when no enabled provider can translate",
    () =>
      callWith({ PROVIDERS: "deepgram" }, "/v1/transcriptions?task=translate", {
        method: "POST",
        key: s.a.key,
        body: makeWav(0.1),
        headers: { "content-type": "audio/wav" },
      }),
    422,
    "translation_unsupported",
  ],
  [
    "task=translate by URL pinned to deepgram",
    () =>
      json("/v1/transcriptions", s.a.key, {
        audio_url: "https://media.example.com/a.wav",
        task: "translate",
        provider: "deepgram",
      }),
    422,
    "translation_unsupported",
  ],
  ["two file parts", () => sendMultipart(s.a.key, [filePart(), filePart()]), 400, "duplicate_file"],
  [
    "a field sent twice",
    () => sendMultipart(s.a.key, [{ name: "language", body: "en" }, { name: "language", body: "de" }, filePart()]),
    422,
    "duplicate_field",
  ],
  [
    "file part under another name",
    () =>
      sendMultipart(s.a.key, [
        filePart(makeWav(0.1)),
        { name: "audio", filename: "x.wav", contentType: "audio/wav", body: makeWav(0.1) },
      ]),
    422,
    "unknown_field",
  ],
  [
    "40 fields",
    () => sendMultipart(s.a.key, [...Array.from({ length: 40 }, (_, i) => ({ name: `f${i}`, body: "x" })), filePart()]),
    400,
    "too_many_fields",
  ],
  [
    "a 70 KB field",
    () => sendMultipart(s.a.key, [{ name: "prompt", body: "p".repeat(70 * 1024) }, filePart()]),
    400,
    "field_too_large",
  ],
  [
    "two file parts, the client still sending",
    () => sendMultipartStreaming(s.a.key, [filePart(), filePart(makeWav(4))]),
    400,
    "duplicate_file",
  ],
  [
    "40 fields, the client still sending",
    () =>
      sendMultipartStreaming(s.a.key, [
        ...Array.from({ length: 40 }, (_, i) => ({ name: `f${i}`, body: "x" })),
        filePart(makeWav(4)),
      ]),
    400,
    "too_many_fields",
  ],
  [
    "a 1 MB field, the client still sending",
    () => sendMultipartStreaming(s.a.key, [{ name: "prompt", body: "p".repeat(1024 * 1024) }, filePart()]),
    400,
    "field_too_large",
  ],
  [
    "a part without Content-Disposition, the client still sending",
    () =>
      call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body: chunkedStream(
          concat([
            encoder.encode("--b\r\ncontent-type: audio/wav\r\n\r\n"),
            makeWav(4),
            encoder.encode("\r\n--b--\r\n"),
          ]),
          16 * 1024,
        ),
        headers: { "content-type": "multipart/form-data; boundary=b" },
      }),
    400,
    "malformed_multipart",
  ],
  ["0-byte raw body", () => rawUpload(s.a.key, new Uint8Array(0)), 400, "empty_body"],
  [
    "multipart without a file part",
    () => sendMultipart(s.a.key, [{ name: "language", body: "en" }]),
    400,
    "missing_file",
  ],

  // --- what the bytes are ---
  ["a text file named .wav", () => sendMultipart(s.a.key, [filePart(TEXT, "speech.wav")]), 415, "unsupported_audio"],
  ["a RIFF/WAVE header over garbage", () => rawUpload(s.a.key, RIFF_OVER_GARBAGE), 415, "unsupported_audio"],
  ["zip bytes as audio/wav", () => rawUpload(s.a.key, ZIP), 415, "unsupported_audio"],
  ["PNG bytes as audio/wav", () => rawUpload(s.a.key, PNG), 415, "unsupported_audio"],
  [
    "PDF bytes as application/octet-stream",
    () => rawUpload(s.a.key, PDF, "", "application/octet-stream"),
    415,
    "unsupported_audio",
  ],
  ["an HTML page named .mp3", () => sendMultipart(s.a.key, [filePart(HTML, "song.mp3")]), 415, "unsupported_audio"],
  [
    "a JSON submission without an audio_url",
    () =>
      call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body: "{}",
        headers: { "content-type": "application/json" },
      }),
    422,
    "invalid_audio_url",
  ],
  [
    "text/plain request Content-Type",
    () =>
      call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body: "{}",
        headers: { "content-type": "text/plain" },
      }),
    415,
    "unsupported_media_type",
  ],
  [
    "text/html request Content-Type",
    () =>
      call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body: HTML,
        headers: { "content-type": "text/html" },
      }),
    415,
    "unsupported_media_type",
  ],
  [
    "no request Content-Type",
    () => call("/v1/transcriptions", { method: "POST", key: s.a.key, body: makeWav(0.1) }),
    415,
    "unsupported_media_type",
  ],
  [
    "form-urlencoded Content-Type",
    () =>
      call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body: "file=RIFF",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      }),
    415,
    "unsupported_media_type",
  ],

  // --- option fields ---
  ["nested metadata", () => multipartUpload(s.a.key, { metadata: meta({ a: { b: "c" } }) }), 422, "invalid_metadata"],
  ["metadata array", () => multipartUpload(s.a.key, { metadata: meta(["a"]) }), 422, "invalid_metadata"],
  ["metadata null", () => multipartUpload(s.a.key, { metadata: "null" }), 422, "invalid_metadata"],
  [
    "metadata with number, boolean and null values",
    () => multipartUpload(s.a.key, { metadata: meta({ n: 1, b: true, z: null }) }),
    422,
    "invalid_metadata",
  ],
  [
    "metadata over 4 KB",
    () =>
      multipartUpload(s.a.key, {
        metadata: meta(Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`k${i}`, "x".repeat(1000)]))),
      }),
    422,
    "invalid_metadata",
  ],
  [
    "metadata with 33 keys",
    () =>
      multipartUpload(s.a.key, {
        metadata: meta(Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"]))),
      }),
    422,
    "invalid_metadata",
  ],
  [
    "metadata key with markup",
    () => multipartUpload(s.a.key, { metadata: meta({ [SCRIPT]: "x" }) }),
    422,
    "invalid_metadata",
  ],
  [
    "metadata value with a bidi override",
    () => multipartUpload(s.a.key, { metadata: meta({ name: "invoice\u202Efdp.exe" }) }),
    422,
    "invalid_metadata",
  ],
  [
    "metadata value with NUL and escape characters",
    () => multipartUpload(s.a.key, { metadata: meta({ name: "a\u0000b\u001b[31m" }) }),
    422,
    "invalid_metadata",
  ],
  [
    "metadata not JSON",
    () => rawUpload(s.a.key, makeWav(0.1), `?metadata=${encodeURIComponent("{call: 42")}`),
    422,
    "invalid_metadata",
  ],
  [
    "prompt with bidi isolates",
    () => multipartUpload(s.a.key, { prompt: "names: \u2066Ada\u2069" }),
    422,
    "invalid_prompt",
  ],
  ["prompt over 1000 characters", () => multipartUpload(s.a.key, { prompt: "p".repeat(1001) }), 422, "invalid_prompt"],
  [
    "redact_pii_policies with markup for an entity type",
    () => multipartUpload(s.a.key, { redact_pii: "true", redact_pii_policies: SCRIPT }),
    422,
    "invalid_redact_pii_policies",
  ],
  [
    "redact_pii_policies over 1000 characters",
    () => multipartUpload(s.a.key, { redact_pii: "true", redact_pii_policies: "phone_number,".repeat(100) }),
    422,
    "invalid_redact_pii_policies",
  ],
  [
    "redact_pii_policies as a JSON object",
    () => multipartUpload(s.a.key, { redact_pii: "true", redact_pii_policies: '["__proto__"]' }),
    422,
    "invalid_redact_pii_policies",
  ],
  ["redact_pii as a number", () => multipartUpload(s.a.key, { redact_pii: "1" }), 422, "invalid_redact_pii"],
  [
    "redact_pii_audio on MP4/AAC audio, which the edge cannot rewrite and no pool is configured to",
    () => {
      const form = new FormData();
      form.append("redact_pii", "true");
      form.append("redact_pii_audio", "true");
      form.append("file", new Blob([compressedAudio("aac")]), "call.m4a");
      return callWith({ POOL_URL: "" }, "/v1/transcriptions", { method: "POST", key: s.a.key, body: form });
    },
    422,
    "invalid_redact_pii_audio",
  ],
  [
    "redact_pii_audio without redact_pii in the query",
    () => rawUpload(s.a.key, makeWav(0.1), "?redact_pii_audio=true"),
    422,
    "invalid_redact_pii_audio",
  ],
  [
    "subject id with path traversal",
    () => multipartUpload(s.a.key, { subject_id: "../../etc/passwd" }),
    422,
    "invalid_subject_id",
  ],
  ["subject id with markup", () => multipartUpload(s.a.key, { subject_id: SCRIPT }), 422, "invalid_subject_id"],
  [
    "language with SQL",
    () => rawUpload(s.a.key, makeWav(0.1), `?language=${encodeURIComponent("en'; drop table transcriptions; --")}`),
    422,
    "invalid_language",
  ],
  [
    "unknown query parameter on a raw upload",
    () => rawUpload(s.a.key, makeWav(0.1), "?colour=blue"),
    422,
    "unknown_field",
  ],
  [
    "tenant_id smuggled as an option",
    () => multipartUpload(s.a.key, { tenant_id: s.b.tenantId }),
    422,
    "unknown_field",
  ],
  ["unknown provider", () => multipartUpload(s.a.key, { provider: "../openai" }), 422, "unknown_provider"],
  [
    "metadata key __proto__ (never dropped silently)",
    () => multipartUpload(s.a.key, { metadata: '{"__proto__":"x"}' }),
    422,
    "invalid_metadata",
  ],
  [
    "metadata key __proto__ beside others",
    () => rawUpload(s.a.key, makeWav(0.1), `?metadata=${encodeURIComponent('{"a":"1","__proto__":"x"}')}`),
    422,
    "invalid_metadata",
  ],
  ["a field named __proto__", () => multipartUpload(s.a.key, { ["__proto__"]: "x" }), 422, "unknown_field"],
  ["a field named constructor", () => multipartUpload(s.a.key, { constructor: "x" }), 422, "unknown_field"],
  ["a query parameter named __proto__", () => rawUpload(s.a.key, makeWav(0.1), "?__proto__=x"), 422, "unknown_field"],
  [
    "a query parameter named constructor",
    () => rawUpload(s.a.key, makeWav(0.1), "?constructor=x"),
    422,
    "unknown_field",
  ],
  [
    "an option given twice in the query",
    () => rawUpload(s.a.key, makeWav(0.1), "?language=en&language=de"),
    422,
    "duplicate_field",
  ],
  [
    "prompt of 501 characters outside the BMP (1002 UTF-16 units)",
    () => multipartUpload(s.a.key, { prompt: "😀".repeat(501) }),
    422,
    "invalid_prompt",
  ],
  // speaker options: shapes, ranges and combinations, judged before anything is stored
  [
    "speaker_labels that is not a boolean",
    () => multipartUpload(s.a.key, { speaker_labels: "yes" }),
    422,
    "invalid_speaker_labels",
  ],
  [
    "multichannel that is not a boolean",
    () => multipartUpload(s.a.key, { multichannel: "1" }),
    422,
    "invalid_multichannel",
  ],
  [
    "speakers_expected of 0",
    () => multipartUpload(s.a.key, { speaker_labels: "true", speakers_expected: "0" }),
    422,
    "invalid_speaker_count",
  ],
  [
    "max_speakers over the limit",
    () => multipartUpload(s.a.key, { speaker_labels: "true", max_speakers: "33" }),
    422,
    "invalid_speaker_count",
  ],
  [
    "min_speakers that is negative",
    () => multipartUpload(s.a.key, { speaker_labels: "true", min_speakers: "-2" }),
    422,
    "invalid_speaker_count",
  ],
  [
    "speakers_expected that is a fraction",
    () => rawUpload(s.a.key, makeWav(0.1), "?speaker_labels=true&speakers_expected=2.5"),
    422,
    "invalid_speaker_count",
  ],
  [
    "min_speakers greater than max_speakers",
    () => multipartUpload(s.a.key, { speaker_labels: "true", min_speakers: "4", max_speakers: "2" }),
    422,
    "invalid_speaker_count",
  ],
  [
    "speakers_expected with min_speakers",
    () => multipartUpload(s.a.key, { speaker_labels: "true", speakers_expected: "2", min_speakers: "1" }),
    422,
    "invalid_speaker_count",
  ],
  [
    "a speaker count without speaker_labels",
    () => multipartUpload(s.a.key, { max_speakers: "3" }),
    422,
    "invalid_speaker_count",
  ],
  [
    "multichannel with speaker_labels",
    () => multipartUpload(s.a.key, { speaker_labels: "true", multichannel: "true" }),
    422,
    "invalid_multichannel",
  ],
  [
    "a JSON submission with speakers_expected as a string of SQL",
    () =>
      json("/v1/transcriptions", s.a.key, {
        audio_url: "https://media.example.com/a.wav",
        speaker_labels: true,
        speakers_expected: "2; drop table transcriptions",
      }),
    422,
    "invalid_speaker_count",
  ],
  [
    "webhook URL with a TAB in the host",
    () => multipartUpload(s.a.key, { webhook_url: "https://hooks.exam\tple.com/a" }),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook URL with CR LF in the path",
    () => multipartUpload(s.a.key, { webhook_url: "https://hooks.example.com/a\r\nx-injected: 1" }),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook URL with a LF in the query",
    () => rawUpload(s.a.key, makeWav(0.1), `?webhook_url=${encodeURIComponent("https://hooks.example.com/a?b=\n1")}`),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook URL with a leading space",
    () => multipartUpload(s.a.key, { webhook_url: " https://hooks.example.com/a" }),
    422,
    "invalid_webhook_url",
  ],

  // --- webhook URLs (SSRF), judged by production rules ---
  [
    "webhook to cloud metadata over https",
    () => productionWebhook(s.a.key, "https://169.254.169.254/latest/meta-data/"),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook to cloud metadata over http",
    () => productionWebhook(s.a.key, "http://169.254.169.254/latest/meta-data/"),
    422,
    "invalid_webhook_url",
  ],
  ["webhook to localhost", () => productionWebhook(s.a.key, "https://localhost/hook"), 422, "invalid_webhook_url"],
  ["webhook to [::1]", () => productionWebhook(s.a.key, "https://[::1]/hook"), 422, "invalid_webhook_url"],
  [
    "webhook to a decimal IP (2130706433)",
    () => productionWebhook(s.a.key, "https://2130706433/hook"),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook to a hex/short IP (0x7f.1)",
    () => productionWebhook(s.a.key, "https://0x7f.1/hook"),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook to IPv4-mapped IPv6 loopback",
    () => productionWebhook(s.a.key, "https://[::ffff:127.0.0.1]/hook"),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook to IPv4-mapped IPv6 metadata",
    () => productionWebhook(s.a.key, "https://[::ffff:a9fe:a9fe]/hook"),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook to a private network",
    () => productionWebhook(s.a.key, "https://10.0.0.1/hook"),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook to metadata.google.internal",
    () => productionWebhook(s.a.key, "https://metadata.google.internal/computeMetadata/v1/"),
    422,
    "invalid_webhook_url",
  ],
  ["webhook with a file:// URL", () => productionWebhook(s.a.key, "file:///etc/passwd"), 422, "invalid_webhook_url"],
  [
    "webhook with a javascript: URL",
    () => productionWebhook(s.a.key, "javascript:alert(1)"),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook over plain http",
    () => productionWebhook(s.a.key, "http://hooks.example.com/x"),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook with credentials",
    () => productionWebhook(s.a.key, "https://user:pass@hooks.example.com/x"),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook on a non-default port",
    () => productionWebhook(s.a.key, "https://hooks.example.com:8443/x"),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook with a newline (header injection)",
    () => productionWebhook(s.a.key, "https://hooks.example.com/x\r\nHost: 169.254.169.254"),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook to 127.0.0.1.nip.io (wildcard DNS to loopback)",
    () => productionWebhook(s.a.key, "https://127.0.0.1.nip.io/hook"),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook to 169.254.169.254.nip.io (wildcard DNS to metadata)",
    () => productionWebhook(s.a.key, "https://169.254.169.254.nip.io/latest/meta-data/"),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook to localtest.me (always loopback)",
    () => productionWebhook(s.a.key, "https://localtest.me/hook"),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook to 10-0-0-1.sslip.io",
    () => productionWebhook(s.a.key, "https://10-0-0-1.sslip.io/hook"),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook to a name spelling a private address",
    () => productionWebhook(s.a.key, "https://192.168.0.10.attacker.example/hook"),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook to cloud metadata, even in the test environment",
    () => rawUpload(s.a.key, makeWav(0.1), `?webhook_url=${encodeURIComponent("http://169.254.169.254/")}`),
    422,
    "invalid_webhook_url",
  ],
  [
    "webhook to [::1], even in the test environment",
    () => multipartUpload(s.a.key, { webhook_url: "http://[::1]:8080/" }),
    422,
    "invalid_webhook_url",
  ],

  // --- audio by URL ---
  [
    "audio_url to loopback in production",
    () => productionAudioUrl(s.a.key, { audio_url: "http://127.0.0.1/a.wav" }),
    422,
    "audio_url_forbidden",
  ],
  [
    "audio_url to localhost in production",
    () => productionAudioUrl(s.a.key, { audio_url: "https://localhost/a.wav" }),
    422,
    "audio_url_forbidden",
  ],
  [
    "audio_url to cloud metadata, even in the test environment",
    () => json("/v1/transcriptions", s.a.key, { audio_url: "http://169.254.169.254/latest/meta-data/" }),
    422,
    "audio_url_forbidden",
  ],
  [
    "audio_url to a decimal-encoded private address",
    () => json("/v1/transcriptions", s.a.key, { audio_url: "http://167772161/a.wav" }),
    422,
    "audio_url_forbidden",
  ],
  [
    "audio_url to an IPv6 unique-local address",
    () => json("/v1/transcriptions", s.a.key, { audio_url: "http://[fd00::1]/a.wav" }),
    422,
    "audio_url_forbidden",
  ],
  [
    "audio_url to a wildcard-DNS name",
    () => json("/v1/transcriptions", s.a.key, { audio_url: "https://10-0-0-1.sslip.io/a.wav" }),
    422,
    "audio_url_forbidden",
  ],
  [
    "audio_url with a gopher scheme",
    () => json("/v1/transcriptions", s.a.key, { audio_url: "gopher://media.example.com/a" }),
    422,
    "audio_url_forbidden",
  ],
  [
    "audio_url with a javascript: scheme",
    () => json("/v1/transcriptions", s.a.key, { audio_url: "javascript:alert(1)" }),
    422,
    "audio_url_forbidden",
  ],
  [
    "audio_url with a TAB in the host",
    () => json("/v1/transcriptions", s.a.key, { audio_url: "https://media.exam\tple.com/a.wav" }),
    422,
    "invalid_audio_url",
  ],
  [
    "audio_url as an object",
    () => json("/v1/transcriptions", s.a.key, { audio_url: { href: "https://media.example.com/a.wav" } }),
    422,
    "invalid_audio_url",
  ],
  [
    "audio_url_headers with header injection",
    () =>
      json("/v1/transcriptions", s.a.key, {
        audio_url: "https://media.example.com/a.wav",
        audio_url_headers: { "x-a": "1\r\nHost: internal" },
      }),
    422,
    "invalid_audio_url_headers",
  ],
  [
    "audio_url_headers overriding Host",
    () =>
      json("/v1/transcriptions", s.a.key, {
        audio_url: "https://media.example.com/a.wav",
        audio_url_headers: { host: "metadata.google.internal" },
      }),
    422,
    "invalid_audio_url_headers",
  ],
  [
    "audio_url_headers with Transfer-Encoding",
    () =>
      json("/v1/transcriptions", s.a.key, {
        audio_url: "https://media.example.com/a.wav",
        audio_url_headers: { "Transfer-Encoding": "chunked" },
      }),
    422,
    "invalid_audio_url_headers",
  ],
  [
    "audio_url_headers with a __proto__ key",
    () =>
      json(
        "/v1/transcriptions",
        s.a.key,
        '{"audio_url":"https://media.example.com/a.wav","audio_url_headers":{"__proto__":{"x":"1"}}}',
      ),
    422,
    "invalid_audio_url_headers",
  ],
  [
    "audio_url_headers as a multipart field that is not JSON",
    () => {
      const { body, contentType } = rawMultipart([
        { name: "audio_url", body: "https://media.example.com/a.wav" },
        { name: "audio_url_headers", body: "authorization: Bearer x" },
      ]);
      return call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body,
        headers: { "content-type": contentType },
      });
    },
    422,
    "invalid_audio_url_headers",
  ],
  [
    "a file part after an audio_url field",
    () => {
      const { body, contentType } = rawMultipart([
        { name: "audio_url", body: "https://media.example.com/a.wav" },
        filePart(),
      ]);
      return call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body,
        headers: { "content-type": contentType },
      });
    },
    422,
    "conflicting_audio_source",
  ],
  [
    "an audio_url field after a file part",
    () => {
      const { body, contentType } = rawMultipart([
        filePart(),
        { name: "audio_url", body: "https://media.example.com/a.wav" },
      ]);
      return call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body,
        headers: { "content-type": contentType },
      });
    },
    422,
    "conflicting_audio_source",
  ],
  [
    "audio_url given twice in a multipart body",
    () => {
      const { body, contentType } = rawMultipart([
        { name: "audio_url", body: "https://media.example.com/a.wav" },
        { name: "audio_url", body: "http://169.254.169.254/" },
      ]);
      return call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body,
        headers: { "content-type": contentType },
      });
    },
    422,
    "duplicate_field",
  ],
  ["a JSON submission that is an array", () => json("/v1/transcriptions", s.a.key, "[1,2]"), 400, "malformed_json"],
  [
    "a JSON submission that is not UTF-8",
    () =>
      call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        headers: { "content-type": "application/json" },
        body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
      }),
    400,
    "malformed_json",
  ],
  [
    "a JSON submission over 64 KiB, chunked",
    () =>
      call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        headers: { "content-type": "application/json" },
        body: chunkedStream(
          encoder.encode(JSON.stringify({ audio_url: "https://a.example/x", prompt: "a".repeat(80_000) })),
          16 * 1024,
        ),
      }),
    413,
    "payload_too_large",
  ],

  // --- pool callback signatures ---
  [
    "unsigned pool callback",
    () =>
      call("/internal/pool/callback", {
        method: "POST",
        body: JSON.stringify(completedCallback(s.queued)),
        headers: { "content-type": "application/json" },
      }),
    401,
    "invalid_signature",
  ],
  [
    "pool callback signed with a guessed secret",
    () => signedCallback(JSON.stringify(completedCallback(s.queued)), { ring: [{ id: "p2", secret: "guessed" }] }),
    401,
    "invalid_signature",
  ],
  [
    "pool callback signed with the edge→pool key",
    () =>
      signedCallback(JSON.stringify(completedCallback(s.queued)), {
        ring: [{ id: "p2", secret: "edge-to-pool-secret" }],
      }),
    401,
    "invalid_signature",
  ],
  [
    "pool callback with an unknown key id",
    () =>
      signedCallback(JSON.stringify(completedCallback(s.queued)), {
        ring: [{ id: "zz", secret: "pool-callback-new" }],
      }),
    401,
    "invalid_signature",
  ],
  [
    "pool callback whose body was swapped after signing",
    () =>
      signedCallback(JSON.stringify(completedCallback(s.queued, { text: "forged" })), {
        signedBody: JSON.stringify(completedCallback(s.queued)),
      }),
    401,
    "invalid_signature",
  ],
  [
    "pool callback with a truncated signature",
    () => signedCallback(JSON.stringify(completedCallback(s.queued)), { headers: { "x-vtt-signature": "v1=00" } }),
    401,
    "invalid_signature",
  ],
  [
    "pool callback signed an hour ago",
    () => signedCallback(JSON.stringify(completedCallback(s.queued)), { nowSeconds: nowSeconds() - 3600 }),
    401,
    "stale_signature",
  ],
  [
    "pool callback replayed 10 minutes later",
    () => signedCallback(JSON.stringify(completedCallback(s.queued)), { nowSeconds: nowSeconds() - 600 }),
    401,
    "stale_signature",
  ],
  [
    "pool callback signed an hour in the future",
    () => signedCallback(JSON.stringify(completedCallback(s.queued)), { nowSeconds: nowSeconds() + 3600 }),
    401,
    "stale_signature",
  ],
  [
    "pool callback with a non-numeric timestamp",
    () => signedCallback(JSON.stringify(completedCallback(s.queued)), { headers: { "x-vtt-timestamp": "now" } }),
    401,
    "stale_signature",
  ],
  ["signed pool callback that is not JSON", () => signedCallback("{not json"), 400, "malformed_json"],
  [
    "signed pool callback of the wrong shape",
    () => signedCallback(JSON.stringify({ job_id: 5, status: "weird" })),
    400,
    "invalid_callback",
  ],
  [
    "signed pool callback with a 10 KB job id",
    () => signedCallback(JSON.stringify(completedCallback("tr_" + "A".repeat(10_000)))),
    400,
    "invalid_callback",
  ],
  [
    "signed pool callback with a segment start of 1e300 (a nonsense SRT timestamp)",
    () => {
      const callback = completedCallback(s.queued);
      callback.result.segments[0]!.start = 1e300;
      return signedCallback(JSON.stringify(callback));
    },
    400,
    "invalid_callback",
  ],
  [
    "signed pool callback naming an unknown language",
    () => signedCallback(JSON.stringify(completedCallback(s.queued, { language: "xx" }))),
    400,
    "invalid_callback",
  ],
  [
    "unsigned pool callback of 12 MiB sent chunked",
    () =>
      call("/internal/pool/callback", {
        method: "POST",
        body: chunkedStream(new Uint8Array(12 * 1024 * 1024), 64 * 1024),
        headers: { "content-type": "application/json" },
      }),
    401,
    "invalid_signature",
  ],
  [
    "pool callback of 12 MiB sent chunked under plausible headers",
    async () => {
      const headers = await signedHeaders(POOL_CALLBACK_RING, "another body");
      return call("/internal/pool/callback", {
        method: "POST",
        body: chunkedStream(new Uint8Array(12 * 1024 * 1024), 64 * 1024),
        headers: { ...headers, "content-type": "application/json" },
      });
    },
    413,
    "payload_too_large",
  ],
  [
    "pool callback declaring 9 MB",
    () =>
      call("/internal/pool/callback", {
        method: "POST",
        body: "{}",
        headers: { "content-type": "application/json", "content-length": String(9 * 1024 * 1024) },
      }),
    413,
    "payload_too_large",
  ],

  // --- signed audio URLs ---
  [
    "audio URL with a forged signature",
    () => call(audioUrl(s.queued, nowSeconds() + 600, "a1", "0".repeat(64))),
    403,
    "invalid_audio_url",
  ],
  [
    "audio URL signed with the wrong secret",
    async () => {
      const exp = nowSeconds() + 600;
      return call(audioUrl(s.queued, exp, "a1", await signAudioUrl("guessed", s.queued, exp)));
    },
    403,
    "invalid_audio_url",
  ],
  [
    "audio URL that has expired",
    async () => {
      const exp = nowSeconds() - 5;
      return call(audioUrl(s.queued, exp, "a1", await signAudioUrl("audio-url-secret", s.queued, exp)));
    },
    403,
    "invalid_audio_url",
  ],
  [
    "audio URL with its expiry pushed back",
    async () => {
      const exp = nowSeconds() + 60;
      return call(audioUrl(s.queued, exp + 86_400, "a1", await signAudioUrl("audio-url-secret", s.queued, exp)));
    },
    403,
    "invalid_audio_url",
  ],
  [
    "audio URL signed for another job",
    async () => {
      const exp = nowSeconds() + 600;
      return call(audioUrl(s.bJob, exp, "a1", await signAudioUrl("audio-url-secret", s.queued, exp)));
    },
    403,
    "invalid_audio_url",
  ],
  [
    "audio URL with an unknown key id",
    async () => {
      const exp = nowSeconds() + 600;
      return call(audioUrl(s.queued, exp, "zz", await signAudioUrl("audio-url-secret", s.queued, exp)));
    },
    403,
    "invalid_audio_url",
  ],
  [
    "audio URL signed with an expiry far past the URL lifetime",
    async () => {
      const exp = nowSeconds() + 30 * 86_400;
      return call(audioUrl(s.queued, exp, "a1", await signAudioUrl("audio-url-secret", s.queued, exp)));
    },
    403,
    "invalid_audio_url",
  ],
  [
    "audio URL whose expiry is not a plain integer (1.7e9 spelling)",
    async () => {
      const exp = nowSeconds() + 600;
      const url = audioUrl(s.queued, exp, "a1", await signAudioUrl("audio-url-secret", s.queued, exp));
      return call(url.replace(`exp=${exp}`, `exp=${exp}.0`));
    },
    403,
    "invalid_audio_url",
  ],
  ["audio URL without parameters", () => call(`/internal/audio/${s.queued}`), 403, "invalid_audio_url"],
  [
    "audio URL with path traversal",
    async () => {
      const exp = nowSeconds() + 600;
      return call(
        audioUrl("..%2F..%2Fetc%2Fpasswd", exp, "a1", await signAudioUrl("audio-url-secret", "../../etc/passwd", exp)),
      );
    },
    403,
    "invalid_audio_url",
  ],

  // --- signed redaction upload URLs (the pool's PUT of a redacted copy, docs/pool-contract.md §5) ---
  [
    "redaction upload with a forged signature",
    () => call(redactionUrl(s.queued, RESULT_ID, nowSeconds() + 600, "0".repeat(64)), putBody(64)),
    403,
    "invalid_upload_url",
  ],
  [
    "redaction upload signed as an audio URL",
    async () => {
      const exp = nowSeconds() + 600;
      const sig = await signAudioUrl("audio-url-secret", s.queued, exp);
      return call(redactionUrl(s.queued, RESULT_ID, exp, sig), putBody(64));
    },
    403,
    "invalid_upload_url",
  ],
  [
    "redaction upload with path traversal in the result id",
    async () => {
      const exp = nowSeconds() + 600;
      const sig = await signRedactionUpload("audio-url-secret", s.queued, "../../x", exp);
      return call(redactionUrl(s.queued, "..%2F..%2Fx", exp, sig), putBody(64));
    },
    403,
    "invalid_upload_url",
  ],
  [
    "redaction upload without Content-Length (chunked)",
    async () => {
      const exp = nowSeconds() + 600;
      const sig = await signRedactionUpload("audio-url-secret", s.queued, RESULT_ID, exp);
      return call(redactionUrl(s.queued, RESULT_ID, exp, sig), {
        method: "PUT",
        body: chunkedStream(new Uint8Array(4096), 1024),
      });
    },
    411,
    "length_required",
  ],
  [
    "redaction upload declaring 5 GiB",
    async () => {
      const exp = nowSeconds() + 600;
      const sig = await signRedactionUpload("audio-url-secret", s.queued, RESULT_ID, exp);
      return call(redactionUrl(s.queued, RESULT_ID, exp, sig), {
        method: "PUT",
        headers: { "content-length": String(5 * 1024 ** 3) },
        body: new Uint8Array(64),
      });
    },
    413,
    "payload_too_large",
  ],
  [
    "signed redaction upload for a job that did not ask for audio redaction",
    async () => {
      const exp = nowSeconds() + 600;
      const sig = await signRedactionUpload("audio-url-secret", s.queued, RESULT_ID, exp);
      return call(redactionUrl(s.queued, RESULT_ID, exp, sig), putBody(64));
    },
    409,
    "job_not_redactable",
  ],

  // --- validated query parameters ---
  ["list limit 1000", () => call("/v1/transcriptions?limit=1000", { key: s.a.key }), 400, "invalid_parameters"],
  ["list limit -1", () => call("/v1/transcriptions?limit=-1", { key: s.a.key }), 400, "invalid_parameters"],
  [
    "list limit not a number",
    () => call("/v1/transcriptions?limit=1%20or%201", { key: s.a.key }),
    400,
    "invalid_parameters",
  ],
  [
    "list status not a status",
    () => call("/v1/transcriptions?status=deleted", { key: s.a.key }),
    400,
    "invalid_parameters",
  ],
  [
    "list cursor that is garbage",
    () => call("/v1/transcriptions?cursor=%%%%", { key: s.a.key }),
    400,
    "invalid_cursor",
  ],
  [
    "list cursor carrying SQL",
    () =>
      call(`/v1/transcriptions?cursor=${encodeURIComponent(btoa(JSON.stringify({ before: "tr_' OR 1=1 --" })))}`, {
        key: s.a.key,
      }),
    400,
    "invalid_cursor",
  ],
  [
    "list cursor over 200 characters",
    () => call(`/v1/transcriptions?cursor=${"A".repeat(300)}`, { key: s.a.key }),
    400,
    "invalid_parameters",
  ],
  [
    "transcript format exe",
    () => call(`/v1/transcriptions/${s.done}/transcript?format=exe`, { key: s.a.key }),
    400,
    "invalid_parameters",
  ],
  [
    "caption max_line_chars zero",
    () => call(`/v1/transcriptions/${s.done}/transcript?format=srt&max_line_chars=0`, { key: s.a.key }),
    422,
    "invalid_max_line_chars",
  ],
  [
    "caption max_line_chars absurd",
    () => call(`/v1/transcriptions/${s.done}/transcript?format=srt&max_line_chars=99999999999`, { key: s.a.key }),
    422,
    "invalid_max_line_chars",
  ],
  [
    "caption max_lines not a number",
    () => call(`/v1/transcriptions/${s.done}/transcript?format=vtt&max_lines=%3Cscript%3E`, { key: s.a.key }),
    422,
    "invalid_max_lines",
  ],
  [
    "caption max_cue_seconds NaN",
    () => call(`/v1/transcriptions/${s.done}/transcript?format=vtt&max_cue_seconds=NaN`, { key: s.a.key }),
    422,
    "invalid_max_cue_seconds",
  ],
  [
    "caption max_cue_seconds Infinity",
    () => call(`/v1/transcriptions/${s.done}/transcript?format=vtt&max_cue_seconds=Infinity`, { key: s.a.key }),
    422,
    "invalid_max_cue_seconds",
  ],
  [
    "caption min_cue_seconds negative",
    () => call(`/v1/transcriptions/${s.done}/transcript?format=srt&min_cue_seconds=-0.5`, { key: s.a.key }),
    422,
    "invalid_min_cue_seconds",
  ],
  [
    "caption min_cue_seconds over max_cue_seconds",
    () =>
      call(`/v1/transcriptions/${s.done}/transcript?format=srt&max_cue_seconds=1&min_cue_seconds=5`, {
        key: s.a.key,
      }),
    422,
    "invalid_min_cue_seconds",
  ],
  [
    "caption parameter on json",
    () => call(`/v1/transcriptions/${s.done}/transcript?format=json&max_lines=1`, { key: s.a.key }),
    422,
    "invalid_max_lines",
  ],
  [
    "keyterms: 101 of them",
    () =>
      multipartUpload(s.a.key, {
        provider: "whisper-pool",
        keyterms: JSON.stringify(Array.from({ length: 101 }, (_, i) => `t${i}`)),
      }),
    422,
    "invalid_keyterms",
  ],
  [
    "keyterms: one over 50 characters",
    () => multipartUpload(s.a.key, { provider: "whisper-pool", keyterms: JSON.stringify(["x".repeat(51)]) }),
    422,
    "invalid_keyterms",
  ],
  [
    "keyterms: a JSON object, not an array",
    () => multipartUpload(s.a.key, { provider: "whisper-pool", keyterms: '{"__proto__":{"x":1}}' }),
    422,
    "invalid_keyterms",
  ],
  [
    "keyterms: control characters",
    () => multipartUpload(s.a.key, { provider: "whisper-pool", keyterms: '["bell\\u0007", "nul\\u0000"]' }),
    422,
    "invalid_keyterms",
  ],
  [
    "transcript of a job still queued",
    () => call(`/v1/transcriptions/${s.queued}/transcript?format=vtt`, { key: s.a.key }),
    409,
    "transcript_not_ready",
  ],
  [
    "dead-letter state not a state",
    () => call("/v1/admin/dead-letters?state=everything", { key: adminKey() }),
    400,
    "invalid_parameters",
  ],
  [
    "search reindex: a forged walk cursor naming no shard",
    () =>
      call(`/v1/admin/search/reindex?cursor=sw1.${btoa('{"at":"zz9","after":null,"only":false}').replace(/=+$/, "")}`, {
        method: "POST",
        key: adminKey(),
      }),
    400,
    "invalid_parameters",
  ],
  [
    "search reindex: a walk cursor that is not base64url JSON",
    () => call("/v1/admin/search/reindex?cursor=sw1.%00%3Cscript%3E", { method: "POST", key: adminKey() }),
    400,
    "invalid_parameters",
  ],
  [
    "search reindex: a walk cursor with extra fields",
    () =>
      call(
        `/v1/admin/search/reindex?cursor=sw1.${btoa('{"at":"us0","after":null,"only":false,"x":1}').replace(/=+$/, "")}`,
        {
          method: "POST",
          key: adminKey(),
        },
      ),
    400,
    "invalid_parameters",
  ],
  [
    "search reindex: shard not a configured shard",
    () => call("/v1/admin/search/reindex?shard=zz9", { method: "POST", key: adminKey() }),
    400,
    "invalid_parameters",
  ],
  [
    "search reindex: shard with markup",
    () => call(`/v1/admin/search/reindex?shard=${encodeURIComponent("<b>")}`, { method: "POST", key: adminKey() }),
    400,
    "invalid_parameters",
  ],
  [
    "encryption rewrap: a walk cursor of 5 000 characters",
    () => call(`/v1/admin/encryption/rewrap?cursor=sw1.${"A".repeat(5000)}`, { method: "POST", key: adminKey() }),
    400,
    "invalid_parameters",
  ],
  [
    "encryption rewrap: a forged walk cursor naming no region",
    () =>
      call(
        `/v1/admin/encryption/rewrap?cursor=sw1.${btoa('{"at":"mars","after":null,"only":false}').replace(/=+$/, "")}`,
        {
          method: "POST",
          key: adminKey(),
        },
      ),
    400,
    "invalid_parameters",
  ],

  [
    "drift: a window of zero hours",
    () => call("/v1/admin/drift?window_hours=0", { key: adminKey() }),
    400,
    "invalid_parameters",
  ],
  [
    "drift: a baseline of 10^9 days",
    () => call("/v1/admin/drift?baseline_days=1000000000", { key: adminKey() }),
    400,
    "invalid_parameters",
  ],
  [
    "drift: min_samples not a number",
    () => call("/v1/admin/drift?min_samples=NaN", { key: adminKey() }),
    400,
    "invalid_parameters",
  ],
  [
    "drift: a provider name of 10 000 characters",
    () => call(`/v1/admin/drift?provider=${"p".repeat(10_000)}`, { key: adminKey() }),
    400,
    "invalid_parameters",
  ],
  ["quality: 53 weeks", () => call("/v1/admin/quality?weeks=53", { key: adminKey() }), 400, "invalid_parameters"],
  ["quality: weeks negative", () => call("/v1/admin/quality?weeks=-4", { key: adminKey() }), 400, "invalid_parameters"],
  [
    "quality: a model name of 10 000 characters",
    () => call(`/v1/admin/quality?model=${"m".repeat(10_000)}`, { key: adminKey() }),
    400,
    "invalid_parameters",
  ],
  [
    "admin: fail a dead letter whose id names an unknown shard",
    () => call("/v1/admin/dead-letters/tr_01ZZZZZZZZZZZZZZZZZZZZZZZZzz9/fail", { method: "POST", key: adminKey() }),
    404,
    "not_found",
  ],

  // --- JSON bodies and content types on the admin API ---
  ["admin: JSON that does not parse", () => json("/v1/admin/tenants", adminKey(), '{"name": '), 400, "malformed_json"],
  [
    "admin: 2 MiB of JSON sent chunked",
    () =>
      call("/v1/admin/tenants", {
        method: "POST",
        key: adminKey(),
        body: chunkedStream(encoder.encode(JSON.stringify({ name: "n".repeat(2 * 1024 * 1024) })), 64 * 1024),
        headers: { "content-type": "application/json" },
      }),
    413,
    "payload_too_large",
  ],
  [
    "feedback declaring a 2 MiB body",
    () =>
      call(`/v1/transcriptions/${s.done}/feedback`, {
        method: "POST",
        key: s.a.key,
        body: "{}",
        headers: { "content-type": "application/json", "content-length": String(2 * 1024 * 1024) },
      }),
    413,
    "payload_too_large",
  ],
  [
    "admin: JSON sent as text/plain",
    () =>
      call("/v1/admin/tenants", {
        method: "POST",
        key: adminKey(),
        body: '{"name":"x"}',
        headers: { "content-type": "text/plain" },
      }),
    415,
    "unsupported_media_type",
  ],
  [
    "admin: key JSON that does not parse",
    () => json(`/v1/admin/tenants/${s.a.tenantId}/keys`, adminKey(), '{"scopes":'),
    400,
    "malformed_json",
  ],
  [
    "admin: tenant name with a bidi override",
    () => json("/v1/admin/tenants", adminKey(), { name: "acme\u202Eevil" }),
    422,
    "validation_failed",
  ],
  [
    "admin: tenant name of 10 000 characters",
    () => json("/v1/admin/tenants", adminKey(), { name: "n".repeat(10_000) }),
    422,
    "validation_failed",
  ],
  [
    "admin: tenant name that is an object",
    () => json("/v1/admin/tenants", adminKey(), { name: { $ne: null } }),
    422,
    "validation_failed",
  ],
  [
    "admin: key with an unknown scope",
    () => json(`/v1/admin/tenants/${s.a.tenantId}/keys`, adminKey(), { scopes: ["root"] }),
    422,
    "validation_failed",
  ],
  [
    "admin: key that expired before it was made",
    () => json(`/v1/admin/tenants/${s.a.tenantId}/keys`, adminKey(), { expires_at: "2001-01-01T00:00:00Z" }),
    422,
    "validation_failed",
  ],
  [
    "admin: key expiry that is not a date",
    () => json(`/v1/admin/tenants/${s.a.tenantId}/keys`, adminKey(), { expires_at: "tomorrow" }),
    422,
    "validation_failed",
  ],
  [
    "admin: erase a malformed tenant id",
    () => call("/v1/admin/tenants/not-a-tenant", { method: "DELETE", key: adminKey() }),
    400,
    "invalid_parameters",
  ],
  [
    "admin: breaker action that does not exist",
    () => call("/v1/admin/breakers/openai/explode", { method: "POST", key: adminKey() }),
    400,
    "invalid_parameters",
  ],
  [
    "admin: breaker of a provider that does not exist",
    () => call("/v1/admin/breakers/acme/open", { method: "POST", key: adminKey() }),
    404,
    "not_found",
  ],
  [
    "admin: re-drive a job that is not dead-lettered",
    () => call(`/v1/admin/dead-letters/${s.done}/redrive`, { method: "POST", key: adminKey() }),
    404,
    "not_found",
  ],
  [
    "admin: fail a dead letter that does not exist",
    () => call("/v1/admin/dead-letters/tr_01ZZZZZZZZZZZZZZZZZZZZZZZZ/fail", { method: "POST", key: adminKey() }),
    404,
    "not_found",
  ],
  [
    "erase by body: subject id with path traversal",
    () => json("/v1/subjects/erase", s.a.key, { subject_id: "person a/../b" }),
    422,
    "validation_failed",
  ],
  [
    "erase by body: subject id that is an object",
    () => json("/v1/subjects/erase", s.a.key, { subject_id: { $ne: null } }),
    422,
    "validation_failed",
  ],
  [
    "erase by body: tenant_id smuggled beside the subject",
    () => json("/v1/subjects/erase", s.a.key, { subject_id: "person-a", tenant_id: s.b.tenantId }),
    422,
    "validation_failed",
  ],
  [
    "erase by body: JSON that does not parse",
    () => json("/v1/subjects/erase", s.a.key, '{"subject_id": '),
    400,
    "malformed_json",
  ],
  [
    "erase by body: no body",
    () => call("/v1/subjects/erase", { method: "POST", key: s.a.key, headers: { "content-type": "application/json" } }),
    400,
    "malformed_json",
  ],
  [
    "erase a malformed subject id",
    () => call(`/v1/subjects/${encodeURIComponent("person a/../b")}`, { method: "DELETE", key: s.a.key }),
    400,
    "invalid_parameters",
  ],

  // --- Idempotency-Key ---
  [
    "Idempotency-Key of 256 characters",
    () =>
      call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body: makeWav(0.1),
        headers: { "content-type": "audio/wav", "idempotency-key": "k".repeat(256) },
      }),
    400,
    "invalid_idempotency_key",
  ],
  [
    "Idempotency-Key of 8 KB",
    () => sendMultipart(s.a.key, [filePart()], { "idempotency-key": "k".repeat(8 * 1024) }),
    400,
    "invalid_idempotency_key",
  ],
  [
    "Idempotency-Key with spaces",
    () =>
      call("/v1/transcriptions", {
        method: "POST",
        key: s.a.key,
        body: makeWav(0.1),
        headers: { "content-type": "audio/wav", "idempotency-key": "a b" },
      }),
    400,
    "invalid_idempotency_key",
  ],
  [
    "Idempotency-Key reused with different audio",
    () =>
      call("/v1/transcriptions?provider=whisper-pool&subject_id=person-a&metadata=%7B%22call%22%3A%2242%22%7D", {
        method: "POST",
        key: s.a.key,
        body: makeWav(0.3),
        headers: { "content-type": "audio/wav", "idempotency-key": "baseline-idempotency-key" },
      }),
    409,
    "idempotency_key_reused",
  ],
  [
    "Idempotency-Key reused with different options",
    () =>
      call("/v1/transcriptions?provider=whisper-pool&subject_id=person-b&metadata=%7B%22call%22%3A%2242%22%7D", {
        method: "POST",
        key: s.a.key,
        body: makeWav(0.2),
        headers: { "content-type": "audio/wav", "idempotency-key": "baseline-idempotency-key" },
      }),
    409,
    "idempotency_key_reused",
  ],

  // --- routing ---
  [
    "PUT on the collection",
    () =>
      call("/v1/transcriptions", {
        method: "PUT",
        key: s.a.key,
        body: makeWav(0.1),
        headers: { "content-type": "audio/wav" },
      }),
    404,
    "not_found",
  ],
  ["bench routes are not mounted", () => call("/__bench/r2", { method: "POST", body: "x" }), 404, "not_found"],
  ["bench D1 route is not mounted", () => call("/__bench/d1", { method: "POST" }), 404, "not_found"],
  ["a route that does not exist", () => call(`/v1/${encodeURIComponent(SCRIPT)}`, { key: s.a.key }), 404, "not_found"],
  // --- tus (/v1/uploads): refused before any upload exists ---
  ["tus: no Tus-Resumable", () => tusCreate({ "tus-resumable": "" }), 412, "tus_resumable_missing"],
  [
    "tus: a Tus-Resumable we do not speak",
    () => tusCreate({ "tus-resumable": "0.2.2" }),
    412,
    "tus_version_unsupported",
  ],
  ["tus: no Upload-Length", () => tusCreate({ "upload-length": "" }), 400, "upload_length_missing"],
  [
    "tus: deferred length",
    () => tusCreate({ "upload-length": "", "upload-defer-length": "1" }),
    400,
    "upload_length_missing",
  ],
  ["tus: negative Upload-Length", () => tusCreate({ "upload-length": "-1" }), 400, "invalid_upload_length"],
  ["tus: Upload-Length in exponent form", () => tusCreate({ "upload-length": "5e9" }), 400, "invalid_upload_length"],
  ["tus: Upload-Length of 0", () => tusCreate({ "upload-length": "0" }), 400, "empty_upload"],
  ["tus: absurd Upload-Length", () => tusCreate({ "upload-length": "9".repeat(40) }), 413, "upload_too_large"],
  [
    "tus: Upload-Length over 5 GiB",
    () => tusCreate({ "upload-length": String(5 * 1024 ** 3 + 1) }),
    413,
    "upload_too_large",
  ],
  ["tus: metadata not base64", () => tusCreate({ "upload-metadata": "filename ***" }), 400, "invalid_upload_metadata"],
  ["tus: metadata key twice", () => tusCreate({ "upload-metadata": "a YQ==,a Yg==" }), 400, "invalid_upload_metadata"],
  ["tus: metadata not UTF-8", () => tusCreate({ "upload-metadata": "filename //79" }), 400, "invalid_upload_metadata"],
  [
    "tus: markup in a metadata option",
    () => tusCreate({ "upload-metadata": `webhook_url ${btoa(`javascript:${SCRIPT}`)}` }),
    422,
    "invalid_webhook_url",
  ],
  [
    "tus: unknown provider in metadata",
    () => tusCreate({ "upload-metadata": `provider ${btoa("nope")}` }),
    422,
    "unknown_provider",
  ],
  [
    "tus: task of markup in metadata",
    () => tusCreate({ "upload-metadata": `task ${btoa(SCRIPT)}` }),
    422,
    "invalid_task",
  ],
  [
    "tus: task=translate pinned to deepgram in metadata",
    () => tusCreate({ "upload-metadata": `task ${btoa("translate")},provider ${btoa("deepgram")}` }),
    422,
    "translation_unsupported",
  ],
  [
    "tus: creation body not offset+octet-stream",
    () => tusCreate({ "content-type": "text/html" }, HTML),
    415,
    "invalid_content_type",
  ],
  [
    "tus: PATCH to an upload that never existed",
    () =>
      call("/v1/uploads/up_01ZZZZZZZZZZZZZZZZZZZZZZZZ", {
        method: "PATCH",
        key: s.a.key,
        headers: { "tus-resumable": "1.0.0", "content-type": "application/offset+octet-stream", "upload-offset": "0" },
        body: PNG,
      }),
    404,
    "upload_not_found",
  ],
  [
    "tus: PATCH with a path traversal id",
    () =>
      call(`/v1/uploads/${encodeURIComponent("../../audio")}`, {
        method: "PATCH",
        key: s.a.key,
        headers: { "tus-resumable": "1.0.0", "content-type": "application/offset+octet-stream", "upload-offset": "0" },
        body: PNG,
      }),
    404,
    "upload_not_found",
  ],
  [
    "tus: creation without the write scope's key",
    () => call("/v1/uploads", { method: "POST", headers: { "tus-resumable": "1.0.0", "upload-length": "10" } }),
    401,
    "unauthenticated",
  ],
];

/** A tus creation by tenant A with `headers` over sound defaults (an empty value drops the header). */
function tusCreate(headers: Record<string, string>, body?: Uint8Array): Promise<Response> {
  const merged: Record<string, string> = { "tus-resumable": "1.0.0", "upload-length": "1000", ...headers };
  for (const [name, value] of Object.entries(merged)) if (value === "") delete merged[name];
  return call("/v1/uploads", { method: "POST", key: s.a.key, headers: merged, ...(body ? { body } : {}) });
}

describe("hostile and malformed requests: 4xx problem+json, nothing stored or changed", () => {
  it("the corpus is large enough", () => {
    expect(rows.length).toBeGreaterThanOrEqual(35);
    expect(new Set(rows.map(([name]) => name)).size).toBe(rows.length);
  });

  for (const [name, send, status, code] of rows) {
    it(`${name} → ${status} ${code}`, async () => {
      const before = await snapshot();
      const res = await send();
      expect(res.status, "never a 5xx").toBeLessThan(500);
      expect(res.headers.get("content-type") ?? "").not.toContain("text/html");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      await expectProblem(res, status, code);
      await expectUnchanged(before, name);
    });
  }
});

// ---------- the OpenAI-compatible routes: the same guarantees, in OpenAI's error shape ----------

const AUDIO = "/v1/audio/transcriptions";
const TRANSLATE = "/v1/audio/translations";
const POOL_MODEL = "whisper-pool/default";

/** A multipart request to an OpenAI route, written byte by byte like {@link sendMultipart}. */
function sendOpenAI(
  key: string,
  parts: Part[],
  options: { path?: string; headers?: Record<string, string>; env?: Partial<Env>; stream?: boolean } = {},
): Promise<Response> {
  const { body, contentType } = rawMultipart(parts);
  const init = {
    method: "POST",
    key,
    body: options.stream ? chunkedStream(body, 16 * 1024) : body,
    headers: { "content-type": contentType, ...options.headers },
  };
  const path = options.path ?? AUDIO;
  return options.env ? callWith(options.env, path, init) : call(path, init);
}

const field = (name: string, body: string): Part => ({ name, body });
const model = (id = POOL_MODEL) => field("model", id);

type OpenAIRow = [name: string, send: () => Promise<Response>, status: number, code: string, param?: string | null];

const openaiRows: OpenAIRow[] = [
  // --- authentication and scopes ---
  ["no Authorization header", () => sendOpenAI("", [model(), filePart()]), 401, "unauthenticated", null],
  ["GET /v1/models without a key", () => call("/v1/models"), 401, "unauthenticated", null],
  [
    "unknown well-formed key",
    () => sendOpenAI(`vtt_live_${"A".repeat(43)}`, [model(), filePart()]),
    401,
    "invalid_api_key",
    null,
  ],
  ["revoked key", () => sendOpenAI(s.revokedKey, [model(), filePart()]), 401, "invalid_api_key", null],
  ["expired key on GET /v1/models", () => call("/v1/models", { key: s.expiredKey }), 401, "invalid_api_key", null],
  ["read-only key", () => sendOpenAI(s.readKey, [model(), filePart()]), 403, "insufficient_scope", null],
  [
    "write-only key (the answer is the transcript)",
    () => sendOpenAI(s.writeKey, [model(), filePart()]),
    403,
    "insufficient_scope",
    null,
  ],
  ["bootstrap admin key", () => sendOpenAI(adminKey(), [model(), filePart()]), 403, "tenant_required", null],
  [
    "requests past RATE_LIMIT_REQUESTS_PER_MINUTE",
    async () => {
      const env = { RATE_LIMIT_REQUESTS_PER_MINUTE: "1" };
      expect((await callWith(env, "/v1/models", { key: s.rateKey })).status).toBe(200);
      return sendOpenAI(s.rateKey, [model(), filePart()], { env });
    },
    429,
    "rate_limited",
    null,
  ],

  // --- model ---
  ["no model field", () => sendOpenAI(s.a.key, [filePart()]), 400, "missing_model", "model"],
  ["an unknown model", () => sendOpenAI(s.a.key, [model("whisper-2"), filePart()]), 400, "model_not_found", "model"],
  [
    "a model id with path traversal",
    () => sendOpenAI(s.a.key, [model("../whisper-pool/default"), filePart()]),
    400,
    "model_not_found",
    "model",
  ],
  ["a model id with markup", () => sendOpenAI(s.a.key, [model(SCRIPT), filePart()]), 400, "model_not_found", "model"],
  [
    "a 60 KB model id",
    () => sendOpenAI(s.a.key, [model("m".repeat(60 * 1024)), filePart()]),
    400,
    "model_not_found",
    "model",
  ],
  [
    "a model id in another case",
    () => sendOpenAI(s.a.key, [model("WHISPER-1"), filePart()]),
    400,
    "model_not_found",
    "model",
  ],
  [
    "model sent twice",
    () => sendOpenAI(s.a.key, [model(), model("whisper-1"), filePart()]),
    400,
    "duplicate_field",
    "model",
  ],
  [
    "a translation through a provider that cannot translate",
    () => sendOpenAI(s.a.key, [model("deepgram/nova-3"), filePart()], { path: TRANSLATE }),
    400,
    "translation_unsupported",
    "model",
  ],
  [
    "GET /v1/models/{id} of markup",
    () => call(`/v1/models/${encodeURIComponent(SCRIPT)}`, { key: s.a.key }),
    404,
    "model_not_found",
    "model",
  ],
  [
    "GET /v1/models/{id} with path traversal",
    () => call("/v1/models/..%2F..%2Fadmin%2Ftenants", { key: s.a.key }),
    404,
    "model_not_found",
    "model",
  ],

  // --- OpenAI's fields ---
  [
    "response_format exe",
    () => sendOpenAI(s.a.key, [model(), field("response_format", "exe"), filePart()]),
    400,
    "invalid_response_format",
    "response_format",
  ],
  ...["NaN", "1e3", "-0.5", "1.5", "0x1", ""].map((value): OpenAIRow => [
    `temperature ${JSON.stringify(value)}`,
    () => sendOpenAI(s.a.key, [model(), field("temperature", value), filePart()]),
    400,
    "invalid_temperature",
    "temperature",
  ]),
  [
    "timestamp_granularities[] char",
    () => sendOpenAI(s.a.key, [model(), field("timestamp_granularities[]", "char"), filePart()]),
    400,
    "invalid_timestamp_granularities",
    "timestamp_granularities[]",
  ],
  [
    "33 timestamp_granularities[] fields",
    () =>
      sendOpenAI(s.a.key, [
        model(),
        ...Array.from({ length: 33 }, () => field("timestamp_granularities[]", "word")),
        filePart(),
      ]),
    400,
    "too_many_fields",
    null,
  ],
  [
    "stream yes",
    () => sendOpenAI(s.a.key, [model(), field("stream", "yes"), filePart()]),
    400,
    "invalid_stream",
    "stream",
  ],
  [
    "chunking_strategy server_vad",
    () => sendOpenAI(s.a.key, [model(), field("chunking_strategy", "server_vad"), filePart()]),
    400,
    "unsupported_chunking_strategy",
    "chunking_strategy",
  ],
  [
    "provider beside model",
    () => sendOpenAI(s.a.key, [model(), field("provider", "openai"), filePart()]),
    400,
    "unknown_field",
    "provider",
  ],
  [
    "tenant_id smuggled as a field",
    () => sendOpenAI(s.a.key, [model(), field("tenant_id", s.b.tenantId), filePart()]),
    400,
    "unknown_field",
    "tenant_id",
  ],
  [
    "a field named __proto__",
    () => sendOpenAI(s.a.key, [model(), field("__proto__", "x"), filePart()]),
    400,
    "unknown_field",
    "__proto__",
  ],
  [
    "include[] (an OpenAI field we do not serve)",
    () => sendOpenAI(s.a.key, [model(), field("include[]", "logprobs"), filePart()]),
    400,
    "unknown_field",
    "include[]",
  ],
  [
    "a language that is SQL",
    () => sendOpenAI(s.a.key, [model(), field("language", "en'; drop table transcriptions; --"), filePart()]),
    400,
    "invalid_language",
    "language",
  ],
  [
    "diarized_json with a model that cannot label speakers",
    () => sendOpenAI(s.a.key, [model("openai/whisper-1"), field("response_format", "diarized_json"), filePart()]),
    400,
    "diarization_unsupported",
    "model",
  ],
  [
    "min_speakers greater than max_speakers",
    () =>
      sendOpenAI(s.a.key, [
        model(),
        field("speaker_labels", "true"),
        field("min_speakers", "3"),
        field("max_speakers", "2"),
        filePart(),
      ]),
    400,
    "invalid_speaker_count",
    "min_speakers",
  ],
  [
    "a prompt with bidi isolates",
    () => sendOpenAI(s.a.key, [model(), field("prompt", "names: \u2066Ada\u2069"), filePart()]),
    400,
    "invalid_prompt",
    "prompt",
  ],
  [
    "webhook_url to cloud metadata",
    () => sendOpenAI(s.a.key, [model(), field("webhook_url", "http://169.254.169.254/"), filePart()]),
    400,
    "invalid_webhook_url",
    "webhook_url",
  ],
  [
    "metadata that is not JSON",
    () => sendOpenAI(s.a.key, [model(), field("metadata", "{call: 42"), filePart()]),
    400,
    "invalid_metadata",
    "metadata",
  ],

  // --- the body ---
  [
    "raw audio instead of multipart",
    () => call(AUDIO, { method: "POST", key: s.a.key, body: makeWav(0.1), headers: { "content-type": "audio/wav" } }),
    400,
    "unsupported_media_type",
    null,
  ],
  [
    "a JSON body",
    () =>
      call(AUDIO, {
        method: "POST",
        key: s.a.key,
        body: JSON.stringify({ model: POOL_MODEL }),
        headers: { "content-type": "application/json" },
      }),
    400,
    "unsupported_media_type",
    null,
  ],
  [
    "multipart without a boundary",
    () => call(AUDIO, { method: "POST", key: s.a.key, body: "x", headers: { "content-type": "multipart/form-data" } }),
    400,
    "malformed_multipart",
    null,
  ],
  [
    "truncated multipart",
    () =>
      call(AUDIO, {
        method: "POST",
        key: s.a.key,
        body: concat([
          encoder.encode('--b\r\ncontent-disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'),
          makeWav(0.1),
        ]),
        headers: { "content-type": "multipart/form-data; boundary=b" },
      }),
    400,
    "malformed_multipart",
    null,
  ],
  ["no file part", () => sendOpenAI(s.a.key, [model()]), 400, "missing_file", "file"],
  ["two file parts", () => sendOpenAI(s.a.key, [model(), filePart(), filePart()]), 400, "duplicate_file", "file"],
  [
    "two file parts, the client still sending",
    () => sendOpenAI(s.a.key, [model(), filePart(), filePart(makeWav(4))], { stream: true }),
    400,
    "duplicate_file",
    "file",
  ],
  [
    "a text file named .wav",
    () => sendOpenAI(s.a.key, [model(), filePart(TEXT, "speech.wav")]),
    400,
    "unsupported_audio",
    "file",
  ],
  [
    "PDF bytes as the file",
    () => sendOpenAI(s.a.key, [model(), filePart(PDF, "doc.mp3")]),
    400,
    "unsupported_audio",
    "file",
  ],
  [
    "a file before an unknown model (the audio is stored, then deleted)",
    () => sendOpenAI(s.a.key, [filePart(makeWav(0.5)), model("nope")]),
    400,
    "model_not_found",
    "model",
  ],
  [
    "a body declaring 200 MB",
    () => sendOpenAI(s.a.key, [model(), filePart()], { headers: { "content-length": tooBigDeclared } }),
    413,
    "payload_too_large",
    "file",
  ],
  [
    "a file over MAX_UPLOAD_BYTES, sent chunked",
    () => sendOpenAI(s.a.key, [model(), filePart(makeWav(4))], { env: { MAX_UPLOAD_BYTES: "65536" }, stream: true }),
    413,
    "payload_too_large",
    "file",
  ],
  [
    "an Idempotency-Key with spaces",
    () => sendOpenAI(s.a.key, [model(), filePart()], { headers: { "idempotency-key": "a b" } }),
    400,
    "invalid_idempotency_key",
    null,
  ],
  [
    "an Idempotency-Key reused with a different request",
    () => sendOpenAI(s.a.key, [model(), filePart()], { headers: { "idempotency-key": "baseline-idempotency-key" } }),
    409,
    "idempotency_key_reused",
    null,
  ],

  // --- our extra fields (native rules, OpenAI's error body) ---
  [
    "task on the transcriptions route",
    () => sendOpenAI(s.a.key, [model(), field("task", "translate"), filePart()]),
    400,
    "unknown_field",
    "task",
  ],
  [
    "task on the translations route",
    () =>
      sendOpenAI(s.a.key, [model("openai/whisper-1"), field("task", "transcribe"), filePart()], { path: TRANSLATE }),
    400,
    "unknown_field",
    "task",
  ],
  [
    "redact_pii that is not a boolean",
    () => sendOpenAI(s.a.key, [model(), field("redact_pii", "1"), filePart()]),
    400,
    "invalid_redact_pii",
    "redact_pii",
  ],
  [
    "redact_pii_policies[] naming an unknown entity type",
    () =>
      sendOpenAI(s.a.key, [
        model(),
        field("redact_pii", "true"),
        field("redact_pii_policies[]", "phone_number"),
        field("redact_pii_policies[]", SCRIPT),
        filePart(),
      ]),
    400,
    "invalid_redact_pii_policies",
    "redact_pii_policies",
  ],
  [
    "redact_pii_sub without redact_pii",
    () => sendOpenAI(s.a.key, [model(), field("redact_pii_sub", "mask"), filePart()]),
    400,
    "invalid_redact_pii_sub",
    "redact_pii_sub",
  ],
  [
    "redact_pii_audio with markup",
    () => sendOpenAI(s.a.key, [model(), field("redact_pii", "true"), field("redact_pii_audio", SCRIPT), filePart()]),
    400,
    "invalid_redact_pii_audio",
    "redact_pii_audio",
  ],
  [
    "keyterms[] with a line break",
    () => sendOpenAI(s.a.key, [model(), field("keyterms[]", "Acme\r\nX-Injected: 1"), filePart()]),
    400,
    "invalid_keyterms",
    "keyterms",
  ],
  [
    "keyterms and keyterms[] together",
    () => sendOpenAI(s.a.key, [model(), field("keyterms", "Acme"), field("keyterms[]", "Jane"), filePart()]),
    400,
    "duplicate_field",
    "keyterms",
  ],
  [
    "keyterms as a JSON object",
    () => sendOpenAI(s.a.key, [model(), field("keyterms", '{"__proto__":{"x":1}}'), filePart()]),
    400,
    "invalid_keyterms",
    "keyterms",
  ],

  // --- routing ---
  ["GET on the upload route", () => call(AUDIO, { key: s.a.key }), 404, "not_found", null],
  [
    "POST /v1/audio/speech (not served)",
    () => call("/v1/audio/speech", { method: "POST", key: s.a.key }),
    404,
    "not_found",
    null,
  ],
  ["POST /v1/models", () => call("/v1/models", { method: "POST", key: s.a.key, body: "{}" }), 404, "not_found", null],
];

describe("hostile and malformed requests to the OpenAI routes: OpenAI's error body, nothing stored or changed", () => {
  it("the corpus is large enough", () => {
    expect(openaiRows.length).toBeGreaterThanOrEqual(40);
    expect(new Set(openaiRows.map(([name]) => name)).size).toBe(openaiRows.length);
  });

  for (const [name, send, status, code, param] of openaiRows) {
    it(`${name} → ${status} ${code}`, async () => {
      const before = await snapshot();
      const res = await send();
      expect(res.status, "never a 5xx").toBeLessThan(500);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      await expectOpenAIError(res, status, code, param);
      await expectUnchanged(before, name);
    });
  }

  it("a reused Idempotency-Key tells the SDK not to retry (it retries 409s)", async () => {
    const res = await sendOpenAI(s.a.key, [model(), filePart()], {
      headers: { "idempotency-key": "baseline-idempotency-key" },
    });
    expect(res.status).toBe(409);
    expect(res.headers.get("x-should-retry")).toBe("false");
  });
});

describe("option names that are Object.prototype's own get a precise error", () => {
  for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
    it(`a field named ${name} is reported as that unknown field, not as a duplicate or dropped`, async () => {
      for (const res of [
        await multipartUpload(s.a.key, { [name]: "x" }),
        await rawUpload(s.a.key, makeWav(0.1), `?${name}=x`),
      ]) {
        const body = await expectProblem(res, 422, "unknown_field");
        expect(body.errors).toEqual([{ field: name, message: `unknown field(s): ${name}` }]);
      }
    });
  }
});

// ---------- hostile input that is accepted, sanitised ----------

const R2_KEY =
  /^(audio\/tn_[0-9A-Z]{26}\/tr_[0-9A-Z]{26}|transcripts\/tn_[0-9A-Z]{26}\/tr_[0-9A-Z]{26}\/[0-9A-Z]{26}\.json)$/;

describe("hostile file names are accepted but sanitised, and never reach a storage key", () => {
  const names: [raw: string, stored: string | null][] = [
    ["../../etc/passwd", "passwd"],
    ["..\\..\\windows\\system32\\config.wav", "config.wav"],
    ["/etc/shadow", "shadow"],
    ["C:\\Users\\victim\\talk.wav", "talk.wav"],
    ["clip\u0000.wav", "clip.wav"],
    ["evil\u202Evaw.exe", "evilvaw.exe"],
    ["\u2066isolated\u2069.wav", "isolated.wav"],
    ["tab\there\u0007bell\u001b[31m.wav", "tabherebell[31m.wav"],
    ["\u0085next\u009bline.wav", "nextline.wav"],
    ["<img src=x onerror=alert(1)>.wav", "<img src=x onerror=alert(1)>.wav"],
    [`${SCRIPT}.wav`, "script>.wav"],
    ["\u0001\u0002\u202E", null],
    ["../", null],
    [`${"n".repeat(400)}.wav`, "n".repeat(255)],
  ];

  for (const [raw, stored] of names) {
    it(`${JSON.stringify(raw).slice(0, 60)} → ${JSON.stringify(stored)?.slice(0, 40)}`, async () => {
      const res = await sendMultipart(s.a.key, [
        { name: "provider", body: "whisper-pool" },
        filePart(makeWav(0.1), raw),
      ]);
      expect(res.status, await res.clone().text()).toBe(202);
      const job = (await res.json()) as { id: string; file_name: string | null };
      expect(job.file_name).toBe(stored);
      const row = await env.DB.prepare("select file_name, audio_key from transcriptions where id = ?")
        .bind(job.id)
        .first<{ file_name: string | null; audio_key: string }>();
      expect(row!.file_name).toBe(stored);
      expect(row!.audio_key).toBe(`audio/${s.a.tenantId}/${job.id}`);
      // what the API serves back is the sanitised value as JSON
      const read = (await (await call(`/v1/transcriptions/${job.id}`, { key: s.a.key })).json()) as {
        file_name: string | null;
      };
      expect(read.file_name).toBe(stored);
      const keys = (await listAllObjects()).map((o) => o.key);
      expect(keys).toContain(`audio/${s.a.tenantId}/${job.id}`);
      for (const key of keys) {
        expect(key).toMatch(R2_KEY);
        expect(key.includes(raw)).toBe(false);
        if (stored) expect(key.includes(stored)).toBe(false);
      }
    });
  }
});

describe("markup in file names, metadata and transcripts never comes back as HTML", () => {
  it("every response about the job is JSON or plain text (nosniff), and the only HTML page does not echo it", async () => {
    const marker = `${SCRIPT}<img src=x onerror=alert(2)>`;
    const res = await sendMultipart(s.a.key, [
      { name: "provider", body: "whisper-pool" },
      { name: "metadata", body: meta({ note: marker }) },
      filePart(makeWav(0.1), "<img src=x onerror=alert(2)>.wav"),
    ]);
    expect(res.status, await res.clone().text()).toBe(202);
    const job = (await res.json()) as { id: string; metadata: Record<string, string> };
    expect(job.metadata).toEqual({ note: marker });
    const callback = await signedCallback(
      JSON.stringify(completedCallback(job.id, { text: marker, segments: [{ start: 0, end: 1, text: marker }] })),
    );
    expect(await callback.json()).toEqual({ ok: true, applied: true });

    const responses: [string, Response][] = [];
    for (const path of [
      `/v1/transcriptions/${job.id}`,
      "/v1/transcriptions",
      ...["txt", "srt", "vtt", "json"].map((f) => `/v1/transcriptions/${job.id}/transcript?format=${f}`),
      `/v1/transcriptions/${job.id}/webhooks`,
      `/v1/transcriptions/${encodeURIComponent(marker)}`,
      `/v1/${encodeURIComponent(marker)}`,
    ]) {
      responses.push([path, await call(path, { key: s.a.key })]);
    }
    responses.push(["/docs", await call("/docs")]);
    responses.push(["/openapi.json", await call("/openapi.json")]);
    for (const [path, r] of responses) {
      const type = r.headers.get("content-type") ?? "";
      const body = await r.text();
      expect(r.status, path).toBeLessThan(500);
      expect(r.headers.get("x-content-type-options"), path).toBe("nosniff");
      if (type.includes("text/html")) {
        expect(path, "only the API reference page is HTML").toBe("/docs");
        expect(body).not.toContain(SCRIPT);
        expect(body).not.toContain("onerror=alert");
      } else {
        expect(type, path).toMatch(/^(application\/(json|problem\+json)|text\/plain|text\/vtt|application\/x-subrip)/);
      }
      // subtitle players render markup in SRT as well as in WebVTT: both must carry it escaped
      if (/format=(srt|vtt)$/.test(path)) {
        expect(body, path).not.toContain("<script");
        expect(body, path).not.toContain("<img");
        expect(body, path).toContain("&lt;script&gt;");
      }
    }
  });
});

describe("replays and unknown jobs on the pool callback are dropped harmlessly", () => {
  it("an exact replay of an applied callback inside the signature window changes nothing", async () => {
    const body = JSON.stringify(completedCallback(s.done, { text: "a replayed, different result" }));
    const headers = await signedHeaders(POOL_CALLBACK_RING, body);
    const before = await snapshot();
    for (let i = 0; i < 2; i++) {
      const res = await call("/internal/pool/callback", {
        method: "POST",
        body,
        headers: { ...headers, "content-type": "application/json" },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true, applied: false });
    }
    await expectUnchanged(before, "replay");
  });

  it("a validly signed callback for a job that never existed, or for another tenant's non-pool job, changes nothing", async () => {
    const openaiJob = await accepted(await multipartUpload(s.b.key, { provider: "openai" }, makeWav(0.1)));
    const before = await snapshot();
    for (const id of ["tr_01ZZZZZZZZZZZZZZZZZZZZZZZZ", "../../etc/passwd", openaiJob]) {
      const res = await signedCallback(JSON.stringify(completedCallback(id)));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true, applied: false });
    }
    const failed = await signedCallback(
      JSON.stringify({ job_id: s.done, status: "failed", error: { code: "x", message: "late failure" } }),
    );
    expect(await failed.json()).toEqual({ ok: true, applied: false });
    await expectUnchanged(before, "unknown job callbacks");
  });
});

// ---------- the console's transcript routes (docs/console.md): problem+json or a bare refusal, nothing changed ----------

describe("hostile requests to the console's transcript routes change nothing", () => {
  let cookie = "";
  let csrf = "";
  const origin = { origin: "https://edge.test", "sec-fetch-site": "same-origin" };
  const consolePost = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
    call(path, {
      method: "POST",
      redirect: "manual",
      headers: { cookie, ...origin, accept: "application/json", ...headers },
      body: new URLSearchParams(fields),
    });
  const consoleGet = (path: string, headers: Record<string, string> = {}) =>
    call(path, { redirect: "manual", headers: { cookie, ...headers } });

  beforeAll(async () => {
    const { key } = await mintKey(s.a.tenantId, { scopes: ["admin"] });
    const signIn = await call("/console/sign-in", {
      method: "POST",
      redirect: "manual",
      headers: origin,
      body: new URLSearchParams({ api_key: key }),
    });
    expect(signIn.status).toBe(303);
    cookie = signIn.headers.get("set-cookie")!.split(";")[0]!;
    csrf = /name="csrf-token" content="([^"]+)"/.exec(await (await consoleGet("/console")).text())![1]!;
  });

  const problems: [name: string, send: () => Promise<Response>, status: number, code: string][] = [
    [
      "feedback with an unknown rating",
      () => consolePost(`/console/transcripts/${s.done}/feedback`, { rating: SCRIPT, csrf_token: csrf }),
      422,
      "validation_failed",
    ],
    [
      "feedback: bad without a reason or correction",
      () => consolePost(`/console/transcripts/${s.done}/feedback`, { rating: "bad", csrf_token: csrf }),
      422,
      "validation_failed",
    ],
    [
      "feedback with a correction over the limit",
      () =>
        consolePost(`/console/transcripts/${s.done}/feedback`, {
          rating: "good",
          corrected_text: "x".repeat(100_001),
          csrf_token: csrf,
        }),
      422,
      "validation_failed",
    ],
    [
      "feedback on another tenant's job",
      () => consolePost(`/console/transcripts/${s.bJob}/feedback`, { rating: "good", csrf_token: csrf }),
      404,
      "not_found",
    ],
    [
      "feedback on a job that has not completed",
      () => consolePost(`/console/transcripts/${s.queued}/feedback`, { rating: "good", csrf_token: csrf }),
      409,
      "transcript_not_ready",
    ],
    [
      "feedback on a malformed id",
      () =>
        consolePost(`/console/transcripts/${encodeURIComponent(SCRIPT)}/feedback`, {
          rating: "good",
          csrf_token: csrf,
        }),
      404,
      "not_found",
    ],
    [
      "delete another tenant's job",
      () => consolePost(`/console/transcripts/${s.bJob}/delete`, { csrf_token: csrf }),
      404,
      "not_found",
    ],
    [
      "delete a path-traversal id",
      () => consolePost(`/console/transcripts/..%2F${s.done}/delete`, { csrf_token: csrf }),
      404,
      "not_found",
    ],
    [
      "audio of another tenant's job",
      () => consoleGet(`/console/transcripts/${s.bJob}/audio`, { range: "bytes=0-10" }),
      404,
      "not_found",
    ],
    [
      "download in an unknown format",
      () => consoleGet(`/console/transcripts/${s.done}/transcript?format=${encodeURIComponent(SCRIPT)}`),
      400,
      "invalid_format",
    ],
    [
      "download before completion",
      () => consoleGet(`/console/transcripts/${s.queued}/transcript?format=srt`),
      409,
      "transcript_not_ready",
    ],
  ];
  for (const [name, send, status, code] of problems) {
    it(`${name} → ${status} ${code}`, async () => {
      const before = await snapshot();
      const res = await send();
      expect(res.status, "never a 5xx").toBeLessThan(500);
      await expectProblem(res, status, code);
      await expectUnchanged(before, name);
    });
  }

  const refusals: [name: string, send: () => Promise<Response>, status: number][] = [
    ["delete without the CSRF token", () => consolePost(`/console/transcripts/${s.done}/delete`, {}), 403],
    [
      "delete with a forged CSRF token",
      () => consolePost(`/console/transcripts/${s.done}/delete`, { csrf_token: `${csrf}x` }),
      403,
    ],
    [
      "delete from another site",
      () =>
        consolePost(`/console/transcripts/${s.done}/delete`, { csrf_token: csrf }, { "sec-fetch-site": "cross-site" }),
      403,
    ],
    [
      "feedback without the CSRF token",
      () => consolePost(`/console/transcripts/${s.done}/feedback`, { rating: "good" }),
      403,
    ],
    [
      "delete without a session",
      () =>
        call(`/console/transcripts/${s.done}/delete`, {
          method: "POST",
          headers: origin,
          body: new URLSearchParams({ csrf_token: csrf }),
        }),
      401,
    ],
    [
      "a range past the end of the audio",
      () => consoleGet(`/console/transcripts/${s.done}/audio`, { range: "bytes=999999999-" }),
      416,
    ],
    ["a reversed range", () => consoleGet(`/console/transcripts/${s.done}/audio`, { range: "bytes=50-10" }), 416],
    [
      "a range with markup",
      () => consoleGet(`/console/transcripts/${s.done}/audio`, { range: `bytes=${SCRIPT}` }),
      416,
    ],
    [
      "a huge range number",
      () => consoleGet(`/console/transcripts/${s.done}/audio`, { range: `bytes=${"9".repeat(400)}-` }),
      416,
    ],
  ];
  for (const [name, send, status] of refusals) {
    it(`${name} → ${status}`, async () => {
      const before = await snapshot();
      const res = await send();
      expect(res.status).toBe(status);
      expect(res.headers.get("content-type") ?? "").not.toContain("text/html");
      await res.arrayBuffer();
      await expectUnchanged(before, name);
    });
  }
});

describe("hostile operator-console forms: a 4xx HTML or text answer, never a 5xx, nothing stored or changed", () => {
  it("refuses malformed tenant, key and retention forms and unknown targets", async () => {
    const { tenantId, keyId } = await createTenant("console-hostile");
    const origin = { origin: "https://edge.test", "sec-fetch-site": "same-origin" };
    const signIn = await call("/console/sign-in", {
      method: "POST",
      redirect: "manual",
      headers: origin,
      body: new URLSearchParams({ api_key: adminKey() }),
    });
    const cookie = signIn.headers.get("set-cookie")!.split(";")[0]!;
    const html = await (await call("/console/operator/tenants", { headers: { cookie } })).text();
    const csrf = /name="csrf-token" content="([^"]+)"/.exec(html)![1]!;
    const base = `/console/operator/tenants/${tenantId}`;
    const cases: [string, Record<string, string>, number][] = [
      ["/console/operator/tenants", { name: "\u202Eevil" }, 422],
      ["/console/operator/tenants", { name: "x".repeat(10_000) }, 422],
      ["/console/operator/tenants", { name: ["a", "b"].join("\u0000") }, 422],
      [`${base}/keys`, { scope_read: "on", scope_admin: SCRIPT }, 422],
      [`${base}/keys`, { scope_read: "on", expires_on: "9999-99-99" }, 422],
      [`${base}/keys`, { scope_read: "on", expires_on: "2000-01-01" }, 422],
      [`${base}/keys`, { scope_read: "on", name: `${SCRIPT}\u0007` }, 422],
      [`${base}/retention`, { audio_seconds: "1e9", transcript_seconds: "" }, 422],
      [`${base}/retention`, { audio_seconds: "99999999999", transcript_seconds: "" }, 422],
      [`${base}/retention`, { audio_seconds: SCRIPT, transcript_seconds: "" }, 422],
      [
        `/console/operator/tenants/${encodeURIComponent(SCRIPT)}/retention`,
        { audio_seconds: "1", transcript_seconds: "" },
        404,
      ],
      [`/console/operator/tenants/${encodeURIComponent("../../x")}/keys`, { scope_read: "on" }, 404],
      [`${base}/keys/${encodeURIComponent(SCRIPT)}/revoke`, {}, 404],
      [`/console/operator/tenants/tn_nope/keys/${keyId}/revoke`, {}, 404],
      [`/console/operator/breakers/${encodeURIComponent(SCRIPT)}/open`, {}, 404],
      ["/console/operator/breakers/openai/__proto__", {}, 404],
      [`/console/operator/dead-letters/${encodeURIComponent(SCRIPT)}/redrive`, {}, 404],
      ["/console/operator/dead-letters/constructor/fail", {}, 404],
    ];
    for (const [path, fields, status] of cases) {
      const before = await snapshot();
      const res = await call(path, {
        method: "POST",
        redirect: "manual",
        headers: { ...origin, cookie },
        body: new URLSearchParams({ ...fields, csrf_token: csrf }),
      });
      expect(res.status, `${path} ${JSON.stringify(fields)}`).toBe(status);
      const body = await res.text();
      expect(body).not.toContain(SCRIPT);
      await expectUnchanged(before, path);
    }
  }, 30_000); // two dozen console requests: slow on a loaded machine
});
