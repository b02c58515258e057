/**
 * Moving a tenant (src/tenants/move.ts) with a two-region placement: directory DB, shards SHARD_US_0 (us0) and
 * SHARD_EU_0 (eu0), buckets BUCKET and BUCKET_EU. Every store is inspected after the move.
 */
import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";

import type { Env } from "../../src/env.ts";
import { moveTenant } from "../../src/tenants/move.ts";
import { adminKey, call, callWith, createTenant, multipartUpload } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import { twoRegionPlacement } from "../helpers/placement.ts";
import { deliver, deliverJobs, QUEUES } from "../helpers/queue.ts";
import { OPENAI_VERBOSE_JSON } from "../providers/fixtures.ts";

const PLACEMENT = twoRegionPlacement(["us0"]);
const P = { PLACEMENT } as Partial<Env>;
// spare shards of env.test (wrangler.toml), optional in the Env type
const US_SHARD = env.SHARD_US_0!;
const EU_SHARD = env.SHARD_EU_0!;
const JSON_HEADERS = { "content-type": "application/json" };

beforeAll(async () => {
  await applyD1Migrations(US_SHARD, env.TEST_MIGRATIONS);
  await applyD1Migrations(EU_SHARD, env.TEST_MIGRATIONS);
});

async function tenantIn(region: string): Promise<{ tenantId: string; key: string }> {
  const admin = { key: adminKey(), headers: JSON_HEADERS };
  const t = await callWith(P, "/v1/admin/tenants", {
    method: "POST",
    ...admin,
    body: JSON.stringify({ name: "mover", region }),
  });
  expect(t.status).toBe(201);
  const { id } = (await t.json()) as { id: string };
  const k = await callWith(P, `/v1/admin/tenants/${id}/keys`, {
    method: "POST",
    ...admin,
    // `admin` for the review (feedback is a tenant admin's)
    body: JSON.stringify({ scopes: ["transcriptions:write", "transcriptions:read", "admin"] }),
  });
  return { tenantId: id, key: ((await k.json()) as { key: string }).key };
}

function upload(key: string, overrides: Partial<Env> = {}): Promise<Response> {
  const form = new FormData();
  form.append("provider", "openai");
  form.append("webhook_url", "https://hooks.example.com/vtt");
  form.append("file", new Blob([makeWav()], { type: "audio/wav" }), "clip.wav");
  return callWith({ ...P, ...overrides }, "/v1/transcriptions", { method: "POST", key, body: form });
}

/** A completed job with its transcript, audio, a delivered webhook event and a review. */
async function completedJob(tenantId: string, key: string): Promise<string> {
  const res = await upload(key);
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  interceptFetch()
    .on("POST", "https://api.openai.com/", () => json(OPENAI_VERBOSE_JSON))
    .on("POST", "https://hooks.example.com/", () => new Response(null, { status: 204 }));
  await deliverJobs([id], tenantId, { env: P });
  const event = await US_SHARD.prepare("select id from webhook_events where job_id = ?")
    .bind(id)
    .first<{ id: string }>();
  // the message names the job, so the consumer finds the event in the job's shard
  await deliver(QUEUES.webhooks, [{ body: { v: 1, event_id: event!.id, job_id: id } }], { env: P });
  const review = await callWith(P, `/v1/transcriptions/${id}/feedback`, {
    method: "POST",
    key,
    headers: JSON_HEADERS,
    body: JSON.stringify({ rating: "bad", corrected_text: "hello there world" }),
  });
  expect(review.status).toBeLessThan(300);
  return id;
}

function move(tenantId: string, body: unknown, overrides: Partial<Env> = {}): Promise<Response> {
  return callWith({ ...P, ...overrides }, `/v1/admin/tenants/${tenantId}/move`, {
    method: "POST",
    key: adminKey(),
    headers: JSON_HEADERS,
    body: JSON.stringify(body),
  });
}

const TABLES = [
  "transcriptions",
  "webhook_events",
  "webhook_attempts",
  "transcript_feedback",
  "job_features",
  "transcript_tokens",
];

async function rowsIn(db: D1Database, tenantId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of TABLES) {
    const row = await db
      .prepare(`select count(*) as n from ${table} where tenant_id = ?`)
      .bind(tenantId)
      .first<{ n: number }>();
    counts[table] = row!.n;
  }
  return counts;
}

async function objectsIn(bucket: R2Bucket, tenantId: string): Promise<string[]> {
  const keys: string[] = [];
  for (const prefix of [`audio/${tenantId}/`, `transcripts/${tenantId}/`, `tus/${tenantId}/`]) {
    keys.push(...(await bucket.list({ prefix })).objects.map((o) => o.key));
  }
  return keys.sort();
}

async function directoryRow(tenantId: string) {
  return env.DB.prepare("select region, shard, former_shards, read_only_since from tenants where id = ?")
    .bind(tenantId)
    .first<{ region: string; shard: string; former_shards: string | null; read_only_since: number | null }>();
}

describe("moving a tenant to another region", () => {
  it("copies, verifies, switches and deletes: old ids read the same, rows and objects only in eu", async () => {
    const { tenantId, key } = await tenantIn("us");
    const jobs = [await completedJob(tenantId, key), await completedJob(tenantId, key)];
    const before = await Promise.all(
      jobs.map(async (id) => (await (await callWith(P, `/v1/transcriptions/${id}`, { key })).json()) as object),
    );
    const usRows = await rowsIn(US_SHARD, tenantId);
    expect(usRows).toMatchObject({ transcriptions: 2, webhook_events: 2, webhook_attempts: 2, transcript_feedback: 2 });
    const usObjects = await objectsIn(env.BUCKET, tenantId);
    expect(usObjects.length).toBeGreaterThanOrEqual(4); // audio + transcript per job

    const res = await move(tenantId, { region: "eu" });
    expect(res.status).toBe(200);
    const result = (await res.json()) as { copied: { rows: Record<string, number>; objects: { objects: number } } };
    expect(result).toMatchObject({
      status: "completed",
      moved: true,
      from: { region: "us", shard: "us0" },
      to: { region: "eu", shard: "eu0" },
      tenant: { id: tenantId, region: "eu", shard: "eu0" },
    });
    expect(result.copied.rows.transcriptions).toBe(2);
    expect(result.copied.objects.objects).toBe(usObjects.length);
    expect(await directoryRow(tenantId)).toEqual({
      region: "eu",
      shard: "eu0",
      former_shards: '["us0"]',
      read_only_since: null,
    });

    // the rows and objects are in eu only
    expect(await rowsIn(EU_SHARD, tenantId)).toEqual(usRows);
    expect(Object.values(await rowsIn(US_SHARD, tenantId)).every((n) => n === 0)).toBe(true);
    expect(await US_SHARD.prepare("select count(*) as n from tenants where id = ?").bind(tenantId).first("n")).toBe(0);
    expect(await objectsIn(env.BUCKET_EU, tenantId)).toEqual(usObjects);
    expect(await objectsIn(env.BUCKET, tenantId)).toEqual([]);

    // every read of the old ids works, transcripts (sealed per tenant + key) open from the eu bucket
    for (const [i, id] of jobs.entries()) {
      const job = await callWith(P, `/v1/transcriptions/${id}`, { key });
      expect(job.status).toBe(200);
      expect(await job.json()).toEqual(before[i]);
      const transcript = await callWith(P, `/v1/transcriptions/${id}/transcript?format=txt`, { key });
      expect(transcript.status).toBe(200);
      expect(await transcript.text()).toContain(OPENAI_VERBOSE_JSON.text.trim().split(" ")[0]);
      const hooks = await callWith(P, `/v1/transcriptions/${id}/webhooks`, { key });
      expect(hooks.status).toBe(200);
      expect(JSON.stringify(await hooks.json())).toContain("delivered");
    }
    const list = (await (await callWith(P, "/v1/transcriptions", { key })).json()) as { data: { id: string }[] };
    expect(list.data.map((j) => j.id).sort()).toEqual([...jobs].sort());

    // new uploads land in eu; a re-run is a no-op
    const fresh = await upload(key);
    expect(fresh.status).toBe(202);
    const again = await move(tenantId, { shard: "eu0" });
    expect(await again.json()).toMatchObject({ moved: false, deleted: { rows: 0, objects: 0 } });
  });

  it("refuses writes with 503 tenant_read_only while the move runs; reads keep working", async () => {
    const { tenantId, key } = await tenantIn("us");
    const id = await completedJob(tenantId, key);
    const seen: number[] = [];
    await moveTenant({ ...env, ...P } as Env, tenantId, { region: "eu" }, async () => {
      if (seen.length) return; // the wait after the switch
      const refused = await upload(key);
      seen.push(refused.status);
      expect(refused.headers.get("retry-after")).toBeTruthy();
      expect(await refused.json()).toMatchObject({ code: "tenant_read_only" });
      expect((await callWith(P, `/v1/transcriptions/${id}`, { key })).status).toBe(200);
    });
    expect(seen).toEqual([503]);
    expect((await upload(key)).status).toBe(202);
  });

  it("is 409 tenant_busy with a queued job and leaves the tenant writable where it was", async () => {
    const { tenantId, key } = await tenantIn("us");
    expect((await upload(key)).status).toBe(202);
    const res = await move(tenantId, { region: "eu" });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ code: "tenant_busy" });
    expect(await directoryRow(tenantId)).toMatchObject({ shard: "us0", read_only_since: null });
    expect((await upload(key)).status).toBe(202);
  });

  it("a target shard failing midway leaves the tenant intact in the old shard, and a re-run then moves it", async () => {
    const { tenantId, key } = await tenantIn("us");
    const id = await completedJob(tenantId, key);
    const usRows = await rowsIn(US_SHARD, tenantId);
    const usObjects = await objectsIn(env.BUCKET, tenantId);
    // the first batch of copied rows lands, the next one fails as a lost database does
    let batches = 0;
    const real = EU_SHARD;
    const failing = {
      prepare: (sql: string) => real.prepare(sql),
      exec: (sql: string) => real.exec(sql),
      batch: async (statements: D1PreparedStatement[]) => {
        if (++batches > 1) throw new Error("D1_ERROR: Network connection lost.");
        return real.batch(statements);
      },
    } as unknown as D1Database;
    const res = await move(tenantId, { region: "eu" }, { SHARD_EU_0: failing });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: "storage_unavailable" });
    expect(batches).toBeGreaterThan(1);

    expect(await directoryRow(tenantId)).toMatchObject({ region: "us", shard: "us0", read_only_since: null });
    expect(await rowsIn(US_SHARD, tenantId)).toEqual(usRows);
    expect(await objectsIn(env.BUCKET, tenantId)).toEqual(usObjects);
    expect(Object.values(await rowsIn(EU_SHARD, tenantId)).every((n) => n === 0)).toBe(true);
    expect(await objectsIn(env.BUCKET_EU, tenantId)).toEqual([]);
    expect((await callWith(P, `/v1/transcriptions/${id}`, { key })).status).toBe(200);

    const retry = await move(tenantId, { region: "eu" });
    expect(retry.status).toBe(200);
    expect(await rowsIn(EU_SHARD, tenantId)).toEqual(usRows);
  });

  it("answers bad input with problem+json: unknown shard or region 422, both or neither 422, unknown tenant 404", async () => {
    const { tenantId } = await tenantIn("us");
    expect(await (await move(tenantId, { shard: "zz9" })).json()).toMatchObject({ status: 422, code: "unknown_shard" });
    expect(await (await move(tenantId, { region: "mars" })).json()).toMatchObject({
      status: 422,
      code: "unknown_region",
    });
    expect((await move(tenantId, { shard: "eu0", region: "eu" })).status).toBe(422);
    expect((await move(tenantId, {})).status).toBe(422);
    expect((await move("tn_01JD0000000000000000000000", { shard: "eu0" })).status).toBe(404);
    expect((await move("../etc", { shard: "eu0" })).status).toBe(404);
  });
});

describe("moving a tenant to another shard of its region", () => {
  const TWO_US = twoRegionPlacement();

  it("moves the rows only: the objects stay in the region's bucket and read the same", async () => {
    await applyD1Migrations(env.SHARD_US_1!, env.TEST_MIGRATIONS);
    const { tenantId, key } = await tenantIn("us");
    const id = await completedJob(tenantId, key);
    const rows = await rowsIn(US_SHARD, tenantId);
    const objects = await objectsIn(env.BUCKET, tenantId);
    const res = await move(tenantId, { shard: "us1" }, { PLACEMENT: TWO_US });
    expect(res.status).toBe(200);
    const result = (await res.json()) as { to: unknown; copied: { objects?: unknown } };
    expect(result.to).toEqual({ region: "us", shard: "us1" });
    expect(result.copied.objects).toBeUndefined();
    expect(await rowsIn(env.SHARD_US_1!, tenantId)).toEqual(rows);
    expect(Object.values(await rowsIn(US_SHARD, tenantId)).every((n) => n === 0)).toBe(true);
    expect(await objectsIn(env.BUCKET, tenantId)).toEqual(objects);
    const transcript = await callWith({ PLACEMENT: TWO_US }, `/v1/transcriptions/${id}/transcript?format=txt`, { key });
    expect(transcript.status).toBe(200);
  });
});

describe("a read-only tenant (read_only_since set by a move)", () => {
  const ORIGIN = { origin: "https://edge.test", "sec-fetch-site": "same-origin" };
  const setReadOnly = (tenantId: string, since: number | null) =>
    env.DB.prepare("update tenants set read_only_since = ? where id = ?").bind(since, tenantId).run();

  it("refuses every write route (OpenAI's shape on /v1/audio/*) and console forms, and keeps reads", async () => {
    const { tenantId, key } = await createTenant("read-only", ["admin", "transcriptions:read", "transcriptions:write"]);
    const signIn = await call("/console/sign-in", {
      method: "POST",
      redirect: "manual",
      headers: ORIGIN,
      body: new URLSearchParams({ api_key: key }),
    });
    const cookie = signIn.headers.get("set-cookie")!.split(";")[0]!;
    await setReadOnly(tenantId, Date.now());

    const refused = [
      await multipartUpload(key),
      await call("/v1/transcriptions/tr_01JD0000000000000000000000", { method: "DELETE", key }),
      await call("/v1/webhooks/secret/rotate", { method: "POST", key }),
      await call("/v1/uploads", { method: "POST", key, headers: { "tus-resumable": "1.0.0", "upload-length": "10" } }),
    ];
    for (const res of refused) {
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("30");
      expect(await res.json()).toMatchObject({ code: "tenant_read_only" });
    }
    const form = new FormData();
    form.append("model", "whisper-1");
    form.append("file", new Blob([makeWav()], { type: "audio/wav" }), "clip.wav");
    const openai = await call("/v1/audio/transcriptions", { method: "POST", key, body: form });
    expect(openai.status).toBe(503);
    expect(await openai.json()).toMatchObject({ error: { code: "tenant_read_only" } });

    expect((await call("/v1/transcriptions", { key })).status).toBe(200);
    expect((await call("/console", { headers: { cookie }, redirect: "manual" })).status).toBe(200);
    const consoleWrite = await call("/console/transcripts/tr_01JD0000000000000000000000/delete", {
      method: "POST",
      redirect: "manual",
      headers: { cookie, ...ORIGIN },
      body: new URLSearchParams({ csrf_token: "x" }),
    });
    expect(consoleWrite.status).toBe(503);
    expect(consoleWrite.headers.get("retry-after")).toBe("30");

    await setReadOnly(tenantId, null);
    expect((await multipartUpload(key)).status).toBe(202);
  });
});
