/**
 * Operator reads across job shards (issue 15 §1): `/metrics` and `/v1/admin/dead-letters` in a placement of three job
 * shards (us0, us1, eu0; directory in DB). Jobs are created through the API, so each lands in its tenant's shard and
 * its id names that shard; dead-letter items are written straight into each shard's D1. A shard whose binding cannot
 * serve (`failingDatabase()`) is reported while the others are still served.
 */
import { beforeAll, describe, expect, it } from "vitest";

import type { Env } from "../../src/env.ts";
import { ulid } from "../../src/lib/ids.ts";
import { adminKey, callWith } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";
import {
  failingDatabase,
  migrateShards,
  type ShardCode,
  shardDatabase,
  twoRegionPlacement,
} from "../helpers/placement.ts";

const PLACEMENT = twoRegionPlacement();
const BINDING_OF: Record<ShardCode, string> = { us0: "SHARD_US_0", us1: "SHARD_US_1", eu0: "SHARD_EU_0" };
const placed = (extra: Partial<Env> = {}): Partial<Env> => ({ PLACEMENT, ...extra }) as Partial<Env>;
/** The placement with one shard's binding replaced by a database that is down. */
const withFailing = (code: ShardCode): Partial<Env> =>
  placed({ [BINDING_OF[code]]: failingDatabase() } as Partial<Env>);

const jsonBody = (body: unknown) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

interface Tenant {
  id: string;
  shard: ShardCode;
  key: string;
}

async function createTenantIn(region: "us" | "eu", name: string): Promise<Tenant> {
  const res = await callWith(placed(), "/v1/admin/tenants", { ...jsonBody({ name, region }), key: adminKey() });
  expect(res.status).toBe(201);
  const tenant = (await res.json()) as { id: string; shard: ShardCode };
  const keyRes = await callWith(placed(), `/v1/admin/tenants/${tenant.id}/keys`, {
    ...jsonBody({}),
    key: adminKey(),
  });
  expect(keyRes.status).toBe(201);
  return { id: tenant.id, shard: tenant.shard, key: ((await keyRes.json()) as { key: string }).key };
}

async function upload(tenant: Tenant): Promise<string> {
  const res = await callWith(placed(), "/v1/transcriptions", {
    method: "POST",
    key: tenant.key,
    body: makeWav(0.2),
    headers: { "content-type": "audio/wav" },
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

/** One tenant in each shard: us tenants go to the us shard with the fewest tenants, so two of them fill us0 and us1. */
let tenants: Record<ShardCode, Tenant>;
/** Jobs created through the API, by shard: 1 in us0, 2 in us1, 3 in eu0. */
const jobs: Record<ShardCode, string[]> = { us0: [], us1: [], eu0: [] };
const JOBS_PER_SHARD: Record<ShardCode, number> = { us0: 1, us1: 2, eu0: 3 };

beforeAll(async () => {
  await migrateShards();
  const byShard: Partial<Record<ShardCode, Tenant>> = {};
  for (let i = 0; i < 4 && !(byShard.us0 && byShard.us1); i++) {
    const tenant = await createTenantIn("us", `fanout-us-${i}`);
    byShard[tenant.shard] ??= tenant;
  }
  byShard.eu0 = await createTenantIn("eu", "fanout-eu");
  expect(Object.keys(byShard).sort()).toEqual(["eu0", "us0", "us1"]);
  tenants = byShard as Record<ShardCode, Tenant>;
  for (const code of ["us0", "us1", "eu0"] as const)
    for (let i = 0; i < JOBS_PER_SHARD[code]; i++) jobs[code].push(await upload(tenants[code]));
}, 120_000);

// ---------- /metrics ----------

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`unparsable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

async function scrape(overrides: Partial<Env>): Promise<Sample[]> {
  const res = await callWith(overrides, "/metrics", { key: adminKey() });
  expect(res.status).toBe(200);
  return parseExposition(await res.text());
}

/** Jobs created in the last hour in one shard, over every provider. */
const createdIn = (samples: Sample[], shard: string) =>
  samples
    .filter((s) => s.name === "vtt_jobs_created" && s.labels.window === "1h" && s.labels.shard === shard)
    .reduce((n, s) => n + s.value, 0);
const shardUp = (samples: Sample[], shard: string) =>
  samples.filter((s) => s.name === "vtt_shard_up" && s.labels.shard === shard).map((s) => s.value);
/** Series of one shard that come from its D1 (everything labelled `shard` except `vtt_shard_up`). */
const seriesOf = (samples: Sample[], shard: string) =>
  samples.filter((s) => s.labels.shard === shard && s.name !== "vtt_shard_up");

describe("/metrics over every shard", () => {
  it("labels each shard's jobs with its shard and counts them per shard; every shard is up", async () => {
    const samples = await scrape(placed());
    for (const code of ["us0", "us1", "eu0"] as const) {
      expect(createdIn(samples, code), code).toBe(JOBS_PER_SHARD[code]);
      expect(shardUp(samples, code), code).toEqual([1]);
    }
    // the queue depth of each shard counts its queued jobs
    for (const code of ["us0", "us1", "eu0"] as const) {
      const depth = samples
        .filter((s) => s.name === "vtt_queue_depth" && s.labels.shard === code)
        .reduce((n, s) => n + s.value, 0);
      expect(depth, code).toBe(JOBS_PER_SHARD[code]);
    }
    // the directory is no job shard: nothing is labelled with another shard
    const shards = new Set(samples.filter((s) => s.labels.shard !== undefined).map((s) => s.labels.shard));
    expect([...shards].sort()).toEqual(["eu0", "us0", "us1"]);
  });

  it("a failing shard is vtt_shard_up 0 without job series; the others are intact (200)", async () => {
    const healthy = await scrape(placed());
    const samples = await scrape(withFailing("us1"));
    expect(shardUp(samples, "us1")).toEqual([0]);
    expect(seriesOf(samples, "us1")).toEqual([]);
    for (const code of ["us0", "eu0"] as const) {
      expect(shardUp(samples, code), code).toEqual([1]);
      expect(createdIn(samples, code), code).toBe(JOBS_PER_SHARD[code]);
      // the same series as with every shard up (values that are not ages or durations are equal)
      const names = (list: Sample[]) =>
        list
          .map((s) => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`)
          .sort()
          .join("\n");
      expect(names(seriesOf(samples, code)), code).toBe(names(seriesOf(healthy, code)));
    }
    // service-wide series are still served
    expect(samples.some((s) => s.name === "vtt_metrics_scrape_duration_seconds")).toBe(true);
  });
});

// ---------- /v1/admin/dead-letters ----------

interface DeadLetterItem {
  job_id: string;
  tenant_id: string;
  redrive_count: number;
  resolved_at: string | null;
  job_status: string | null;
}
interface DeadLetterPage {
  data: DeadLetterItem[];
  next_cursor: string | null;
  shards: { shard: string; error: string }[];
}

async function seedDeadLetter(code: ShardCode, jobId: string, tenantId: string): Promise<void> {
  const now = Date.now();
  await shardDatabase(code)
    .prepare(
      `insert into dead_letters (job_id, tenant_id, provider, classification, reason, first_dead_at, last_dead_at, redrive_count, next_redrive_at)
       values (?, ?, 'openai', 'recoverable', 'provider_unavailable', ?, ?, 0, ?)`,
    )
    .bind(jobId, tenantId, now, now, now + 3_600_000)
    .run();
}

async function listPage(overrides: Partial<Env>, query: string): Promise<DeadLetterPage> {
  const res = await callWith(overrides, `/v1/admin/dead-letters${query}`, { key: adminKey() });
  expect(res.status).toBe(200);
  return (await res.json()) as DeadLetterPage;
}

const deadLetterRow = (code: ShardCode, jobId: string) =>
  shardDatabase(code)
    .prepare("select redrive_count, resolved_at, resolution from dead_letters where job_id = ?")
    .bind(jobId)
    .first<{ redrive_count: number; resolved_at: number | null; resolution: string | null }>();

describe("/v1/admin/dead-letters over every shard", () => {
  /** every dead-lettered job id, newest first (the order of the list) */
  let all: string[];

  beforeAll(async () => {
    for (const code of ["us0", "us1", "eu0"] as const)
      for (const jobId of jobs[code]) await seedDeadLetter(code, jobId, tenants[code].id);
    all = [...jobs.us0, ...jobs.us1, ...jobs.eu0].sort().reverse();
  });

  it("lists the items of every shard merged in job-id order (newest first)", async () => {
    const page = await listPage(placed(), "?limit=100");
    expect(page.shards).toEqual([]);
    expect(page.next_cursor).toBeNull();
    expect(page.data.map((d) => d.job_id)).toEqual(all);
    // each item is read from its own shard: its tenant is the shard's tenant and its job is found there
    for (const item of page.data) {
      const code = (["us0", "us1", "eu0"] as const).find((c) => jobs[c].includes(item.job_id))!;
      expect(item.tenant_id).toBe(tenants[code].id);
      expect(item.job_status).toBe("queued");
    }
  });

  it("pages by cursor across shards with nothing lost or repeated", async () => {
    for (const limit of [1, 2, 4]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: DeadLetterPage = await listPage(
          placed(),
          `?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
        );
        expect(page.data.length).toBeLessThanOrEqual(limit);
        seen.push(...page.data.map((d) => d.job_id));
        cursor = page.next_cursor;
        pages++;
        expect(pages).toBeLessThanOrEqual(all.length + 1);
      } while (cursor);
      expect(seen, `limit ${limit}`).toEqual(all);
      expect(pages).toBe(Math.ceil(all.length / limit));
    }
  });

  it("a failing shard is listed in `shards` and the others are still listed (200)", async () => {
    const page = await listPage(withFailing("eu0"), "?limit=100");
    expect(page.shards).toEqual([{ shard: "eu0", error: "storage_unavailable" }]);
    expect(page.data.map((d) => d.job_id)).toEqual([...jobs.us0, ...jobs.us1].sort().reverse());
    // a failing shard does not stop paging through the others
    const first = await listPage(withFailing("us0"), "?limit=1");
    expect(first.shards).toEqual([{ shard: "us0", error: "storage_unavailable" }]);
    expect(first.data.map((d) => d.job_id)).toEqual([[...jobs.us1, ...jobs.eu0].sort().reverse()[0]]);
  });

  it("re-drive of one item acts in the shard its id names, and only there", async () => {
    const target = jobs.us1[0]!;
    expect(target).toMatch(/us1$/);
    const res = await callWith(placed(), `/v1/admin/dead-letters/${target}/redrive`, {
      method: "POST",
      key: adminKey(),
    });
    expect(res.status).toBe(202);
    expect(await deadLetterRow("us1", target)).toMatchObject({ redrive_count: 1, resolved_at: null });
    for (const code of ["us0", "us1", "eu0"] as const)
      for (const other of jobs[code].filter((id) => id !== target))
        expect((await deadLetterRow(code, other))!.redrive_count, other).toBe(0);
  });

  it("fail of one item fails its job in the shard its id names and resolves the item", async () => {
    const target = jobs.eu0[0]!;
    expect(target).toMatch(/eu0$/);
    const res = await callWith(placed(), `/v1/admin/dead-letters/${target}/fail`, { method: "POST", key: adminKey() });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ failed: true });
    const job = await shardDatabase("eu0")
      .prepare("select status, error_code from transcriptions where id = ?")
      .bind(target)
      .first();
    expect(job).toEqual({ status: "failed", error_code: "dead_lettered" });
    expect(await deadLetterRow("eu0", target)).toMatchObject({ resolution: "failed_by_admin" });
    // the list no longer shows it as pending; the other shards' items are untouched
    const page = await listPage(placed(), "?limit=100");
    expect(page.data.map((d) => d.job_id)).toEqual(all.filter((id) => id !== target));
    // failing it again is a 404: no pending item
    const again = await callWith(placed(), `/v1/admin/dead-letters/${target}/fail`, {
      method: "POST",
      key: adminKey(),
    });
    expect(again.status).toBe(404);
  });

  it("an id with a forged or unknown shard suffix is a 404, for re-drive and fail", async () => {
    const ulidPart = jobs.us1[1]!.slice(3, 29);
    for (const id of [`tr_${ulidPart}zz9`, `tr_${ulidPart}us7`, `tr_${ulid()}eu9`]) {
      for (const action of ["redrive", "fail"]) {
        const res = await callWith(placed(), `/v1/admin/dead-letters/${id}/${action}`, {
          method: "POST",
          key: adminKey(),
        });
        expect(res.status, `${action} ${id}`).toBe(404);
        expect(((await res.json()) as { code: string }).code).toBe("not_found");
      }
    }
    // nothing changed in the shard the real id lives in
    expect((await deadLetterRow("us1", jobs.us1[1]!))!.redrive_count).toBe(0);
  });
});
