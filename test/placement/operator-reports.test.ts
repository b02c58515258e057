/**
 * Drift and quality reports over every job shard (issue 15 §1). The same feature and review rows are seeded both ways:
 * all in DB (one database, PLACEMENT unset) and spread over the job shards us0, us1 and eu0 of a placement (directory
 * in DB). The multi-shard report must equal the one-database report: histograms add up and PSI is computed from the
 * merged histograms, means are over every review (not a mean of per-shard means). A shard that is down is named in
 * `shards` (and on the console pages) while the others are served.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";

import { driftReport, driftReportOfAllShards } from "../../src/drift/drift.ts";
import type { DriftFeature } from "../../src/drift/features.ts";
import type { FeatureValue } from "../../src/drift/psi.ts";
import type { Env } from "../../src/env.ts";
import { qualityReport, qualityReportOfAllShards } from "../../src/quality/feedback.ts";
import { createDb } from "../../src/storage/db.ts";
import { jobFeatures } from "../../src/storage/schema.ts";
import { adminKey, BASE, call, callWith } from "../helpers/api.ts";
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
const withFailing = (code: ShardCode): Partial<Env> =>
  placed({ [BINDING_OF[code]]: failingDatabase() } as Partial<Env>);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.now();
const SHARDS = ["us0", "us1", "eu0"] as const;

// ---------- seeding ----------

let seq = 0;

interface FeatureSeed {
  shard: ShardCode;
  model: string;
  completedAt: number;
  values: Partial<Record<DriftFeature, FeatureValue>>;
}

/** Feature rows straight into a D1 (columns keyed by drift feature name, as in test/drift/drift.test.ts). */
async function insertFeatures(db: D1Database, provider: string, rows: readonly FeatureSeed[]): Promise<void> {
  const statements = rows.map((row) => {
    const columns: Record<string, unknown> = {
      job_id: `tr_fan${String(seq++).padStart(10, "0")}`,
      tenant_id: "tn_fanout",
      provider,
      model: row.model,
      created_at: row.completedAt - 1000,
      completed_at: row.completedAt,
      bytes: 32_000,
      characters: 10,
      words: 2,
      empty_transcript: 0,
      segment_count: 1,
    };
    for (const [feature, value] of Object.entries(row.values))
      columns[jobFeatures[feature as DriftFeature].name] = typeof value === "boolean" ? Number(value) : (value ?? null);
    const names = Object.keys(columns);
    return db
      .prepare(`insert into job_features (${names.join(", ")}) values (${names.map(() => "?").join(", ")})`)
      .bind(...Object.values(columns));
  });
  for (let i = 0; i < statements.length; i += 50) await db.batch(statements.slice(i, i + 50));
}

const repeat = <T>(count: number, make: (i: number) => T): T[] => Array.from({ length: count }, (_, i) => make(i));
const baselineAt = (i: number) => NOW - 2 * DAY - i * 60_000;
const currentAt = (i: number) => NOW - HOUR - i * 60_000;

/**
 * Shards hold different populations, so a report that averaged per-shard PSIs or histograms would differ from the
 * report over the union: us0 short clips in both windows, us1 long clips that got much longer, eu0 in between with
 * French and mp3; model m2 only in eu0, too few jobs for a verdict.
 */
const FEATURES: FeatureSeed[] = [
  ...repeat(12, (i) => ({
    shard: "us0" as const,
    model: "m1",
    completedAt: baselineAt(i),
    values: { durationSeconds: 4, format: "wav", detectedLanguage: "en" },
  })),
  ...repeat(4, (i) => ({
    shard: "us0" as const,
    model: "m1",
    completedAt: currentAt(i),
    values: { durationSeconds: 4, format: "wav", detectedLanguage: "en" },
  })),
  ...repeat(3, (i) => ({
    shard: "us1" as const,
    model: "m1",
    completedAt: baselineAt(i),
    values: { durationSeconds: 60, format: "wav", detectedLanguage: "en" },
  })),
  ...repeat(9, (i) => ({
    shard: "us1" as const,
    model: "m1",
    completedAt: currentAt(i),
    values: { durationSeconds: 900, format: "flac", detectedLanguage: null },
  })),
  ...repeat(6, (i) => ({
    shard: "eu0" as const,
    model: "m1",
    completedAt: baselineAt(i),
    values: { durationSeconds: 30, format: "mp3", detectedLanguage: "fr" },
  })),
  ...repeat(7, (i) => ({
    shard: "eu0" as const,
    model: "m1",
    completedAt: currentAt(i),
    values: { durationSeconds: 30, format: "mp3", detectedLanguage: "fr" },
  })),
  ...repeat(2, (i) => ({
    shard: "eu0" as const,
    model: "m2",
    completedAt: currentAt(i),
    values: { durationSeconds: 12, format: "ogg", detectedLanguage: "de" },
  })),
];

interface ReviewSeed {
  shard: ShardCode;
  model: string;
  rating: "good" | "bad";
  /** dyadic rationals, so sums are exact in any order */
  wer: number | null;
  cer: number | null;
  updatedAt: number;
}

async function insertReviews(db: D1Database, provider: string, rows: readonly ReviewSeed[]): Promise<void> {
  const statements = rows.map((row) =>
    db
      .prepare(
        "insert into transcript_feedback (job_id, tenant_id, provider, model, rating, wer, cer, created_at, updated_at) values (?, 'tn_fanout', ?, ?, ?, ?, ?, ?, ?)",
      )
      .bind(
        `tr_rev${String(seq++).padStart(10, "0")}`,
        provider,
        row.model,
        row.rating,
        row.wer,
        row.cer,
        row.updatedAt,
        row.updatedAt,
      ),
  );
  await db.batch(statements);
}

/**
 * us0: three bad reviews with WER 0.5; us1: one good review with WER 0; eu0: reviews without a correction, one of the
 * week before, and model m2. The union's mean WER of m1 this week is (0.5·3 + 0)/4 = 0.375, the mean of the per-shard
 * means (0.5 + 0)/2 = 0.25.
 */
const REVIEWS: ReviewSeed[] = [
  ...repeat(3, (i) => ({
    shard: "us0" as const,
    model: "m1",
    rating: "bad" as const,
    wer: 0.5,
    cer: 0.25,
    updatedAt: NOW - 1000 - i,
  })),
  { shard: "us1", model: "m1", rating: "good", wer: 0, cer: 0.125, updatedAt: NOW - 2000 },
  { shard: "eu0", model: "m1", rating: "good", wer: null, cer: null, updatedAt: NOW - 3000 },
  { shard: "eu0", model: "m1", rating: "bad", wer: 0.75, cer: 0.5, updatedAt: NOW - 7 * DAY },
  { shard: "us1", model: "m1", rating: "good", wer: 0.25, cer: 0.25, updatedAt: NOW - 7 * DAY - 1000 },
  { shard: "eu0", model: "m2", rating: "good", wer: 0.125, cer: 0.0625, updatedAt: NOW - 4000 },
];

/**
 * Provider `fan` holds every row: in DB and spread over the shards. Provider `fan-no-<shard>` holds, in DB only, every
 * row outside that shard: what a report must show while that shard is down.
 */
beforeAll(async () => {
  await migrateShards();
  await insertFeatures(env.DB, "fan", FEATURES);
  await insertReviews(env.DB, "fan", REVIEWS);
  for (const code of SHARDS) {
    await insertFeatures(
      shardDatabase(code),
      "fan",
      FEATURES.filter((f) => f.shard === code),
    );
    await insertReviews(
      shardDatabase(code),
      "fan",
      REVIEWS.filter((r) => r.shard === code),
    );
    await insertFeatures(
      env.DB,
      `fan-no-${code}`,
      FEATURES.filter((f) => f.shard !== code),
    );
    await insertReviews(
      env.DB,
      `fan-no-${code}`,
      REVIEWS.filter((r) => r.shard !== code),
    );
  }
}, 120_000);

// ---------- the API ----------

interface DriftGroup {
  provider: string;
  model: string;
  baseline_samples: number;
  current_samples: number;
  features: {
    feature: string;
    psi: number | null;
    verdict: string;
    current: { samples: number; histogram: { bin: string; count: number }[] };
  }[];
}
interface DriftAnswer {
  groups: DriftGroup[];
  min_samples: number;
  shards: { shard: string; error: string }[];
}
interface QualityRow {
  provider: string;
  model: string;
  week: string;
  reviews: number;
  good: number;
  bad: number;
  scored: number;
  mean_wer: number | null;
  mean_cer: number | null;
}
interface QualityAnswer {
  data: QualityRow[];
  weeks: number;
  shards: { shard: string; error: string }[];
}

async function getJson<T>(overrides: Partial<Env> | null, path: string): Promise<T> {
  const res = overrides ? await callWith(overrides, path, { key: adminKey() }) : await call(path, { key: adminKey() });
  expect(res.status, path).toBe(200);
  return (await res.json()) as T;
}

const DRIFT_QUERY = "min_samples=5";
const oneDatabaseDrift = (provider: string) =>
  getJson<DriftAnswer>(null, `/v1/admin/drift?provider=${provider}&${DRIFT_QUERY}`);
const oneDatabaseQuality = (provider: string) => getJson<QualityAnswer>(null, `/v1/admin/quality?provider=${provider}`);
const renamed = <T extends { provider: string }>(rows: T[], provider: string): T[] =>
  rows.map((r) => ({ ...r, provider }));

describe("/v1/admin/drift over every shard", () => {
  it("equals the report over the same rows in one database", async () => {
    const single = await oneDatabaseDrift("fan");
    const sharded = await getJson<DriftAnswer>(placed(), `/v1/admin/drift?provider=fan&${DRIFT_QUERY}`);
    expect(sharded.shards).toEqual([]);
    expect(single.shards).toEqual([]);
    expect(sharded.groups).toEqual(single.groups);

    // the report is not trivial: it holds every shard's jobs and gives verdicts where there are enough of them
    const m1 = sharded.groups.find((g) => g.model === "m1")!;
    expect(m1.baseline_samples).toBe(12 + 3 + 6);
    expect(m1.current_samples).toBe(4 + 9 + 7);
    const duration = m1.features.find((f) => f.feature === "durationSeconds")!;
    expect(duration.verdict).toBe("significant");
    expect(duration.psi).toBeGreaterThan(0.25);
    expect(duration.current.histogram.reduce((n, b) => n + b.count, 0)).toBe(20);
    const m2 = sharded.groups.find((g) => g.model === "m2")!;
    expect(m2).toMatchObject({ baseline_samples: 0, current_samples: 2 });
    expect(m2.features.every((f) => f.verdict === "insufficient_data")).toBe(true);
  });

  it("names a failing shard in `shards` and reports the other shards' rows (200)", async () => {
    for (const code of SHARDS) {
      const answer = await getJson<DriftAnswer>(withFailing(code), `/v1/admin/drift?provider=fan&${DRIFT_QUERY}`);
      expect(answer.shards, code).toEqual([{ shard: code, error: "storage_unavailable" }]);
      const expected = await oneDatabaseDrift(`fan-no-${code}`);
      expect(answer.groups, code).toEqual(renamed(expected.groups, "fan"));
    }
  });

  it("the default query (every provider) reads the shards, not the directory", async () => {
    const answer = await getJson<DriftAnswer>(placed(), `/v1/admin/drift?${DRIFT_QUERY}`);
    // `fan-no-*` rows live in DB only, which is the directory in the placement
    expect(answer.groups.map((g) => `${g.provider}/${g.model}`)).toEqual(["fan/m1", "fan/m2"]);
  });
});

describe("/v1/admin/quality over every shard", () => {
  it("equals the report over the same rows in one database; means are over every review", async () => {
    const single = await oneDatabaseQuality("fan");
    const sharded = await getJson<QualityAnswer>(placed(), "/v1/admin/quality?provider=fan");
    expect(sharded.shards).toEqual([]);
    expect(single.shards).toEqual([]);
    expect(sharded.data).toEqual(single.data);
    expect(sharded.weeks).toBe(single.weeks);

    const thisWeek = sharded.data.filter((r) => r.model === "m1").at(-1)!;
    expect(thisWeek).toMatchObject({ reviews: 5, good: 2, bad: 3, scored: 4, mean_wer: 0.375 });
    expect(thisWeek.mean_cer).toBeCloseTo((0.25 * 3 + 0.125) / 4, 12);
    // last week's reviews of m1 come from us1 and eu0
    const lastWeek = sharded.data.filter((r) => r.model === "m1")[0]!;
    expect(lastWeek).toMatchObject({ reviews: 2, good: 1, bad: 1, scored: 2, mean_wer: 0.5 });
  });

  it("names a failing shard in `shards` and reports the other shards' reviews (200)", async () => {
    for (const code of SHARDS) {
      const answer = await getJson<QualityAnswer>(withFailing(code), "/v1/admin/quality?provider=fan");
      expect(answer.shards, code).toEqual([{ shard: code, error: "storage_unavailable" }]);
      const expected = await oneDatabaseQuality(`fan-no-${code}`);
      expect(answer.data, code).toEqual(renamed(expected.data, "fan"));
    }
  });
});

// ---------- a slow shard ----------

/** A D1 binding that answers nothing for `ms`, then fails: a shard that hangs past the fan-out deadline. */
function slowDatabase(ms: number): D1Database {
  const late = () =>
    new Promise((_, reject) => setTimeout(() => reject(new Error("D1_ERROR: Network connection lost.")), ms));
  const statement = { bind: () => statement, first: late, all: late, run: late, raw: late };
  return { prepare: () => statement, batch: late, exec: late, dump: late } as unknown as D1Database;
}

describe("a shard that does not answer in time", () => {
  const slowEnv = () => ({ ...env, PLACEMENT, SHARD_US_0: slowDatabase(1500) }) as Env;

  it("is reported as shard_timeout by the drift report, which is computed over the other shards", async () => {
    const started = Date.now();
    const { report, failed } = await driftReportOfAllShards(
      slowEnv(),
      { provider: "fan", minSamples: 5, now: NOW },
      { timeoutMs: 200 },
    );
    expect(Date.now() - started).toBeLessThan(1500);
    expect(failed).toEqual([{ shard: "us0", error: "shard_timeout" }]);
    const expected = await driftReport(createDb(env), { provider: "fan-no-us0", minSamples: 5, now: NOW });
    expect(report).toEqual({ ...expected, groups: renamed(expected.groups, "fan") });
  });

  it("is reported as shard_timeout by the quality report, which is computed over the other shards", async () => {
    const { report, failed } = await qualityReportOfAllShards(
      slowEnv(),
      { provider: "fan", now: NOW },
      { timeoutMs: 200 },
    );
    expect(failed).toEqual([{ shard: "us0", error: "shard_timeout" }]);
    const expected = await qualityReport(createDb(env), { provider: "fan-no-us0", now: NOW });
    expect(report).toEqual({ ...expected, data: renamed(expected.data, "fan") });
  });
});

// ---------- the operator console ----------

const ORIGIN = { origin: BASE, "sec-fetch-site": "same-origin" };

async function signIn(): Promise<string> {
  const res = await callWith(placed(), "/console/sign-in", {
    method: "POST",
    redirect: "manual",
    headers: ORIGIN,
    body: new URLSearchParams({ api_key: adminKey() }),
  });
  expect(res.status).toBe(303);
  return res.headers.get("set-cookie")!.split(";")[0]!;
}

async function page(overrides: Partial<Env>, cookie: string, path: string): Promise<string> {
  const res = await callWith(overrides, path, { headers: { cookie }, redirect: "manual" });
  expect(res.status, path).toBe(200);
  return res.text();
}

const NOTICE = /<p class="error" role="alert" data-testid="shard-notice">([\s\S]*?)<\/p>/;

describe("operator console drift and quality pages over every shard", () => {
  it("show every shard's data and no notice while all shards answer", async () => {
    const cookie = await signIn();
    const drift = await page(placed(), cookie, "/console/operator/drift");
    expect(drift).not.toMatch(NOTICE);
    expect(drift).toContain("fan / m1");
    expect(drift).toContain("20 recent jobs, 21 in the baseline.");
    const quality = await page(placed(), cookie, "/console/operator/quality");
    expect(quality).not.toMatch(NOTICE);
    const island = JSON.parse(
      /<script type="application\/json" id="quality-data">([^<]*)<\/script>/.exec(quality)![1]!,
    );
    expect(JSON.stringify(island)).toContain("fan");
  });

  it("name a failing shard in a visible notice and still show the others", async () => {
    const cookie = await signIn();
    const drift = await page(withFailing("us1"), cookie, "/console/operator/drift");
    const notice = NOTICE.exec(drift)?.[1] ?? "";
    expect(notice).toContain('data-shard="us1"');
    expect(notice).toContain("database unavailable");
    expect(notice).not.toContain("us0");
    // us1 held 3 baseline and 9 recent jobs of m1
    expect(drift).toContain("11 recent jobs, 18 in the baseline.");
    const quality = await page(withFailing("eu0"), cookie, "/console/operator/quality");
    expect(NOTICE.exec(quality)?.[1] ?? "").toContain('data-shard="eu0"');
    expect(quality).toContain("<td>0.375</td>");
  });
});
