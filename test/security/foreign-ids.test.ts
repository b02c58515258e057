/**
 * Tenant isolation, route by route. Tenant B's key is pointed at every route of the API with tenant A's ids and must
 * get exactly what it would get for an id that never existed (same status, same problem body apart from the echoed
 * path), list and count endpoints must neither show nor count A's data, and A's data must be unchanged afterwards.
 *
 * The routes come from the app's own OpenAPI document, so a route added later without a row here fails this file.
 */
import { signAudioUrl } from "@vtt/pool-contract";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";

import { adminKey, call, createTenant } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";
import { completeThroughPool, jobIdsOf, newJobOf, openaiClient } from "../helpers/openai.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";
import {
  expectOpenAIError,
  expectProblem,
  expectUnchanged,
  type Problem,
  seedAttemptAndDeadLetter,
  snapshot,
} from "./snapshot.ts";

interface Tenant {
  tenantId: string;
  key: string;
  keyId: string;
}

interface World {
  a: Tenant;
  b: Tenant;
  /** A's jobs: completed (with webhook event + attempt, transcript), queued (dead-lettered), both of subject `subject-a` */
  aDone: string;
  aQueued: string;
  /** B's own jobs: one completed, one queued */
  bDone: string;
  bQueued: string;
  /** A's unfinished tus upload (`up_…`, some bytes stored), of subject `subject-a` */
  aUpload: string;
}

let w: World;

const NEVER = {
  id: "tr_01ZZZZZZZZZZZZZZZZZZZZZZZZ",
  tenant: "tn_01ZZZZZZZZZZZZZZZZZZZZZZZZ",
  key: "key_01ZZZZZZZZZZZZZZZZZZZZZZZZ",
  subject: "never-existed-subject",
  upload: "up_01ZZZZZZZZZZZZZZZZZZZZZZZZ",
};

async function upload(key: string, fields: Record<string, string>, idempotencyKey?: string): Promise<string> {
  const form = new FormData();
  for (const [name, value] of Object.entries({ provider: "whisper-pool", ...fields })) form.append(name, value);
  form.append("file", new Blob([makeWav(0.2)], { type: "audio/wav" }), "clip.wav");
  const res = await call("/v1/transcriptions", {
    method: "POST",
    key,
    body: form,
    headers: idempotencyKey ? { "idempotency-key": idempotencyKey } : {},
  });
  expect(res.status, await res.clone().text()).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

async function complete(id: string): Promise<void> {
  expect(await (await poolCallback(completedCallback(id))).json()).toEqual({ ok: true, applied: true });
}

async function seedWorld(): Promise<World> {
  const a = await createTenant("isolation-a");
  // B's key holds `admin` too, so tenant-admin routes (feedback) are reached and must still find nothing of A
  const b = await createTenant("isolation-b", ["transcriptions:read", "transcriptions:write", "admin"]);
  const aDone = await upload(a.key, {
    subject_id: "subject-a",
    webhook_url: "https://hooks.example.com/a",
    metadata: JSON.stringify({ owner: "a" }),
  });
  await complete(aDone);
  const aQueued = await upload(a.key, { subject_id: "subject-a" }, "shared-idempotency-key");
  const bDone = await upload(b.key, { subject_id: "subject-b" });
  await complete(bDone);
  const bQueued = await upload(b.key, {});

  await seedAttemptAndDeadLetter(a.tenantId, aDone, aQueued);
  const wav = makeWav(0.5);
  const tus = await call("/v1/uploads", {
    method: "POST",
    key: a.key,
    headers: {
      "tus-resumable": "1.0.0",
      "upload-length": String(wav.byteLength),
      "upload-metadata": `subject_id ${btoa("subject-a")}`,
      "content-type": "application/offset+octet-stream",
    },
    body: wav.slice(0, 8192),
  });
  expect(tus.status, await tus.clone().text()).toBe(201);
  const aUpload = tus.headers.get("location")!.split("/").pop()!;
  return { a, b, aDone, aQueued, bDone, bQueued, aUpload };
}

beforeAll(async () => {
  w = await seedWorld();
  // positive controls: A itself sees its data on the routes B is about to be refused
  for (const path of [
    `/v1/transcriptions/${w.aDone}`,
    `/v1/transcriptions/${w.aDone}/transcript?format=json`,
    `/v1/transcriptions/${w.aDone}/webhooks`,
  ]) {
    expect((await call(path, { key: w.a.key })).status, path).toBe(200);
  }
  const log = (await (await call(`/v1/transcriptions/${w.aDone}/webhooks`, { key: w.a.key })).json()) as {
    data: { attempts: unknown[] }[];
  };
  expect(log.data).toHaveLength(1);
  expect(log.data[0]!.attempts).toHaveLength(1);
}, 30_000);

// ---------- the route table ----------

type Ids = Record<string, string>;

interface ParamRoute {
  /** ids of tenant A's resources, per path parameter (several sets: each is tried) */
  foreign: (w: World) => Ids[];
  /** ids of the same shape that never existed */
  never: Ids;
  /** query strings to try (default: none) */
  queries?: string[];
  body?: unknown;
  /** what B's key gets, for A's ids and for ids that never existed alike */
  expect: [status: number, code: string] | "erasure_receipt";
  /** an OpenAI-compatible route: the refusal is OpenAI's error body, whose message names the id asked for */
  openai?: true;
  /** request headers (tus routes need `Tus-Resumable`) and a raw body instead of JSON */
  headers?: Record<string, string>;
  raw?: Uint8Array;
}

const TENANT_404: [number, string] = [404, "not_found"];
const UPLOAD_404: [number, string] = [404, "upload_not_found"];
const TUS = { "tus-resumable": "1.0.0" };
/** B's key has no `admin` scope: refused before any id is looked at, whether the id exists or not */
const ADMIN_403: [number, string] = [403, "operator_required"];

/** Every route with a path parameter, keyed `METHOD /path/{param}` exactly as in /openapi.json. */
const PARAM_ROUTES: Record<string, ParamRoute> = {
  "GET /v1/transcriptions/{id}": {
    foreign: (w) => [{ id: w.aDone }, { id: w.aQueued }],
    never: { id: NEVER.id },
    expect: TENANT_404,
  },
  "GET /v1/transcriptions/{id}/transcript": {
    foreign: (w) => [{ id: w.aDone }, { id: w.aQueued }],
    never: { id: NEVER.id },
    queries: ["", "?format=txt", "?format=srt", "?format=vtt", "?format=json"],
    expect: TENANT_404,
  },
  "GET /v1/transcriptions/{id}/webhooks": {
    foreign: (w) => [{ id: w.aDone }, { id: w.aQueued }],
    never: { id: NEVER.id },
    expect: TENANT_404,
  },
  "POST /v1/transcriptions/{id}/feedback": {
    foreign: (w) => [{ id: w.aDone }, { id: w.aQueued }],
    never: { id: NEVER.id },
    body: { rating: "bad", reason: "wrong words", corrected_text: "B's guess at A's words" },
    expect: TENANT_404,
  },
  "DELETE /v1/transcriptions/{id}": {
    foreign: (w) => [{ id: w.aDone }, { id: w.aQueued }],
    never: { id: NEVER.id },
    expect: TENANT_404,
  },
  "DELETE /v1/subjects/{subject_id}": {
    foreign: () => [{ subject_id: "subject-a" }],
    never: { subject_id: NEVER.subject },
    expect: "erasure_receipt",
  },
  "GET /v1/admin/tenants/{tenant}": {
    foreign: (w) => [{ tenant: w.a.tenantId }],
    never: { tenant: NEVER.tenant },
    expect: ADMIN_403,
  },
  "GET /v1/admin/tenants/{tenant}/keys": {
    foreign: (w) => [{ tenant: w.a.tenantId }],
    never: { tenant: NEVER.tenant },
    expect: ADMIN_403,
  },
  "DELETE /v1/admin/tenants/{tenant}": {
    foreign: (w) => [{ tenant: w.a.tenantId }],
    never: { tenant: NEVER.tenant },
    expect: ADMIN_403,
  },
  "PATCH /v1/admin/tenants/{tenant}": {
    foreign: (w) => [{ tenant: w.a.tenantId }],
    never: { tenant: NEVER.tenant },
    body: { retention: { audio_seconds: 60, transcript_seconds: 60 } },
    expect: ADMIN_403,
  },
  "POST /v1/admin/tenants/{tenant}/keys": {
    foreign: (w) => [{ tenant: w.a.tenantId }],
    never: { tenant: NEVER.tenant },
    body: { scopes: ["admin"] },
    expect: ADMIN_403,
  },
  "POST /v1/admin/tenants/{tenant}/move": {
    foreign: (w) => [{ tenant: w.a.tenantId }],
    never: { tenant: NEVER.tenant },
    body: { shard: "us0" },
    expect: ADMIN_403,
  },
  "POST /v1/admin/tenants/{tenant}/keys/{key}/revoke": {
    foreign: (w) => [{ tenant: w.a.tenantId, key: w.a.keyId }],
    never: { tenant: NEVER.tenant, key: NEVER.key },
    expect: ADMIN_403,
  },
  "POST /v1/admin/breakers/{provider}/{action}": {
    foreign: () => [
      { provider: "whisper-pool", action: "open" },
      { provider: "openai", action: "close" },
    ],
    never: { provider: "nonexistent", action: "open" },
    expect: ADMIN_403,
  },
  "POST /v1/admin/dead-letters/{job}/redrive": {
    foreign: (w) => [{ job: w.aQueued }],
    never: { job: NEVER.id },
    expect: ADMIN_403,
  },
  "POST /v1/admin/dead-letters/{job}/fail": {
    foreign: (w) => [{ job: w.aQueued }],
    never: { job: NEVER.id },
    expect: ADMIN_403,
  },
  // tus: B's key meets A's upload exactly as an upload that never existed (a HEAD answer has no body)
  "HEAD /v1/uploads/{id}": {
    foreign: (w) => [{ id: w.aUpload }],
    never: { id: NEVER.upload },
    headers: TUS,
    expect: UPLOAD_404,
  },
  "PATCH /v1/uploads/{id}": {
    foreign: (w) => [{ id: w.aUpload }],
    never: { id: NEVER.upload },
    headers: { ...TUS, "content-type": "application/offset+octet-stream", "upload-offset": "8192" },
    raw: new Uint8Array(1024),
    expect: UPLOAD_404,
  },
  "DELETE /v1/uploads/{id}": {
    foreign: (w) => [{ id: w.aUpload }],
    never: { id: NEVER.upload },
    headers: TUS,
    expect: UPLOAD_404,
  },
  // models belong to the deployment, not a tenant: A's ids are no model of B's, exactly like ids that never existed
  "GET /v1/models/{model}": {
    foreign: (w) => [{ model: w.aDone }, { model: `whisper-pool/${w.a.tenantId}` }],
    never: { model: NEVER.id },
    expect: [404, "model_not_found"],
    openai: true,
  },
};

/** Routes without a path parameter: each is checked below for what it shows or counts of A. */
const COLLECTION_ROUTES = [
  "GET /v1/transcriptions",
  "POST /v1/transcriptions",
  "GET /v1/status",
  "GET /v1/webhooks/secret",
  "POST /v1/webhooks/secret/rotate",
  "POST /v1/subjects/erase",
  "GET /v1/admin/breakers",
  "GET /v1/admin/drift",
  "GET /v1/admin/quality",
  "POST /v1/admin/encryption/rewrap",
  "GET /v1/admin/dead-letters",
  "POST /v1/admin/dead-letters/redrive",
  "POST /v1/admin/tenants",
  "GET /v1/admin/tenants",
  "POST /v1/admin/search/reindex",
  "POST /v1/audio/transcriptions",
  "POST /v1/audio/translations",
  "GET /v1/models",
  "OPTIONS /v1/uploads",
  "POST /v1/uploads",
];

const fill = (path: string, ids: Ids) =>
  path.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (!(name in ids)) throw new Error(`no value for {${name}} in ${path}`);
    return encodeURIComponent(ids[name]!);
  });

/** The problem body with the echoed request path taken out, so bodies for different ids can be compared. */
const withoutInstance = ({ instance: _instance, ...rest }: Problem) => rest;

async function send(route: string, ids: Ids, query: string, body: unknown, key: string): Promise<Response> {
  const [method, path] = route.split(" ") as [string, string];
  const row = PARAM_ROUTES[route];
  const init: RequestInit & { key: string } = { method, key, headers: row?.headers ?? {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { "content-type": "application/json" };
  }
  if (row?.raw) init.body = row.raw;
  return call(fill(path, ids) + query, init);
}

describe("the route table covers the OpenAPI document", () => {
  it("every route with a path parameter has a foreign-id row, every other route a collection check, and no row is stale", async () => {
    const doc = (await (await call("/openapi.json")).json()) as { paths: Record<string, Record<string, unknown>> };
    const documented: string[] = [];
    for (const [path, operations] of Object.entries(doc.paths)) {
      // tenant data lives under /v1; /healthz, /metrics and /openapi.json name no ids
      if (!path.startsWith("/v1/")) continue;
      for (const method of Object.keys(operations)) {
        if (!["get", "head", "options", "post", "put", "patch", "delete"].includes(method)) continue;
        documented.push(`${method.toUpperCase()} ${path}`);
      }
    }
    expect(documented.length).toBeGreaterThan(10);
    const withParams = documented.filter((r) => r.includes("{"));
    const missingParamRows = withParams.filter((r) => !(r in PARAM_ROUTES));
    expect(missingParamRows, "routes with a path parameter that have no row in PARAM_ROUTES").toEqual([]);
    const missingCollectionRows = documented.filter((r) => !r.includes("{") && !COLLECTION_ROUTES.includes(r));
    expect(missingCollectionRows, "routes without a path parameter that have no check in COLLECTION_ROUTES").toEqual(
      [],
    );
    expect(
      [...Object.keys(PARAM_ROUTES), ...COLLECTION_ROUTES].filter((r) => !documented.includes(r)),
      "rows for routes that no longer exist",
    ).toEqual([]);
  });
});

describe("tenant B against tenant A's ids: the same answer as for ids that never existed, and A is untouched", () => {
  for (const [route, row] of Object.entries(PARAM_ROUTES)) {
    it(route, async () => {
      const aBefore = await snapshot(w.a.tenantId);
      const aView = await (await call(`/v1/transcriptions/${w.aDone}`, { key: w.a.key })).text();
      for (const query of row.queries ?? [""]) {
        const neverRes = await send(route, row.never, query, row.body, w.b.key);
        if (row.expect === "erasure_receipt") {
          // erasing a subject is per tenant: A's subject id in B's tenant erases nothing, exactly like an unknown one
          expect(neverRes.status).toBe(200);
          const neverReceipt = (await neverRes.json()) as { scope: string; erased: Record<string, number> };
          for (const ids of row.foreign(w)) {
            const res = await send(route, ids, query, row.body, w.b.key);
            expect(res.status).toBe(200);
            const receipt = (await res.json()) as { scope: string; erased: Record<string, number> };
            expect(receipt.scope).toBe("subject");
            expect(receipt.erased).toEqual(neverReceipt.erased);
            expect(
              Object.values(receipt.erased).every((n) => n === 0),
              JSON.stringify(receipt.erased),
            ).toBe(true);
          }
          continue;
        }
        const [status, code] = row.expect;
        if (row.openai) {
          // OpenAI's body has no `instance`; its message names the id asked for, which is all that may differ
          const masked = async (res: Response, ids: Ids) =>
            JSON.stringify(await expectOpenAIError(res, status, code)).replaceAll(Object.values(ids)[0]!, "{id}");
          const neverBody = await masked(neverRes, row.never);
          for (const ids of row.foreign(w)) {
            const res = await send(route, ids, query, row.body, w.b.key);
            expect(await masked(res, ids), `${route} with ${JSON.stringify(ids)}`).toBe(neverBody);
          }
          continue;
        }
        if (route.startsWith("HEAD ")) {
          // no body to compare: the status and the problem type must be the never-existing id's
          expect(neverRes.status).toBe(status);
          for (const ids of row.foreign(w)) {
            const res = await send(route, ids, query, row.body, w.b.key);
            expect(res.status, `${route} with ${JSON.stringify(ids)}`).toBe(status);
            expect(res.headers.get("content-type")).toBe(neverRes.headers.get("content-type"));
          }
          continue;
        }
        const neverBody = await expectProblem(neverRes, status, code);
        for (const ids of row.foreign(w)) {
          const res = await send(route, ids, query, row.body, w.b.key);
          const label = `${route}${query} with ${JSON.stringify(ids)}`;
          expect(res.status, label).toBe(status);
          expect(res.status, `${label}: a foreign id must look absent, not forbidden`).not.toBe(
            status === 404 ? 403 : 404,
          );
          const body = await expectProblem(res, status, code);
          expect(withoutInstance(body), `${label}: body differs from a never-existing id's`).toEqual(
            withoutInstance(neverBody),
          );
          if (body.instance !== undefined) expect(body.instance).toBe(fill(route.split(" ")[1]!, ids));
        }
      }
      await expectUnchanged(aBefore, `A after ${route}`, w.a.tenantId);
      expect(await (await call(`/v1/transcriptions/${w.aDone}`, { key: w.a.key })).text()).toBe(aView);
    });
  }
});

describe("collections and counts never include A", () => {
  it("OPTIONS and POST /v1/uploads: B's discovery names nothing of A, B's new upload is B's alone", async () => {
    const options = await call("/v1/uploads", { method: "OPTIONS", key: w.b.key });
    expect(options.status).toBe(204);
    expect(await options.text()).toBe("");
    for (const [, value] of options.headers) expect(value).not.toContain(w.a.tenantId);
    const aBefore = await snapshot(w.a.tenantId);
    const created = await call("/v1/uploads", {
      method: "POST",
      key: w.b.key,
      headers: {
        "tus-resumable": "1.0.0",
        "upload-length": "100",
        "upload-metadata": `subject_id ${btoa("subject-a")}`,
      },
    });
    expect(created.status).toBe(201);
    const id = created.headers.get("location")!.split("/").pop()!;
    expect(id).not.toBe(w.aUpload);
    expect(
      (await call(`/v1/uploads/${id}`, { method: "HEAD", key: w.a.key, headers: { "tus-resumable": "1.0.0" } })).status,
    ).toBe(404);
    const aHead = await call(`/v1/uploads/${w.aUpload}`, {
      method: "HEAD",
      key: w.a.key,
      headers: { "tus-resumable": "1.0.0" },
    });
    expect(aHead.headers.get("upload-offset")).toBe("8192");
    await expectUnchanged(aBefore, "A after B's tus creation", w.a.tenantId);
  });

  const allIds = (w: World) => [w.aDone, w.aQueued];

  it("GET /v1/transcriptions: every page and every status filter holds only B's jobs", async () => {
    const seen: string[] = [];
    for (const status of [undefined, "queued", "processing", "completed", "failed"]) {
      let cursor: string | null = null;
      do {
        const qs = new URLSearchParams({ limit: "1" });
        if (status) qs.set("status", status);
        if (cursor) qs.set("cursor", cursor);
        const res = await call(`/v1/transcriptions?${qs}`, { key: w.b.key });
        expect(res.status).toBe(200);
        const page = (await res.json()) as { data: { id: string }[]; next_cursor: string | null };
        if (!status) seen.push(...page.data.map((j) => j.id));
        for (const job of page.data) expect(allIds(w)).not.toContain(job.id);
        cursor = page.next_cursor;
      } while (cursor);
    }
    const own = (
      await env.DB.prepare("select id from transcriptions where tenant_id = ? order by id desc")
        .bind(w.b.tenantId)
        .all<{ id: string }>()
    ).results.map((r) => r.id);
    expect(seen).toEqual(own);
    expect(seen).toEqual(expect.arrayContaining([w.bDone, w.bQueued]));
  });

  it("GET /v1/transcriptions with a cursor forged from A's job id still lists only B's jobs", async () => {
    for (const id of allIds(w)) {
      const cursor = btoa(JSON.stringify({ before: id })).replace(/=+$/, "");
      const res = await call(`/v1/transcriptions?cursor=${encodeURIComponent(cursor)}&limit=100`, { key: w.b.key });
      expect(res.status).toBe(200);
      const page = (await res.json()) as { data: { id: string }[] };
      for (const job of page.data) expect(allIds(w)).not.toContain(job.id);
      const text = JSON.stringify(page);
      expect(text).not.toContain(w.a.tenantId);
    }
  });

  it("GET /v1/status counts only B's backlog", async () => {
    const res = await call("/v1/status", { key: w.b.key });
    expect(res.status).toBe(200);
    const status = (await res.json()) as { backlog: { queued: number; processing: number; parked: number } };
    const own = await env.DB.prepare(
      "select sum(status = 'queued') as queued, sum(status = 'processing') as processing from transcriptions where tenant_id = ?",
    )
      .bind(w.b.tenantId)
      .first<{ queued: number; processing: number }>();
    expect(status.backlog.queued).toBe(Number(own!.queued ?? 0));
    expect(status.backlog.processing).toBe(Number(own!.processing ?? 0));
    const everyone = await env.DB.prepare("select count(*) as n from transcriptions where status = 'queued'").first<{
      n: number;
    }>();
    expect(everyone!.n).toBeGreaterThan(status.backlog.queued);
  });

  it("GET /v1/webhooks/secret and POST /v1/webhooks/secret/rotate: B's secret is B's, and rotating it leaves A's alone", async () => {
    const aSecret = (await (await call("/v1/webhooks/secret", { key: w.a.key })).json()) as { secret: string };
    const aBefore = await snapshot(w.a.tenantId);
    const bSecret = (await (await call("/v1/webhooks/secret", { key: w.b.key })).json()) as {
      secret: string;
      previous_secret: string | null;
    };
    expect(bSecret.secret).not.toBe(aSecret.secret);
    expect(bSecret.previous_secret).not.toBe(aSecret.secret);
    const rotated = (await (await call("/v1/webhooks/secret/rotate", { method: "POST", key: w.b.key })).json()) as {
      secret: string;
      previous_secret: string;
    };
    expect(rotated.previous_secret).toBe(bSecret.secret);
    expect(rotated.secret).not.toBe(aSecret.secret);
    await expectUnchanged(aBefore, "A after B rotated its secret", w.a.tenantId);
  });

  it("POST /v1/transcriptions: B's upload lands in B, and A's Idempotency-Key is not a replay of A's job", async () => {
    const aBefore = await snapshot(w.a.tenantId);
    const form = new FormData();
    form.append("provider", "whisper-pool");
    form.append("subject_id", "subject-a");
    form.append("file", new Blob([makeWav(0.2)], { type: "audio/wav" }), "clip.wav");
    const res = await call("/v1/transcriptions", {
      method: "POST",
      key: w.b.key,
      body: form,
      headers: { "idempotency-key": "shared-idempotency-key" },
    });
    expect(res.status, await res.clone().text()).toBe(202);
    expect(res.headers.get("idempotent-replayed")).toBeNull();
    const job = (await res.json()) as { id: string };
    expect(job.id).not.toBe(w.aQueued);
    const row = await env.DB.prepare("select tenant_id, audio_key from transcriptions where id = ?")
      .bind(job.id)
      .first<{ tenant_id: string; audio_key: string }>();
    expect(row).toEqual({ tenant_id: w.b.tenantId, audio_key: `audio/${w.b.tenantId}/${job.id}` });
    await expectUnchanged(aBefore, "A after B uploaded", w.a.tenantId);
    // B's own upload is B's to erase; A's jobs of the same subject stay
    const receipt = (await (await call("/v1/subjects/subject-a", { method: "DELETE", key: w.b.key })).json()) as {
      erased: { transcriptions: number };
    };
    expect(receipt.erased.transcriptions).toBe(1);
    await expectUnchanged(aBefore, "A after B erased its own subject-a", w.a.tenantId);
  });

  for (const [path, task] of [
    ["/v1/audio/transcriptions", "transcribe"],
    ["/v1/audio/translations", "translate"],
  ] as const) {
    it(`POST ${path}: B's held request makes and answers B's own job (A's Idempotency-Key is no replay)`, async () => {
      const aBefore = await snapshot(w.a.tenantId);
      const known = await jobIdsOf(w.b.tenantId);
      // a multilingual pool model, so the pool may translate
      const sdk = openaiClient(w.b.key, { env: { POOL_MODELS: "base" } });
      const body = { file: new File([makeWav(0.2)], "b.wav"), model: "whisper-pool/base" };
      // A's queued job holds this key in A's tenant; in B's it is free (once: the second route would be a reuse)
      const options = task === "transcribe" ? { headers: { "idempotency-key": "shared-idempotency-key" } } : {};
      const pending = (
        task === "transcribe"
          ? sdk.audio.transcriptions.create(body, options)
          : sdk.audio.translations.create(body, options)
      ).withResponse();
      const id = await newJobOf(w.b.tenantId, known);
      expect(id).not.toBe(w.aQueued);
      await completeThroughPool(id, { text: "B's own words", ...(task === "translate" ? { task } : {}) });
      const { data, response } = await pending;
      expect(response.headers.get("idempotent-replayed")).toBeNull();
      expect(response.headers.get("x-request-id")).toBe(id);
      expect(data).toMatchObject({ text: "B's own words" });
      const row = await env.DB.prepare("select tenant_id, task, audio_key from transcriptions where id = ?")
        .bind(id)
        .first<{ tenant_id: string; task: string; audio_key: string }>();
      expect(row).toEqual({ tenant_id: w.b.tenantId, task, audio_key: `audio/${w.b.tenantId}/${id}` });
      expect(JSON.stringify(data)).not.toContain(w.a.tenantId);
      await expectUnchanged(aBefore, `A after B's ${path}`, w.a.tenantId);
    });
  }

  it("GET /v1/models: the deployment's list, the same for every tenant and naming none", async () => {
    const list = async (key: string) => (await call("/v1/models", { key })).json();
    const seen = await list(w.b.key);
    expect(seen).toEqual(await list(w.a.key));
    expect(JSON.stringify(seen)).not.toContain(w.a.tenantId);
    expect(JSON.stringify(seen)).not.toContain(w.b.tenantId);
  });

  it("POST /v1/subjects/erase: A's subject id in B's body erases nothing of A, exactly like an unknown subject", async () => {
    const aBefore = await snapshot(w.a.tenantId);
    const erase = async (subject: string) => {
      const res = await call("/v1/subjects/erase", {
        method: "POST",
        key: w.b.key,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ subject_id: subject }),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { scope: string; erased: Record<string, number> }).erased;
    };
    const never = await erase(NEVER.subject);
    const foreign = await erase("subject-a");
    expect(foreign).toEqual(never);
    expect(
      Object.values(foreign).every((n) => n === 0),
      JSON.stringify(foreign),
    ).toBe(true);
    await expectUnchanged(aBefore, "A after B erased A's subject id by body", w.a.tenantId);
  });

  it("admin-only collections refuse B's key before showing anything", async () => {
    const aBefore = await snapshot(w.a.tenantId);
    for (const [method, path, body] of [
      ["GET", "/v1/admin/breakers"],
      ["GET", "/v1/admin/drift"],
      ["GET", "/v1/admin/quality"],
      ["POST", "/v1/admin/encryption/rewrap"],
      ["GET", "/v1/admin/dead-letters?state=all"],
      ["POST", "/v1/admin/dead-letters/redrive"],
      ["POST", "/v1/admin/search/reindex"],
      ["GET", "/v1/admin/tenants"],
      ["POST", "/v1/admin/tenants", { name: "b-made" }],
    ] as [string, string, unknown?][]) {
      const res = await call(path, {
        method,
        key: w.b.key,
        ...(body ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
      });
      const problem = await expectProblem(res, 403, "operator_required");
      expect(JSON.stringify(problem)).not.toContain(w.a.tenantId);
    }
    await expectUnchanged(aBefore, "A after B's admin attempts", w.a.tenantId);
  });
});

describe("internal routes are not tenant-scoped, and unknown jobs are dropped harmlessly", () => {
  it("a validly signed pool callback for a job that does not exist changes nothing anywhere", async () => {
    const before = await snapshot();
    for (const id of [NEVER.id, "tr_not-even-an-id", ""]) {
      const res = await poolCallback(completedCallback(id));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true, applied: false });
    }
    await expectUnchanged(before, "after callbacks for unknown jobs");
  });

  it("a validly signed audio URL for a job that does not exist is a 404 problem, not an error", async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const sig = await signAudioUrl("audio-url-secret", NEVER.id, exp);
    const res = await call(`/internal/audio/${NEVER.id}?exp=${exp}&kid=a1&sig=${sig}`);
    await expectProblem(res, 404, "not_found");
  });
});

describe("a tenant-bound key holding the admin scope stays inside its tenant", () => {
  // Keys "belong to one tenant" and "everything a tenant key reads or writes is scoped to its tenant" (docs/api.md).
  // `/v1/admin/*` is the operator plane: only the bootstrap key (no tenant) may use it. A tenant key with `admin` is
  // refused with the same 403 whatever id it names, so the answer reveals nothing about other tenants.
  let attackerKey: string;

  /** A fresh victim per attempt, so one failure cannot hide or cause another. */
  async function makeVictim(): Promise<{ victim: Tenant; job: string }> {
    const victim = await createTenant("admin-victim");
    const job = await upload(victim.key, { subject_id: "victim" });
    const now = Date.now();
    await env.DB.prepare(
      `insert into dead_letters (job_id, tenant_id, provider, classification, reason, first_dead_at, last_dead_at, redrive_count, next_redrive_at)
       values (?, ?, 'whisper-pool', 'recoverable', 'provider_unavailable', ?, ?, 0, ?)`,
    )
      .bind(job, victim.tenantId, now, now, now + 3_600_000)
      .run();
    return { victim, job };
  }

  beforeAll(async () => {
    attackerKey = (await createTenant("admin-attacker", ["admin", "transcriptions:read", "transcriptions:write"])).key;
  });

  const attempts: [string, (v: Tenant, job: string) => [string, string, unknown?]][] = [
    ["mint a key for another tenant", (v) => ["POST", `/v1/admin/tenants/${v.tenantId}/keys`, { scopes: ["admin"] }]],
    ["revoke another tenant's key", (v) => ["POST", `/v1/admin/tenants/${v.tenantId}/keys/${v.keyId}/revoke`]],
    ["fail another tenant's dead-lettered job", (_v, job) => ["POST", `/v1/admin/dead-letters/${job}/fail`]],
    ["re-drive another tenant's dead-lettered job", (_v, job) => ["POST", `/v1/admin/dead-letters/${job}/redrive`]],
    [
      "change another tenant's retention",
      (v) => ["PATCH", `/v1/admin/tenants/${v.tenantId}`, { retention: { audio_seconds: 60, transcript_seconds: 60 } }],
    ],
    ["erase another tenant", (v) => ["DELETE", `/v1/admin/tenants/${v.tenantId}`]],
    ["move another tenant", (v) => ["POST", `/v1/admin/tenants/${v.tenantId}/move`, { shard: "us0" }]],
  ];

  for (const [name, build] of attempts) {
    it(`cannot ${name}: the same 403 as for an unknown id, victim untouched`, async () => {
      const { victim, job } = await makeVictim();
      const before = await snapshot(victim.tenantId);
      const [method, path, body] = build(victim, job);
      const send = (target: string) =>
        call(target, {
          method,
          key: attackerKey,
          ...(body ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
        });
      const res = await send(path);
      const unknown = await send(
        path
          .replaceAll(victim.tenantId, "ten_01ZZZZZZZZZZZZZZZZZZZZZZZZ")
          .replaceAll(job, "tr_01ZZZZZZZZZZZZZZZZZZZZZZZZ"),
      );
      const body403 = await expectProblem(res, 403, "operator_required");
      expect({ ...body403, instance: null }).toEqual({
        ...(await expectProblem(unknown, 403, "operator_required")),
        instance: null,
      });
      await expectUnchanged(before, `victim after: ${name}`, victim.tenantId);
      expect((await call(`/v1/transcriptions/${job}`, { key: victim.key })).status).toBe(200);
    });
  }

  it("does not list another tenant's dead letters", async () => {
    const { victim, job: victimJob } = await makeVictim();
    const res = await call("/v1/admin/dead-letters?state=all", { key: attackerKey });
    const body = JSON.stringify(await expectProblem(res, 403, "operator_required"));
    expect(body).not.toContain(victimJob);
    expect(body).not.toContain(victim.tenantId);
  });
});

describe("the bootstrap admin key is the control", () => {
  it("sees A's tenant (so the 403/404s above are about the caller, not broken routes)", async () => {
    const res = await call(`/v1/admin/dead-letters?state=all`, { key: adminKey() });
    expect(res.status).toBe(200);
    const list = (await res.json()) as { data: { job_id: string }[] };
    expect(list.data.map((d) => d.job_id)).toContain(w.aQueued);
  });
});
