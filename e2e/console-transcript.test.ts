/**
 * The tenant's transcript page in a real browser: Debian's Chromium driven by playwright-core against `wrangler dev`
 * and the local Whisper pool, both started the way `npm start` starts them, so a job really completes. Sign in, find
 * the completed job in the list, open it, play and watch the highlighted segment move, seek by clicking a segment,
 * j/k and Space, correct the text and see the WER, download, delete; hostile text runs nothing; axe-core finds no
 * serious or critical violation at 1024 and 375 px. With CONSOLE_SCREENSHOTS=1 it writes docs/console/*.png.
 *
 * The synthetic pool model's words mean nothing (shared/models/SYNTHETIC-MODEL.md), so the job the player is tested
 * on gets a result with known segments, words, speakers, a redaction and hostile markup through the pool's own
 * contract: a callback signed with the pool's key, exactly as the pool sends it.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

import { encodeWav16, signedHeaders } from "@vtt/pool-contract";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// plain ESM helper shared with `npm start`
import { stopAll } from "../scripts/lib/dev-env.mjs";
import { startPoolSystem } from "./support/pool-system.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const CHROMIUM = "/usr/bin/chromium";
const HAS_CHROMIUM = existsSync(CHROMIUM);
const ADMIN = "e2e-console-transcript-admin-0123456789";
const CALLBACK_RING = [{ id: "e2e", secret: "pool-to-edge" }];
const SCREENSHOTS = process.env.CONSOLE_SCREENSHOTS === "1";
const SHOTS_DIR = path.join(ROOT, "docs/console");
const HOSTILE = `<img src=x onerror="window.__pwned=1;alert(1)"></script><script>window.__pwned=2</script>`;
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** The crafted result: four segments over 8 s, words with one low-confidence word, speakers, a redaction, markup. */
const SEGMENTS = [
  { start: 0, end: 2, text: "Good morning, this is the support line.", speaker: "Agent" },
  { start: 2, end: 4, text: "Hello, my number is [PHONE_NUMBER].", speaker: "Caller" },
  { start: 4, end: 6, text: HOSTILE, speaker: "Caller" },
  { start: 6, end: 8, text: "Thank you, goodbye.", speaker: "Agent" },
];
const TEXT = SEGMENTS.map((s) => s.text).join(" ");
const WORDS = [
  { start: 0, end: 0.5, word: "Good", confidence: 0.97 },
  { start: 0.5, end: 1.1, word: "morning,", confidence: 0.35 },
  { start: 6, end: 6.6, word: "Thank", confidence: 0.9 },
  { start: 6.6, end: 7, word: "you,", confidence: 0.92 },
  { start: 7, end: 8, word: "goodbye.", confidence: 0.95 },
];

let base = "";
let stateDir = "";
let browser: Browser;

/** A speech-like warble with pauses, as the pool e2e uses, `seconds` long. */
function speechLikeWav(seconds: number): Uint8Array {
  const rate = 16_000;
  const samples = Float32Array.from({ length: Math.round(seconds * rate) }, (_, i) => {
    const envelope = Math.floor(i / (rate * 0.7)) % 2 === 0 ? 1 : 0.05;
    return Math.sin((2 * Math.PI * (300 + 200 * Math.sin(i / 3000)) * i) / rate) * 0.27 * envelope;
  });
  return encodeWav16(samples, rate);
}

async function api(pathname: string, init: RequestInit & { key?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.key) headers.set("authorization", `Bearer ${init.key}`);
  return fetch(base + pathname, { ...init, headers });
}

async function tenantWithAdminKey(name: string): Promise<string> {
  const admin = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };
  const tenant = (await (
    await api("/v1/admin/tenants", { method: "POST", headers: admin, body: JSON.stringify({ name }) })
  ).json()) as { id: string };
  const res = await api(`/v1/admin/tenants/${tenant.id}/keys`, {
    method: "POST",
    headers: admin,
    body: JSON.stringify({ scopes: ["admin"] }),
  });
  if (res.status !== 201) throw new Error(`key: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { key: string }).key;
}

async function upload(key: string, seconds: number, fields: Record<string, string> = {}): Promise<string> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append("file", new Blob([speechLikeWav(seconds) as Uint8Array<ArrayBuffer>], { type: "audio/wav" }), "call.wav");
  const res = await api("/v1/transcriptions", { method: "POST", key, body: form });
  if (res.status !== 202) throw new Error(`upload: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

async function waitForStatus(key: string, id: string, timeoutMs = 200_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = (await (await api(`/v1/transcriptions/${id}`, { key })).json()) as Record<string, unknown>;
    if (job.status === "completed" || job.status === "failed" || Date.now() > deadline) return job;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Completes `id` with the crafted result, signed as the pool signs its callbacks. */
async function craftedCallback(id: string): Promise<void> {
  const raw = JSON.stringify({
    job_id: id,
    status: "completed",
    result: {
      text: TEXT,
      segments: SEGMENTS,
      words: WORDS,
      language: "en",
      duration_seconds: 8,
      model: "crafted",
      timings: { total_ms: 1 },
    },
  });
  const res = await api("/internal/pool/callback", {
    method: "POST",
    body: raw,
    headers: { ...(await signedHeaders(CALLBACK_RING, raw)), "content-type": "application/json" },
  });
  if (res.status !== 200) throw new Error(`callback: ${res.status} ${await res.text()}`);
}

async function openPage(width = 1024) {
  const context = await browser.newContext({ viewport: { width, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const dialogs: string[] = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  return { context, page, dialogs };
}

/** Whether the crafted job's stored text holds `word` (it is listed by a search for it exactly then). */
async function craftedHas(key: string, id: string, word: string): Promise<boolean> {
  const { text } = (await (await api(`/v1/transcriptions/${id}`, { key })).json()) as { text: string };
  const fold = (s: string) => s.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
  return fold(text)
    .split(/[^\p{L}\p{N}]+/u)
    .includes(fold(word));
}

async function signIn(page: Page, key: string): Promise<void> {
  await page.goto(`${base}/console`);
  await page.waitForFunction(() => document.activeElement?.id === "api_key");
  await page.keyboard.type(key);
  await Promise.all([page.waitForURL(`${base}/console`), page.keyboard.press("Enter")]);
}

type Cookies = Awaited<ReturnType<BrowserContext["cookies"]>>;

/** axe-core in a context that bypasses the CSP only for this check (the console's CSP forbids injected scripts). */
async function axeViolations(url: string, cookies: Cookies, width: number) {
  const context = await browser.newContext({ bypassCSP: true, viewport: { width, height: 900 } });
  await context.addCookies(cookies);
  const page = await context.newPage();
  await page.goto(url);
  await page.addScriptTag({ content: AXE_SOURCE });
  const violations = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: {
          run: (o: unknown) => Promise<{ violations: { id: string; impact: string | null; nodes: unknown[] }[] }>;
        };
      }
    ).axe;
    const result = await axe.run({ resultTypes: ["violations"] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
  });
  await context.close();
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}

const currentSegment = (page: Page) =>
  page.evaluate(
    () => document.querySelector('li[data-segment][aria-current="true"]')?.getAttribute("data-segment") ?? null,
  );
const currentTime = (page: Page) =>
  page.evaluate(() => (document.getElementById("player") as HTMLAudioElement).currentTime);

beforeAll(async () => {
  if (!HAS_CHROMIUM) return;
  const system = await startPoolSystem({
    label: "ct",
    adminKey: ADMIN,
    poolEnv: { WHISPER_TEMPERATURE_INC: "0", NODE_ENV: "development" },
  });
  base = system.base;
  stateDir = system.stateDir;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--autoplay-policy=no-user-gesture-required",
      "--mute-audio",
      "--no-first-run",
    ],
  });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await stopAll();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

describe.skipIf(!HAS_CHROMIUM)(
  "console transcript page in Chromium (skipped: no /usr/bin/chromium; .ci/run installs it)",
  () => {
    it("plays, highlights, seeks, takes j/k and Space, scores a correction, downloads and deletes", async () => {
      const key = await tenantWithAdminKey("Transcript Co");
      // a job the pool really transcribes, and one whose result is the crafted one
      const pooled = await upload(key, 3);
      const crafted = await upload(key, 8, { metadata: JSON.stringify({ note: HOSTILE }) });
      await craftedCallback(crafted);
      expect(await waitForStatus(key, pooled)).toMatchObject({ status: "completed", error: null });

      const { context, page, dialogs } = await openPage();
      await signIn(page, key);
      // search a word of the pool job's transcript with the list's search box: the job is found
      const { text } = (await (await api(`/v1/transcriptions/${pooled}`, { key })).json()) as { text: string };
      const word =
        text.split(/\s+/).find((w) => /^[\p{L}]{3,}$/u.test(w)) ?? text.split(/\s+/).find((w) => /\p{L}/u.test(w));
      expect(word, `a searchable word in ${JSON.stringify(text)}`).toBeTruthy();
      await page.locator("#f-q").fill(word!);
      await Promise.all([page.waitForURL(/\/console\/transcripts\?.*q=/), page.locator("#f-q").press("Enter")]);
      await expect(
        page.getByTestId("transcripts").locator(`a[href="/console/transcripts/${pooled}"]`).count(),
      ).resolves.toBe(1);
      if (SCREENSHOTS) await page.screenshot({ path: path.join(SHOTS_DIR, "transcripts.png"), fullPage: true });
      await expect(
        page.getByTestId("transcripts").locator(`a[href="/console/transcripts/${crafted}"]`).count(),
      ).resolves.toBe((await craftedHas(key, crafted, word!)) ? 1 : 0);
      await page.goto(`${base}/console`);

      // the completed pool job is in the list; its id links to its page
      const link = page.getByTestId("transcripts").locator(`a[href="/console/transcripts/${pooled}"]`);
      await expect(link.count()).resolves.toBe(1);
      await Promise.all([page.waitForURL(`${base}/console/transcripts/${pooled}`), link.click()]);
      await expect(page.getByTestId("status").textContent()).resolves.toBe("completed");

      // download a format of the pool job: the same bytes as the API's renderer
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.locator('a[data-format="vtt"]').click(),
      ]);
      expect(download.suggestedFilename()).toBe(`${pooled}.vtt`);
      const saved = readFileSync((await download.path())!, "utf8");
      expect(saved.startsWith("WEBVTT")).toBe(true);
      expect(saved).toBe(await (await api(`/v1/transcriptions/${pooled}/transcript?format=vtt`, { key })).text());

      // the crafted job: hostile text and metadata are text, and nothing ran
      await page.goto(`${base}/console/transcripts/${crafted}`);
      await expect(page.locator("li[data-segment]").count()).resolves.toBe(4);
      await expect(page.locator('li[data-segment="2"] .text').textContent()).resolves.toContain(HOSTILE);
      await expect(page.getByTestId("metadata").textContent()).resolves.toBe(JSON.stringify({ note: HOSTILE }));
      await expect(page.locator("main img, main script:not([type])").count()).resolves.toBe(0);
      await expect(page.locator(".speaker", { hasText: "Caller" }).count()).resolves.toBe(1);
      await expect(page.locator("mark.redaction", { hasText: "[PHONE_NUMBER]" }).count()).resolves.toBe(1);
      await expect(page.locator(".word.low-confidence", { hasText: "morning," }).count()).resolves.toBe(1);

      // play: the highlighted segment moves with the audio
      await page.evaluate(() => (document.getElementById("player") as HTMLAudioElement).play());
      await page.waitForFunction(() => document.querySelector('li[data-segment="0"][aria-current="true"]') !== null);
      await page.waitForFunction(
        () => document.querySelector('li[data-segment="1"][aria-current="true"]') !== null,
        null,
        {
          timeout: 10_000,
        },
      );
      await page.evaluate(() => (document.getElementById("player") as HTMLAudioElement).pause());

      // click a later segment: the audio seeks there (a ranged request to the sealed audio)
      await page.locator('li[data-segment="3"] button.seek').click();
      await page.waitForFunction(() => (document.getElementById("player") as HTMLAudioElement).currentTime >= 6);
      expect(await currentTime(page)).toBeGreaterThanOrEqual(6);
      await expect(currentSegment(page)).resolves.toBe("3");
      await page.waitForFunction(() => document.querySelector('[data-word][aria-current="true"]') !== null);
      await page.evaluate(() => (document.getElementById("player") as HTMLAudioElement).pause());

      // keyboard, with focus off the buttons: k back a segment, j forward, Space plays and pauses
      await page.locator("h1").click();
      await page.keyboard.press("k");
      await expect(currentSegment(page)).resolves.toBe("2");
      expect(await currentTime(page)).toBeCloseTo(4, 1);
      await page.keyboard.press("k");
      await expect(currentSegment(page)).resolves.toBe("1");
      await page.keyboard.press("j");
      await expect(currentSegment(page)).resolves.toBe("2");
      const paused = () => page.evaluate(() => (document.getElementById("player") as HTMLAudioElement).paused);
      await expect(paused()).resolves.toBe(true);
      await page.keyboard.press(" ");
      await page.waitForFunction(() => !(document.getElementById("player") as HTMLAudioElement).paused);
      await page.keyboard.press(" ");
      await page.waitForFunction(() => (document.getElementById("player") as HTMLAudioElement).paused);

      // typing j, k or Space in the correction moves nothing; the diff shows the change; the WER comes back
      const before = await currentTime(page);
      const textarea = page.locator("#corrected_text");
      await textarea.fill(TEXT.replace("Thank you, goodbye.", "Thanks, goodbye."));
      await textarea.press("End");
      await textarea.press("Space");
      await textarea.press("j");
      expect(await currentTime(page)).toBe(before);
      await page.waitForFunction(() => document.querySelector("#diff ins") !== null);
      // "Thank you," became "Thanks,", and the typed " j" was appended
      expect((await page.locator("#diff del").allTextContents()).join("")).toContain("you");
      expect((await page.locator("#diff ins").allTextContents()).join("")).toContain("Thanks");
      expect((await page.locator("#diff ins").allTextContents()).join("")).toContain("j");
      if (SCREENSHOTS) {
        mkdirSync(SHOTS_DIR, { recursive: true });
        await page.locator("#feedback-form").screenshot({ path: path.join(SHOTS_DIR, "feedback-diff.png") });
      }
      await page.locator('#feedback-form input[value="bad"]').check();
      await page.locator("#feedback-form button[type=submit]").click();
      await page.waitForFunction(() => /WER \d/.test(document.getElementById("feedback-result")?.textContent ?? ""));
      const result = await page.getByTestId("feedback-result").textContent();
      expect(result).toMatch(/^Your review: bad\. WER \d+\.\d %, CER \d+\.\d %\.$/);
      expect(Number(await page.getByTestId("feedback-result").getAttribute("data-wer"))).toBeGreaterThan(0);

      await expect(page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).resolves.toBeUndefined();
      expect(dialogs).toEqual([]);
      if (SCREENSHOTS) {
        await page.locator('li[data-segment="1"] button.seek').click();
        await page.evaluate(() => (document.getElementById("player") as HTMLAudioElement).pause());
        await page.screenshot({ path: path.join(SHOTS_DIR, "transcript.png"), fullPage: true });
      }

      // the quality page charts the review
      await page.goto(`${base}/console/transcripts/quality`);
      await page.waitForFunction(() => document.getElementById("quality-chart")?.dataset.ready === "true");
      await expect(page.locator("#quality-chart canvas").count()).resolves.toBe(1);
      if (SCREENSHOTS) await page.screenshot({ path: path.join(SHOTS_DIR, "quality.png"), fullPage: true });

      // accessibility of both pages at both widths, and no sideways scrolling at 375 px
      const cookies = await context.cookies();
      const pages = [
        `${base}/console/sign-in`,
        `${base}/console/transcripts`,
        `${base}/console/transcripts/${crafted}`,
        `${base}/console/transcripts/quality`,
      ];
      for (const url of pages) {
        for (const width of [1024, 375]) {
          expect(await axeViolations(url, cookies, width), `${url} at ${width}`).toEqual([]);
        }
      }
      const narrow = await openPage(375);
      await narrow.context.addCookies(cookies);
      for (const url of pages) {
        await narrow.page.goto(url);
        expect(await narrow.page.evaluate(() => document.documentElement.scrollWidth), url).toBeLessThanOrEqual(375);
      }
      await narrow.context.close();

      // delete with the two-step form, by keyboard: open the details, then press "Delete permanently"
      await page.goto(`${base}/console/transcripts/${pooled}`);
      await page.locator("details.danger summary").focus();
      await page.keyboard.press("Enter");
      await page.getByTestId("delete-confirm").focus();
      await Promise.all([page.waitForURL(`${base}/console`), page.keyboard.press("Enter")]);
      await expect(
        page.getByTestId("transcripts").locator(`a[href="/console/transcripts/${pooled}"]`).count(),
      ).resolves.toBe(0);
      expect((await api(`/v1/transcriptions/${pooled}`, { key })).status).toBe(404);
      expect(dialogs).toEqual([]);
      await context.close();
    });
  },
);
