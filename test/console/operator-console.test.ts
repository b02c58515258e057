/**
 * The operator's console pages and actions through the Worker's real fetch handler (Miniflare D1, R2, Queues, the
 * breaker Durable Objects): a tenant session is refused, a form without the CSRF token is refused, and every action
 * changes what the `/v1/admin/*` API then reports, with an audit entry.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { type HealthChartData, healthPoint } from "../../src/domain/health.ts";
import { ulid } from "../../src/lib/ids.ts";
import { recordHealthSample } from "../../src/observability/health-samples.ts";
import { createDb } from "../../src/storage/db.ts";
import { adminKey, BASE, call, createTenant } from "../helpers/api.ts";
import { jobRow, seedJob, seedTenant } from "../helpers/jobs.ts";
import { deliverDeadLetters } from "../helpers/queue.ts";

const ORIGIN = { origin: BASE, "sec-fetch-site": "same-origin" };
const HOSTILE = `<img src=x onerror=alert(1)></script><script>alert(2)</script>`;

async function signIn(key: string): Promise<string> {
  const res = await call("/console/sign-in", {
    method: "POST",
    redirect: "manual",
    headers: ORIGIN,
    body: new URLSearchParams({ api_key: key }),
  });
  expect(res.status).toBe(303);
  return res.headers.get("set-cookie")!.split(";")[0]!;
}

const get = (cookie: string, path: string) => call(path, { headers: { cookie }, redirect: "manual" });

async function csrfOf(cookie: string): Promise<string> {
  const html = await (await get(cookie, "/console/operator/health")).text();
  return /name="csrf-token" content="([^"]+)"/.exec(html)![1]!;
}

async function post(cookie: string, path: string, fields: Record<string, string>, csrf?: string) {
  return call(path, {
    method: "POST",
    redirect: "manual",
    headers: { ...ORIGIN, cookie },
    body: new URLSearchParams(csrf === undefined ? fields : { ...fields, csrf_token: csrf }),
  });
}

async function api<T>(path: string): Promise<T> {
  const res = await call(path, { key: adminKey() });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

const auditActions = async (): Promise<{ action: string; tenant_id: string; receipt: string }[]> =>
  (
    await env.DB.prepare("select action, tenant_id, receipt from audit_log").all<{
      action: string;
      tenant_id: string;
      receipt: string;
    }>()
  ).results;

const GET_ROUTES = [
  "/console/operator/health",
  "/console/operator/breakers",
  "/console/operator/dead-letters",
  "/console/operator/drift",
  "/console/operator/quality",
  "/console/operator/tenants",
];

describe("operator console: access", () => {
  it("refuses a tenant session on every operator page and action", async () => {
    const { tenantId, key, keyId } = await createTenant("tenant-co");
    const cookie = await signIn(key);
    for (const path of GET_ROUTES) expect((await get(cookie, path)).status, path).toBe(403);
    expect((await get(cookie, `/console/operator/tenants/${tenantId}`)).status).toBe(403);
    const home = await (await get(cookie, "/console")).text();
    const csrf = /name="csrf-token" content="([^"]+)"/.exec(home)![1]!;
    for (const path of [
      "/console/operator/breakers/openai/open",
      "/console/operator/dead-letters/tr_x/redrive",
      "/console/operator/tenants",
      `/console/operator/tenants/${tenantId}/keys`,
      `/console/operator/tenants/${tenantId}/keys/${keyId}/revoke`,
      `/console/operator/tenants/${tenantId}/retention`,
    ])
      expect((await post(cookie, path, { name: "x" }, csrf)).status, path).toBe(403);
    // a tenant's navigation lists no operator page
    expect(home).not.toContain("/console/operator/");
    expect(
      (await api<{ data: { status: string }[] }>("/v1/admin/breakers")).data.every((b) => b.status === "closed"),
    ).toBe(true);
  });

  it("refuses every action without the CSRF token, and changes nothing", async () => {
    const { tenantId, keyId } = await createTenant("csrf-co");
    const cookie = await signIn(adminKey());
    for (const path of [
      "/console/operator/breakers/openai/open",
      "/console/operator/dead-letters/tr_x/redrive",
      "/console/operator/dead-letters/tr_x/fail",
      "/console/operator/tenants",
      `/console/operator/tenants/${tenantId}/keys`,
      `/console/operator/tenants/${tenantId}/keys/${keyId}/revoke`,
      `/console/operator/tenants/${tenantId}/retention`,
    ]) {
      expect((await post(cookie, path, { name: "x", audio_seconds: "60" })).status, path).toBe(403);
      expect((await post(cookie, path, { name: "x" }, "wrong")).status, path).toBe(403);
    }
    const breaker = (await api<{ data: { provider: string; status: string }[] }>("/v1/admin/breakers")).data;
    expect(breaker.find((b) => b.provider === "openai")!.status).toBe("closed");
    const keys = await api<{ data: { status: string }[] }>(`/v1/admin/tenants/${tenantId}/keys`);
    expect(keys.data.map((k) => k.status)).toEqual(["active"]);
    expect(await auditActions()).toEqual([]);
  });

  it("lists the operator pages in an operator session's navigation", async () => {
    const cookie = await signIn(adminKey());
    const html = await (await get(cookie, "/console")).text();
    for (const path of GET_ROUTES) expect(html).toContain(`href="${path}"`);
    for (const path of GET_ROUTES) {
      const res = await get(cookie, path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(await res.text()).toContain(`href="${path}" aria-current="page"`);
    }
  });
});

describe("operator console: breakers", () => {
  it("forces a breaker open and closed, as the API then reports, audited", async () => {
    const cookie = await signIn(adminKey());
    const csrf = await csrfOf(cookie);
    const opened = await post(cookie, "/console/operator/breakers/deepgram/open", {}, csrf);
    expect(opened.status).toBe(303);
    expect(opened.headers.get("location")).toBe("/console/operator/breakers?done=breaker_opened");
    const list = async () =>
      (await api<{ data: { provider: string; status: string; forced_open: boolean }[] }>("/v1/admin/breakers")).data;
    expect((await list()).find((b) => b.provider === "deepgram")).toMatchObject({ status: "open", forced_open: true });
    const page = await (await get(cookie, opened.headers.get("location")!)).text();
    expect(page).toContain("Breaker forced open");
    expect(page).toMatch(/data-provider="deepgram"[\s\S]*?data-testid="breaker-state">open \(forced\)/);

    const closed = await post(cookie, "/console/operator/breakers/deepgram/close", {}, csrf);
    expect(closed.status).toBe(303);
    expect((await list()).find((b) => b.provider === "deepgram")).toMatchObject({
      status: "closed",
      forced_open: false,
    });
    const audit = (await auditActions()).filter((a) => a.action === "operator.breaker_forced");
    expect(audit.map((a) => [a.tenant_id, JSON.parse(a.receipt!).state])).toEqual([
      ["*", "open"],
      ["*", "closed"],
    ]);
  });

  it("answers 404, not 5xx, for an unknown provider or action", async () => {
    const cookie = await signIn(adminKey());
    const csrf = await csrfOf(cookie);
    expect((await post(cookie, "/console/operator/breakers/nope/open", {}, csrf)).status).toBe(404);
    expect((await post(cookie, "/console/operator/breakers/openai/explode", {}, csrf)).status).toBe(404);
    expect(
      (await post(cookie, `/console/operator/breakers/${encodeURIComponent(HOSTILE)}/open`, {}, csrf)).status,
    ).toBe(404);
  });
});

describe("operator console: dead letters", () => {
  it("lists items with their classification, re-drives one and fails another, as the API then reports", async () => {
    const tenant = await seedTenant();
    const a = await seedJob(tenant);
    const b = await seedJob(tenant);
    await deliverDeadLetters([a, b], tenant);
    const cookie = await signIn(adminKey());
    const csrf = await csrfOf(cookie);
    const listPage = await (await get(cookie, "/console/operator/dead-letters")).text();
    expect(listPage).toContain(`data-job="${a}"`);
    expect(listPage).toContain("recoverable");

    const redriven = await post(cookie, `/console/operator/dead-letters/${a}/redrive`, {}, csrf);
    expect(redriven.status).toBe(303);
    expect(redriven.headers.get("location")).toBe("/console/operator/dead-letters?done=redriven");
    const items = (await api<{ data: { job_id: string; redrive_count: number }[] }>("/v1/admin/dead-letters")).data;
    expect(items.find((d) => d.job_id === a)!.redrive_count).toBe(1);

    const failed = await post(cookie, `/console/operator/dead-letters/${b}/fail`, {}, csrf);
    expect(failed.status).toBe(303);
    expect(await jobRow(b)).toMatchObject({ status: "failed", error_code: "dead_lettered" });
    const pending = (await api<{ data: { job_id: string }[] }>("/v1/admin/dead-letters")).data.map((d) => d.job_id);
    expect(pending).not.toContain(b);
    expect((await post(cookie, `/console/operator/dead-letters/${b}/fail`, {}, csrf)).status).toBe(404);
    expect((await post(cookie, `/console/operator/dead-letters/tr_nope/redrive`, {}, csrf)).status).toBe(404);
    const audit = await auditActions();
    expect(audit.filter((r) => r.action.startsWith("operator.dead_letter")).map((r) => r.action)).toEqual([
      "operator.dead_letter_redriven",
      "operator.dead_letter_failed",
    ]);
  });
});

describe("operator console: tenants and keys", () => {
  it("creates a tenant whose hostile name renders as text", async () => {
    const cookie = await signIn(adminKey());
    const csrf = await csrfOf(cookie);
    const res = await post(cookie, "/console/operator/tenants", { name: HOSTILE }, csrf);
    expect(res.status).toBe(303);
    const location = res.headers.get("location")!;
    expect(location).toMatch(/^\/console\/operator\/tenants\/tn_[0-9A-Z]+\?done=tenant_created$/);
    const tenantId = location.split("/")[4]!.split("?")[0]!;
    expect((await api<{ name: string }>(`/v1/admin/tenants/${tenantId}`)).name).toBe(HOSTILE);
    for (const path of [location, "/console/operator/tenants"]) {
      const html = await (await get(cookie, path)).text();
      expect(html).not.toContain("<img src=x");
      expect(html).not.toContain("<script>alert");
      expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;&lt;/script&gt;");
    }
    const audit = (await auditActions()).filter((a) => a.tenant_id === tenantId);
    expect(audit.map((a) => a.action)).toEqual(["operator.tenant_created"]);
  });

  it("refuses a bad tenant name with 422 and says why", async () => {
    const cookie = await signIn(adminKey());
    const csrf = await csrfOf(cookie);
    for (const name of ["", "a\u0007b", "x".repeat(201)]) {
      const res = await post(cookie, "/console/operator/tenants", { name }, csrf);
      expect(res.status).toBe(422);
      expect(await res.text()).toContain('data-testid="form-error"');
    }
    expect((await post(cookie, "/console/operator/tenants", {}, csrf)).status).toBe(422);
  });

  it("creates a key shown once on a no-store page; it works against the API until revoked", async () => {
    const { tenantId } = await createTenant("keys-co");
    const cookie = await signIn(adminKey());
    const csrf = await csrfOf(cookie);
    const created = await post(
      cookie,
      `/console/operator/tenants/${tenantId}/keys`,
      { name: HOSTILE, scope_read: "on", expires_on: "2999-01-01" },
      csrf,
    );
    expect(created.status).toBe(200);
    expect(created.headers.get("cache-control")).toBe("no-store");
    const html = await created.text();
    const key =
      /data-testid="new-key" value="([^"]+)"/.exec(html)?.[1] ??
      /value="([^"]+)" data-testid="new-key"/.exec(html)![1]!;
    expect(key).toMatch(/^vtt_/);
    // the key works, read scope only
    expect((await call("/v1/transcriptions", { key })).status).toBe(200);
    const keys = (
      await api<{ data: { id: string; name: string; scopes: string[]; expires_at: string; status: string }[] }>(
        `/v1/admin/tenants/${tenantId}/keys`,
      )
    ).data;
    const row = keys.find((k) => k.name === HOSTILE)!;
    expect(row).toMatchObject({ scopes: ["transcriptions:read"], expires_at: "2999-01-01T00:00:00.000Z" });
    // never shown again: the tenant page lists its prefix only, and the hostile name as text
    const tenantPage = await (await get(cookie, `/console/operator/tenants/${tenantId}`)).text();
    expect(tenantPage).not.toContain(key);
    expect(tenantPage).not.toContain("<img src=x");
    expect(tenantPage).toContain(`data-key="${row.id}"`);

    const revoked = await post(cookie, `/console/operator/tenants/${tenantId}/keys/${row.id}/revoke`, {}, csrf);
    expect(revoked.status).toBe(303);
    expect(revoked.headers.get("location")).toBe(`/console/operator/tenants/${tenantId}?done=key_revoked`);
    expect((await call("/v1/transcriptions", { key })).status).toBe(401);
    const after = (await api<{ data: { id: string; status: string }[] }>(`/v1/admin/tenants/${tenantId}/keys`)).data;
    expect(after.find((k) => k.id === row.id)!.status).toBe("revoked");
    expect((await post(cookie, `/console/operator/tenants/${tenantId}/keys/key_nope/revoke`, {}, csrf)).status).toBe(
      404,
    );
    const audit = (await auditActions()).filter((a) => a.tenant_id === tenantId);
    expect(audit.map((a) => a.action)).toEqual(["operator.key_created", "operator.key_revoked"]);
    // the audit receipt never holds the key
    expect(JSON.stringify(audit)).not.toContain(key);
  });

  it("refuses a key form without scopes, with a past or malformed expiry, or for an unknown tenant", async () => {
    const { tenantId } = await createTenant("bad-keys-co");
    const cookie = await signIn(adminKey());
    const csrf = await csrfOf(cookie);
    const path = `/console/operator/tenants/${tenantId}/keys`;
    for (const fields of [
      { name: "none" } as Record<string, string>,
      { scope_read: "on", expires_on: "2001-01-01" },
      { scope_read: "on", expires_on: "tomorrow" },
      { scope_read: "yes" },
      { scope_read: "on", name: "a\u0000b" },
    ]) {
      const res = await post(cookie, path, fields, csrf);
      expect(res.status, JSON.stringify(fields)).toBe(422);
      expect(await res.text()).toContain('data-testid="form-error"');
    }
    expect((await post(cookie, `/console/operator/tenants/tn_nope/keys`, { scope_read: "on" }, csrf)).status).toBe(404);
    const keys = (await api<{ data: unknown[] }>(`/v1/admin/tenants/${tenantId}/keys`)).data;
    expect(keys).toHaveLength(1);
  });

  it("changes a tenant's retention windows, as the API then reports; refuses bad values", async () => {
    const { tenantId } = await createTenant("retention-co");
    const cookie = await signIn(adminKey());
    const csrf = await csrfOf(cookie);
    const path = `/console/operator/tenants/${tenantId}/retention`;
    const res = await post(cookie, path, { audio_seconds: "3600", transcript_seconds: "86400" }, csrf);
    expect(res.status).toBe(303);
    type Tenant = { retention: { audio_seconds: number; transcript_seconds: number | null } };
    expect((await api<Tenant>(`/v1/admin/tenants/${tenantId}`)).retention).toEqual({
      audio_seconds: 3600,
      transcript_seconds: 86400,
    });
    const page = await (await get(cookie, res.headers.get("location")!)).text();
    expect(page).toContain("Retention windows saved");
    expect(page).toContain('value="3600"');
    // empty fields reset: audio to the default, transcripts to "until deleted"
    expect((await post(cookie, path, { audio_seconds: "", transcript_seconds: "" }, csrf)).status).toBe(303);
    const reset = (await api<Tenant>(`/v1/admin/tenants/${tenantId}`)).retention;
    expect(reset.transcript_seconds).toBeNull();
    expect(reset.audio_seconds).not.toBe(3600);
    for (const fields of [
      { audio_seconds: "-1", transcript_seconds: "" } as Record<string, string>,
      { audio_seconds: "ten", transcript_seconds: "" },
      { audio_seconds: String(365 * 86400), transcript_seconds: "" },
      { audio_seconds: "60" },
    ]) {
      const bad = await post(cookie, path, fields, csrf);
      expect(bad.status, JSON.stringify(fields)).toBe(422);
    }
    expect(
      (
        await post(
          cookie,
          `/console/operator/tenants/tn_nope/retention`,
          { audio_seconds: "1", transcript_seconds: "" },
          csrf,
        )
      ).status,
    ).toBe(404);
    expect((await api<Tenant>(`/v1/admin/tenants/${tenantId}`)).retention).toEqual(reset);
  });
});

describe("operator console: health, drift and quality", () => {
  it("charts the per-minute samples the cron stores, and tables the hour and day from the same queries", async () => {
    const tenant = await seedTenant();
    const now = Date.now();
    const db = createDb(env);
    // earlier tests of this file left jobs behind: the sample counts this test's jobs on top of them
    const before = await recordHealthSample(db, now);
    let seq = 0;
    const insert = async (status: string, created: number, completed: number | null) => {
      const id = `tr_${ulid(created).slice(0, 10)}${String(seq++).padStart(16, "0")}`;
      await env.DB.prepare(
        `insert into transcriptions (id, tenant_id, status, provider, audio_bytes, audio_format, created_at, started_at,
           completed_at, updated_at, attempts) values (?, ?, ?, 'openai', 1, 'wav', ?, ?, ?, ?, 1)`,
      )
        .bind(id, tenant, status, created, completed === null ? null : created, completed, completed ?? created)
        .run();
    };
    // four finished in the last minute (one failed, latencies 0.4 s to 4 s), two still queued
    await insert("completed", now - 20_000, now - 19_600);
    await insert("completed", now - 20_000, now - 19_000);
    await insert("completed", now - 20_000, now - 18_000);
    await insert("failed", now - 20_000, now - 16_000);
    await insert("queued", now - 5_000, null);
    await insert("queued", now - 5_000, null);
    const sample = await recordHealthSample(db, now);
    expect(sample).toMatchObject({
      queueDepth: before.queueDepth + 2,
      finished: before.finished + 4,
      failed: before.failed + 1,
      minute: Math.floor(now / 60_000) * 60_000,
    });
    expect(sample.p50Ms).toBeGreaterThan(500);
    expect(sample.p95Ms).toBeGreaterThan(sample.p50Ms!);
    // an older sample, and one past the retention the same task drops
    await env.DB.prepare(
      "insert into health_samples (minute, queue_depth, dead_letters, finished, failed) values (?, 9, 0, 0, 0), (?, 1, 0, 0, 0)",
    )
      .bind(sample.minute - 3 * 3600_000, sample.minute - 26 * 3600_000)
      .run();
    await recordHealthSample(db, now);
    const stored = await env.DB.prepare("select minute from health_samples order by minute").all<{ minute: number }>();
    expect(stored.results.map((r) => r.minute)).toEqual([sample.minute - 3 * 3600_000, sample.minute]);

    const cookie = await signIn(adminKey());
    const res = await get(cookie, "/console/operator/health");
    const html = await res.text();
    expect(html).toContain('<script type="module" src="/console/assets/charts.js">');
    expect(html).toContain('<link rel="stylesheet" href="/console/assets/charts.css"');
    expect(html).toContain(`data-testid="queue-depth">${sample.queueDepth}<`);
    const island = /<script type="application\/json" id="health-data">([^<]*)<\/script>/.exec(html)![1]!;
    const data = JSON.parse(island) as HealthChartData;
    expect(data.day).toHaveLength(2);
    expect(data.hour).toHaveLength(1);
    expect(data.hour[0]).toEqual(healthPoint(sample));
    expect(data.hour[0]!.errorRate).toBe(sample.failed / sample.finished);
    const hourRow = /data-window="hour"><th scope="row">Last hour<\/th><td>(\d+)<\/td>/.exec(html)!;
    expect(Number(hourRow[1])).toBeGreaterThanOrEqual(sample.finished);
    // the chart module and its stylesheet are served from this origin
    expect((await call("/console/assets/charts.js")).headers.get("content-type")).toContain("javascript");
    expect((await call("/console/assets/charts.css")).headers.get("content-type")).toContain("text/css");
  });

  it("shows drift verdicts with a text label and quality as a chart island", async () => {
    const cookie = await signIn(adminKey());
    const drift = await get(cookie, "/console/operator/drift");
    expect(drift.status).toBe(200);
    expect(await drift.text()).toContain("Population stability index");
    const quality = await (await get(cookie, "/console/operator/quality")).text();
    const island = /<script type="application\/json" id="quality-data">([^<]*)<\/script>/.exec(quality)![1]!;
    expect(JSON.parse(island)).toEqual({ weeks: [], series: [] });
  });
});
