/**
 * Every metric `GET /metrics` on the Worker exports: name, type, help and labels. Dashboards (infra/grafana) and
 * alert rules (infra/prometheus) may only name metrics from this catalog or the pool's prom-client registry; a test
 * checks both directions. Windowed gauges are recomputed from D1 at each scrape over fixed windows (`window` label).
 * Every family read from D1 is per job shard (`shard` label, the placement's shard code); breakers are service-wide.
 */

export const METRIC_WINDOWS = { "5m": 300, "1h": 3600 } as const;
export type MetricWindow = keyof typeof METRIC_WINDOWS;

/** Latency stages of a finished job: created → started (queue wait), started → finished (processing), created → finished. */
export const LATENCY_STAGES = ["queue_wait", "processing", "end_to_end"] as const;
export const LATENCY_BUCKETS_SECONDS = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600] as const;

export interface CatalogEntry {
  type: "gauge" | "counter" | "histogram";
  help: string;
  labels: readonly string[];
}

export const EDGE_METRICS = {
  vtt_jobs_finished: {
    type: "gauge",
    help: "Jobs that finished within the window, by outcome.",
    labels: ["provider", "outcome", "window", "shard"],
  },
  vtt_jobs_created: {
    type: "gauge",
    help: "Jobs uploaded within the window (arrivals, to compare with throughput).",
    labels: ["provider", "window", "shard"],
  },
  vtt_jobs_failed: {
    type: "gauge",
    help: "Jobs that failed within the window, by error code.",
    labels: ["provider", "code", "window", "shard"],
  },
  vtt_jobs_per_second: {
    type: "gauge",
    help: "Finished jobs per second over the window.",
    labels: ["provider", "window", "shard"],
  },
  vtt_job_error_rate: {
    type: "gauge",
    help: "Failed / finished jobs over the window (0 when none finished).",
    labels: ["provider", "window", "shard"],
  },
  vtt_job_latency_avg_seconds: {
    type: "gauge",
    help: "Average latency of jobs finished within the window.",
    labels: ["provider", "stage", "window", "shard"],
  },
  vtt_job_latency_max_seconds: {
    type: "gauge",
    help: "Maximum latency of jobs finished within the window.",
    labels: ["provider", "stage", "window", "shard"],
  },
  vtt_job_latency_seconds: {
    type: "histogram",
    help: "Latency distribution of jobs finished within the window.",
    labels: ["provider", "stage", "window", "shard"],
  },
  vtt_job_retries: {
    type: "gauge",
    help: "Extra attempts (attempts - 1) of jobs finished within the window.",
    labels: ["provider", "window", "shard"],
  },
  vtt_audio_seconds_processed: {
    type: "gauge",
    help: "Seconds of audio in jobs completed within the window.",
    labels: ["provider", "window", "shard"],
  },
  vtt_real_time_factor: {
    type: "gauge",
    help: "Processing seconds per audio second of jobs completed within the window.",
    labels: ["provider", "window", "shard"],
  },
  vtt_queue_depth: {
    type: "gauge",
    help: "Unfinished jobs by state: queued, processing, delayed (backlog notice) or parked (provider down / dead-lettered).",
    labels: ["provider", "state", "shard"],
  },
  vtt_queue_oldest_age_seconds: {
    type: "gauge",
    help: "Age of the oldest unfinished job.",
    labels: ["provider", "shard"],
  },
  vtt_dead_letter_oldest_age_seconds: {
    type: "gauge",
    help: "Age of the oldest unresolved dead-letter item (0 when none).",
    labels: ["shard"],
  },
  vtt_dead_letters: {
    type: "gauge",
    help: "Dead-lettered jobs not yet resolved, by classification.",
    labels: ["classification", "shard"],
  },
  vtt_breaker_open: {
    type: "gauge",
    help: "1 when the provider's circuit breaker is open or half-open (not closed).",
    labels: ["provider"],
  },
  vtt_breaker_state: {
    type: "gauge",
    help: "1 for the breaker's current state, 0 for the others.",
    labels: ["provider", "state"],
  },
  vtt_breaker_failure_rate: {
    type: "gauge",
    help: "Failure rate over the breaker's sliding window.",
    labels: ["provider"],
  },
  vtt_breaker_calls_total: {
    type: "counter",
    help: "Calls seen by the breaker Durable Object since it was created, by result.",
    labels: ["provider", "result"],
  },
  vtt_breaker_opens_total: {
    type: "counter",
    help: "Times the breaker opened since it was created.",
    labels: ["provider"],
  },
  vtt_webhook_events: {
    type: "gauge",
    help: "Webhook events created within the window, by delivery status.",
    labels: ["status", "window", "shard"],
  },
  vtt_drift_psi: {
    type: "gauge",
    help: "Population stability index of a feature, recent window vs baseline.",
    labels: ["provider", "model", "feature", "shard"],
  },
  vtt_drift_snapshot_age_seconds: {
    type: "gauge",
    help: "Age of the drift figures (recomputed by the cron every 15 minutes).",
    labels: ["shard"],
  },
  vtt_drift_missing_share: {
    type: "gauge",
    help: "Share of jobs in the recent window without a value for the feature.",
    labels: ["provider", "model", "feature", "shard"],
  },
  vtt_quality_wer: {
    type: "gauge",
    help: "Mean word error rate of reviewed transcripts over the last 7 days.",
    labels: ["provider", "model", "shard"],
  },
  vtt_quality_reviews: {
    type: "gauge",
    help: "Transcripts rated over the last 7 days, by rating.",
    labels: ["provider", "model", "rating", "shard"],
  },
  vtt_metrics_scrape_duration_seconds: { type: "gauge", help: "Time this scrape took to compute.", labels: [] },
  vtt_shard_up: {
    type: "gauge",
    help: "1 when the job shard answered this scrape, 0 when it failed or timed out (its series are then missing).",
    labels: ["shard"],
  },
} as const satisfies Record<string, CatalogEntry>;

export type EdgeMetricName = keyof typeof EDGE_METRICS;

/** Names as they appear in the exposition (histograms add _bucket, _sum and _count). */
export function exposedSeriesNames(): string[] {
  return Object.entries(EDGE_METRICS).flatMap(([name, entry]) =>
    entry.type === "histogram" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name],
  );
}
