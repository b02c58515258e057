/** The console's transcripts list: filters, search, paging and the zip export, through the Worker on Miniflare. */
import { unzipSync } from "fflate";
import { describe, expect, it } from "vitest";

import { BASE, call, createTenant, multipartUpload } from "../helpers/api.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";

const ORIGIN = { origin: BASE, "sec-fetch-site": "same-origin" };

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

const page = (cookie: string, path: string) => call(path, { headers: { cookie }, redirect: "manual" });
const csrfOf = (html: string) => /name="csrf_token" value="([^"]+)"/.exec(html)![1]!;
const rowIds = (html: string) => [...html.matchAll(/data-job-id="(tr_[0-9A-Z]+)"/g)].map((m) => m[1]);

async function completedJob(key: string, text: string, fields: Record<string, string> = {}): Promise<string> {
  const res = await multipartUpload(key, { provider: "whisper-pool", ...fields });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  const done = await poolCallback(completedCallback(id, { text, segments: [{ start: 0, end: 1.5, text }] }));
  expect(done.status).toBe(200);
  return id;
}

describe("console transcripts list", () => {
  it("filters by search, metadata and subject with the API's rules, and refuses a bad filter with a message", async () => {
    const { key } = await createTenant("list-filters");
    const invoice = await completedJob(key, "the invoice is overdue", { metadata: JSON.stringify({ desk: "north" }) });
    const refund = await completedJob(key, "a refund was issued", { subject_id: "cust-7" });
    const cookie = await signIn(key);

    expect(rowIds(await (await page(cookie, "/console/transcripts")).text())).toEqual([refund, invoice]);
    expect(rowIds(await (await page(cookie, "/console/transcripts?q=invoice")).text())).toEqual([invoice]);
    expect(
      rowIds(await (await page(cookie, "/console/transcripts?metadata_key=desk&metadata_value=north")).text()),
    ).toEqual([invoice]);
    expect(rowIds(await (await page(cookie, "/console/transcripts?subject_id=cust-7&q=")).text())).toEqual([refund]);
    const none = await (await page(cookie, "/console/transcripts?q=nothing-like-this")).text();
    expect(none).toContain("No transcripts match.");
    // the form keeps what was asked
    expect(await (await page(cookie, "/console/transcripts?q=invoice")).text()).toContain('value="invoice"');

    const bad = await page(cookie, "/console/transcripts?created_after=yesterday");
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("created_after: must be an RFC 3339 date-time or a YYYY-MM-DD date");
  });

  it("pages newest first with an 'older' link that keeps the filters", async () => {
    const { key } = await createTenant("list-paging");
    const ids: string[] = [];
    for (let i = 0; i < 52; i++) {
      const res = await multipartUpload(key, { provider: "whisper-pool", metadata: JSON.stringify({ batch: "p" }) });
      ids.push(((await res.json()) as { id: string }).id);
    }
    const cookie = await signIn(key);
    const first = await (await page(cookie, "/console/transcripts?metadata_key=batch")).text();
    expect(rowIds(first)).toEqual(ids.slice(-50).reverse());
    const next = /href="\/console\/transcripts\?([^"]+)" rel="next"/.exec(first)![1]!.replaceAll("&amp;", "&");
    expect(new URLSearchParams(next).get("metadata_key")).toBe("batch");
    const second = await (await page(cookie, `/console/transcripts?${next}`)).text();
    expect(rowIds(second)).toEqual(ids.slice(0, 2).reverse());
    expect(second).not.toContain('rel="next"');
  }, 120_000);

  it("exports the selected transcripts as a zip in each format, skipping what it may not or cannot export", async () => {
    const { key } = await createTenant("list-export");
    const other = await createTenant("list-export-other");
    const mine = await completedJob(key, "exported words here");
    const pending = ((await (await multipartUpload(key, { provider: "whisper-pool" })).json()) as { id: string }).id;
    const theirs = await completedJob(other.key, "their secret words");
    const cookie = await signIn(key);
    const csrf = csrfOf(await (await page(cookie, "/console/transcripts")).text());

    const body = new URLSearchParams({ csrf_token: csrf });
    for (const id of [mine, pending, theirs]) body.append("id", id);
    for (const format of ["txt", "srt", "json"]) body.append("format", format);
    const res = await call("/console/transcripts/export", { method: "POST", headers: { cookie, ...ORIGIN }, body });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/zip");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="transcripts-.*\.zip"$/);
    const files = unzipSync(new Uint8Array(await res.arrayBuffer()));
    expect(Object.keys(files).sort()).toEqual([`${mine}.json`, `${mine}.srt`, `${mine}.txt`, "manifest.json"].sort());
    const text = (name: string) => new TextDecoder().decode(files[name]);
    expect(text(`${mine}.txt`)).toContain("exported words here");
    expect(text(`${mine}.srt`)).toMatch(/^1\n00:00:00,000 --> 00:00:01,500\nexported words here/);
    expect(JSON.parse(text(`${mine}.json`)).id).toBe(mine);
    const manifest = JSON.parse(text("manifest.json"));
    expect(manifest.exported).toEqual([mine]);
    expect(manifest.skipped).toEqual([
      { id: pending, reason: "status_queued" },
      { id: theirs, reason: "not_found" },
    ]);
    expect(JSON.stringify(files)).not.toContain("their secret words");
  });

  it("exports every completed match of the filters when no row is selected", async () => {
    const { key } = await createTenant("list-export-filter");
    const a = await completedJob(key, "alpha one", { metadata: JSON.stringify({ set: "x" }) });
    await completedJob(key, "beta two");
    const b = await completedJob(key, "gamma three", { metadata: JSON.stringify({ set: "x" }) });
    const cookie = await signIn(key);
    const csrf = csrfOf(await (await page(cookie, "/console/transcripts")).text());
    const body = new URLSearchParams({ csrf_token: csrf, format: "txt", filter_metadata_key: "set" });
    const res = await call("/console/transcripts/export", { method: "POST", headers: { cookie, ...ORIGIN }, body });
    expect(res.status).toBe(200);
    const files = unzipSync(new Uint8Array(await res.arrayBuffer()));
    expect(Object.keys(files).sort()).toEqual([`${a}.txt`, `${b}.txt`, "manifest.json"].sort());

    const empty = new URLSearchParams({ csrf_token: csrf, format: "txt", filter_q: "nowhere-found" });
    const none = await call("/console/transcripts/export", {
      method: "POST",
      headers: { cookie, ...ORIGIN },
      body: empty,
      redirect: "manual",
    });
    expect(none.status).toBe(303);
    expect(none.headers.get("location")).toContain("exported_none=1");
  });

  it("refuses an export without the CSRF token, or with no format", async () => {
    const { key } = await createTenant("list-export-csrf");
    const cookie = await signIn(key);
    const csrf = csrfOf(await (await page(cookie, "/console/transcripts")).text());
    const without = await call("/console/transcripts/export", {
      method: "POST",
      headers: { cookie, ...ORIGIN },
      body: new URLSearchParams({ format: "txt" }),
    });
    expect(without.status).toBe(403);
    const noFormat = await call("/console/transcripts/export", {
      method: "POST",
      headers: { cookie, ...ORIGIN },
      body: new URLSearchParams({ csrf_token: csrf }),
    });
    expect(noFormat.status).toBe(400);
  });
});
