import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";

import { driftMetricFamilies, driftReport } from "../../src/drift/drift.ts";
import { DRIFT_FEATURE_BINS, DRIFT_FEATURES, type DriftFeature } from "../../src/drift/features.ts";
import { type FeatureValue, histogram, PSI_DEFAULT_EPSILON } from "../../src/drift/psi.ts";
import { renderExposition } from "../../src/observability/prometheus.ts";
import { createDb } from "../../src/storage/db.ts";
import { jobFeatures } from "../../src/storage/schema.ts";
import { adminKey, call, createTenant, multipartUpload } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import { jobRow, seedJob, seedTenant } from "../helpers/jobs.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";
import { deliverJobs } from "../helpers/queue.ts";
import { OPENAI_VERBOSE_JSON } from "../providers/fixtures.ts";

const db = () => createDb(env);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

type FeatureRow = Record<string, unknown>;
const featureRow = async (jobId: string) =>
  env.DB.prepare("select * from job_features where job_id = ?").bind(jobId).first<FeatureRow>();

let seq = 0;
/** Inserts feature rows straight into D1: `values` are keyed by drift feature name (camelCase), like DRIFT_FEATURES. */
async function seedFeatures(
  provider: string,
  model: string,
  completedAt: number,
  rows: Partial<Record<DriftFeature, FeatureValue>>[],
) {
  const statements = rows.map((values) => {
    const columns: Record<string, unknown> = {
      job_id: `tr_seed${String(seq++).padStart(8, "0")}`,
      tenant_id: "tn_seed",
      provider,
      model,
      created_at: completedAt - 1000,
      completed_at: completedAt,
      bytes: 32_000,
      characters: 10,
      words: 2,
      empty_transcript: 0,
      segment_count: 1,
    };
    for (const [feature, value] of Object.entries(values)) {
      columns[jobFeatures[feature as DriftFeature].name] = typeof value === "boolean" ? Number(value) : (value ?? null);
    }
    const names = Object.keys(columns);
    return env.DB.prepare(
      `insert into job_features (${names.join(", ")}) values (${names.map(() => "?").join(", ")})`,
    ).bind(...Object.values(columns));
  });
  for (let i = 0; i < statements.length; i += 50) await env.DB.batch(statements.slice(i, i + 50));
}

const repeat = <T>(count: number, make: (i: number) => T): T[] => Array.from({ length: count }, (_, i) => make(i));
const psiTerm = (pCurrent: number, pBaseline: number) => (pCurrent - pBaseline) * Math.log(pCurrent / pBaseline);

interface FeatureReport {
  feature: string;
  psi: number | null;
  verdict: string;
  baseline: { samples: number; missing_share: number | null; histogram: { bin: string; count: number }[] };
  current: { samples: number; missing_share: number | null; histogram: { bin: string; count: number }[] };
}
interface GroupReport {
  provider: string;
  model: string;
  baseline_samples: number;
  current_samples: number;
  features: FeatureReport[];
}

async function driftFor(provider: string, query = ""): Promise<GroupReport[]> {
  const res = await call(`/v1/admin/drift?provider=${provider}${query}`, { key: adminKey() });
  expect(res.status).toBe(200);
  return ((await res.json()) as { groups: GroupReport[] }).groups;
}

afterEach(() => vi.restoreAllMocks());

describe("features recorded on completion", () => {
  it("pool callback: WAV audio is probed (rate, channels, loudness, silence) and Whisper signals are kept apart", async () => {
    const { key, tenantId } = await createTenant("drift-pool");
    // 2 s of a 0.25-amplitude sine at 16 kHz: RMS 0.25/√2 → −15.05 dBFS, no silent frame
    const res = await multipartUpload(key, { provider: "whisper-pool", language: "en" }, makeWav(2));
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const callback = completedCallback(id, {
      segments: [
        { start: 0, end: 3.5, text: "And so my fellow Americans,", avg_logprob: -0.2, no_speech_prob: 0.1 },
        {
          start: 3.5,
          end: 11.0,
          text: "ask not what your country can do for you.",
          avg_logprob: -0.4,
          no_speech_prob: 0.3,
        },
      ],
      language: "fr",
    });
    expect((await poolCallback(callback)).status).toBe(200);
    expect(await jobRow(id)).toMatchObject({ status: "completed" });

    const row = (await featureRow(id))!;
    expect(row).toMatchObject({
      tenant_id: tenantId,
      provider: "whisper-pool",
      model: "ggml-tiny.en",
      format: "wav",
      sample_rate: 16_000,
      channels: 1,
      duration_seconds: 11,
      requested_language: "en",
      detected_language: "fr",
      language_mismatch: 1,
      silence_ratio: 0,
      words: 14,
      empty_transcript: 0,
      segment_count: 2,
    });
    expect(row.loudness_dbfs as number).toBeCloseTo(20 * Math.log10(0.25 / Math.SQRT2), 1);
    expect(row.words_per_second as number).toBeCloseTo(14 / 11, 9);
    expect(row.mean_confidence as number).toBeCloseTo((Math.exp(-0.2) + Math.exp(-0.4)) / 2, 9);
    expect(row.mean_no_speech_prob as number).toBeCloseTo(0.2, 9);
    expect(row.bytes).toBe(makeWav(2).byteLength);

    // the segments keep avg_logprob / no_speech_prob under their own names (confidence stays a probability)
    const job = (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as {
      segments: Record<string, unknown>[];
    };
    expect(job.segments[0]).toMatchObject({ avg_logprob: -0.2, no_speech_prob: 0.1 });
    expect(job.segments[0]!.confidence).toBeUndefined();
  });

  it("queue consumer with OpenAI verbose_json: avg_logprob and no_speech_prob feed the output features", async () => {
    const tenantId = await seedTenant();
    const id = await seedJob(tenantId, { language: "en" });
    interceptFetch().on("POST", "https://api.openai.com/v1/audio/transcriptions", () => json(OPENAI_VERBOSE_JSON));
    const delivery = await deliverJobs([id], tenantId);
    expect(delivery.explicitAcks).toEqual(delivery.ids);
    expect(await jobRow(id)).toMatchObject({ status: "completed" });

    const row = (await featureRow(id))!;
    expect(row).toMatchObject({
      provider: "openai",
      model: "whisper-1",
      format: "wav",
      sample_rate: 16_000,
      channels: 1,
      detected_language: "en",
      language_mismatch: 0,
      duration_seconds: 11,
    });
    expect(row.mean_confidence as number).toBeCloseTo((Math.exp(-0.21) + Math.exp(-0.18)) / 2, 9);
    expect(row.mean_no_speech_prob as number).toBeCloseTo(0.015, 9);
    expect(row.loudness_dbfs).toEqual(expect.any(Number));
  });

  it("a compressed upload is not read: its audio statistics stay null (missing), the rest is recorded", async () => {
    const tenantId = await seedTenant();
    const id = await seedJob(tenantId, { provider: "whisper-pool", status: "processing" });
    await env.DB.prepare("update transcriptions set audio_format = 'mp3' where id = ?").bind(id).run();
    expect((await poolCallback(completedCallback(id))).status).toBe(200);
    expect(await featureRow(id)).toMatchObject({
      format: "mp3",
      sample_rate: null,
      channels: null,
      loudness_dbfs: null,
      silence_ratio: null,
      mean_confidence: null,
      mean_no_speech_prob: null,
      duration_seconds: 11,
    });
  });

  it("a failure to record features is logged and never fails the job", async () => {
    const tenantId = await seedTenant();
    const id = await seedJob(tenantId, { provider: "whisper-pool", status: "processing" });
    // an audio object whose envelope does not open: the probe throws
    await env.BUCKET.put(`audio/${tenantId}/${id}`, makeWav(0.5), {
      customMetadata: { enc: "a256gcm-stream-1", kv: "m2", dek: "AAAA", np: "AAAAAAAAAA==", ct: "audio/wav" },
    });
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(String(line)));
    expect((await poolCallback(completedCallback(id))).status).toBe(200);
    expect(await jobRow(id)).toMatchObject({ status: "completed" });
    expect(await featureRow(id)).toBeNull();
    const parsed = lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
    const failure = parsed.find((l) => l.event === "job_features_failed");
    expect(failure).toMatchObject({ job_id: id, tenant_id: tenantId, provider: "whisper-pool" });
  });
});

describe("GET /v1/admin/drift", () => {
  it("same distribution in both windows: PSI 0 and stable for every feature", async () => {
    const now = Date.now();
    const row = (i: number) => ({
      durationSeconds: i % 2 ? 10 : 100,
      format: i % 3 ? "wav" : "mp3",
      detectedLanguage: "en",
      loudnessDbfs: -20,
      meanConfidence: 0.9,
    });
    await seedFeatures("drift-stable", "m1", now - 3 * DAY, repeat(200, row));
    await seedFeatures(
      "drift-stable",
      "m1",
      now - HOUR,
      repeat(100, (i) => row(i + 200)),
    );
    const [group, ...rest] = await driftFor("drift-stable");
    expect(rest).toHaveLength(0);
    expect(group).toMatchObject({ provider: "drift-stable", model: "m1", baseline_samples: 200, current_samples: 100 });
    expect(group!.features.map((f) => f.feature)).toEqual([...DRIFT_FEATURES]);
    for (const feature of group!.features) {
      expect(feature.psi).toBeCloseTo(0, 1);
      expect(feature.verdict).toBe("stable");
    }
    const duration = group!.features.find((f) => f.feature === "durationSeconds")!;
    expect(duration.psi).toBeCloseTo(0, 12);
    expect(duration.baseline.histogram.find((b) => b.bin === "[5,15)")!.count).toBe(100);
    expect(duration.current.histogram.find((b) => b.bin === "[60,300)")!.count).toBe(50);
    expect(group!.features.find((f) => f.feature === "sampleRate")).toMatchObject({
      psi: 0,
      verdict: "stable",
      current: { missing_share: 1 },
      baseline: { missing_share: 1 },
    });
  });

  it("a shifted distribution is significant, with the PSI computed by hand, and missing values count as drift", async () => {
    const now = Date.now();
    await seedFeatures(
      "drift-shift",
      "m1",
      now - 2 * DAY,
      repeat(200, () => ({ durationSeconds: 10, loudnessDbfs: -20 })),
    );
    await seedFeatures(
      "drift-shift",
      "m1",
      now - 2 * HOUR,
      repeat(100, (i) => ({ durationSeconds: i < 50 ? 10 : 100, loudnessDbfs: i < 70 ? -20 : null })),
    );
    const [group] = await driftFor("drift-shift");
    const byName = Object.fromEntries(group!.features.map((f) => [f.feature, f]));
    const eps = PSI_DEFAULT_EPSILON;
    // [5,15): 1.0 → 0.5; [60,300): 0 (ε) → 0.5
    expect(byName.durationSeconds!.psi).toBeCloseTo(psiTerm(0.5, 1) + psiTerm(0.5, eps), 9);
    expect(byName.durationSeconds!.verdict).toBe("significant");
    // [-24,-18): 1.0 → 0.7; missing: 0 (ε) → 0.3
    expect(byName.loudnessDbfs).toMatchObject({
      verdict: "significant",
      baseline: { missing_share: 0, samples: 200 },
      current: { missing_share: 0.3, samples: 100 },
    });
    expect(byName.loudnessDbfs!.psi).toBeCloseTo(psiTerm(0.7, 1) + psiTerm(0.3, eps), 9);
    expect(byName.format!.verdict).toBe("stable");

    // the same group seen with a 1 h recent window has no current jobs: no PSI, no verdict
    const [narrow] = await driftFor("drift-shift", "&window_hours=1");
    expect(narrow!.features[0]).toMatchObject({
      psi: null,
      verdict: "insufficient_data",
      current: { samples: 0, missing_share: null },
    });
  });

  it("windows smaller than min_samples get insufficient_data; min_samples lowers the bar", async () => {
    const now = Date.now();
    await seedFeatures(
      "drift-small",
      "m1",
      now - 5 * DAY,
      repeat(20, () => ({ durationSeconds: 10 })),
    );
    await seedFeatures(
      "drift-small",
      "m1",
      now - 5 * HOUR,
      repeat(20, () => ({ durationSeconds: 100 })),
    );
    // and rows outside both windows are not counted
    await seedFeatures(
      "drift-small",
      "m1",
      now - 9 * DAY,
      repeat(20, () => ({ durationSeconds: 1000 })),
    );
    const [group] = await driftFor("drift-small");
    expect(group).toMatchObject({ baseline_samples: 20, current_samples: 20 });
    expect(group!.features[0]).toMatchObject({ feature: "durationSeconds", verdict: "insufficient_data" });
    expect(group!.features[0]!.psi).toBeGreaterThan(0.25);
    const [lowered] = await driftFor("drift-small", "&min_samples=10");
    expect(lowered!.features[0]!.verdict).toBe("significant");
  });

  it("SQL bucket counts match the pure histogram() for every feature, edge values and odd categories included", async () => {
    const now = Date.now();
    let state = 42;
    const random = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(values: readonly T[]) => values[Math.floor(random() * values.length)]!;
    const rows = repeat(240, () => {
      const values: Partial<Record<DriftFeature, FeatureValue>> = {};
      for (const feature of DRIFT_FEATURES) {
        const bins = DRIFT_FEATURE_BINS[feature];
        if (bins.kind === "categorical") values[feature] = pick([...bins.categories, " EN ", "Wav", "xx", "", null]);
        else if (feature === "languageMismatch" || feature === "emptyTranscript") values[feature] = pick([0, 1, null]);
        else
          values[feature] = pick([
            ...bins.edges,
            bins.edges[0]! - 1,
            bins.edges.at(-1)! * 2,
            (bins.edges[0]! + bins.edges[1]!) / 2,
            null,
          ]);
      }
      // these two are NOT NULL columns
      values.emptyTranscript ??= 0;
      return values;
    });
    await seedFeatures("drift-sql", "m1", now - HOUR, rows);
    const [group] = await driftFor("drift-sql");
    for (const feature of DRIFT_FEATURES) {
      const expected = histogram(
        rows.map((r) => r[feature]),
        DRIFT_FEATURE_BINS[feature],
      );
      const reported = group!.features.find((f) => f.feature === feature)!.current.histogram;
      expect({ feature, bins: reported.map((b) => b.bin), counts: reported.map((b) => b.count) }).toEqual({
        feature,
        bins: expected.labels,
        counts: expected.counts,
      });
    }
  });

  it("driftMetricFamilies exports PSI where both windows have enough jobs and the missing share where there are recent jobs", async () => {
    const now = Date.now();
    await seedFeatures(
      "drift-metrics",
      "m9",
      now - 2 * DAY,
      repeat(120, () => ({ durationSeconds: 10 })),
    );
    await seedFeatures(
      "drift-metrics",
      "m9",
      now - 2 * HOUR,
      repeat(110, (i) => ({ durationSeconds: i % 2 ? 10 : 100 })),
    );
    await seedFeatures(
      "drift-metrics",
      "tiny",
      now - 2 * HOUR,
      repeat(5, () => ({ durationSeconds: 10 })),
    );
    const families = await driftMetricFamilies(db(), now);
    expect(families.map((f) => f.name)).toEqual(["vtt_drift_psi", "vtt_drift_missing_share"]);
    const psiFamily = families[0]!;
    const mine =
      psiFamily.type !== "histogram" ? psiFamily.samples.filter((s) => s.labels?.provider === "drift-metrics") : [];
    expect(mine.filter((s) => s.labels?.model === "tiny")).toHaveLength(0);
    const duration = mine.find((s) => s.labels?.model === "m9" && s.labels.feature === "durationSeconds")!;
    expect(duration.value).toBeCloseTo(psiTerm(55 / 110, 1) + psiTerm(55 / 110, PSI_DEFAULT_EPSILON), 9);
    const missing = families[1]!.type !== "histogram" ? families[1]!.samples : [];
    expect(missing.find((s) => s.labels?.model === "tiny" && s.labels.feature === "loudnessDbfs")?.value).toBe(1);
    const text = renderExposition(families);
    expect(text).toContain('vtt_drift_psi{feature="durationSeconds",model="m9",provider="drift-metrics"}');
    expect(text).toContain("# HELP vtt_drift_psi Population stability index of a feature, recent window vs baseline.");
  });

  it("reads through the provider + model index", async () => {
    const plan = await env.DB.prepare(
      "explain query plan select count(*) from job_features where provider = ? and model = ? and completed_at > ? and completed_at <= ?",
    )
      .bind("x", "y", 0, 1)
      .all<{ detail: string }>();
    expect(plan.results.map((r) => r.detail).join(" ")).toMatch(
      /USING (COVERING )?INDEX job_features_provider_model_completed_idx/,
    );
    const all = await env.DB.prepare(
      "explain query plan select count(*) from job_features where completed_at > ? and completed_at <= ?",
    )
      .bind(0, 1)
      .all<{ detail: string }>();
    expect(all.results.map((r) => r.detail).join(" ")).toMatch(/USING (COVERING )?INDEX job_features_completed_idx/);
    expect(await driftReport(db(), { provider: "nobody" })).toMatchObject({ groups: [] });
  });
});

describe("operator plane", () => {
  it("refuses tenant keys, even with the admin scope, with 403 operator_required", async () => {
    const { key } = await createTenant("drift-tenant", ["admin"]);
    for (const path of ["/v1/admin/drift", "/v1/admin/quality"]) {
      const res = await call(path, { key });
      expect(res.status).toBe(403);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect(((await res.json()) as { code: string }).code).toBe("operator_required");
    }
    expect((await call("/v1/admin/drift")).status).toBe(401);
    const bad = await call("/v1/admin/drift?window_hours=0", { key: adminKey() });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string }).code).toBe("invalid_parameters");
  });
});
