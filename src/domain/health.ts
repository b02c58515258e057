/**
 * Pure figures behind the operator's health page: quantiles from the cumulative latency buckets `/metrics` exposes,
 * and the shapes the console hands its chart module (the JSON data islands, docs/console.md).
 */

/** One cumulative bucket: how many observations were at most `le` (the unit is the caller's). */
export interface CumulativeBucket {
  le: number;
  count: number;
}

/**
 * The q-quantile (0 < q < 1) of `count` observations from cumulative buckets, interpolated linearly inside the bucket
 * that holds it, as Prometheus' `histogram_quantile` does (the first bucket starts at 0). Observations above the
 * last bound are reported at that bound. Null without observations.
 */
export function bucketQuantile(buckets: readonly CumulativeBucket[], count: number, q: number): number | null {
  if (!(q > 0 && q < 1)) throw new RangeError("q must be between 0 and 1");
  if (count <= 0 || buckets.length === 0) return null;
  const rank = q * count;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const bucket of buckets) {
    if (bucket.count >= rank) {
      const inBucket = bucket.count - lowerCount;
      if (inBucket <= 0) return bucket.le;
      return lowerBound + ((bucket.le - lowerBound) * (rank - lowerCount)) / inBucket;
    }
    lowerBound = bucket.le;
    lowerCount = bucket.count;
  }
  return buckets.at(-1)!.le;
}

/** One minute of health, as the chart module receives it (times in epoch seconds, as uPlot wants them). */
export interface HealthPoint {
  /** start of the minute, epoch seconds */
  t: number;
  queueDepth: number;
  deadLetters: number;
  jobsPerSecond: number;
  /** failed / finished in the minute; null when nothing finished */
  errorRate: number | null;
  p50Seconds: number | null;
  p95Seconds: number | null;
}

/** The health page's data island (`<script type="application/json" id="health-data">`). */
export interface HealthChartData {
  hour: HealthPoint[];
  day: HealthPoint[];
}

/** The quality page's data island (`id="quality-data"`): mean WER per provider/model per ISO week. */
export interface QualityChartData {
  weeks: string[];
  series: { label: string; wer: (number | null)[] }[];
}

/** Turns stored minute samples into chart points. */
export function healthPoint(sample: {
  minute: number;
  queueDepth: number;
  deadLetters: number;
  finished: number;
  failed: number;
  p50Ms: number | null;
  p95Ms: number | null;
}): HealthPoint {
  return {
    t: Math.floor(sample.minute / 1000),
    queueDepth: sample.queueDepth,
    deadLetters: sample.deadLetters,
    jobsPerSecond: sample.finished / 60,
    errorRate: sample.finished > 0 ? sample.failed / sample.finished : null,
    p50Seconds: sample.p50Ms === null ? null : sample.p50Ms / 1000,
    p95Seconds: sample.p95Ms === null ? null : sample.p95Ms / 1000,
  };
}

/** Mean WER per provider/model and week, laid out as aligned series for a chart (weeks ascending). */
export function qualityChartData(
  rows: readonly { provider: string; model: string; week: string; mean_wer: number | null }[],
): QualityChartData {
  const weeks = [...new Set(rows.map((r) => r.week))].sort();
  const labels = [...new Set(rows.map((r) => `${r.provider} / ${r.model}`))].sort();
  return {
    weeks,
    series: labels.map((label) => ({
      label,
      wer: weeks.map(
        (week) => rows.find((r) => `${r.provider} / ${r.model}` === label && r.week === week)?.mean_wer ?? null,
      ),
    })),
  };
}
