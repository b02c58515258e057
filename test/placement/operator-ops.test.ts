/**
 * Operator work over every job shard (issue 15 §1), two regions with three shards (us0, us1, eu0), the directory in
 * DB: `POST /v1/admin/search/reindex` and `POST /v1/admin/encryption/rewrap` cover each shard's jobs (and each
 * region's bucket) exactly once across repeated cursor calls; the operator console's dead-letter page lists every
 * shard's items and acts in the shard a job id names; a failing shard is reported and the others are served.
 */
import { signedHeaders } from "@vtt/pool-contract";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";

import type { Env } from "../../src/env.ts";
import { adminKey, BASE, callWith } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";
import {
  failingDatabase,
  migrateShards,
  type ShardCode,
  shardDatabase,
  twoRegionPlacement,
} from "../helpers/placement.ts";
import { completedCallback, POOL_CALLBACK_RING } from "../helpers/pool.ts";
import { deliverDeadLetters } from "../helpers/queue.ts";

const PLACEMENT = twoRegionPlacement();
// the test ring is "m2:…,m1:…": before the rotation only m1 existed
const [, M1] = env.ENCRYPTION_KEYS!.split(",");

const jsonBody = (body: unknown) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

interface Tenant {
  id: string;
  key: string;
  shard: ShardCode;
}

/** A tenant placed in `shard` (created while its region offers only that shard). */
async function tenantIn(shard: ShardCode, name: string): Promise<Tenant> {
  const placement = shard === "eu0" ? PLACEMENT : twoRegionPlacement([shard]);
  const res = await callWith({ PLACEMENT: placement }, "/v1/admin/tenants", {
    ...jsonBody({ name, region: shard === "eu0" ? "eu" : "us" }),
    key: adminKey(),
  });
  expect(res.status).toBe(201);
  const tenant = (await res.json()) as { id: string; shard: string };
  expect(tenant.shard).toBe(shard);
  const keyRes = await callWith({ PLACEMENT }, `/v1/admin/tenants/${tenant.id}/keys`, {
    ...jsonBody({}),
    key: adminKey(),
  });
  expect(keyRes.status).toBe(201);
  return { id: tenant.id, shard, key: ((await keyRes.json()) as { key: string }).key };
}

/** A completed pool job of `tenant` with `text`, written under `overrides` (e.g. an older master key ring). */
async function completedJob(tenant: Tenant, text: string, overrides: Partial<Env> = {}): Promise<string> {
  const form = new FormData();
  form.append("provider", "whisper-pool");
  form.append("file", new Blob([makeWav(0.3)], { type: "audio/wav" }), "a.wav");
  const upload = await callWith({ PLACEMENT, ...overrides }, "/v1/transcriptions", {
    method: "POST",
    key: tenant.key,
    body: form,
  });
  expect(upload.status).toBe(202);
  const { id } = (await upload.json()) as { id: string };
  const body = JSON.stringify(completedCallback(id, { text, segments: [{ start: 0, end: 2, text }] }));
  const callback = await callWith({ PLACEMENT, ...overrides }, "/internal/pool/callback", {
    method: "POST",
    body,
    headers: { ...(await signedHeaders(POOL_CALLBACK_RING, body)), "content-type": "application/json" },
  });
  expect(callback.status).toBe(200);
  return id;
}

async function tokenRows(shard: ShardCode, jobId: string): Promise<number> {
  const row = await shardDatabase(shard)
    .prepare("select count(*) as n from transcript_tokens where job_id = ?")
    .bind(jobId)
    .first<{ n: number }>();
  return row!.n;
}

async function dropTokens(shard: ShardCode, jobId: string): Promise<void> {
  await shardDatabase(shard).prepare("delete from transcript_tokens where job_id = ?").bind(jobId).run();
}

interface Batch {
  jobs_indexed: number;
  next_cursor: string | null;
  shards: { shard: string; error: string }[];
}

/** Calls the reindex route until `next_cursor` is null; every answer in order. */
async function reindexWalk(query: string, overrides: Partial<Env> = {}, first?: string): Promise<Batch[]> {
  const batches: Batch[] = [];
  let cursor: string | null | undefined = first;
  do {
    const q = cursor ? `${query}&cursor=${encodeURIComponent(cursor)}` : query;
    const res = await callWith({ PLACEMENT, ...overrides }, `/v1/admin/search/reindex${q}`, {
      method: "POST",
      key: adminKey(),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const batch = (await res.json()) as Batch;
    batches.push(batch);
    cursor = batch.next_cursor;
    expect(batches.length).toBeLessThan(20);
  } while (cursor);
  return batches;
}

const indexedIn = (batches: Batch[]) => batches.reduce((n, b) => n + b.jobs_indexed, 0);

let us0: Tenant;
let us1: Tenant;
let eu0: Tenant;

beforeAll(async () => {
  await migrateShards();
  us0 = await tenantIn("us0", "walk-us0");
  us1 = await tenantIn("us1", "walk-us1");
  eu0 = await tenantIn("eu0", "walk-eu0");
});

describe("POST /v1/admin/search/reindex over every shard", () => {
  let jobs: { shard: ShardCode; id: string }[];

  beforeAll(async () => {
    jobs = [
      { shard: "us0", id: await completedJob(us0, "words of the first shard") },
      { shard: "us1", id: await completedJob(us1, "words of the second shard") },
      { shard: "eu0", id: await completedJob(eu0, "words of the european shard") },
    ];
    // ids name their shard; the first shard's keep the old shape
    expect(jobs.map((j) => j.id.slice(29))).toEqual(["", "us1", "eu0"]);
  });

  it("covers the jobs of us0, us1 and eu0 exactly once across repeated cursor calls", async () => {
    for (const job of jobs) await dropTokens(job.shard, job.id);
    // one job a call: each shard takes a full batch, then an empty one that hands over to the next shard
    const batches = await reindexWalk("?limit=1");
    expect(indexedIn(batches)).toBe(3);
    expect(batches.map((b) => b.jobs_indexed)).toEqual([1, 0, 1, 0, 1, 0]);
    expect(batches.every((b) => b.shards.length === 0)).toBe(true);
    for (const job of jobs) expect(await tokenRows(job.shard, job.id), job.shard).toBe(5);
    // the cursor is opaque: no job id in it
    for (const b of batches.slice(0, -1)) expect(b.next_cursor).toMatch(/^sw1\.[A-Za-z0-9_-]+$/);
    // a larger batch: one call per shard
    expect((await reindexWalk("?limit=50")).map((b) => b.jobs_indexed)).toEqual([1, 1, 1]);
  });

  it("reports a failing shard, does the others, and re-runs that shard alone with `shard`", async () => {
    for (const job of jobs) await dropTokens(job.shard, job.id);
    const batches = await reindexWalk("?limit=50", { SHARD_US_1: failingDatabase() } as Partial<Env>);
    expect(batches.map((b) => b.shards)).toEqual([[], [{ shard: "us1", error: "storage_unavailable" }], []]);
    expect(indexedIn(batches)).toBe(2);
    expect(await tokenRows("us0", jobs[0]!.id)).toBe(5);
    expect(await tokenRows("us1", jobs[1]!.id)).toBe(0);
    expect(await tokenRows("eu0", jobs[2]!.id)).toBe(5);

    // the shard is back: walk it alone (its cursor stays in it)
    const rerun = await reindexWalk("?limit=1&shard=us1");
    expect(rerun.map((b) => b.jobs_indexed)).toEqual([1, 0]);
    expect(await tokenRows("us1", jobs[1]!.id)).toBe(5);
  });

  it("takes an old-style cursor (a job id) in the shard its id names, and refuses cursors of no walk", async () => {
    // after us0's only job: nothing more in us0, then us1 and eu0
    const batches = await reindexWalk("?limit=50", {}, jobs[0]!.id);
    expect(batches.map((b) => b.jobs_indexed)).toEqual([0, 1, 1]);

    const refused = async (query: string) => {
      const res = await callWith({ PLACEMENT }, `/v1/admin/search/reindex${query}`, {
        method: "POST",
        key: adminKey(),
      });
      expect(res.status, query).toBe(400);
      expect(await res.json()).toMatchObject({ code: "invalid_parameters" });
    };
    await refused("?cursor=nope");
    await refused(`?cursor=sw1.${btoa('{"at":"zz9","after":null,"only":false}').replace(/=+$/, "")}`);
    await refused("?cursor=sw1.not*base64");
    await refused(`?cursor=tr_01JD0000000000000000000000zz9`); // a shard suffix no shard has
    await refused("?shard=zz9");
    await refused("?shard=US0");
    // a cursor of the whole walk is not one of a walk kept to one shard
    const [first] = await reindexWalk("?limit=1");
    expect(first!.next_cursor).not.toBeNull();
    await refused(`?shard=us1&cursor=${encodeURIComponent(first!.next_cursor!)}`);
  });
});

describe("POST /v1/admin/encryption/rewrap over every shard and region", () => {
  interface Rewrap {
    objects_rewrapped: number;
    fields_resealed: number;
    next_cursor: string | null;
    stale_fields: number;
    shards: { shard: string; error: string }[];
  }

  async function rewrapWalk(overrides: Partial<Env> = {}, first?: string): Promise<Rewrap[]> {
    const calls: Rewrap[] = [];
    let cursor: string | null | undefined = first;
    do {
      const q = cursor ? `?limit=500&cursor=${encodeURIComponent(cursor)}` : "?limit=500";
      const res = await callWith({ PLACEMENT, ...overrides }, `/v1/admin/encryption/rewrap${q}`, {
        method: "POST",
        key: adminKey(),
      });
      expect(res.status, await res.clone().text()).toBe(200);
      const answer = (await res.json()) as Rewrap;
      calls.push(answer);
      cursor = answer.next_cursor;
      expect(calls.length).toBeLessThan(20);
    } while (cursor);
    return calls;
  }

  const textOf = async (shard: ShardCode, id: string) =>
    String(
      (await shardDatabase(shard).prepare("select text from transcriptions where id = ?").bind(id).first<{
        text: string;
      }>())!.text,
    );
  const versionOf = async (bucket: R2Bucket, key: string) => (await bucket.head(key))!.customMetadata!.kv;

  it("moves every shard's sealed fields and both regions' objects to the newest version", async () => {
    const before = { ENCRYPTION_KEYS: M1 } as Partial<Env>;
    const written = [
      { shard: "us0" as const, tenant: us0, bucket: env.BUCKET },
      { shard: "us1" as const, tenant: us1, bucket: env.BUCKET },
      { shard: "eu0" as const, tenant: eu0, bucket: env.BUCKET_EU },
    ];
    const ids: string[] = [];
    for (const w of written) ids.push(await completedJob(w.tenant, `sealed under m1 in ${w.shard}`, before));
    for (const [i, w] of written.entries()) {
      expect(await textOf(w.shard, ids[i]!)).toMatch(/^enc1\.m1\./);
      expect(await versionOf(w.bucket, `audio/${w.tenant.id}/${ids[i]}`)).toBe("m1");
    }

    const calls = await rewrapWalk();
    // one call per region's bucket; the fields of all three shards resealed by the first
    expect(calls).toHaveLength(2);
    expect(calls[0]!.fields_resealed).toBeGreaterThanOrEqual(3);
    expect(calls.map((c) => c.shards)).toEqual([[], []]);
    expect(calls.at(-1)!.stale_fields).toBe(0);
    // us bucket: two audio objects and two transcripts; eu bucket: one of each
    expect(calls[0]!.objects_rewrapped).toBeGreaterThanOrEqual(4);
    expect(calls[1]!.objects_rewrapped).toBeGreaterThanOrEqual(2);
    for (const [i, w] of written.entries()) {
      expect(await textOf(w.shard, ids[i]!), w.shard).toMatch(/^enc1\.m2\./);
      expect(await versionOf(w.bucket, `audio/${w.tenant.id}/${ids[i]}`), w.shard).toBe("m2");
    }
    // nothing left: a second walk moves nothing
    const again = await rewrapWalk();
    expect(again.map((c) => [c.objects_rewrapped, c.fields_resealed, c.stale_fields])).toEqual([
      [0, 0, 0],
      [0, 0, 0],
    ]);
  });

  it("reports a failing shard (its fields not counted), does the others, and the next call tries it again", async () => {
    const before = { ENCRYPTION_KEYS: M1 } as Partial<Env>;
    const inUs1 = await completedJob(us1, "stale in the second shard", before);
    const inEu0 = await completedJob(eu0, "stale in the european shard", before);
    const failing = await rewrapWalk({ SHARD_US_1: failingDatabase() } as Partial<Env>);
    expect(failing.map((c) => c.shards)).toEqual([
      [{ shard: "us1", error: "storage_unavailable" }],
      [{ shard: "us1", error: "storage_unavailable" }],
    ]);
    expect(failing.at(-1)!.stale_fields).toBe(0); // us1's are missing from the count: `shards` says so
    expect(await textOf("eu0", inEu0)).toMatch(/^enc1\.m2\./);
    expect(await textOf("us1", inUs1)).toMatch(/^enc1\.m1\./);
    // objects are in the buckets, not the shard: they were moved anyway
    expect(await versionOf(env.BUCKET, `audio/${us1.id}/${inUs1}`)).toBe("m2");

    const back = await rewrapWalk();
    expect(back[0]!.fields_resealed).toBeGreaterThanOrEqual(1);
    expect(back.map((c) => c.shards)).toEqual([[], []]);
    expect(back.at(-1)!.stale_fields).toBe(0);
    expect(await textOf("us1", inUs1)).toMatch(/^enc1\.m2\./);
  });

  it("refuses a cursor of no walk; single-database mode walks one bucket as before", async () => {
    const bad = await callWith({ PLACEMENT }, "/v1/admin/encryption/rewrap?cursor=sw1.e30", {
      method: "POST",
      key: adminKey(),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: "invalid_parameters" });
    // a cursor from before regions is an R2 listing cursor of the first region's bucket: R2's own word on it
    const legacy = await callWith({ PLACEMENT }, "/v1/admin/encryption/rewrap?cursor=not-an-r2-cursor", {
      method: "POST",
      key: adminKey(),
    });
    expect(legacy.status, await legacy.clone().text()).toBeLessThan(500);
    const single = await callWith({}, "/v1/admin/encryption/rewrap?limit=500", { method: "POST", key: adminKey() });
    expect(single.status).toBe(200);
    expect(await single.json()).toMatchObject({ next_cursor: null, shards: [] });
  });
});

describe("operator console: dead letters of every shard", () => {
  const ORIGIN = { origin: BASE, "sec-fetch-site": "same-origin" };

  async function signIn(): Promise<string> {
    const res = await callWith({ PLACEMENT }, "/console/sign-in", {
      method: "POST",
      redirect: "manual",
      headers: ORIGIN,
      body: new URLSearchParams({ api_key: adminKey() }),
    });
    expect(res.status).toBe(303);
    return res.headers.get("set-cookie")!.split(";")[0]!;
  }
  const page = (cookie: string, path: string, overrides: Partial<Env> = {}) =>
    callWith({ PLACEMENT, ...overrides }, path, { headers: { cookie }, redirect: "manual" });
  const post = (cookie: string, path: string, csrf: string) =>
    callWith({ PLACEMENT }, path, {
      method: "POST",
      redirect: "manual",
      headers: { ...ORIGIN, cookie },
      body: new URLSearchParams({ csrf_token: csrf }),
    });

  /** A queued job of `tenant` whose message ran out of retries: a pending recoverable item in its shard. */
  async function deadLettered(tenant: Tenant): Promise<string> {
    const res = await callWith({ PLACEMENT }, "/v1/transcriptions", {
      method: "POST",
      key: tenant.key,
      body: makeWav(0.3),
      headers: { "content-type": "audio/wav" },
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await deliverDeadLetters([id], tenant.id, { env: { PLACEMENT } as Partial<Env> });
    return id;
  }

  const itemOf = (shard: ShardCode, jobId: string) =>
    shardDatabase(shard)
      .prepare("select redrive_count, resolved_at, resolution from dead_letters where job_id = ?")
      .bind(jobId)
      .first<{ redrive_count: number; resolved_at: number | null; resolution: string | null }>();

  it("lists the items of us0, us1 and eu0, re-drives and fails each in the shard its id names", async () => {
    const a = await deadLettered(us0);
    const b = await deadLettered(us1);
    const c = await deadLettered(eu0);
    for (const [shard, id] of [
      ["us0", a],
      ["us1", b],
      ["eu0", c],
    ] as const)
      expect(await itemOf(shard, id)).not.toBeNull();
    // the directory holds no job rows: nothing there
    const inDirectory = await env.DB.prepare("select count(*) as n from dead_letters where job_id in (?, ?, ?)")
      .bind(a, b, c)
      .first<{ n: number }>();
    expect(inDirectory!.n).toBe(0);

    const cookie = await signIn();
    const html = await (await page(cookie, "/console/operator/dead-letters")).text();
    for (const id of [a, b, c]) expect(html).toContain(`data-job="${id}"`);
    expect(html).not.toContain('data-testid="shard-notice"');
    const csrf = /name="csrf-token" content="([^"]+)"/.exec(html)![1]!;

    const redriven = await post(cookie, `/console/operator/dead-letters/${b}/redrive`, csrf);
    expect(redriven.status).toBe(303);
    expect(redriven.headers.get("location")).toBe("/console/operator/dead-letters?done=redriven");
    expect((await itemOf("us1", b))!.redrive_count).toBe(1);
    expect((await itemOf("us0", a))!.redrive_count).toBe(0);

    const failed = await post(cookie, `/console/operator/dead-letters/${c}/fail`, csrf);
    expect(failed.status).toBe(303);
    expect(await itemOf("eu0", c)).toMatchObject({ resolution: "failed_by_admin" });
    const job = await shardDatabase("eu0")
      .prepare("select status, error_code from transcriptions where id = ?")
      .bind(c)
      .first();
    expect(job).toMatchObject({ status: "failed", error_code: "dead_lettered" });

    // an unknown shard suffix is a 404 without a read anywhere; so is an item that is no longer pending
    expect((await post(cookie, `/console/operator/dead-letters/${b.slice(0, 29)}zz9/redrive`, csrf)).status).toBe(404);
    expect((await post(cookie, `/console/operator/dead-letters/${c}/fail`, csrf)).status).toBe(404);

    // the operator's actions are audited in the directory
    const audit = await env.DB.prepare(
      "select action, receipt from audit_log where action like 'operator.dead_letter%'",
    ).all<{ action: string; receipt: string }>();
    expect(audit.results.map((r) => [r.action, JSON.parse(r.receipt).job_id])).toEqual([
      ["operator.dead_letter_redriven", b],
      ["operator.dead_letter_failed", c],
    ]);
  });

  it("shows a failing shard as a notice and still lists the others", async () => {
    const a = await deadLettered(us0);
    const e = await deadLettered(eu0);
    const cookie = await signIn();
    const res = await page(cookie, "/console/operator/dead-letters", { SHARD_EU_0: failingDatabase() } as Partial<Env>);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain(`data-job="${a}"`);
    expect(html).not.toContain(`data-job="${e}"`);
    expect(html).toMatch(/data-testid="shard-notice"[^>]*>[^]*data-shard="eu0">eu0<\/span> \(database unavailable\)/);
  });
});

describe("GET /v1/status with the admin key", () => {
  const activeIn = async (shard: ShardCode) =>
    (await shardDatabase(shard)
      .prepare("select count(*) as n from transcriptions where status in ('queued', 'processing')")
      .first<{ n: number }>())!.n;

  it("sums the backlog of every shard, and lists a failing shard whose part is missing", async () => {
    // a queued job in each shard (uploads whose queue message no consumer takes in this test)
    for (const tenant of [us0, us1, eu0]) {
      const res = await callWith({ PLACEMENT }, "/v1/transcriptions", {
        method: "POST",
        key: tenant.key,
        body: makeWav(0.3),
        headers: { "content-type": "audio/wav" },
      });
      expect(res.status).toBe(202);
    }
    const [a, b, c] = [await activeIn("us0"), await activeIn("us1"), await activeIn("eu0")];
    expect(Math.min(a, b, c)).toBeGreaterThan(0);
    const status = async (overrides: Partial<Env> = {}) => {
      const res = await callWith({ PLACEMENT, ...overrides }, "/v1/status", { key: adminKey() });
      expect(res.status).toBe(200);
      return (await res.json()) as { backlog: { queued: number; processing: number }; shards: unknown[] };
    };
    const all = await status();
    expect(all.backlog.queued + all.backlog.processing).toBe(a + b + c);
    expect(all.shards).toEqual([]);
    const partial = await status({ SHARD_US_1: failingDatabase() } as Partial<Env>);
    expect(partial.backlog.queued + partial.backlog.processing).toBe(a + c);
    expect(partial.shards).toEqual([{ shard: "us1", error: "storage_unavailable" }]);
    // a tenant key sees its own shard's backlog only, and no shard list
    const own = await callWith({ PLACEMENT }, "/v1/status", { key: us1.key });
    expect(await own.json()).toMatchObject({ shards: [] });
  });
});
