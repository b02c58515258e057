/**
 * Regions and shards (issue 15): two regions, `us` with two job shards and `eu` with one, the directory in DB. Every
 * store is inspected directly: an `eu` tenant's rows, audio, transcripts and queue messages land only in `eu`
 * resources; ids name their shard; a forged shard suffix is a 404 without a read; a shard that is down fails only
 * its own tenants (503 + Retry-After) and loses nothing.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";

import type { Env, JobMessage, WebhookMessage } from "../../src/env.ts";
import { runCronTasks } from "../../src/index.ts";
import { ulid } from "../../src/lib/ids.ts";
import { adminKey, callWith } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import { failingDatabase, migrateShards, twoRegionPlacement } from "../helpers/placement.ts";
import { deliver } from "../helpers/queue.ts";
import { OPENAI_VERBOSE_JSON } from "../providers/fixtures.ts";

const PLACEMENT = twoRegionPlacement();

type DatabaseName = "DB" | "SHARD_US_0" | "SHARD_US_1" | "SHARD_EU_0";
const db = (name: DatabaseName): D1Database => (env as unknown as Record<string, D1Database>)[name]!;

/** Every message the Worker sends, by producer binding. */
const sent: { binding: string; body: unknown }[] = [];
function recordingQueue(binding: "JOBS" | "JOBS_EU" | "WEBHOOKS" | "WEBHOOKS_EU"): Queue {
  const real = (env as unknown as Record<string, Queue>)[binding]!;
  return {
    send: async (body: unknown, options?: QueueSendOptions) => {
      sent.push({ binding, body });
      return real.send(body, options);
    },
    sendBatch: async (messages: Iterable<MessageSendRequest>, options?: QueueSendBatchOptions) => {
      for (const message of messages) sent.push({ binding, body: message.body });
      return real.sendBatch(messages, options);
    },
  } as Queue;
}

function regional(extra: Partial<Env> = {}): Partial<Env> {
  return {
    PLACEMENT,
    JOBS: recordingQueue("JOBS"),
    JOBS_EU: recordingQueue("JOBS_EU"),
    WEBHOOKS: recordingQueue("WEBHOOKS"),
    WEBHOOKS_EU: recordingQueue("WEBHOOKS_EU"),
    ...extra,
  } as Partial<Env>;
}

const jsonBody = (body: unknown) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

async function createTenantIn(region: string | undefined, name: string, extra: Partial<Env> = {}) {
  const res = await callWith(regional(extra), "/v1/admin/tenants", {
    ...jsonBody({ name, ...(region ? { region } : {}) }),
    key: adminKey(),
  });
  expect(res.status).toBe(201);
  const tenant = (await res.json()) as { id: string; region: string; shard: string };
  const keyRes = await callWith(regional(extra), `/v1/admin/tenants/${tenant.id}/keys`, {
    ...jsonBody({}),
    key: adminKey(),
  });
  expect(keyRes.status).toBe(201);
  return { ...tenant, key: ((await keyRes.json()) as { key: string }).key };
}

function upload(key: string, extra: Partial<Env> = {}, query = "") {
  return callWith(regional(extra), `/v1/transcriptions${query}`, {
    method: "POST",
    key,
    body: makeWav(0.5),
    headers: { "content-type": "audio/wav" },
  });
}

async function rowsOf(name: DatabaseName, table: string, tenantId: string): Promise<number> {
  const row = await db(name).prepare(`select count(*) as n from ${table} where tenant_id = ?`).bind(tenantId).first();
  return (row as { n: number }).n;
}

async function objectsOf(bucket: R2Bucket, tenantId: string): Promise<string[]> {
  const keys: string[] = [];
  for (const prefix of [`audio/${tenantId}/`, `transcripts/${tenantId}/`, `tus/${tenantId}/`]) {
    const listed = await bucket.list({ prefix });
    keys.push(...listed.objects.map((o) => o.key));
  }
  return keys;
}

beforeAll(migrateShards);

describe("tenants in regions", () => {
  it("a tenant is created in a configured region (default the first); an unknown region is a 422", async () => {
    const eu = await createTenantIn("eu", "eu-co");
    expect(eu).toMatchObject({ region: "eu", shard: "eu0" });
    const us = await createTenantIn(undefined, "us-co");
    expect(us.region).toBe("us");

    const bad = await callWith(regional(), "/v1/admin/tenants", {
      ...jsonBody({ name: "nowhere", region: "mars" }),
      key: adminKey(),
    });
    expect(bad.status).toBe(422);
    const problem = (await bad.json()) as { code: string; errors: { field: string }[] };
    expect(problem.code).toBe("unknown_region");
    expect(problem.errors[0]!.field).toBe("region");

    const read = await callWith(regional(), `/v1/admin/tenants/${eu.id}`, { key: adminKey() });
    expect(await read.json()).toMatchObject({ id: eu.id, region: "eu", shard: "eu0" });
    // the directory holds the tenant; its shard holds a copy without the webhook secret
    expect(await db("DB").prepare("select region, shard from tenants where id = ?").bind(eu.id).first()).toEqual({
      region: "eu",
      shard: "eu0",
    });
    expect(await db("SHARD_EU_0").prepare("select id from tenants where id = ?").bind(eu.id).first()).toEqual({
      id: eu.id,
    });
    expect(await db("SHARD_US_0").prepare("select id from tenants where id = ?").bind(eu.id).first()).toBeNull();
  });

  it("new tenants of a region go to the accepting shard with the fewest tenants", async () => {
    const shards: string[] = [];
    for (let i = 0; i < 4; i++) shards.push((await createTenantIn("us", `spread-${i}`)).shard);
    const counts = (code: string) => shards.filter((s) => s === code).length;
    // earlier tests of this file may have placed a us tenant already: the spread never differs by more than one
    expect(Math.abs(counts("us0") - counts("us1"))).toBeLessThanOrEqual(1);
    expect(counts("us0") + counts("us1")).toBe(4);
  });
});

describe("an eu tenant's data never lands in us resources", () => {
  it("rows, audio, transcripts, webhook events and queue messages stay in eu", async () => {
    const tenant = await createTenantIn("eu", "residency");
    sent.length = 0;
    const res = await upload(tenant.key, {}, "?webhook_url=https%3A%2F%2Fhooks.example.com%2Feu");
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    // the id names its shard
    expect(id).toMatch(/^tr_[0-9A-Z]{26}eu0$/);
    expect(sent.map((m) => m.binding)).toEqual(["JOBS_EU"]);
    expect(sent[0]!.body).toEqual({ v: 1, job_id: id, tenant_id: tenant.id, traceparent: expect.any(String) });

    // the job runs from the eu queue, in the eu shard
    const outbound = interceptFetch().on("POST", "https://api.openai.com/v1/audio/transcriptions", () =>
      json(OPENAI_VERBOSE_JSON),
    );
    const delivery = await deliver("vtt-jobs-eu", [{ body: sent[0]!.body as JobMessage }], { env: regional() });
    expect(delivery.explicitAcks).toEqual(delivery.ids);
    expect(outbound.requests).toHaveLength(1);
    const webhookMessages = sent.filter((m) => m.binding.startsWith("WEBHOOKS"));
    expect(webhookMessages.map((m) => m.binding)).toEqual(["WEBHOOKS_EU"]);
    expect((webhookMessages[0]!.body as WebhookMessage).job_id).toBe(id);

    const job = await callWith(regional(), `/v1/transcriptions/${id}`, { key: tenant.key });
    expect(job.status).toBe(200);
    expect(await job.json()).toMatchObject({ id, status: "completed", text: OPENAI_VERBOSE_JSON.text });
    const transcript = await callWith(regional(), `/v1/transcriptions/${id}/transcript?format=txt`, {
      key: tenant.key,
    });
    expect(transcript.status).toBe(200);

    // every store, inspected directly
    expect(await rowsOf("SHARD_EU_0", "transcriptions", tenant.id)).toBe(1);
    expect(await rowsOf("SHARD_EU_0", "webhook_events", tenant.id)).toBe(1);
    for (const name of ["DB", "SHARD_US_0", "SHARD_US_1"] as const) {
      for (const table of ["transcriptions", "webhook_events", "job_features", "transcript_tokens"]) {
        expect(await rowsOf(name, table, tenant.id), `${name}.${table}`).toBe(0);
      }
    }
    const euObjects = await objectsOf(env.BUCKET_EU, tenant.id);
    expect(euObjects.filter((k) => k.startsWith("audio/"))).toHaveLength(1);
    expect(euObjects.filter((k) => k.startsWith("transcripts/"))).toHaveLength(1);
    expect(await objectsOf(env.BUCKET, tenant.id)).toEqual([]);
    // messages carry ids only
    for (const message of sent) expect(JSON.stringify(message.body)).not.toContain(OPENAI_VERBOSE_JSON.text);
  });

  it("ids of a us tenant name its shard; the first shard's ids keep the old shape", async () => {
    const ids: string[] = [];
    const shards = new Set<string>();
    for (let i = 0; i < 2; i++) {
      const tenant = await createTenantIn("us", `ids-${i}`);
      shards.add(tenant.shard);
      const res = await upload(tenant.key);
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      ids.push(id);
      const shardDb = tenant.shard === "us0" ? "SHARD_US_0" : "SHARD_US_1";
      expect(await rowsOf(shardDb, "transcriptions", tenant.id)).toBe(1);
      expect(id).toMatch(tenant.shard === "us0" ? /^tr_[0-9A-Z]{26}$/ : /^tr_[0-9A-Z]{26}us1$/);
    }
    expect(shards.size).toBeGreaterThan(0);
  });
});

describe("forged and unknown ids", () => {
  it("an id whose shard part is unknown or names another tenant's shard is a 404, never a read there", async () => {
    const tenant = await createTenantIn("eu", "forger");
    // a broken us1 proves nothing reads it: a read would answer 503, not 404
    const extra = { SHARD_US_1: failingDatabase() } as Partial<Env>;
    for (const id of [`tr_${ulid()}zz9`, `tr_${ulid()}us1`, `tr_${ulid()}`, `tr_${ulid()}eu0`]) {
      const res = await callWith(regional(extra), `/v1/transcriptions/${id}`, { key: tenant.key });
      expect(res.status, id).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe("not_found");
    }
    const upload = await callWith(regional(extra), `/v1/uploads/up_${ulid()}zz9`, {
      method: "HEAD",
      key: tenant.key,
      headers: { "tus-resumable": "1.0.0" },
    });
    expect(upload.status).toBe(404);
  });

  it("a job message whose id names no configured shard is dropped, not retried forever", async () => {
    const delivery = await deliver("vtt-jobs-eu", [{ body: { v: 1, job_id: `tr_${ulid()}zz9`, tenant_id: "tn_x" } }], {
      env: regional(),
    });
    expect(delivery.explicitAcks).toEqual(delivery.ids);
  });
});

describe("a shard that is down", () => {
  it("fails only its tenants (503 + Retry-After), keeps the others working, and loses nothing", async () => {
    const eu = await createTenantIn("eu", "outage-eu");
    const us = await createTenantIn("us", "outage-us");
    sent.length = 0;
    const before = await upload(eu.key);
    expect(before.status).toBe(202);
    const { id } = (await before.json()) as { id: string };
    const message = sent.find((m) => m.binding === "JOBS_EU")!.body as JobMessage;
    const euAudioBefore = (await objectsOf(env.BUCKET_EU, eu.id)).length;

    const down = { SHARD_EU_0: failingDatabase() } as Partial<Env>;
    const read = await callWith(regional(down), `/v1/transcriptions/${id}`, { key: eu.key });
    expect(read.status).toBe(503);
    expect(read.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(((await read.json()) as { code: string }).code).toBe("storage_unavailable");
    const refused = await upload(eu.key, down);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    // the refused upload left no audio behind
    expect((await objectsOf(env.BUCKET_EU, eu.id)).length).toBe(euAudioBefore);
    // other tenants' uploads are still accepted
    const other = await upload(us.key, down);
    expect(other.status).toBe(202);

    // the consumer retries the job instead of dropping it
    const outbound = interceptFetch().on("POST", "https://api.openai.com/v1/audio/transcriptions", () =>
      json(OPENAI_VERBOSE_JSON),
    );
    const whileDown = await deliver("vtt-jobs-eu", [{ body: message }], { env: regional(down), captureError: true });
    expect(whileDown.explicitAcks).toEqual([]);
    expect(outbound.requests).toHaveLength(0);

    // cron: every task runs for the healthy shards; the failing shard's runs are reported, not hidden
    const outcomes = await runCronTasks({ ...env, ...regional(down) } as Env);
    expect(outcomes.some((o) => o.status === "rejected")).toBe(true);
    expect(outcomes.filter((o) => o.status === "fulfilled").length).toBeGreaterThan(outcomes.length / 2);

    // back up: the job that waited completes
    const after = await deliver("vtt-jobs-eu", [{ body: message, attempts: 2 }], { env: regional() });
    expect(after.explicitAcks).toEqual(after.ids);
    const job = await callWith(regional(), `/v1/transcriptions/${id}`, { key: eu.key });
    expect(await job.json()).toMatchObject({ id, status: "completed" });
  });
});

describe("a placement that does not parse", () => {
  it("fails requests closed with 503 placement_invalid, never a guess at where data goes", async () => {
    const tenant = await createTenantIn("us", "misconfigured");
    for (const placement of ["{not json", JSON.stringify({ regions: { us: { bucket: "BUCKET" } } })]) {
      const res = await callWith({ PLACEMENT: placement } as Partial<Env>, "/v1/transcriptions", { key: tenant.key });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { code: string }).code).toBe("placement_invalid");
    }
  });
});

describe("the verified-key cache", () => {
  it("trusts a verified key for API_KEY_CACHE_SECONDS; a revocation through this isolate applies at once", async () => {
    const tenant = await createTenantIn("us", "cached");
    const cached = { API_KEY_CACHE_SECONDS: "30" } as Partial<Env>;
    const list = () => callWith(regional(cached), "/v1/transcriptions", { key: tenant.key });
    expect((await list()).status).toBe(200);
    // revoked behind the Worker's back (another isolate): still trusted within the bound
    await db("DB").prepare("update api_keys set revoked_at = ? where tenant_id = ?").bind(Date.now(), tenant.id).run();
    expect((await list()).status).toBe(200);
    // with the cache off, the directory's answer counts at once
    expect((await callWith(regional(), "/v1/transcriptions", { key: tenant.key })).status).toBe(401);

    const second = await createTenantIn("us", "cached-2");
    expect((await callWith(regional(cached), "/v1/transcriptions", { key: second.key })).status).toBe(200);
    const keys = (await (
      await callWith(regional(), `/v1/admin/tenants/${second.id}/keys`, { key: adminKey() })
    ).json()) as { data: { id: string }[] };
    const revoke = await callWith(regional(), `/v1/admin/tenants/${second.id}/keys/${keys.data[0]!.id}/revoke`, {
      method: "POST",
      key: adminKey(),
    });
    expect(revoke.status).toBe(204);
    expect((await callWith(regional(cached), "/v1/transcriptions", { key: second.key })).status).toBe(401);
  });
});
