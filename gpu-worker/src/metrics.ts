/**
 * Prometheus metrics on `/metrics` (prom-client). Each pool has its own registry, so several pools in one process
 * (tests) never share counters.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

const LATENCY_BUCKETS_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
const BATCH_SIZE_BUCKETS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64];
const RTF_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 4];

/** Queue counts as BullMQ reports them. */
export type QueueCounts = Partial<Record<"waiting" | "active" | "delayed" | "failed" | "prioritized", number>>;

/** Options for {@link createPoolMetrics}. */
export interface PoolMetricsOptions {
  /** Read at scrape time for the queue-depth gauge. */
  queueCounts: () => Promise<QueueCounts>;
  /** Busy engine slots and total slots, read at scrape time. */
  saturation: () => { busy: number; capacity: number; activeJobs: number };
}

/** The pool's metrics and their registry. */
export type PoolMetrics = ReturnType<typeof createPoolMetrics>;

/** Creates the registry with every pool metric (names prefixed `vtt_pool_`). */
export function createPoolMetrics(options: PoolMetricsOptions) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "vtt_pool_" });
  const registers = [registry];
  return {
    registry,
    jobsCompleted: new Counter({
      name: "vtt_pool_jobs_completed_total",
      help: "Jobs transcribed and handed to callback delivery.",
      registers,
    }),
    jobsFailed: new Counter({
      name: "vtt_pool_jobs_failed_total",
      help: "Job attempts that failed, by code; terminal=true when no attempt is left.",
      labelNames: ["code", "terminal"] as const,
      registers,
    }),
    dispatches: new Counter({
      name: "vtt_pool_dispatches_total",
      help: "Bridge ingress requests by outcome (accepted, duplicate, rejected, unavailable).",
      labelNames: ["outcome"] as const,
      registers,
    }),
    erasures: new Counter({
      name: "vtt_pool_erasures_total",
      help: "Erasure requests by outcome (erased, pending = erased while running, absent, rejected, unavailable).",
      labelNames: ["outcome"] as const,
      registers,
    }),
    batchSize: new Histogram({
      name: "vtt_pool_batch_size",
      help: "Windows per engine batch.",
      buckets: BATCH_SIZE_BUCKETS,
      registers,
    }),
    batchPadding: new Counter({
      name: "vtt_pool_batch_padding_seconds_total",
      help: "Seconds of zero right-padding added to batched windows.",
      registers,
    }),
    audioSeconds: new Counter({
      name: "vtt_pool_audio_seconds_total",
      help: "Seconds of audio transcribed.",
      registers,
    }),
    realTimeFactor: new Histogram({
      name: "vtt_pool_real_time_factor",
      help: "Per job: seconds from first window submitted to last window done, divided by audio seconds.",
      buckets: RTF_BUCKETS,
      registers,
    }),
    latency: new Histogram({
      name: "vtt_pool_job_phase_seconds",
      help: "Per-job latency by phase: queue (dispatch to start), fetch, decode, inference, total (dispatch to result).",
      labelNames: ["phase"] as const,
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    }),
    callbacks: new Counter({
      name: "vtt_pool_callback_attempts_total",
      help: "Callback deliveries by outcome (acknowledged, retry, rejected).",
      labelNames: ["outcome"] as const,
      registers,
    }),
    engineRestarts: new Counter({
      name: "vtt_pool_engine_restarts_total",
      help: "Engine host restarts by reason (window_cancelled after a timeout, or a crash).",
      labelNames: ["reason"] as const,
      registers,
    }),
    queueDepth: new Gauge({
      name: "vtt_pool_queue_depth",
      help: "Transcription jobs in the shared queue by state (waiting includes prioritized).",
      labelNames: ["state"] as const,
      registers,
      async collect() {
        try {
          const counts = await options.queueCounts();
          this.set({ state: "waiting" }, (counts.waiting ?? 0) + (counts.prioritized ?? 0));
          for (const state of ["active", "delayed", "failed"] as const) this.set({ state }, counts[state] ?? 0);
        } catch {
          // Redis unreachable: keep the last values; readiness reports the outage
        }
      },
    }),
    saturation: new Gauge({
      name: "vtt_pool_worker_saturation",
      help: "Busy engine slots divided by engine capacity (1 = every decoding state busy).",
      registers,
      collect() {
        const { busy, capacity } = options.saturation();
        this.set(capacity > 0 ? busy / capacity : 0);
      },
    }),
    activeJobs: new Gauge({
      name: "vtt_pool_active_jobs",
      help: "Jobs this process holds (fetching, decoding, waiting for or in a batch).",
      registers,
      collect() {
        this.set(options.saturation().activeJobs);
      },
    }),
  };
}
