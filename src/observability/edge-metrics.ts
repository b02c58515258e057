/**
 * The Worker's metrics, computed at scrape time from D1 aggregates over fixed windows and from the circuit-breaker
 * Durable Objects' counters. Every query is an indexed range or prefix scan (completed_at, status, created_at,
 * resolved_at); nothing scans the whole jobs table. Names and labels: src/observability/metrics-catalog.ts.
 *
 * Job figures are read from every shard at once and labelled `shard` (Prometheus sums them); a shard that fails or
 * misses the deadline is `vtt_shard_up{shard} 0` and its series are left out, the others are still served.
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
import { readAllShards } from "../storage/shard-fanout.ts";
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
  /** labels every sample gets (a shard's `shard`) */
  readonly #base: Record<string, string>;

  constructor(base: Record<string, string> = {}) {
    this.#base = base;
  }

  add(name: EdgeMetricName, labels: Record<string, string>, value: number): void {
    const list = this.#scalars.get(name) ?? [];
    list.push({ labels: { ...labels, ...this.#base }, value });
    this.#scalars.set(name, list);
  }

  addHistogram(name: EdgeMetricName, sample: HistogramSample): void {
    const list = this.#histograms.get(name) ?? [];
    list.push({ ...sample, labels: { ...sample.labels, ...this.#base } });
    this.#histograms.set(name, list);
  }

  /** Takes over another collection's samples (a shard's, once all of its reads succeeded). */
  absorb(other: Families): void {
    for (const [name, samples] of other.#scalars)
      this.#scalars.set(name, [...(this.#scalars.get(name) ?? []), ...samples]);
    for (const [name, samples] of other.#histograms)
      this.#histograms.set(name, [...(this.#histograms.get(name) ?? []), ...samples]);
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

/** Every sample of `families` with `labels` added (drift and quality families of one shard). */
function labelled(families: readonly MetricFamily[], labels: Record<string, string>): MetricFamily[] {
  return families.map(
    (family) =>
      ({
        ...family,
        samples: family.samples.map((sample) => ({ ...sample, labels: { ...sample.labels, ...labels } })),
      }) as MetricFamily,
  );
}

/** Same-named families of several shards as one family each, samples in shard order. */
function mergeFamilies(lists: readonly MetricFamily[][]): MetricFamily[] {
  const byName = new Map<string, MetricFamily>();
  for (const family of lists.flat()) {
    const seen = byName.get(family.name);
    if (seen) byName.set(family.name, { ...seen, samples: [...seen.samples, ...family.samples] } as MetricFamily);
    else byName.set(family.name, family);
  }
  return [...byName.values()];
}

/** Families a shard adds beside the job figures (drift and quality: their modules build them from the shard's rows). */
export type ShardFamilyReader = (db: Db, now: number) => Promise<MetricFamily[]>;

/** One shard's job, queue, dead-letter and webhook figures plus what `readers` give for it. */
async function shardFamilies(
  db: Db,
  shard: string,
  now: number,
  readers: readonly ShardFamilyReader[],
): Promise<{ edge: Families; extra: MetricFamily[] }> {
  const edge = new Families({ shard });
  const [extra] = await Promise.all([
    Promise.all(readers.map((read) => read(db, now))),
    ...(Object.entries(METRIC_WINDOWS) as [MetricWindow, number][]).map(async ([window, seconds]) =>
      addFinished(edge, window, await finishedSince(db, now - seconds * 1000)),
    ),
    addQueue(edge, db, now),
    addDeadLetters(edge, db, now),
    addArrivalsAndFailures(edge, db, now),
    addWebhooks(edge, db, now),
  ]);
  return { edge, extra: labelled(extra.flat(), { shard }) };
}

/**
 * All families for one scrape: every shard's figures and `readers`' families (labelled `shard`), `vtt_shard_up` per shard, and the
 * service-wide breaker and scrape figures. A shard that fails contributes `vtt_shard_up 0` and nothing else.
 */
export async function edgeMetricFamilies(
  env: Env,
  readers: readonly ShardFamilyReader[] = [],
  now = Date.now(),
): Promise<MetricFamily[]> {
  const families = new Families();
  const [reads] = await Promise.all([
    readAllShards(env, (db, shard) => shardFamilies(db, shard.code, now, readers)),
    addBreakers(families, env),
  ]);
  const up: { shard: string; value: number }[] = [];
  for (const { shard, value } of reads.values) {
    families.absorb(value.edge);
    up.push({ shard: shard.code, value: 1 });
  }
  for (const { shard } of reads.failed) up.push({ shard, value: 0 });
  for (const { shard, value } of up) families.add("vtt_shard_up", { shard }, value);
  families.add("vtt_metrics_scrape_duration_seconds", {}, (Date.now() - now) / 1000);
  return families.render(mergeFamilies(reads.values.map(({ value }) => value.extra)));
}
