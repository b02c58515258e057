/**
 * Human feedback on transcripts: a tenant admin rates a completed job good or bad and may send a corrected text; the
 * service scores the stored transcript against the correction (WER/CER, wer.ts) and keeps one review per job in
 * `transcript_feedback`, with the reason and the correction sealed under the tenant key. Aggregates per provider, model
 * and ISO week feed `GET /v1/admin/quality` and the `vtt_quality_*` gauges.
 */
import { openField, sealField } from "../domain/envelope.ts";
import { UNKNOWN_MODEL } from "../drift/drift.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../http/problem.ts";
import { EDGE_METRICS } from "../observability/metrics-catalog.ts";
import type { MetricFamily, ScalarSample } from "../observability/prometheus.ts";
import type { Db } from "../storage/db.ts";
import {
  getFeedback,
  hasFeedback,
  listReviewsBetween,
  type ReviewRow,
  upsertFeedbackWhileJobExists,
} from "../storage/feedback.repo.ts";
import { getTenantJob } from "../storage/jobs.repo.ts";
import type { FeedbackRating, TranscriptFeedbackRow } from "../storage/schema.ts";
import { masterKeys } from "../storage/sealed-objects.ts";
import { readAllShards, type ShardFailure } from "../storage/shard-fanout.ts";
import { getTranscript, withOpenedText } from "../storage/transcript-store.ts";
import { alignTokensBounded, transcriptCharacters, transcriptWords } from "./wer.ts";

const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;
/** Window of the `vtt_quality_*` gauges. */
export const QUALITY_METRIC_WINDOW_MS = WEEK_MS;
/** Default number of ISO weeks in `GET /v1/admin/quality` (the current week and the ones before it). */
export const QUALITY_DEFAULT_WEEKS = 4;
export const QUALITY_MAX_WEEKS = 52;
export const FEEDBACK_REASON_MAX_CHARS = 500;
export const FEEDBACK_CORRECTION_MAX_CHARS = 100_000;

/** AAD of a sealed feedback field, bound to the job so a value copied to another row does not open. */
const fieldContext = (field: "reason" | "corrected_text", jobId: string) => `transcript_feedback.${field}:${jobId}`;

export interface FeedbackInput {
  rating: FeedbackRating;
  reason?: string;
  corrected_text?: string;
}

export interface FeedbackResult {
  job_id: string;
  rating: FeedbackRating;
  reason: string | null;
  has_correction: boolean;
  /** of the stored transcript against the correction; null without one, for an empty correction, or too large a diff */
  wer: number | null;
  cer: number | null;
  reference_words: number | null;
  provider: string;
  model: string;
  created_at: string;
  updated_at: string;
  /** true when this replaced an earlier review of the job */
  replaced: boolean;
}

/** WER and CER of `transcript` against `correction` (the reference); null rates where alignment is not possible. */
export function scoreCorrection(
  transcript: string,
  correction: string,
): { wer: number | null; cer: number | null; referenceWords: number } {
  const referenceWords = transcriptWords(correction);
  const words = alignTokensBounded(referenceWords, transcriptWords(transcript));
  const chars = alignTokensBounded(transcriptCharacters(correction), transcriptCharacters(transcript));
  return { wer: words?.rate ?? null, cer: chars?.rate ?? null, referenceWords: referenceWords.length };
}

/**
 * Stores a review of a completed job of `tenantId` (one per job: a new one replaces it). Throws 404 `not_found` for a
 * job that is not the tenant's, 409 `transcript_not_ready` before completion, 404 `transcript_gone` without a stored
 * transcript.
 */
export async function submitFeedback(
  env: Env,
  db: Db,
  tenantId: string,
  jobId: string,
  input: FeedbackInput,
  now = Date.now(),
): Promise<FeedbackResult> {
  const job = await getTenantJob(db, tenantId, jobId);
  if (!job) throw new ApiError(404, "not_found", "No transcription with that id.");
  if (job.status !== "completed")
    throw new ApiError(
      409,
      "transcript_not_ready",
      `The job is ${job.status}; only completed transcripts can be reviewed.`,
    );

  let score: ReturnType<typeof scoreCorrection> | null = null;
  if (input.corrected_text !== undefined) {
    const doc = job.transcriptKey ? await getTranscript(env, tenantId, job.transcriptKey) : null;
    const text = doc?.text ?? (job.text !== null ? (await withOpenedText(env, job)).text : null);
    if (text === null) throw new ApiError(404, "transcript_gone", "The transcript is no longer stored.");
    score = scoreCorrection(text, input.corrected_text);
  }
  const ring = masterKeys(env);
  const reason = input.reason ? await sealField(ring, tenantId, fieldContext("reason", jobId), input.reason) : null;
  const corrected =
    input.corrected_text !== undefined
      ? await sealField(ring, tenantId, fieldContext("corrected_text", jobId), input.corrected_text)
      : null;
  const provider = job.provider;
  const model = job.model ?? UNKNOWN_MODEL;
  const values = {
    jobId,
    tenantId,
    provider,
    model,
    rating: input.rating,
    reason,
    correctedText: corrected,
    wer: score?.wer ?? null,
    cer: score?.cer ?? null,
    referenceWords: score?.referenceWords ?? null,
  };
  const replaced = await hasFeedback(db, tenantId, jobId);
  const written = await upsertFeedbackWhileJobExists(db, values, now);
  if (!written) throw new ApiError(404, "not_found", "No transcription with that id.");
  return {
    job_id: jobId,
    rating: input.rating,
    reason: input.reason ?? null,
    has_correction: corrected !== null,
    wer: values.wer,
    cer: values.cer,
    reference_words: values.referenceWords,
    provider,
    model,
    created_at: new Date(written.createdAt).toISOString(),
    updated_at: new Date(now).toISOString(),
    replaced,
  };
}

/** The review of one job with its sealed fields opened (for the tenant's own reads and tests). */
export async function readFeedback(
  env: Env,
  db: Db,
  tenantId: string,
  jobId: string,
): Promise<(TranscriptFeedbackRow & { reason: string | null; correctedText: string | null }) | null> {
  const row = await getFeedback(db, tenantId, jobId);
  if (!row) return null;
  const ring = masterKeys(env);
  return {
    ...row,
    reason: row.reason === null ? null : await openField(ring, tenantId, fieldContext("reason", jobId), row.reason),
    correctedText:
      row.correctedText === null
        ? null
        : await openField(ring, tenantId, fieldContext("corrected_text", jobId), row.correctedText),
  };
}

// ---------- aggregates ----------

/** ISO 8601 week of a UTC instant, e.g. `2026-W07` (weeks start on Monday; week 1 holds the year's first Thursday). */
export function isoWeek(ms: number): string {
  const date = new Date(ms);
  const day = (date.getUTCDay() + 6) % 7; // Monday = 0
  const thursday = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() - day + 3);
  const year = new Date(thursday).getUTCFullYear();
  const week = 1 + Math.floor((thursday - Date.UTC(year, 0, 1)) / WEEK_MS);
  return `${year}-W${String(week).padStart(2, "0")}`;
}

/** Monday 00:00 UTC of the ISO week holding `ms`. */
export function isoWeekStart(ms: number): number {
  const date = new Date(ms);
  const day = (date.getUTCDay() + 6) % 7;
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() - day);
}

export interface QualityBucket {
  provider: string;
  model: string;
  /** ISO week of the review, `YYYY-Www` */
  week: string;
  reviews: number;
  good: number;
  bad: number;
  /** reviews with a correction that could be scored */
  scored: number;
  mean_wer: number | null;
  mean_cer: number | null;
}

export interface QualityReportResult {
  from: string;
  to: string;
  weeks: number;
  data: QualityBucket[];
}

/** The window and filter of one quality report, fixed once so every shard is read over the same window. */
export interface QualityPlan {
  /** start of the first ISO week (inclusive, ms) */
  from: number;
  /** end of the report (inclusive, ms) */
  now: number;
  weeks: number;
  provider?: string;
  model?: string;
  tenantId?: string;
}

export function qualityPlan(
  options: { weeks?: number; now?: number; provider?: string; model?: string; tenantId?: string } = {},
): QualityPlan {
  const now = options.now ?? Date.now();
  const weeks = options.weeks ?? QUALITY_DEFAULT_WEEKS;
  const from = isoWeekStart(now) - (weeks - 1) * WEEK_MS;
  return { from, now, weeks, provider: options.provider, model: options.model, tenantId: options.tenantId };
}

/** The reviews of one database in the plan's window. */
export function qualityReviews(db: Db, plan: QualityPlan): Promise<ReviewRow[]> {
  return reviewsSince(db, plan.from, plan.now, plan);
}

/**
 * The report from review rows, of one database or of several concatenated: every bucket is summarised from its rows,
 * so counts and means are those of the union of the rows (never a mean of per-shard means).
 */
export function qualityReportFromReviews(plan: QualityPlan, rows: readonly ReviewRow[]): QualityReportResult {
  const buckets = new Map<string, ReviewRow[]>();
  for (const row of rows) {
    const key = JSON.stringify([row.provider, row.model, isoWeek(row.updatedAt)]);
    let bucket = buckets.get(key);
    if (!bucket) buckets.set(key, (bucket = []));
    bucket.push(row);
  }
  const data = [...buckets.entries()]
    .map(([key, group]) => {
      const [provider, model, week] = JSON.parse(key) as [string, string, string];
      return { provider, model, week, ...summarise(group) };
    })
    .sort((a, b) => compare(a.week, b.week) || compare(a.provider, b.provider) || compare(a.model, b.model));
  return { from: new Date(plan.from).toISOString(), to: new Date(plan.now).toISOString(), weeks: plan.weeks, data };
}

/**
 * Reviews per provider, model and ISO week, from the start of the week `weeks − 1` weeks ago up to `now`; of every
 * tenant in `db`, or of one with `tenantId`.
 */
export async function qualityReport(
  db: Db,
  options: { weeks?: number; now?: number; provider?: string; model?: string; tenantId?: string } = {},
): Promise<QualityReportResult> {
  const plan = qualityPlan(options);
  return qualityReportFromReviews(plan, await qualityReviews(db, plan));
}

/**
 * {@link qualityReport} of every tenant over every job shard (operator reads): each shard's reviews are read at once
 * under the fan-out deadline (`fanout.timeoutMs`, default SHARD_READ_TIMEOUT_MS) and summarised together; a shard that
 * failed or timed out is in `failed` and its reviews are missing from the report.
 */
export async function qualityReportOfAllShards(
  env: Env,
  options: { weeks?: number; now?: number; provider?: string; model?: string } = {},
  fanout: { timeoutMs?: number } = {},
): Promise<{ report: QualityReportResult; failed: ShardFailure[] }> {
  const plan = qualityPlan(options);
  const reads = await readAllShards(env, (db) => qualityReviews(db, plan), fanout);
  return {
    report: qualityReportFromReviews(
      plan,
      reads.values.flatMap(({ value }) => value),
    ),
    failed: reads.failed,
  };
}

/**
 * `vtt_quality_wer` (mean WER of scored reviews) and `vtt_quality_reviews{rating}` per provider and model over the
 * last 7 days. Both ratings are exported for every provider and model with a review (0 where none), so a ratio of
 * bad to all reviews is always defined; the WER gauge only where at least one review was scored.
 */
export async function qualityMetricFamilies(db: Db, now: number = Date.now()): Promise<MetricFamily[]> {
  const rows = await reviewsSince(db, now - QUALITY_METRIC_WINDOW_MS, now, {}, true);
  const groups = new Map<string, ReviewRow[]>();
  for (const row of rows) {
    const key = JSON.stringify([row.provider, row.model]);
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  const werSamples: ScalarSample[] = [];
  const reviewSamples: ScalarSample[] = [];
  for (const [key, group] of groups) {
    const [provider, model] = JSON.parse(key) as [string, string];
    const summary = summarise(group);
    if (summary.mean_wer !== null) werSamples.push({ labels: { provider, model }, value: summary.mean_wer });
    reviewSamples.push(
      { labels: { provider, model, rating: "good" }, value: summary.good },
      { labels: { provider, model, rating: "bad" }, value: summary.bad },
    );
  }
  return [
    { name: "vtt_quality_wer", type: "gauge", help: EDGE_METRICS.vtt_quality_wer.help, samples: werSamples },
    { name: "vtt_quality_reviews", type: "gauge", help: EDGE_METRICS.vtt_quality_reviews.help, samples: reviewSamples },
  ];
}

async function reviewsSince(
  db: Db,
  from: number,
  to: number,
  filter: { provider?: string; model?: string; tenantId?: string },
  exclusiveFrom = false,
): Promise<ReviewRow[]> {
  return listReviewsBetween(db, { from, to, exclusiveFrom }, filter);
}

function summarise(rows: readonly ReviewRow[]): Omit<QualityBucket, "provider" | "model" | "week"> {
  let good = 0;
  let bad = 0;
  let scored = 0;
  let werSum = 0;
  let cerSum = 0;
  let cerCount = 0;
  for (const row of rows) {
    if (row.rating === "good") good += 1;
    else bad += 1;
    if (row.wer !== null) {
      scored += 1;
      werSum += row.wer;
    }
    if (row.cer !== null) {
      cerCount += 1;
      cerSum += row.cer;
    }
  }
  return {
    reviews: rows.length,
    good,
    bad,
    scored,
    mean_wer: scored === 0 ? null : werSum / scored,
    mean_cer: cerCount === 0 ? null : cerSum / cerCount,
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
