/**
 * The console in a real browser: Debian's Chromium driven by playwright-core against the Worker under `wrangler dev`,
 * started the way `npm start` starts it. Sign-in, the tenant's transcripts, sign-out, the operator landing, and the
 * hostile cases: markup in caller-supplied values runs nothing, forged and replayed cookies are refused, a
 * cross-site POST is refused, and the console cannot be framed.
 */
import { existsSync, rmSync } from "node:fs";
import http from "node:http";

import { encodeWav16 } from "@vtt/pool-contract";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// plain ESM helper shared with `npm start`
import { freePort, stopAll } from "../scripts/lib/dev-env.mjs";
import { startWranglerDev } from "./support/wrangler-dev.ts";

const CHROMIUM = "/usr/bin/chromium";
const ADMIN = "e2e-console-admin-key-0123456789abcdef";
const HOSTILE = `<img src=x onerror="window.__pwned=1;alert(1)"></script><script>window.__pwned=2</script>`;
/** a file name keeps no `/` (the upload keeps the last path segment), so it carries its markup without one */
const HOSTILE_FILE_NAME = "<img src=x onerror=window.__pwned=3;alert(3)><svg onload=alert(4)>.wav";
let base = "";
let hostileOrigin = "";
let stateDir = "";
let browser: Browser;
let hostileServer: http.Server;

async function admin(pathname: string, body: unknown): Promise<Record<string, string>> {
  const res = await fetch(base + pathname, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${pathname}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? {} : ((await res.json()) as Record<string, string>);
}

async function tenantWithKey(name: string): Promise<{ tenantId: string; keyId: string; key: string }> {
  const tenant = await admin("/v1/admin/tenants", { name });
  const key = await admin(`/v1/admin/tenants/${tenant.id}/keys`, {});
  return { tenantId: tenant.id!, keyId: key.id!, key: key.key! };
}

/** An upload whose file name and metadata carry markup; returns the job id. */
async function hostileUpload(key: string): Promise<string> {
  const samples = Float32Array.from({ length: 8000 }, (_, i) => Math.sin(i / 6) * 0.25);
  const form = new FormData();
  form.append("metadata", JSON.stringify({ note: HOSTILE }));
  form.append("file", new Blob([encodeWav16(samples, 16_000)], { type: "audio/wav" }), HOSTILE_FILE_NAME);
  const res = await fetch(`${base}/v1/transcriptions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}` },
    body: form,
  });
  if (res.status !== 202) throw new Error(`upload: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

/** A fresh browser context and page that record any dialog the page opens. */
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

/** Signs in with the keyboard only: type the key, press Enter. */
async function signIn(page: Page, key: string): Promise<void> {
  await page.goto(`${base}/console`);
  expect(new URL(page.url()).pathname).toBe("/console/sign-in");
  // the key field has autofocus, so the keyboard alone signs in
  await page.waitForFunction(() => document.activeElement?.id === "api_key");
  await page.keyboard.type(key);
  await Promise.all([page.waitForURL(`${base}/console`), page.keyboard.press("Enter")]);
}

const HAS_CHROMIUM = existsSync(CHROMIUM);

beforeAll(async () => {
  if (!HAS_CHROMIUM) return;
  const [port, hostilePort] = await Promise.all([freePort(), freePort()]);
  base = `http://127.0.0.1:${port}`;
  // another site: `localhost` and `127.0.0.1` are different sites to the browser
  hostileOrigin = `http://localhost:${hostilePort}`;
  const vars: Record<string, string> = {
    ENVIRONMENT: "development",
    ADMIN_API_KEY: ADMIN,
    PROVIDERS: "whisper-pool",
    PUBLIC_BASE_URL: base,
    // nothing listens there: jobs stay queued, which is all this test needs
    POOL_URL: "http://127.0.0.1:9",
    POOL_SIGNING_KEYS: "e2e:edge-to-pool",
    POOL_CALLBACK_KEYS: "e2e:pool-to-edge",
    AUDIO_URL_KEYS: "e2e:audio-url",
    ENCRYPTION_KEYS: "e2e:e2e-master-key-0123456789abcdefghijkl",
  };
  const dev = await startWranglerDev({ label: "console", port, vars });
  stateDir = dev.stateDir;

  // the other site: a page that frames the console, and one that posts a form to it
  hostileServer = http.createServer((req, res) => {
    res.setHeader("content-type", "text/html");
    if (req.url === "/frame") return void res.end(`<iframe id="victim" src="${base}/console/sign-in"></iframe>`);
    res.end(
      `<form id="f" method="post" action="${base}/console/sign-out"><input name="csrf_token" value="guess"></form>` +
        `<script>document.getElementById("f").submit()</script>`,
    );
  });
  await new Promise<void>((resolve) => hostileServer.listen(hostilePort, resolve));

  await dev.ready;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  hostileServer?.close();
  await stopAll();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

describe.skipIf(!existsSync(CHROMIUM))(
  "console in Chromium (skipped: no /usr/bin/chromium; .ci/run installs it)",
  () => {
    it("signs a tenant in, lists its transcripts at 375 px with hostile values as text, and signs out", async () => {
      const { key } = await tenantWithKey("Browser Co");
      const jobId = await hostileUpload(key);
      const { context, page, dialogs } = await openPage(375);
      await signIn(page, key);

      await expect(page.getByTestId("who").textContent()).resolves.toBe("Browser Co");
      const table = page.getByTestId("transcripts");
      await expect(table.locator("code", { hasText: jobId }).count()).resolves.toBe(1);
      // the markup is shown as text, and nothing it names exists or ran
      await expect(table.locator("td", { hasText: HOSTILE_FILE_NAME }).count()).resolves.toBe(1);
      await expect(table.locator("td", { hasText: JSON.stringify({ note: HOSTILE }) }).count()).resolves.toBe(1);
      // the only scripts are the console's own bundled modules, from this origin
      await expect(
        page.locator('img, svg, script:not([type="module"][src^="/console/assets/"])').count(),
      ).resolves.toBe(0);
      await expect(page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).resolves.toBeUndefined();
      expect(dialogs).toEqual([]);
      // usable at 375 px: the page itself never scrolls sideways (the table scrolls in its own box)
      const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
      expect(scrollWidth).toBeLessThanOrEqual(375);

      const [cookie] = await context.cookies();
      expect(cookie).toMatchObject({ name: "vtt_console", httpOnly: true, sameSite: "Strict", path: "/" });
      expect(cookie!.value).not.toContain(key);
      await expect(page.evaluate(() => document.cookie)).resolves.toBe("");

      // keyboard only: Tab reaches the sign-out button, Enter presses it
      let focused = "";
      for (let i = 0; i < 10 && focused !== "Sign out"; i++) {
        await page.keyboard.press("Tab");
        focused = await page.evaluate(() => document.activeElement?.textContent ?? "");
      }
      expect(focused).toBe("Sign out");
      await Promise.all([page.waitForURL(`${base}/console/sign-in`), page.keyboard.press("Enter")]);
      await expect(context.cookies()).resolves.toEqual([]);

      // the old cookie, replayed, is refused
      await context.addCookies([cookie!]);
      await page.goto(`${base}/console`);
      expect(new URL(page.url()).pathname).toBe("/console/sign-in");
      await context.close();
    });

    it("signs the operator in to the operator landing", async () => {
      const { tenantId } = await tenantWithKey("Listed by the operator");
      const { context, page } = await openPage();
      await signIn(page, ADMIN);
      await expect(page.getByTestId("who").textContent()).resolves.toBe("Operator");
      await expect(page.getByTestId("tenants").locator("code", { hasText: tenantId }).count()).resolves.toBe(1);
      await context.close();
    });

    it("refuses a forged cookie and one whose key was revoked", async () => {
      const { tenantId, keyId, key } = await tenantWithKey("Revoked Co");
      const { context, page } = await openPage();
      await signIn(page, key);
      const [cookie] = await context.cookies();

      const [id] = cookie!.value.split(".");
      await context.clearCookies();
      await context.addCookies([{ ...cookie!, value: `${id}.${"A".repeat(43)}` }]);
      await page.goto(`${base}/console`);
      expect(new URL(page.url()).pathname).toBe("/console/sign-in");

      await context.addCookies([cookie!]);
      await page.goto(`${base}/console`);
      expect(new URL(page.url()).pathname).toBe("/console");
      await admin(`/v1/admin/tenants/${tenantId}/keys/${keyId}/revoke`, {});
      await page.goto(`${base}/console`);
      expect(new URL(page.url()).pathname).toBe("/console/sign-in");
      await context.close();
    });

    it("refuses a cross-site POST and a same-origin POST without the CSRF token", async () => {
      const { key } = await tenantWithKey("CSRF Co");
      const { context, page } = await openPage();
      await signIn(page, key);

      const same = await page.evaluate(async () => {
        const res = await fetch("/console/sign-out", { method: "POST", body: new URLSearchParams({}) });
        return res.status;
      });
      expect(same).toBe(403);

      const attacker = await context.newPage();
      const [response] = await Promise.all([
        attacker.waitForResponse((r) => r.url() === `${base}/console/sign-out`),
        attacker.goto(`${hostileOrigin}/post`),
      ]);
      expect(response.status()).toBeGreaterThanOrEqual(400);

      // still signed in: neither request ended the session
      await page.goto(`${base}/console`);
      expect(new URL(page.url()).pathname).toBe("/console");
      await context.close();
    });

    it("cannot be framed by another site", async () => {
      const { context, page } = await openPage();
      const direct = await page.goto(`${base}/console/sign-in`);
      expect(direct!.headers()["x-frame-options"]).toBe("DENY");
      expect(direct!.headers()["content-security-policy"]).toContain("frame-ancestors 'none'");

      await page.goto(`${hostileOrigin}/frame`);
      await page.waitForTimeout(500);
      const frame = page.frames().find((f) => f !== page.mainFrame());
      expect(frame).toBeDefined();
      await expect(frame!.locator("#api_key").count()).resolves.toBe(0);
      await context.close();
    });
  },
);
