/**
 * The Worker's metrics, computed at scrape time from D1 aggregates over fixed windows and from the circuit-breaker
 * Durable Objects' counters. Every query is an indexed range or prefix scan (completed_at, status, created_at,
 * resolved_at); nothing scans the whole jobs table. Names and labels: src/observability/metrics-catalog.ts.
 */
import { breakerFor } from "../breaker/circuit-breaker.ts";
import type { Env } from "../env.ts";
import { parseProviderList } from "../providers/registry.ts";
import type { Db } from "../storage/db.ts";
import {
  activeJobGroups,
  type FinishedJobStats,
  finishedJobStats,
  jobsCreatedSince,
  jobsFailedSince,
  pendingDeadLetterGroups,
  webhookEventsSince,
} from "../storage/metrics.repo.ts";
import { DELAY_DEAD_LETTERED, DELAY_PROVIDER_UNAVAILABLE } from "../storage/schema.ts";
import {
  EDGE_METRICS,
  type EdgeMetricName,
  LATENCY_BUCKETS_SECONDS,
  LATENCY_STAGES,
  METRIC_WINDOWS,
  type MetricWindow,
} from "./metrics-catalog.ts";
import type { HistogramSample, MetricFamily, ScalarSample } from "./prometheus.ts";

/** One pass over the jobs finished since `since`: counts, sums, averages, maxima and cumulative buckets per stage. */
function finishedSince(db: Db, since: number): Promise<FinishedJobStats[]> {
  return finishedJobStats(db, since, LATENCY_STAGES, LATENCY_BUCKETS_SECONDS);
}

class Families {
  readonly #scalars = new Map<EdgeMetricName, ScalarSample[]>();
  readonly #histograms = new Map<EdgeMetricName, HistogramSample[]>();

  add(name: EdgeMetricName, labels: Record<string, string>, value: number): void {
    const list = this.#scalars.get(name) ?? [];
    list.push({ labels, value });
    this.#scalars.set(name, list);
  }

  addHistogram(name: EdgeMetricName, sample: HistogramSample): void {
    const list = this.#histograms.get(name) ?? [];
    list.push(sample);
    this.#histograms.set(name, list);
  }

  /** Every catalog entry, with no samples where there is no data, so the exposition always names all of them. */
  render(extra: readonly MetricFamily[]): MetricFamily[] {
    const provided = new Set(extra.map((f) => f.name));
    const families: MetricFamily[] = [...extra];
    for (const [name, entry] of Object.entries(EDGE_METRICS) as [
      EdgeMetricName,
      (typeof EDGE_METRICS)[EdgeMetricName],
    ][]) {
      if (provided.has(name)) continue;
      if (entry.type === "histogram")
        families.push({ name, type: "histogram", help: entry.help, samples: this.#histograms.get(name) ?? [] });
      else
        families.push({
          name,
          type: entry.type,
          help: entry.help,
          samples: this.#scalars.get(name) ?? [],
        } as MetricFamily);
    }
    return families;
  }
}

function addFinished(families: Families, window: MetricWindow, rows: FinishedJobStats[]): void {
  const seconds = METRIC_WINDOWS[window];
  const byProvider = new Map<string, FinishedJobStats[]>();
  for (const row of rows) byProvider.set(row.provider, [...(byProvider.get(row.provider) ?? []), row]);
  for (const [provider, group] of byProvider) {
    const total = group.reduce((n, r) => n + r.n, 0);
    const failed = group.filter((r) => r.status === "failed").reduce((n, r) => n + r.n, 0);
    for (const row of group) families.add("vtt_jobs_finished", { provider, outcome: row.status, window }, row.n);
    families.add("vtt_jobs_per_second", { provider, window }, total / seconds);
    families.add("vtt_job_error_rate", { provider, window }, total ? failed / total : 0);
    families.add(
      "vtt_job_retries",
      { provider, window },
      group.reduce((n, r) => n + r.retries, 0),
    );
    const audio = group.reduce((n, r) => n + r.audio_s, 0);
    const processed = group.reduce((n, r) => n + r.processed_ms, 0) / 1000;
    families.add("vtt_audio_seconds_processed", { provider, window }, audio);
    families.add("vtt_real_time_factor", { provider, window }, audio > 0 ? processed / audio : 0);
    for (const stage of LATENCY_STAGES) {
      const count = group.reduce((n, r) => n + Number(r[`${stage}_count`] ?? 0), 0);
      if (!count) continue;
      const sumMs = group.reduce((n, r) => n + Number(r[`${stage}_sum`] ?? 0), 0);
      const maxMs = Math.max(...group.map((r) => Number(r[`${stage}_max`] ?? 0)));
      families.add("vtt_job_latency_avg_seconds", { provider, stage, window }, sumMs / count / 1000);
      families.add("vtt_job_latency_max_seconds", { provider, stage, window }, maxMs / 1000);
      families.addHistogram("vtt_job_latency_seconds", {
        labels: { provider, stage, window },
        buckets: LATENCY_BUCKETS_SECONDS.map((le, i) => ({
          le,
          count: group.reduce((n, r) => n + Number(r[`${stage}_b${i}`] ?? 0), 0),
        })),
        sum: sumMs / 1000,
        count,
      });
    }
  }
}

function queueState(status: string, delayedReason: string | null): "queued" | "processing" | "delayed" | "parked" {
  if (status === "processing") return "processing";
  if (delayedReason === DELAY_PROVIDER_UNAVAILABLE || delayedReason === DELAY_DEAD_LETTERED) return "parked";
  return delayedReason ? "delayed" : "queued";
}

async function addQueue(families: Families, db: Db, now: number): Promise<void> {
  const rows = await activeJobGroups(db);
  const depth = new Map<string, number>();
  const oldest = new Map<string, number>();
  for (const row of rows) {
    const key = `${row.provider}\u0000${queueState(row.status, row.delayed_reason)}`;
    depth.set(key, (depth.get(key) ?? 0) + row.n);
    oldest.set(row.provider, Math.min(oldest.get(row.provider) ?? Number.POSITIVE_INFINITY, row.oldest));
  }
  for (const [key, n] of depth) {
    const [provider, state] = key.split("\u0000") as [string, string];
    families.add("vtt_queue_depth", { provider, state }, n);
  }
  for (const [provider, created] of oldest)
    families.add("vtt_queue_oldest_age_seconds", { provider }, Math.max(0, (now - created) / 1000));
}

async function addDeadLetters(families: Families, db: Db, now: number): Promise<void> {
  const rows = await pendingDeadLetterGroups(db);
  const oldest = Math.min(...rows.map((r) => r.oldest ?? now), now);
  families.add("vtt_dead_letter_oldest_age_seconds", {}, Math.max(0, (now - oldest) / 1000));
  for (const classification of ["recoverable", "corrupt"]) {
    families.add("vtt_dead_letters", { classification }, rows.find((r) => r.classification === classification)?.n ?? 0);
  }
}

async function addArrivalsAndFailures(families: Families, db: Db, now: number): Promise<void> {
  for (const [window, seconds] of Object.entries(METRIC_WINDOWS) as [MetricWindow, number][]) {
    const since = now - seconds * 1000;
    const created = await jobsCreatedSince(db, since);
    for (const row of created) families.add("vtt_jobs_created", { provider: row.provider, window }, row.n);
    const failed = await jobsFailedSince(db, since);
    for (const row of failed)
      families.add("vtt_jobs_failed", { provider: row.provider, code: row.code ?? "unknown", window }, row.n);
  }
}

async function addWebhooks(families: Families, db: Db, now: number): Promise<void> {
  for (const [window, seconds] of Object.entries(METRIC_WINDOWS) as [MetricWindow, number][]) {
    const rows = await webhookEventsSince(db, now - seconds * 1000);
    for (const row of rows) families.add("vtt_webhook_events", { status: row.status, window }, row.n);
  }
}

async function addBreakers(families: Families, env: Env): Promise<void> {
  const providers = parseProviderList(env);
  const snapshots = await Promise.all(providers.map((provider) => breakerFor(env, provider).snapshot(provider)));
  for (const snap of snapshots) {
    const { provider } = snap;
    const status = snap.state.status;
    families.add("vtt_breaker_open", { provider }, status === "closed" ? 0 : 1);
    for (const state of ["closed", "open", "half_open"])
      families.add("vtt_breaker_state", { provider, state }, state === status ? 1 : 0);
    families.add("vtt_breaker_failure_rate", { provider }, snap.failure_rate);
    const counters = snap.state.counters;
    for (const [result, value] of [
      ["success", counters.successes],
      ["failure", counters.failures],
      ["rejected", counters.rejected],
      ["probe", counters.probes],
    ] as const) {
      families.add("vtt_breaker_calls_total", { provider, result }, value);
    }
    families.add("vtt_breaker_opens_total", { provider }, counters.opens);
  }
}

/**
 * All families for one scrape. `extra` are families computed elsewhere (drift, quality) that replace the empty
 * catalog placeholders of the same name.
 */
export async function edgeMetricFamilies(
  env: Env,
  db: Db,
  now = Date.now(),
  extra: readonly MetricFamily[] = [],
): Promise<MetricFamily[]> {
  const families = new Families();
  await Promise.all([
    ...(Object.entries(METRIC_WINDOWS) as [MetricWindow, number][]).map(async ([window, seconds]) =>
      addFinished(families, window, await finishedSince(db, now - seconds * 1000)),
    ),
    addQueue(families, db, now),
    addDeadLetters(families, db, now),
    addArrivalsAndFailures(families, db, now),
    addWebhooks(families, db, now),
    addBreakers(families, env),
  ]);
  families.add("vtt_metrics_scrape_duration_seconds", {}, (Date.now() - now) / 1000);
  return families.render(extra);
}
