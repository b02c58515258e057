/**
 * Routes of the operator session, mounted at `/console/operator` behind sign-in; `/console` itself shows the
 * operator's landing (operatorHome). A tenant session gets 403 here.
 *
 * Every action calls the same code as its `/v1/admin/*` route (src/api/admin), is a form POST (the CSRF token is
 * checked by the console's middleware), is written to the audit log, and answers `303` to the page with a flash
 * code; the one exception is a new key, shown once on the create POST's own `no-store` response.
 */
import type { Context } from "hono";
import { Hono } from "hono";
import type { z } from "zod";

import { DEFAULT_LIST_LIMIT } from "../../config.ts";
import { type HealthPoint, healthPoint, qualityChartData } from "../../domain/health.ts";
import { driftReportOfAllShards } from "../../drift/drift.ts";
import { ApiError } from "../../http/problem.ts";
import { inJobShard, listDeadLettersOfAllShards } from "../../jobs/dead-letter-inspector.ts";
import { redrive } from "../../jobs/dead-letters.ts";
import { isWellFormedId, ulid } from "../../lib/ids.ts";
import {
  currentBacklog,
  finishedFigures,
  HEALTH_WINDOWS,
  type HealthWindow,
  recentHealthSamples,
} from "../../observability/health-samples.ts";
import { parseProviderList } from "../../providers/registry.ts";
import { qualityReportOfAllShards } from "../../quality/feedback.ts";
import { appendAuditEntry, type AuditAction } from "../../storage/audit.repo.ts";
import type { Db } from "../../storage/db.ts";
import type { HealthSampleRow } from "../../storage/health-samples.repo.ts";
import { readAllShards } from "../../storage/shard-fanout.ts";
import { getTenant, listTenantKeys, listTenants } from "../../storage/tenants.repo.ts";
import { breakerView, forceBreaker } from "../admin/breakers.ts";
import { failDeadLetter } from "../admin/dead-letters.ts";
import { keyObject, mintApiKey, revokeKey } from "../admin/keys.ts";
import { changeTenantRetention, createTenantRow, retentionColumns, tenantObject } from "../admin/tenants.ts";
import { ConsoleKeyForm, ConsoleRetentionForm, ConsoleTenantForm } from "../schemas.ts";
import { OperatorPage } from "./operator-pages.tsx";
import {
  BreakersPage,
  DeadLettersPage,
  DriftPage,
  type HealthFigures,
  HealthPage,
  QualityPage,
} from "./operator-service-pages.tsx";
import { NewKeyPage, TenantPage, TenantsPage } from "./operator-tenant-pages.tsx";
import type { ConsoleEnv } from "./session.ts";

const TENANTS_PAGE_SIZE = 100;
/** Dead letters listed on the page (the API's default). */
const DEAD_LETTERS_PAGE_SIZE = 100;

/** What a redirect after an action says: a fixed message per code, so nothing from the request is echoed. */
export const FLASH_MESSAGES = {
  breaker_opened: "Breaker forced open: no job goes to that provider until it is closed.",
  breaker_closed: "Breaker forced closed: calls to that provider resume.",
  redriven: "Dead letter re-driven: the job is queued again.",
  failed: "Dead-lettered job failed; its tenant is told.",
  tenant_created: "Tenant created.",
  retention_changed: "Retention windows saved; they apply to jobs uploaded from now on.",
  key_revoked: "Key revoked: requests with it are refused from now on.",
} as const;
type FlashCode = keyof typeof FLASH_MESSAGES;

const flashOf = (c: Context<ConsoleEnv>): string | null => {
  const code = c.req.query("done");
  return code && Object.hasOwn(FLASH_MESSAGES, code) ? FLASH_MESSAGES[code as FlashCode] : null;
};

const redirectWith = (c: Context<ConsoleEnv>, path: string, code: FlashCode) => c.redirect(`${path}?done=${code}`, 303);

/** Appends an audit entry for an operator action from the console; `*` stands for a service-wide action. */
async function audit(c: Context<ConsoleEnv>, action: AuditAction, tenantId: string | null, receipt: object) {
  const now = Date.now();
  await appendAuditEntry(c.var.db, {
    id: `audit_${ulid(now)}`,
    tenantId: tenantId ?? "*",
    action,
    receipt: { via: "console", ...receipt, at: new Date(now).toISOString() },
    createdAt: now,
  });
}

/** The first message of a zod failure, for a form's error line. */
const formProblem = (error: z.ZodError) => {
  const issue = error.issues[0];
  return issue ? `${issue.path.join(".") || "form"}: ${issue.message}` : "The form is invalid.";
};

/** An action the API refuses (404, 422) becomes a plain page with that status, never a 5xx. */
function refused(c: Context<ConsoleEnv>, error: unknown) {
  if (error instanceof ApiError && error.status < 500) return c.text(error.detail ?? error.code, error.status as 404);
  throw error;
}

export const operatorConsole = new Hono<ConsoleEnv>();

operatorConsole.use("*", async (c, next) => {
  if (c.var.session.kind !== "operator") return c.text("This page belongs to the operator session.", 403);
  await next();
});

/** The operator's landing: `/console` and `/console/operator` for the operator session. */
export const operatorHome = async (c: Context<ConsoleEnv>) => {
  const tenants = await listTenants(c.var.db, { limit: TENANTS_PAGE_SIZE });
  return c.html(<OperatorPage csrfToken={c.var.session.csrfToken} tenants={tenants} />);
};

operatorConsole.get("/", operatorHome);

// ---------- health ----------

/** One shard's health: its stored samples, its backlog now and its figures per window. */
async function shardHealth(db: Db, now: number) {
  const [samples, backlog, ...windows] = await Promise.all([
    recentHealthSamples(db, now),
    currentBacklog(db),
    ...(Object.entries(HEALTH_WINDOWS) as [HealthWindow, number][]).map(async ([window, ms]) => ({
      window,
      ms,
      ...(await finishedFigures(db, now - ms)),
    })),
  ]);
  return { samples, backlog, windows };
}

const maxOf = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));

operatorConsole.get("/health", async (c) => {
  const now = Date.now();
  // every shard keeps its own samples (the cron writes them per shard): counts add up per minute; of the quantiles
  // the page shows the worst shard's (an upper bound of the service's). A failing shard is left out and named.
  const reads = await readAllShards(c.env, (db) => shardHealth(db, now));
  const healthy = reads.values.map((read) => read.value);
  const byMinute = new Map<number, HealthSampleRow>();
  for (const sample of healthy.flatMap((h) => h.samples)) {
    const seen = byMinute.get(sample.minute);
    byMinute.set(
      sample.minute,
      seen
        ? {
            minute: sample.minute,
            queueDepth: seen.queueDepth + sample.queueDepth,
            deadLetters: seen.deadLetters + sample.deadLetters,
            finished: seen.finished + sample.finished,
            failed: seen.failed + sample.failed,
            p50Ms: maxOf(seen.p50Ms, sample.p50Ms),
            p95Ms: maxOf(seen.p95Ms, sample.p95Ms),
          }
        : sample,
    );
  }
  const samples = [...byMinute.values()].sort((a, b) => a.minute - b.minute);
  const backlog = {
    queueDepth: healthy.reduce((n, h) => n + h.backlog.queueDepth, 0),
    deadLetters: healthy.reduce((n, h) => n + h.backlog.deadLetters, 0),
  };
  const windows = (Object.entries(HEALTH_WINDOWS) as [HealthWindow, number][]).map(([window, ms]) => {
    const parts = healthy.map((h) => h.windows.find((w) => w.window === window)!);
    return {
      window,
      ms,
      finished: parts.reduce((n, w) => n + w.finished, 0),
      failed: parts.reduce((n, w) => n + w.failed, 0),
      p50Ms: parts.reduce<number | null>((m, w) => maxOf(m, w.p50Ms), null),
      p95Ms: parts.reduce<number | null>((m, w) => maxOf(m, w.p95Ms), null),
    };
  });
  const figures: HealthFigures[] = windows.map((w) => ({
    window: w.window,
    finished: w.finished,
    jobsPerSecond: w.finished / (w.ms / 1000),
    errorRate: w.finished ? w.failed / w.finished : null,
    p50Ms: w.p50Ms,
    p95Ms: w.p95Ms,
  }));
  const day: HealthPoint[] = samples.map(healthPoint);
  const hourFrom = (now - HEALTH_WINDOWS.hour) / 1000;
  return c.html(
    <HealthPage
      csrfToken={c.var.session.csrfToken}
      figures={figures}
      queueDepth={backlog.queueDepth}
      deadLetters={backlog.deadLetters}
      chart={{ hour: day.filter((p) => p.t >= hourFrom), day }}
      failed={reads.failed}
    />,
  );
});

// ---------- breakers ----------

operatorConsole.get("/breakers", async (c) => {
  const views = await Promise.all(parseProviderList(c.env).map((p) => breakerView(c.env, p)));
  return c.html(<BreakersPage csrfToken={c.var.session.csrfToken} flash={flashOf(c)} breakers={views} />);
});

operatorConsole.post("/breakers/:provider/:action", async (c) => {
  const { provider, action } = c.req.param();
  if (action !== "open" && action !== "close") return c.text("The action is open or close.", 404);
  try {
    await forceBreaker(c.env, provider, action);
  } catch (error) {
    return refused(c, error);
  }
  await audit(c, "operator.breaker_forced", null, { provider, state: action === "open" ? "open" : "closed" });
  return redirectWith(c, "/console/operator/breakers", action === "open" ? "breaker_opened" : "breaker_closed");
});

// ---------- dead letters ----------

// every job shard's items, merged as `GET /v1/admin/dead-letters` merges them; actions go to the shard the id names
operatorConsole.get("/dead-letters", async (c) => {
  const rawCursor = c.req.query("cursor");
  const cursor = rawCursor && isWellFormedId(rawCursor, "transcription") ? rawCursor : undefined;
  const page = await listDeadLettersOfAllShards(c.env, { state: "pending", limit: DEAD_LETTERS_PAGE_SIZE, cursor });
  return c.html(
    <DeadLettersPage
      csrfToken={c.var.session.csrfToken}
      flash={flashOf(c)}
      items={page.items}
      nextCursor={page.nextCursor}
      failedShards={page.failed}
    />,
  );
});

operatorConsole.post("/dead-letters/:job/redrive", async (c) => {
  const jobId = c.req.param("job");
  const redriven = await inJobShard(
    c.env,
    jobId,
    (env, db) => redrive(env, db, jobId),
    () => false,
  );
  if (!redriven) return c.text("No pending dead-letter item for that job.", 404);
  await audit(c, "operator.dead_letter_redriven", null, { job_id: jobId });
  return redirectWith(c, "/console/operator/dead-letters", "redriven");
});

operatorConsole.post("/dead-letters/:job/fail", async (c) => {
  const jobId = c.req.param("job");
  try {
    const found = await inJobShard(
      c.env,
      jobId,
      async (env, db) => (await failDeadLetter(env, db, jobId), true),
      () => false,
    );
    if (!found) return c.text("No pending dead-letter item for that job.", 404);
  } catch (error) {
    return refused(c, error);
  }
  await audit(c, "operator.dead_letter_failed", null, { job_id: jobId });
  return redirectWith(c, "/console/operator/dead-letters", "failed");
});

// ---------- drift and quality ----------

// the same reports as /v1/admin/drift and /v1/admin/quality: every job shard, a failed one named on the page
operatorConsole.get("/drift", async (c) => {
  const { report, failed } = await driftReportOfAllShards(c.env);
  return c.html(<DriftPage csrfToken={c.var.session.csrfToken} report={report} failed={failed} />);
});

operatorConsole.get("/quality", async (c) => {
  const { report, failed } = await qualityReportOfAllShards(c.env);
  return c.html(
    <QualityPage
      csrfToken={c.var.session.csrfToken}
      report={report}
      chart={qualityChartData(report.data)}
      failed={failed}
    />,
  );
});

// ---------- tenants and keys ----------

async function tenantsPage(c: Context<ConsoleEnv>, error: string | null = null, status: 200 | 422 = 200) {
  const rawCursor = c.req.query("cursor");
  const cursor = rawCursor && isWellFormedId(rawCursor, "tenant") ? rawCursor : undefined;
  const rows = await listTenants(c.var.db, { limit: DEFAULT_LIST_LIMIT + 1, beforeId: cursor });
  const page = rows.slice(0, DEFAULT_LIST_LIMIT);
  return c.html(
    <TenantsPage
      csrfToken={c.var.session.csrfToken}
      flash={error ? null : flashOf(c)}
      error={error}
      tenants={page.map((row) => tenantObject(row, c.env))}
      nextCursor={rows.length > DEFAULT_LIST_LIMIT ? page.at(-1)!.id : null}
    />,
    status,
  );
}

operatorConsole.get("/tenants", (c) => tenantsPage(c));

operatorConsole.post("/tenants", async (c) => {
  const parsed = ConsoleTenantForm.safeParse(await c.req.parseBody());
  if (!parsed.success) return tenantsPage(c, formProblem(parsed.error), 422);
  const row = await createTenantRow(c.env, parsed.data);
  await audit(c, "operator.tenant_created", row.id, {});
  return redirectWith(c, `/console/operator/tenants/${row.id}`, "tenant_created");
});

async function tenantPage(c: Context<ConsoleEnv>, error: string | null = null, status: 200 | 422 = 200) {
  const tenantId = c.req.param("tenant") ?? "";
  const tenant = isWellFormedId(tenantId, "tenant") ? await getTenant(c.var.db, tenantId) : null;
  if (!tenant) return c.text("No tenant with that id.", 404);
  const now = Date.now();
  const keys = (await listTenantKeys(c.var.db, tenantId)).map((row) => keyObject(row, now));
  return c.html(
    <TenantPage
      csrfToken={c.var.session.csrfToken}
      flash={error ? null : flashOf(c)}
      error={error}
      tenant={tenantObject(tenant, c.env)}
      keys={keys}
    />,
    status,
  );
}

operatorConsole.get("/tenants/:tenant", (c) => tenantPage(c));

operatorConsole.post("/tenants/:tenant/keys", async (c) => {
  const tenantId = c.req.param("tenant");
  const parsed = ConsoleKeyForm.safeParse(await c.req.parseBody());
  if (!parsed.success) return tenantPage(c, formProblem(parsed.error), 422);
  let created;
  try {
    created = await mintApiKey(c.var.db, tenantId, parsed.data);
  } catch (error) {
    if (error instanceof ApiError && error.status === 422) return tenantPage(c, error.detail ?? error.code, 422);
    return refused(c, error);
  }
  await audit(c, "operator.key_created", tenantId, { key_id: created.id, scopes: created.scopes });
  const tenant = (await getTenant(c.var.db, tenantId))!;
  // the key is in this response only: never cached, never stored, never shown again
  c.header("cache-control", "no-store");
  return c.html(
    <NewKeyPage csrfToken={c.var.session.csrfToken} tenant={tenantObject(tenant, c.env)} created={created} />,
  );
});

operatorConsole.post("/tenants/:tenant/keys/:key/revoke", async (c) => {
  const { tenant, key } = c.req.param();
  if (!(await revokeKey(c.env, tenant, key))) return c.text("No such key for that tenant.", 404);
  await audit(c, "operator.key_revoked", tenant, { key_id: key });
  return redirectWith(c, `/console/operator/tenants/${tenant}`, "key_revoked");
});

operatorConsole.post("/tenants/:tenant/retention", async (c) => {
  const tenantId = c.req.param("tenant");
  const parsed = ConsoleRetentionForm.safeParse(await c.req.parseBody());
  if (!parsed.success) return tenantPage(c, formProblem(parsed.error), 422);
  let changes;
  try {
    changes = retentionColumns(parsed.data);
  } catch (error) {
    if (error instanceof ApiError && error.status === 422) return tenantPage(c, error.detail ?? error.code, 422);
    throw error;
  }
  const row = isWellFormedId(tenantId, "tenant") ? await changeTenantRetention(c.env, tenantId, changes) : null;
  if (!row) return c.text("No tenant with that id.", 404);
  await audit(c, "operator.retention_changed", tenantId, {
    audio_seconds: parsed.data.audio_seconds,
    transcript_seconds: parsed.data.transcript_seconds,
  });
  return redirectWith(c, `/console/operator/tenants/${tenantId}`, "retention_changed");
});
