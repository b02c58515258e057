import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";

import { ulid } from "../../src/lib/ids.ts";
import { EDGE_METRICS } from "../../src/observability/metrics-catalog.ts";
import { adminKey, call, createTenant } from "../helpers/api.ts";
import { seedTenant } from "../helpers/jobs.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`unparsable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** Families read from D1 are per job shard; with PLACEMENT unset the only shard is `us0`. */
const SERVICE_WIDE = /^vtt_(breaker_|metrics_scrape_)/;

function value(samples: Sample[], name: string, given: Record<string, string>): number | undefined {
  const labels = SERVICE_WIDE.test(name) ? given : { ...given, shard: "us0" };
  return samples.find(
    (s) =>
      s.name === name &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v) &&
      Object.keys(s.labels).length === Object.keys(labels).length,
  )?.value;
}

const NOW = Date.now();
const S = 1000;
let seq = 0;

async function job(
  tenantId: string,
  fields: {
    provider: string;
    status: string;
    created: number;
    started?: number | null;
    completed?: number | null;
    attempts?: number;
    duration?: number | null;
    delayed?: string | null;
    code?: string;
  },
) {
  // ids are time ordered like real ones (ULID of the creation time)
  const id = `tr_${ulid(fields.created).slice(0, 10)}${String(seq++).padStart(16, "0")}`;
  await env.DB.prepare(
    `insert into transcriptions (id, tenant_id, status, provider, audio_bytes, audio_format, created_at, started_at, completed_at, updated_at, attempts, duration_seconds, delayed_reason, error_code)
     values (?, ?, ?, ?, 1000, 'wav', ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
    .bind(
      id,
      tenantId,
      fields.status,
      fields.provider,
      fields.created,
      fields.started ?? null,
      fields.completed ?? null,
      fields.completed ?? fields.created,
      fields.attempts ?? 1,
      fields.duration ?? null,
      fields.delayed ?? null,
      fields.code ?? null,
    )
    .run();
  return id;
}

let samples: Sample[];
let text: string;

beforeAll(async () => {
  const t = await seedTenant("metrics");
  // finished within the last 5 minutes
  await job(t, {
    provider: "openai",
    status: "completed",
    created: NOW - 60 * S,
    started: NOW - 58 * S,
    completed: NOW - 50 * S,
    attempts: 1,
    duration: 20,
  });
  await job(t, {
    provider: "openai",
    status: "completed",
    created: NOW - 100 * S,
    started: NOW - 96 * S,
    completed: NOW - 70 * S,
    attempts: 3,
    duration: 40,
  });
  await job(t, {
    provider: "openai",
    status: "failed",
    created: NOW - 30 * S,
    started: NOW - 29 * S,
    completed: NOW - 25 * S,
    attempts: 2,
    code: "invalid_audio",
  });
  // finished 30 minutes ago: only in the 1 h window
  await job(t, {
    provider: "deepgram",
    status: "completed",
    created: NOW - 1805 * S,
    started: NOW - 1804 * S,
    completed: NOW - 1800 * S,
    duration: 8,
  });
  // finished 2 hours ago: in no window
  await job(t, {
    provider: "openai",
    status: "failed",
    created: NOW - 7300 * S,
    started: NOW - 7290 * S,
    completed: NOW - 7200 * S,
  });
  // unfinished
  await job(t, { provider: "openai", status: "queued", created: NOW - 120 * S });
  await job(t, { provider: "openai", status: "queued", created: NOW - 90 * S, delayed: "provider_unavailable" });
  await job(t, { provider: "openai", status: "processing", created: NOW - 10 * S, started: NOW - 5 * S });
  await job(t, { provider: "whisper-pool", status: "queued", created: NOW - 5 * S, delayed: "dead_lettered" });
  // dead letters: one pending, one resolved
  await env.DB.prepare(
    `insert into dead_letters (job_id, tenant_id, provider, classification, reason, first_dead_at, last_dead_at, next_redrive_at, resolved_at)
     values ('tr_dl_pending', ?, 'openai', 'recoverable', 'provider_unavailable', ?, ?, ?, null),
            ('tr_dl_done', ?, 'openai', 'corrupt', 'not_audio', ?, ?, null, ?)`,
  )
    .bind(t, NOW, NOW, NOW + 60 * S, t, NOW, NOW, NOW)
    .run();
  await env.DB.prepare(
    `insert into webhook_events (id, tenant_id, job_id, type, url, payload, status, created_at)
     values ('evt_1', ?, 'tr_a', 'transcription.completed', 'https://h.example', '{}', 'delivered', ?),
            ('evt_2', ?, 'tr_b', 'transcription.completed', 'https://h.example', '{}', 'pending', ?),
            ('evt_3', ?, 'tr_c', 'transcription.failed', 'https://h.example', '{}', 'delivered', ?)`,
  )
    .bind(t, NOW - 60 * S, t, NOW - 30 * S, t, NOW - 3000 * S)
    .run();
  // force a breaker open through the operator API
  expect((await call("/v1/admin/breakers/deepgram/open", { method: "POST", key: adminKey() })).status).toBe(200);

  const res = await call("/metrics", { key: adminKey() });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  text = await res.text();
  samples = parseExposition(text);
});

describe("GET /metrics", () => {
  it("names every catalog metric with its type", () => {
    for (const [name, entry] of Object.entries(EDGE_METRICS)) expect(text).toContain(`# TYPE ${name} ${entry.type}\n`);
  });

  it("counts finished jobs per provider, outcome and window, and derives rates", () => {
    expect(value(samples, "vtt_jobs_finished", { provider: "openai", outcome: "completed", window: "5m" })).toBe(2);
    expect(value(samples, "vtt_jobs_finished", { provider: "openai", outcome: "failed", window: "5m" })).toBe(1);
    expect(
      value(samples, "vtt_jobs_finished", { provider: "deepgram", outcome: "completed", window: "5m" }),
    ).toBeUndefined();
    expect(value(samples, "vtt_jobs_finished", { provider: "deepgram", outcome: "completed", window: "1h" })).toBe(1);
    expect(value(samples, "vtt_jobs_per_second", { provider: "openai", window: "5m" })).toBeCloseTo(3 / 300, 10);
    expect(value(samples, "vtt_job_error_rate", { provider: "openai", window: "5m" })).toBeCloseTo(1 / 3, 10);
    expect(value(samples, "vtt_job_error_rate", { provider: "deepgram", window: "1h" })).toBe(0);
    // (1-1) + (3-1) + (2-1)
    expect(value(samples, "vtt_job_retries", { provider: "openai", window: "5m" })).toBe(3);
  });

  it("reports average and maximum latency per stage, and a cumulative histogram", () => {
    // queue waits 2, 4, 1 s; processing 8, 26, 4 s; end to end 10, 30, 5 s
    expect(
      value(samples, "vtt_job_latency_avg_seconds", { provider: "openai", stage: "queue_wait", window: "5m" }),
    ).toBeCloseTo(7 / 3, 6);
    expect(
      value(samples, "vtt_job_latency_max_seconds", { provider: "openai", stage: "processing", window: "5m" }),
    ).toBe(26);
    expect(
      value(samples, "vtt_job_latency_avg_seconds", { provider: "openai", stage: "end_to_end", window: "5m" }),
    ).toBeCloseTo(15, 6);
    const bucket = (le: string) =>
      value(samples, "vtt_job_latency_seconds_bucket", { provider: "openai", stage: "end_to_end", window: "5m", le });
    expect(bucket("5")).toBe(1);
    expect(bucket("10")).toBe(2);
    expect(bucket("30")).toBe(3);
    expect(bucket("+Inf")).toBe(3);
    expect(
      value(samples, "vtt_job_latency_seconds_sum", { provider: "openai", stage: "end_to_end", window: "5m" }),
    ).toBe(45);
    expect(
      value(samples, "vtt_job_latency_seconds_count", { provider: "openai", stage: "end_to_end", window: "5m" }),
    ).toBe(3);
  });

  it("reports audio seconds and the real-time factor of completed jobs", () => {
    expect(value(samples, "vtt_audio_seconds_processed", { provider: "openai", window: "5m" })).toBe(60);
    // processing 8 + 26 s for 60 s of audio
    expect(value(samples, "vtt_real_time_factor", { provider: "openai", window: "5m" })).toBeCloseTo(34 / 60, 6);
  });

  it("reports queue depth by state, the oldest job's age, pending dead letters and webhook events", () => {
    expect(value(samples, "vtt_queue_depth", { provider: "openai", state: "queued" })).toBe(1);
    expect(value(samples, "vtt_queue_depth", { provider: "openai", state: "parked" })).toBe(1);
    expect(value(samples, "vtt_queue_depth", { provider: "openai", state: "processing" })).toBe(1);
    expect(value(samples, "vtt_queue_depth", { provider: "whisper-pool", state: "parked" })).toBe(1);
    expect(value(samples, "vtt_queue_oldest_age_seconds", { provider: "openai" })).toBeGreaterThanOrEqual(120);
    expect(value(samples, "vtt_queue_oldest_age_seconds", { provider: "openai" })).toBeLessThan(180);
    expect(value(samples, "vtt_dead_letters", { classification: "recoverable" })).toBe(1);
    expect(value(samples, "vtt_dead_letters", { classification: "corrupt" })).toBe(0);
    expect(value(samples, "vtt_webhook_events", { status: "delivered", window: "5m" })).toBe(1);
    expect(value(samples, "vtt_webhook_events", { status: "pending", window: "5m" })).toBe(1);
    expect(value(samples, "vtt_webhook_events", { status: "delivered", window: "1h" })).toBe(2);
  });

  it("counts arrivals by upload time and failures by code", () => {
    // created within 5 min: 3 finished + 4 unfinished openai/pool jobs
    expect(value(samples, "vtt_jobs_created", { provider: "openai", window: "5m" })).toBe(6);
    expect(value(samples, "vtt_jobs_created", { provider: "whisper-pool", window: "5m" })).toBe(1);
    expect(value(samples, "vtt_jobs_created", { provider: "deepgram", window: "1h" })).toBe(1);
    expect(value(samples, "vtt_jobs_failed", { provider: "openai", code: "invalid_audio", window: "5m" })).toBe(1);
    expect(value(samples, "vtt_dead_letter_oldest_age_seconds", {})).toBeLessThan(60);
  });

  it("reads breaker state and counters from the Durable Objects", () => {
    expect(value(samples, "vtt_breaker_open", { provider: "deepgram" })).toBe(1);
    expect(value(samples, "vtt_breaker_state", { provider: "deepgram", state: "open" })).toBe(1);
    expect(value(samples, "vtt_breaker_state", { provider: "deepgram", state: "closed" })).toBe(0);
    expect(value(samples, "vtt_breaker_open", { provider: "openai" })).toBe(0);
    expect(value(samples, "vtt_breaker_opens_total", { provider: "deepgram" })).toBe(1);
  });

  it("is for the operator only", async () => {
    expect((await call("/metrics")).status).toBe(401);
    const { key } = await createTenant("metrics-tenant", ["admin"]);
    const res = await call("/metrics", { key });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: "operator_required" });
  });
});
