/**
 * Population stability index (PSI) for drift detection between a baseline window and a current window.
 * Pure: no Cloudflare bindings and no clock, so it runs in workerd, Node and the browser alike.
 *
 * Bins are fixed per feature (never re-derived from quantiles of either window), so histograms stored on different
 * days stay comparable and can be merged by adding counts. Every histogram ends with a "missing" bucket: a feature
 * that suddenly stops being reported is drift too, and it shows up in the index like any other shift.
 */

/** PSI below this is `stable`. */
export const PSI_STABLE_BELOW = 0.1;
/** PSI at or above this is `significant`; between the two thresholds it is `moderate`. */
export const PSI_SIGNIFICANT_FROM = 0.25;
/** Proportion used in place of zero for an empty bin, so ln(p_c / p_b) stays finite. */
export const PSI_DEFAULT_EPSILON = 1e-4;
/** Fewer observations than this in either window gives `insufficient_data`: PSI on tiny samples is mostly noise. */
export const PSI_DEFAULT_MIN_SAMPLES = 100;
/** Label of the last bucket of every histogram: null, undefined, NaN or an empty category. */
export const MISSING_BUCKET = "missing";
/** Label of the bucket for categories a {@link CategoricalBins} does not list. */
export const OTHER_BUCKET = "other";

/**
 * Fixed numeric bin edges: `edges` [e0, …, e(n-1)] strictly increasing and finite give n + 1 value buckets
 * (-∞, e0), [e0, e1), …, [e(n-1), +∞), then the missing bucket. ±Infinity land in the outer buckets.
 */
export interface NumericBins {
  kind: "numeric";
  feature: string;
  edges: readonly number[];
}

/**
 * Fixed categories (compared trimmed and lower-cased, e.g. ISO 639-1 language codes): one bucket per category in
 * the order given, then {@link OTHER_BUCKET} for anything unlisted, then the missing bucket.
 */
export interface CategoricalBins {
  kind: "categorical";
  feature: string;
  categories: readonly string[];
}

/** How one feature is bucketed for drift detection. */
export type FeatureBins = NumericBins | CategoricalBins;

/** A value a histogram accepts: numbers for numeric bins, strings for categorical bins, null/undefined when absent. */
export type FeatureValue = number | string | boolean | null | undefined;

/** Counts per bucket; `labels[i]` names `counts[i]`, and the last entry is always {@link MISSING_BUCKET}. */
export interface Histogram {
  feature: string;
  labels: string[];
  counts: number[];
  /** all observations, missing included */
  total: number;
  /** observations that fell in the missing bucket */
  missing: number;
}

export type PsiVerdict = "stable" | "moderate" | "significant" | "insufficient_data";

export interface PsiOptions {
  /** proportion substituted for an empty bin; default {@link PSI_DEFAULT_EPSILON} */
  epsilon?: number;
  /** minimum observations in each window for a verdict; default {@link PSI_DEFAULT_MIN_SAMPLES} */
  minSamples?: number;
}

export interface PsiResult {
  /** Σ (p_c − p_b)·ln(p_c / p_b); null when either window is empty */
  value: number | null;
  verdict: PsiVerdict;
  /** each bin's term of the sum (all ≥ 0), in bin order; empty when `value` is null */
  contributions: number[];
  baselineTotal: number;
  currentTotal: number;
}

/** A {@link PsiResult} for two histograms of the same feature and bins, with the share of missing values. */
export interface DriftReport extends PsiResult {
  feature: string;
  labels: string[];
  /** missing / total in the baseline window; null when it is empty */
  baselineMissingShare: number | null;
  currentMissingShare: number | null;
}

/** Thrown for bins or histograms that cannot be compared; a programming error, not bad user input. */
export class BinsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BinsError";
  }
}

/** Throws {@link BinsError} unless the edges are finite and strictly increasing, or the categories unique. */
export function validateBins(bins: FeatureBins): void {
  if (!bins.feature) throw new BinsError("bins need a feature name");
  if (bins.kind === "numeric") {
    if (bins.edges.length === 0) throw new BinsError(`${bins.feature}: numeric bins need at least one edge`);
    bins.edges.forEach((edge, i) => {
      if (!Number.isFinite(edge)) throw new BinsError(`${bins.feature}: edge ${i} is not a finite number`);
      if (i > 0 && edge <= bins.edges[i - 1]!)
        throw new BinsError(`${bins.feature}: edges must be strictly increasing`);
    });
    return;
  }
  if (bins.categories.length === 0) throw new BinsError(`${bins.feature}: categorical bins need at least one category`);
  const seen = new Set<string>();
  for (const category of bins.categories) {
    const key = normaliseCategory(category);
    if (!key) throw new BinsError(`${bins.feature}: categories must be non-empty`);
    if (key === OTHER_BUCKET || key === MISSING_BUCKET)
      throw new BinsError(`${bins.feature}: "${key}" is a reserved bucket`);
    if (seen.has(key)) throw new BinsError(`${bins.feature}: duplicate category "${key}"`);
    seen.add(key);
  }
}

/** Bucket labels in order, ending with {@link MISSING_BUCKET}, e.g. `(-inf,1)`, `[1,5)`, `[5,+inf)`, `missing`. */
export function bucketLabels(bins: FeatureBins): string[] {
  if (bins.kind === "categorical") return [...bins.categories.map(normaliseCategory), OTHER_BUCKET, MISSING_BUCKET];
  const { edges } = bins;
  const labels = [`(-inf,${edges[0]})`];
  for (let i = 1; i < edges.length; i++) labels.push(`[${edges[i - 1]},${edges[i]})`);
  labels.push(`[${edges[edges.length - 1]},+inf)`, MISSING_BUCKET);
  return labels;
}

/**
 * Index into {@link bucketLabels} of one value. Numeric bins take numbers (booleans count as 0/1); anything else,
 * NaN included, is missing. Categorical bins take strings; null, undefined and blank strings are missing.
 */
export function bucketIndex(bins: FeatureBins, value: FeatureValue): number {
  if (bins.kind === "numeric") {
    const missingIndex = bins.edges.length + 1;
    const numeric = typeof value === "boolean" ? Number(value) : value;
    if (typeof numeric !== "number" || Number.isNaN(numeric)) return missingIndex;
    // Binary search for the first edge greater than the value: that edge's index is the bucket.
    let low = 0;
    let high = bins.edges.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (numeric < bins.edges[mid]!) high = mid;
      else low = mid + 1;
    }
    return low;
  }
  const missingIndex = bins.categories.length + 1;
  if (value === null || value === undefined) return missingIndex;
  const key = normaliseCategory(String(value));
  if (!key) return missingIndex;
  const index = bins.categories.findIndex((category) => normaliseCategory(category) === key);
  return index === -1 ? bins.categories.length : index;
}

/** Counts `values` into the fixed buckets of `bins` (validated first). */
export function histogram(values: Iterable<FeatureValue>, bins: FeatureBins): Histogram {
  validateBins(bins);
  const labels = bucketLabels(bins);
  const counts = new Array<number>(labels.length).fill(0);
  let total = 0;
  for (const value of values) {
    counts[bucketIndex(bins, value)]! += 1;
    total += 1;
  }
  return { feature: bins.feature, labels, counts, total, missing: counts[counts.length - 1]! };
}

/** Adds histograms of the same feature and buckets, e.g. daily histograms into a weekly baseline. */
export function mergeHistograms(first: Histogram, ...rest: Histogram[]): Histogram {
  const counts = [...first.counts];
  for (const other of rest) {
    assertSameBuckets(first, other);
    other.counts.forEach((count, i) => (counts[i]! += count));
  }
  const total = counts.reduce((sum, count) => sum + count, 0);
  return { feature: first.feature, labels: [...first.labels], counts, total, missing: counts[counts.length - 1]! };
}

/**
 * PSI of `currentCounts` against `baselineCounts` (same bins, same order): Σ (p_c − p_b)·ln(p_c / p_b) with
 * p = count / total, and an empty bin's p replaced by `epsilon` so the logarithm stays finite. A bin empty in both
 * windows contributes exactly 0. Throws {@link BinsError} for mismatched lengths or negative/non-integer counts.
 */
export function psi(
  baselineCounts: readonly number[],
  currentCounts: readonly number[],
  options: PsiOptions = {},
): PsiResult {
  const epsilon = options.epsilon ?? PSI_DEFAULT_EPSILON;
  const minSamples = options.minSamples ?? PSI_DEFAULT_MIN_SAMPLES;
  if (!(epsilon > 0 && epsilon < 1)) throw new BinsError("epsilon must be in (0, 1)");
  if (baselineCounts.length !== currentCounts.length || baselineCounts.length === 0) {
    throw new BinsError("baseline and current counts must have the same, non-zero number of bins");
  }
  const baselineTotal = sumCounts(baselineCounts);
  const currentTotal = sumCounts(currentCounts);
  const tooFewSamples = baselineTotal < minSamples || currentTotal < minSamples;
  if (baselineTotal === 0 || currentTotal === 0) {
    return { value: null, verdict: "insufficient_data", contributions: [], baselineTotal, currentTotal };
  }
  const contributions = baselineCounts.map((baselineCount, i) => {
    const currentCount = currentCounts[i]!;
    if (baselineCount === 0 && currentCount === 0) return 0;
    const pBaseline = baselineCount === 0 ? epsilon : baselineCount / baselineTotal;
    const pCurrent = currentCount === 0 ? epsilon : currentCount / currentTotal;
    return (pCurrent - pBaseline) * Math.log(pCurrent / pBaseline);
  });
  const value = contributions.reduce((sum, term) => sum + term, 0);
  return {
    value,
    verdict: tooFewSamples ? "insufficient_data" : psiVerdict(value),
    contributions,
    baselineTotal,
    currentTotal,
  };
}

/** `stable` below {@link PSI_STABLE_BELOW}, `significant` from {@link PSI_SIGNIFICANT_FROM}, `moderate` between. */
export function psiVerdict(value: number): Exclude<PsiVerdict, "insufficient_data"> {
  if (value < PSI_STABLE_BELOW) return "stable";
  if (value < PSI_SIGNIFICANT_FROM) return "moderate";
  return "significant";
}

/** PSI of two histograms of the same feature and bins, plus each window's share of missing values. */
export function compareHistograms(baseline: Histogram, current: Histogram, options: PsiOptions = {}): DriftReport {
  assertSameBuckets(baseline, current);
  const result = psi(baseline.counts, current.counts, options);
  return {
    ...result,
    feature: baseline.feature,
    labels: [...baseline.labels],
    baselineMissingShare: baseline.total === 0 ? null : baseline.missing / baseline.total,
    currentMissingShare: current.total === 0 ? null : current.missing / current.total,
  };
}

function normaliseCategory(value: string): string {
  return value.trim().toLowerCase();
}

function sumCounts(counts: readonly number[]): number {
  let total = 0;
  for (const count of counts) {
    if (!Number.isInteger(count) || count < 0) throw new BinsError("bin counts must be non-negative integers");
    total += count;
  }
  return total;
}

function assertSameBuckets(a: Histogram, b: Histogram): void {
  if (a.feature !== b.feature) throw new BinsError(`cannot compare feature "${a.feature}" with "${b.feature}"`);
  if (a.labels.length !== b.labels.length || a.labels.some((label, i) => label !== b.labels[i])) {
    throw new BinsError(`${a.feature}: histograms were built with different bins`);
  }
}
