/**
 * The operator's console in a real browser: Debian's Chromium driven by playwright-core against the Worker under
 * `wrangler dev` (started as every e2e file starts it, e2e/support/wrangler-dev.ts). Signs in as the operator with
 * the keyboard, forces a breaker open and closed, re-drives a dead letter, creates and revokes a key (which works
 * against the API until then), changes retention, sees the health charts drawn from their data island, and checks
 * hostile tenant and key names render as text. axe-core runs on every page at 1024 and 375 px. With
 * CONSOLE_SCREENSHOTS=1 it writes the pages' PNGs to docs/console/.
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import path from "node:path";

import { encodeWav16 } from "@vtt/pool-contract";
import axe from "axe-core";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// plain ESM helper shared with `npm start`
import { freePort, runToEnd, stopAll } from "../scripts/lib/dev-env.mjs";
import { WRANGLER } from "./support/migrations.ts";
import { startWranglerDev } from "./support/wrangler-dev.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const CHROMIUM = "/usr/bin/chromium";
const ADMIN = "e2e-operator-admin-key-0123456789abcdef";
const HOSTILE = `<img src=x onerror="window.__pwned=1;alert(1)"></script><script>window.__pwned=2</script>`;
const SCREENSHOTS = process.env.CONSOLE_SCREENSHOTS === "1";
const SCREENSHOT_DIR = path.join(ROOT, "docs/console");
let base = "";
let stateDir = "";
let browser: Browser;

async function api(method: string, pathname: string, body?: unknown, key = ADMIN): Promise<Response> {
  return fetch(base + pathname, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
}

async function json<T>(res: Response): Promise<T> {
  if (res.status >= 300) throw new Error(`${res.url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function upload(key: string): Promise<string> {
  const samples = Float32Array.from({ length: 8000 }, (_, i) => Math.sin(i / 6) * 0.25);
  const form = new FormData();
  form.append("file", new Blob([encodeWav16(samples, 16_000)], { type: "audio/wav" }), "dead.wav");
  const res = await fetch(`${base}/v1/transcriptions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}` },
    body: form,
  });
  return (await json<{ id: string }>(res)).id;
}

/** Runs SQL against the local D1 that `wrangler dev` serves, through wrangler itself. */
/** Runs SQL on a local D1 by binding: `DB` is the directory, `SHARD_US_0` the first US job shard (wrangler.toml). */
async function d1(sql: string, binding = "DB"): Promise<void> {
  await runToEnd(WRANGLER, ["d1", "execute", binding, "--local", "--persist-to", stateDir, "--command", sql, "--yes"], {
    cwd: ROOT,
    env: { ...process.env, CI: "1" },
    stdio: "ignore",
  });
}

async function openPage(width = 1024): Promise<{ context: BrowserContext; page: Page; dialogs: string[] }> {
  const context = await browser.newContext({ viewport: { width, height: 800 } });
  const page = await context.newPage();
  const dialogs: string[] = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  return { context, page, dialogs };
}

async function signIn(page: Page): Promise<void> {
  await page.goto(`${base}/console`);
  await page.waitForFunction(() => document.activeElement?.id === "api_key");
  await page.keyboard.type(ADMIN);
  await Promise.all([page.waitForURL(`${base}/console`), page.keyboard.press("Enter")]);
}

/** axe-core in a context that bypasses the CSP (only for the check): no serious or critical violations. */
async function axeCheck(context: BrowserContext, url: string, width: number): Promise<void> {
  const cookies = await context.cookies();
  const axeContext = await browser.newContext({ viewport: { width, height: 800 }, bypassCSP: true });
  await axeContext.addCookies(cookies);
  const page = await axeContext.newPage();
  await page.goto(url);
  await page.addScriptTag({ content: axe.source });
  const violations = await page.evaluate(async () => {
    const result = await (window as unknown as { axe: typeof axe }).axe.run(document);
    return result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  });
  expect(violations, `${url} at ${width} px`).toEqual([]);
  await axeContext.close();
}

async function screenshot(page: Page, name: string): Promise<void> {
  if (!SCREENSHOTS) return;
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/** Presses a form's button by keyboard: focus it, Enter, and wait for the page it leads to. */
async function pressButton(page: Page, name: string | RegExp, scope = page.locator("main")): Promise<void> {
  const button = scope.getByRole("button", { name });
  await button.focus();
  await Promise.all([page.waitForLoadState("load"), page.waitForEvent("framenavigated"), page.keyboard.press("Enter")]);
}

/** Opens a `<details>` confirmation by keyboard. */
async function openConfirm(page: Page, summary: string | RegExp, scope = page.locator("main")): Promise<void> {
  const element = scope.locator("summary", { hasText: summary });
  await element.focus();
  await page.keyboard.press("Enter");
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) return;
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const vars: Record<string, string> = {
    ENVIRONMENT: "development",
    ADMIN_API_KEY: ADMIN,
    PROVIDERS: "whisper-pool",
    PUBLIC_BASE_URL: base,
    // nothing listens there: jobs stay queued
    POOL_URL: "http://127.0.0.1:9",
    POOL_SIGNING_KEYS: "e2e:edge-to-pool",
    POOL_CALLBACK_KEYS: "e2e:pool-to-edge",
    AUDIO_URL_KEYS: "e2e:audio-url",
    ENCRYPTION_KEYS: "e2e:e2e-master-key-0123456789abcdefghijkl",
  };
  const dev = await startWranglerDev({ label: "operator", port, vars });
  stateDir = dev.stateDir;
  await dev.ready;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
  });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await stopAll();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

describe.skipIf(!existsSync(CHROMIUM))(
  "operator console in Chromium (skipped: no /usr/bin/chromium; .ci/run installs it)",
  () => {
    it("forces the breaker open and closed, and re-drives a dead letter, by keyboard", async () => {
      const { context, page, dialogs } = await openPage();
      await signIn(page);
      await page.getByRole("link", { name: "Breakers" }).click();
      const row = page.locator('tr[data-provider="whisper-pool"]');
      await openConfirm(page, "Force whisper-pool open", row);
      await pressButton(page, "Confirm: force whisper-pool open", row);
      await expect(page.getByTestId("flash").textContent()).resolves.toContain("forced open");
      await expect(row.getByTestId("breaker-state").textContent()).resolves.toBe("open (forced)");
      const breakers = await json<{ data: { provider: string; status: string }[] }>(
        await api("GET", "/v1/admin/breakers"),
      );
      expect(breakers.data.find((b) => b.provider === "whisper-pool")!.status).toBe("open");
      await screenshot(page, "breakers");
      await pressButton(page, "Force whisper-pool closed", page.locator('tr[data-provider="whisper-pool"]'));
      await expect(
        page.locator('tr[data-provider="whisper-pool"]').getByTestId("breaker-state").textContent(),
      ).resolves.toBe("closed");

      // a dead letter: a queued job whose item the dead-letter inspector would have written, in the job's shard (a
      // tenant of the default region us lands in us0)
      const tenant = await json<{ id: string }>(await api("POST", "/v1/admin/tenants", { name: "Dead Co" }));
      const key = await json<{ key: string }>(await api("POST", `/v1/admin/tenants/${tenant.id}/keys`, {}));
      const jobId = await upload(key.key);
      await d1(
        `insert into dead_letters (job_id, tenant_id, provider, classification, reason, redrive_count, first_dead_at, last_dead_at, next_redrive_at)
         values ('${jobId}', '${tenant.id}', 'whisper-pool', 'recoverable', 'retries exhausted (e2e)', 0, ${Date.now()}, ${Date.now()}, ${Date.now() + 3600_000})`,
        "SHARD_US_0",
      );
      await page.getByRole("link", { name: "Dead letters" }).click();
      const item = page.locator(`tr[data-job="${jobId}"]`);
      await expect(item.locator(".badge").textContent()).resolves.toBe("recoverable");
      await screenshot(page, "dead-letters");
      await pressButton(page, "Re-drive", item);
      await expect(page.getByTestId("flash").textContent()).resolves.toContain("re-driven");
      const items = await json<{ data: { job_id: string; redrive_count: number }[] }>(
        await api("GET", "/v1/admin/dead-letters"),
      );
      expect(items.data.find((d) => d.job_id === jobId)!.redrive_count).toBe(1);
      expect(dialogs).toEqual([]);
      await context.close();
    });

    it("creates a key shown once that works until revoked, changes retention; hostile names stay text", async () => {
      const { context, page, dialogs } = await openPage(375);
      await signIn(page);
      await page.goto(`${base}/console/operator/tenants`);
      await page.getByLabel("Name").fill(HOSTILE);
      await pressButton(page, "Create tenant");
      await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toBe(`Tenant ${HOSTILE}`);
      const tenantUrl = page.url().split("?")[0]!;
      const tenantId = tenantUrl.split("/").at(-1)!;

      await page.getByLabel("Name (optional)").fill(HOSTILE);
      await page.getByLabel("Expires on (UTC date, optional)").fill("2999-01-01");
      await pressButton(page, "Create key");
      const key = await page.getByTestId("new-key").inputValue();
      expect(key).toMatch(/^vtt_/);
      await expect(page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).resolves.toBeUndefined();
      expect((await api("GET", "/v1/transcriptions", undefined, key)).status).toBe(200);

      await page.goto(tenantUrl);
      expect(await page.content()).not.toContain(key);
      await expect(page.locator("main img, main script").count()).resolves.toBe(0);
      const keyRow = page.locator("tr[data-key]").first();
      await expect(keyRow.locator("th").textContent()).resolves.toBe(HOSTILE);
      await screenshot(page, "tenants-keys");
      await openConfirm(page, "Revoke key", keyRow);
      await pressButton(page, "Confirm: revoke key", page.locator("tr[data-key]").first());
      await expect(page.getByTestId("flash").textContent()).resolves.toContain("revoked");
      expect((await api("GET", "/v1/transcriptions", undefined, key)).status).toBe(401);

      await page.getByLabel("Audio kept after the job ends (seconds)").fill("7200");
      await page.getByLabel("Transcripts kept after the job ends (seconds)").fill("86400");
      await pressButton(page, "Save retention");
      const tenant = await json<{ retention: unknown }>(await api("GET", `/v1/admin/tenants/${tenantId}`));
      expect(tenant.retention).toEqual({ audio_seconds: 7200, transcript_seconds: 86400 });
      // usable at 375 px: the page never scrolls sideways
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
      await expect(page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).resolves.toBeUndefined();
      expect(dialogs).toEqual([]);
      await context.close();
    });

    it("draws the health charts from the data island, and every page passes axe at 1024 and 375 px", async () => {
      await fetch(`${base}/cdn-cgi/handler/scheduled`);
      const { context, page } = await openPage();
      await signIn(page);
      // the cron's task runs after the trigger answers (waitUntil): reload until its sample is there
      let island = { hour: [] as unknown[], day: [] as unknown[] };
      for (let i = 0; i < 20 && island.hour.length === 0; i++) {
        if (i > 0) await new Promise((resolve) => setTimeout(resolve, 500));
        await page.goto(`${base}/console/operator/health`);
        await page.waitForFunction(() => document.documentElement.dataset.chartsReady === "1");
        island = await page.evaluate(() => JSON.parse(document.getElementById("health-data")!.textContent!));
      }
      expect(island.hour.length).toBeGreaterThan(0);
      await expect(page.locator('figure[data-range="hour"] canvas').count()).resolves.toBe(5);
      await screenshot(page, "health");
      for (const name of ["drift", "quality"]) {
        await page.goto(`${base}/console/operator/${name}`);
        await screenshot(page, name === "quality" ? "operator-quality" : name);
      }
      const pages = ["health", "breakers", "dead-letters", "drift", "quality", "tenants"].map(
        (name) => `${base}/console/operator/${name}`,
      );
      const tenants = await json<{ data: { id: string }[] }>(await api("GET", "/v1/admin/tenants"));
      pages.push(`${base}/console/operator/tenants/${tenants.data[0]!.id}`);
      for (const url of pages) for (const width of [1024, 375]) await axeCheck(context, url, width);
      await context.close();
    });
  },
);
