/**
 * Drift detection over D1: records each completed job's features (`job_features`) and compares a recent window with
 * a baseline window per provider and model, feature by feature, with PSI (psi.ts) and the share of missing values.
 *
 * Histograms are counted in SQL (per feature, one indexed range query over `completed_at` grouped by a `CASE` that
 * reproduces {@link bucketIndex}; the fifteen statements go to D1 as one batch), so a report never loads job rows
 * into the Worker.
 */
import type { Env } from "../env.ts";
import { log } from "../lib/log.ts";
import { EDGE_METRICS } from "../observability/metrics-catalog.ts";
import type { MetricFamily, ScalarSample } from "../observability/prometheus.ts";
import type { NormalisedTranscript } from "../providers/types.ts";
import type { Db } from "../storage/db.ts";
import {
  type BucketCountRow,
  countFeatureBuckets,
  insertJobFeaturesWhileJobExists,
  type JobFeaturesRow,
} from "../storage/drift.repo.ts";
import type { TranscriptionRow } from "../storage/schema.ts";
import { getSealedPrefix } from "../storage/sealed-objects.ts";
import { readAllShards, type ShardFailure } from "../storage/shard-fanout.ts";
import { type AudioProbe, PROBE_MAX_BYTES, probeAudio } from "./audio-probe.ts";
import {
  DRIFT_FEATURE_BINS,
  DRIFT_FEATURES,
  type DriftFeature,
  type TranscriptionFeatures,
  transcriptionFeatures,
} from "./features.ts";
import { bucketLabels, compareHistograms, type Histogram, PSI_DEFAULT_MIN_SAMPLES, type PsiVerdict } from "./psi.ts";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Default recent window of {@link driftReport}. */
export const DRIFT_DEFAULT_WINDOW_HOURS = 24;
/** Default baseline: this many days immediately before the recent window. */
export const DRIFT_DEFAULT_BASELINE_DAYS = 7;
/** Model label of a job whose result named none. */
export const UNKNOWN_MODEL = "unknown";

// ---------- recording ----------

/**
 * Computes and stores the drift features of a job that has just completed. WAV uploads are probed (sample rate,
 * channels, loudness, silence) from at most {@link PROBE_MAX_BYTES} of decrypted audio; other containers are not
 * read at all and leave those features null. The row is written only while the job row still exists, so a job
 * erased in the meantime does not leave features behind. Throws on storage errors: see {@link recordCompletionFeatures}.
 */
export async function recordJobFeatures(
  env: Env,
  db: Db,
  job: TranscriptionRow,
  transcript: NormalisedTranscript,
): Promise<TranscriptionFeatures> {
  let probe: AudioProbe = { sampleRate: null, channels: null, durationSeconds: null, pcm: null };
  if (job.audioKey && job.audioFormat === "wav" && job.audioBytes > 0) {
    const head = await getSealedPrefix(env, job.tenantId, job.audioKey, Math.min(PROBE_MAX_BYTES, job.audioBytes));
    if (head) probe = probeAudio(head, job.audioBytes);
  }
  const features = transcriptionFeatures(
    {
      durationSeconds: transcript.duration_seconds ?? probe.durationSeconds ?? job.durationSeconds ?? null,
      bytes: job.audioBytes,
      format: job.audioFormat,
      sampleRate: probe.sampleRate,
      channels: probe.channels,
      requestedLanguage: job.requestedLanguage,
      detectedLanguage: transcript.language,
      pcm: probe.pcm,
    },
    { text: transcript.text, segments: transcript.segments },
  );
  const values: JobFeaturesRow = {
    jobId: job.id,
    tenantId: job.tenantId,
    provider: job.provider,
    model: job.model ?? transcript.model ?? UNKNOWN_MODEL,
    createdAt: job.createdAt,
    completedAt: job.completedAt ?? Date.now(),
    durationSeconds: finiteOrNull(features.durationSeconds),
    bytes: features.bytes,
    bytesPerSecond: finiteOrNull(features.bytesPerSecond),
    format: features.format,
    sampleRate: features.sampleRate,
    channels: features.channels,
    requestedLanguage: features.requestedLanguage,
    detectedLanguage: features.detectedLanguage,
    languageMismatch: features.languageMismatch === null ? null : Number(features.languageMismatch),
    loudnessDbfs: finiteOrNull(features.loudnessDbfs),
    silenceRatio: finiteOrNull(features.silenceRatio),
    characters: features.characters,
    words: features.words,
    charsPerSecond: finiteOrNull(features.charsPerSecond),
    wordsPerSecond: finiteOrNull(features.wordsPerSecond),
    emptyTranscript: Number(features.emptyTranscript),
    segmentCount: features.segmentCount,
    meanConfidence: finiteOrNull(features.meanConfidence),
    meanNoSpeechProb: finiteOrNull(features.meanNoSpeechProb),
  };
  await insertJobFeaturesWhileJobExists(db, values);
  return features;
}

/**
 * {@link recordJobFeatures} for the completion path: a failure is logged (`job_features_failed`) and swallowed,
 * because a missing feature row must never fail a transcription that succeeded.
 */
export async function recordCompletionFeatures(
  env: Env,
  db: Db,
  job: TranscriptionRow,
  transcript: NormalisedTranscript,
): Promise<void> {
  try {
    await recordJobFeatures(env, db, job, transcript);
  } catch (error) {
    log("job_features_failed", {
      job_id: job.id,
      tenant_id: job.tenantId,
      provider: job.provider,
      // the name only: a D1 error message echoes the statement's parameters
      error: error instanceof Error ? error.name : "unknown",
    });
  }
}

// ---------- reporting ----------

export interface DriftWindowOptions {
  /** end of the recent window (ms); default now */
  now?: number;
  /** length of the recent window; default {@link DRIFT_DEFAULT_WINDOW_HOURS} */
  windowHours?: number;
  /** length of the baseline window right before it; default {@link DRIFT_DEFAULT_BASELINE_DAYS} */
  baselineDays?: number;
  provider?: string;
  model?: string;
  /** observations each window needs for a verdict; default {@link PSI_DEFAULT_MIN_SAMPLES} */
  minSamples?: number;
}

export interface DriftWindow {
  /** exclusive start (ms) */
  from: number;
  /** inclusive end (ms) */
  to: number;
}

export interface FeatureWindowStats {
  samples: number;
  missing_share: number | null;
  histogram: { bin: string; count: number }[];
}

export interface FeatureDrift {
  feature: DriftFeature;
  psi: number | null;
  verdict: PsiVerdict;
  baseline: FeatureWindowStats;
  current: FeatureWindowStats;
}

export interface DriftGroup {
  provider: string;
  model: string;
  baseline_samples: number;
  current_samples: number;
  features: FeatureDrift[];
}

export interface DriftReportResult {
  current: DriftWindow;
  baseline: DriftWindow;
  min_samples: number;
  groups: DriftGroup[];
}

/** The windows and thresholds of one drift report, fixed once so every shard is read over the same windows. */
export interface DriftPlan {
  current: DriftWindow;
  baseline: DriftWindow;
  minSamples: number;
  provider?: string;
  model?: string;
}

/** The windows of a report ending at `options.now` (default now). */
export function driftPlan(options: DriftWindowOptions = {}): DriftPlan {
  const now = Math.floor(options.now ?? Date.now());
  const windowMs = Math.round((options.windowHours ?? DRIFT_DEFAULT_WINDOW_HOURS) * HOUR_MS);
  const baselineMs = Math.round((options.baselineDays ?? DRIFT_DEFAULT_BASELINE_DAYS) * DAY_MS);
  return {
    current: { from: now - windowMs, to: now },
    baseline: { from: now - windowMs - baselineMs, to: now - windowMs },
    minSamples: options.minSamples ?? PSI_DEFAULT_MIN_SAMPLES,
    provider: options.provider,
    model: options.model,
  };
}

/** One database's bucket counts over the plan's windows (SQL, one batch). */
export function driftBucketCounts(db: Db, plan: DriftPlan): Promise<BucketCountRow[]> {
  return countFeatureBuckets(
    db,
    { baselineFrom: plan.baseline.from, currentFrom: plan.current.from, to: plan.current.to },
    { provider: plan.provider, model: plan.model },
    DRIFT_FEATURES.map((feature) => ({ bins: DRIFT_FEATURE_BINS[feature], column: feature })),
  );
}

/**
 * The report from bucket counts, of one database or of several concatenated: {@link buildGroups} adds the counts of
 * the same provider, model, window, feature and bucket, so the histograms (and the PSI computed from them) are those
 * of the union of the rows, exactly as if they were in one database.
 */
export function driftReportFromCounts(plan: DriftPlan, rows: readonly BucketCountRow[]): DriftReportResult {
  return {
    current: plan.current,
    baseline: plan.baseline,
    min_samples: plan.minSamples,
    groups: buildGroups(rows, plan.minSamples),
  };
}

/** PSI of every drift feature per provider and model: the recent window against the baseline window before it. */
export async function driftReport(db: Db, options: DriftWindowOptions = {}): Promise<DriftReportResult> {
  const plan = driftPlan(options);
  return driftReportFromCounts(plan, await driftBucketCounts(db, plan));
}

/**
 * {@link driftReport} over every job shard (operator reads): each shard's bucket counts are read at once under the
 * fan-out deadline (`fanout.timeoutMs`, default SHARD_READ_TIMEOUT_MS) and the report is computed over all of them; a
 * shard that failed or timed out is in `failed` and its rows are missing from the report.
 */
export async function driftReportOfAllShards(
  env: Env,
  options: DriftWindowOptions = {},
  fanout: { timeoutMs?: number } = {},
): Promise<{ report: DriftReportResult; failed: ShardFailure[] }> {
  const plan = driftPlan(options);
  const reads = await readAllShards(env, (db) => driftBucketCounts(db, plan), fanout);
  return {
    report: driftReportFromCounts(
      plan,
      reads.values.flatMap(({ value }) => value),
    ),
    failed: reads.failed,
  };
}

/**
 * `vtt_drift_psi` and `vtt_drift_missing_share` for `/metrics`, over the default windows (last 24 h against the 7 days
 * before). PSI is exported only where both windows hold at least {@link PSI_DEFAULT_MIN_SAMPLES} jobs (below that it is
 * noise and would page people); the missing share wherever the recent window has jobs.
 */
export async function driftMetricFamilies(db: Db, now: number = Date.now()): Promise<MetricFamily[]> {
  const report = await driftReport(db, { now });
  const psiSamples: ScalarSample[] = [];
  const missingSamples: ScalarSample[] = [];
  for (const group of report.groups) {
    for (const feature of group.features) {
      const labels = { provider: group.provider, model: group.model, feature: feature.feature };
      if (feature.psi !== null && feature.verdict !== "insufficient_data")
        psiSamples.push({ labels, value: feature.psi });
      if (feature.current.missing_share !== null) missingSamples.push({ labels, value: feature.current.missing_share });
    }
  }
  return [
    { name: "vtt_drift_psi", type: "gauge", help: EDGE_METRICS.vtt_drift_psi.help, samples: psiSamples },
    {
      name: "vtt_drift_missing_share",
      type: "gauge",
      help: EDGE_METRICS.vtt_drift_missing_share.help,
      samples: missingSamples,
    },
  ];
}

/** Histograms per provider, model, feature and window from the SQL bucket counts, then PSI per feature. */
export function buildGroups(rows: readonly BucketCountRow[], minSamples: number): DriftGroup[] {
  const labels = DRIFT_FEATURES.map((feature) => bucketLabels(DRIFT_FEATURE_BINS[feature]));
  const groups = new Map<string, { provider: string; model: string; counts: [number[][], number[][]] }>();
  for (const row of rows) {
    const key = JSON.stringify([row.provider, row.model]);
    let group = groups.get(key);
    if (!group) {
      const empty = () => labels.map((l) => new Array<number>(l.length).fill(0));
      group = { provider: row.provider, model: row.model, counts: [empty(), empty()] };
      groups.set(key, group);
    }
    group.counts[Number(row.cur) === 1 ? 1 : 0][Number(row.f)]![Number(row.b)]! += Number(row.n);
  }
  return [...groups.values()]
    .sort((a, b) => (a.provider === b.provider ? compare(a.model, b.model) : compare(a.provider, b.provider)))
    .map((group) => {
      const features = DRIFT_FEATURES.map((feature, i): FeatureDrift => {
        const baseline = toHistogram(feature, labels[i]!, group.counts[0][i]!);
        const current = toHistogram(feature, labels[i]!, group.counts[1][i]!);
        const report = compareHistograms(baseline, current, { minSamples });
        return {
          feature,
          psi: report.value,
          verdict: report.verdict,
          baseline: windowStats(baseline, report.baselineMissingShare),
          current: windowStats(current, report.currentMissingShare),
        };
      });
      return {
        provider: group.provider,
        model: group.model,
        baseline_samples: features[0]?.baseline.samples ?? 0,
        current_samples: features[0]?.current.samples ?? 0,
        features,
      };
    });
}

function toHistogram(feature: string, labels: string[], counts: number[]): Histogram {
  const total = counts.reduce((sum, count) => sum + count, 0);
  return { feature, labels, counts, total, missing: counts[counts.length - 1]! };
}

function windowStats(histogram: Histogram, missingShare: number | null): FeatureWindowStats {
  return {
    samples: histogram.total,
    missing_share: missingShare,
    histogram: histogram.labels.map((bin, i) => ({ bin, count: histogram.counts[i]! })),
  };
}

function finiteOrNull(value: number | null): number | null {
  return value !== null && Number.isFinite(value) ? value : null;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
