/**
 * The tenant's transcript page and its routes, through the Worker's real fetch handler on Miniflare D1 and R2: the
 * audio with byte ranges (decrypted per segment), downloads, delete, feedback behind CSRF, the quality page, and
 * hostile text rendered inert (data island included).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { SEGMENT_BYTES } from "../../src/domain/envelope.ts";
import { audioKey } from "../../src/storage/audio-store.ts";
import { adminKey, call, createTenant, multipartUpload } from "../helpers/api.ts";
import { noiseWav } from "../helpers/audio.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";

const ORIGIN = { origin: "https://edge.test", "sec-fetch-site": "same-origin" };
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

const get = (cookie: string, path: string, headers: Record<string, string> = {}) =>
  call(path, { headers: { cookie, ...headers }, redirect: "manual" });

const post = (cookie: string, path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  call(path, {
    method: "POST",
    redirect: "manual",
    headers: { cookie, ...ORIGIN, ...headers },
    body: new URLSearchParams(fields),
  });

const csrfOf = (html: string) => /name="csrf-token" content="([^"]+)"/.exec(html)![1]!;

/** A completed job whose audio is `audio` (several sealed segments by default) and whose result is the pool's. */
async function completedJob(
  key: string,
  audio = noiseWav({ seconds: 6 }),
  result: Record<string, unknown> = {},
  fields: Record<string, string> = {},
): Promise<string> {
  const res = await multipartUpload(key, { provider: "whisper-pool", ...fields }, audio);
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  expect((await poolCallback(completedCallback(id, result))).status).toBe(200);
  return id;
}

describe("console transcript page", { timeout: 30_000 }, () => {
  it("shows the tenant's own transcript by segment with its player, and 404s another tenant's", async () => {
    const { key } = await createTenant("page-a", ["admin"]);
    const { key: otherKey } = await createTenant("page-b");
    const id = await completedJob(key, undefined, {
      segments: [
        { start: 0, end: 3.5, text: "And so my fellow Americans,", speaker: "A" },
        { start: 3.5, end: 11, text: "call [PHONE_NUMBER] now.", speaker: "B" },
      ],
      words: [
        { start: 0, end: 0.4, word: "And", confidence: 0.95 },
        { start: 0.5, end: 0.8, word: "so", confidence: 0.3 },
      ],
    });
    const cookie = await signIn(key);
    const res = await get(cookie, `/console/transcripts/${id}`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain(`<audio id="player" controls="" preload="metadata" src="/console/transcripts/${id}/audio"`);
    expect(html).toContain('data-segment="1"');
    expect(html).toContain('<span class="speaker">A</span>');
    expect(html).toContain('<mark class="redaction" title="Redacted">[PHONE_NUMBER]</mark>');
    // "so" is below the documented threshold, "And" is not
    expect(html).toMatch(/class="word low-confidence" data-word="1" data-seek="0.5"/);
    expect(html).toMatch(/class="word" data-word="0" data-seek="0"/);
    expect(html).toContain('<script type="module" src="/console/assets/player.js">');
    for (const format of ["txt", "srt", "vtt", "json"]) {
      expect(html).toContain(`/console/transcripts/${id}/transcript?format=${format}`);
    }
    const island = /<script type="application\/json" id="transcript-data">([^<]*)<\/script>/.exec(html)![1]!;
    expect(JSON.parse(island)).toMatchObject({
      jobId: id,
      segments: [
        { start: 0, end: 3.5 },
        { start: 3.5, end: 11 },
      ],
    });

    const otherCookie = await signIn(otherKey);
    const foreign = await get(otherCookie, `/console/transcripts/${id}`);
    expect(foreign.status).toBe(404);
    expect(await foreign.text()).not.toContain("fellow Americans");
    for (const path of ["audio", "transcript?format=json"]) {
      expect((await get(otherCookie, `/console/transcripts/${id}/${path}`)).status).toBe(404);
    }
    expect((await get(otherCookie, "/console/transcripts/not-an-id")).status).toBe(404);
  });

  it("renders hostile transcript text and metadata as text, also inside the JSON data island", async () => {
    const { key } = await createTenant("page-hostile", ["admin"]);
    const id = await completedJob(
      key,
      undefined,
      { text: HOSTILE, segments: [{ start: 0, end: 2, text: HOSTILE }], words: [] },
      { metadata: JSON.stringify({ note: HOSTILE }) },
    );
    const html = await (await get(await signIn(key), `/console/transcripts/${id}`)).text();
    expect(html).not.toContain("<img src=x");
    expect(html).not.toContain("<script>alert(2)");
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;&lt;/script&gt;");
    const island = /<script type="application\/json" id="transcript-data">([^<]*)<\/script>/.exec(html)![1]!;
    expect(island).not.toMatch(/[<>&]/);
    expect((JSON.parse(island) as { text: string }).text).toBe(HOSTILE);
  });
});

describe("console audio with byte ranges", { timeout: 60_000 }, () => {
  it("serves every Range form from the sealed audio, decrypted per segment, and 416 for bad ones", async () => {
    const { key, tenantId } = await createTenant("audio-a");
    const audio = noiseWav({ seconds: 6, seed: 7 });
    expect(audio.byteLength).toBeGreaterThan(2 * SEGMENT_BYTES);
    const id = await completedJob(key, audio);
    // stored sealed: the object in R2 is not the plaintext
    const stored = new Uint8Array(await (await env.BUCKET.get(audioKey(tenantId, id)))!.arrayBuffer());
    expect(stored.byteLength).toBeGreaterThan(audio.byteLength);
    const cookie = await signIn(key);
    const path = `/console/transcripts/${id}/audio`;
    const size = audio.byteLength;

    const whole = await get(cookie, path);
    expect(whole.status).toBe(200);
    expect(whole.headers.get("accept-ranges")).toBe("bytes");
    expect(whole.headers.get("content-type")).toBe("audio/wav");
    expect(whole.headers.get("content-length")).toBe(String(size));
    expect(new Uint8Array(await whole.arrayBuffer())).toEqual(audio);

    const cases: [string, number, number][] = [
      ["bytes=0-99", 0, 99],
      // inside one segment, across a segment boundary, spanning a whole segment
      [`bytes=${SEGMENT_BYTES - 10}-${SEGMENT_BYTES + 9}`, SEGMENT_BYTES - 10, SEGMENT_BYTES + 9],
      [`bytes=100-${2 * SEGMENT_BYTES + 100}`, 100, 2 * SEGMENT_BYTES + 100],
      // open-ended, suffix, an end past the size (clamped)
      [`bytes=${SEGMENT_BYTES + 5}-`, SEGMENT_BYTES + 5, size - 1],
      ["bytes=-500", size - 500, size - 1],
      [`bytes=${size - 3}-${size + 1000}`, size - 3, size - 1],
      [`bytes=-${size + 10}`, 0, size - 1],
      ["bytes=0-0", 0, 0],
    ];
    for (const [range, start, end] of cases) {
      const res = await get(cookie, path, { range });
      expect(res.status, range).toBe(206);
      expect(res.headers.get("content-range"), range).toBe(`bytes ${start}-${end}/${size}`);
      expect(res.headers.get("content-length"), range).toBe(String(end - start + 1));
      expect(res.headers.get("accept-ranges")).toBe("bytes");
      expect(new Uint8Array(await res.arrayBuffer()), range).toEqual(audio.subarray(start, end + 1));
    }

    for (const range of [
      `bytes=${size}-`,
      `bytes=${size + 5}-${size + 9}`,
      "bytes=9-3",
      "bytes=-0",
      "bytes=x-y",
      "bytes=-",
    ]) {
      const res = await get(cookie, path, { range });
      expect(res.status, range).toBe(416);
      expect(res.headers.get("content-range"), range).toBe(`bytes */${size}`);
      await res.arrayBuffer();
    }
    // another unit, or several ranges: the whole audio (RFC 9110 lets a server ignore them)
    for (const range of ["items=0-5", "bytes=0-1,5-6"]) {
      const res = await get(cookie, path, { range });
      expect(res.status, range).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBe(size);
    }
  });

  it("says the audio is gone once purged: 410 on the route, a note on the page", async () => {
    const { key, tenantId } = await createTenant("audio-purged");
    const id = await completedJob(key, noiseWav({ seconds: 1 }));
    await env.BUCKET.delete(audioKey(tenantId, id));
    await env.DB.prepare("update transcriptions set audio_key = null, audio_purged_at = ? where id = ?")
      .bind(Date.now(), id)
      .run();
    const cookie = await signIn(key);
    const res = await get(cookie, `/console/transcripts/${id}/audio`, { range: "bytes=0-10" });
    expect(res.status).toBe(410);
    expect(((await res.json()) as { code: string }).code).toBe("audio_purged");
    const html = await (await get(cookie, `/console/transcripts/${id}`)).text();
    expect(html).toContain('data-testid="audio-purged"');
    expect(html).toContain("when its retention window ended");
    expect(html).not.toContain("<audio");
  });

  it("needs a session", async () => {
    const { key } = await createTenant("audio-anon");
    const id = await completedJob(key, noiseWav({ seconds: 1 }));
    const res = await call(`/console/transcripts/${id}/audio`, { redirect: "manual" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/console/sign-in");
  });
});

describe("console downloads", { timeout: 30_000 }, () => {
  it("streams txt, srt, vtt and json through the API's renderers, the same bytes as the API", async () => {
    const { key } = await createTenant("downloads");
    const id = await completedJob(key, noiseWav({ seconds: 1 }));
    const cookie = await signIn(key);
    const types = { txt: "text/plain", srt: "application/x-subrip", vtt: "text/vtt", json: "application/json" };
    for (const [format, type] of Object.entries(types)) {
      const res = await get(cookie, `/console/transcripts/${id}/transcript?format=${format}`);
      expect(res.status, format).toBe(200);
      expect(res.headers.get("content-type")).toContain(type);
      expect(res.headers.get("content-disposition")).toBe(`attachment; filename="${id}.${format}"`);
      const api = await call(`/v1/transcriptions/${id}/transcript?format=${format}`, { key });
      const body = await res.text();
      if (format === "json") expect(JSON.parse(body)).toEqual(await api.json());
      else expect(body).toBe(await api.text());
    }
    const bad = await get(cookie, `/console/transcripts/${id}/transcript?format=docx`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string }).code).toBe("invalid_format");
  });

  it("answers 409 before the job completes", async () => {
    const { key } = await createTenant("downloads-queued");
    const res = await multipartUpload(key, { provider: "whisper-pool" });
    const { id } = (await res.json()) as { id: string };
    const cookie = await signIn(key);
    const download = await get(cookie, `/console/transcripts/${id}/transcript?format=txt`);
    expect(download.status).toBe(409);
    const page = await (await get(cookie, `/console/transcripts/${id}`)).text();
    expect(page).toContain("its transcript appears here once it completes");
  });
});

describe("console feedback", { timeout: 30_000 }, () => {
  it("scores a correction through the feedback code, only with the CSRF token and from this origin", async () => {
    const { key } = await createTenant("feedback-a", ["admin"]);
    const id = await completedJob(key, noiseWav({ seconds: 1 }));
    const cookie = await signIn(key);
    const html = await (await get(cookie, `/console/transcripts/${id}`)).text();
    expect(html).toContain('id="feedback-form"');
    expect(html).toContain("And so my fellow Americans, ask not what your country can do for you.</textarea>");
    const csrf = csrfOf(html);
    const fields = {
      rating: "bad",
      corrected_text: "And so my fellow Americans, ask not what your country can do for yours.",
    };
    const path = `/console/transcripts/${id}/feedback`;
    expect((await post(cookie, path, fields)).status).toBe(403);
    expect((await post(cookie, path, { ...fields, csrf_token: "wrong" })).status).toBe(403);
    expect((await post(cookie, path, { ...fields, csrf_token: csrf }, { "sec-fetch-site": "cross-site" })).status).toBe(
      403,
    );

    const res = await post(cookie, path, { ...fields, csrf_token: csrf }, { accept: "application/json" });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { wer: number; cer: number; rating: string; replaced: boolean };
    expect(body.wer).toBeCloseTo(1 / 14, 12);
    expect(body.cer).toBeCloseTo(2 / 56, 12);
    expect(body).toMatchObject({ rating: "bad", replaced: false, reference_words: 14 });

    // a plain form post (no script) is sent back to the page, which shows the stored figures
    const again = await post(cookie, path, { rating: "good", corrected_text: fields.corrected_text, csrf_token: csrf });
    expect(again.status).toBe(303);
    expect(again.headers.get("location")).toBe(`/console/transcripts/${id}`);
    const after = await (await get(cookie, `/console/transcripts/${id}`)).text();
    expect(after).toContain("Your review: good. WER 7.1 %, CER 3.6 %.");
  });

  it("refuses a bad body with a problem, and a key without the admin scope", async () => {
    const { key } = await createTenant("feedback-bad", ["admin"]);
    const id = await completedJob(key, noiseWav({ seconds: 1 }));
    const cookie = await signIn(key);
    const csrf = csrfOf(await (await get(cookie, `/console/transcripts/${id}`)).text());
    const path = `/console/transcripts/${id}/feedback`;
    const bodies: Record<string, string>[] = [
      { rating: "meh" },
      { rating: "bad" },
      { rating: "good", corrected_text: "x".repeat(100_001) },
    ];
    for (const fields of bodies) {
      const res = await post(cookie, path, { ...fields, csrf_token: csrf }, { accept: "application/json" });
      expect(res.status, JSON.stringify(fields).slice(0, 40)).toBe(422);
      expect(((await res.json()) as { code: string }).code).toBe("validation_failed");
    }

    const { key: reader } = await createTenant("feedback-reader");
    const readerJob = await completedJob(reader, noiseWav({ seconds: 1 }));
    const readerCookie = await signIn(reader);
    const page = await (await get(readerCookie, `/console/transcripts/${readerJob}`)).text();
    expect(page).not.toContain('id="feedback-form"');
    expect(page).toContain("needs a key with the admin scope");
    const res = await post(readerCookie, `/console/transcripts/${readerJob}/feedback`, {
      rating: "good",
      csrf_token: csrfOf(page),
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { code: string }).code).toBe("insufficient_scope");
  });

  it("charts the tenant's own reviews per week on the quality page", async () => {
    const { key } = await createTenant("quality-a", ["admin"]);
    const { key: otherKey } = await createTenant("quality-b", ["admin"]);
    const id = await completedJob(key, noiseWav({ seconds: 1 }));
    const other = await completedJob(otherKey, noiseWav({ seconds: 1 }));
    const review = async (k: string, job: string, text: string) => {
      const res = await call(`/v1/transcriptions/${job}/feedback`, {
        method: "POST",
        key: k,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ rating: "bad", corrected_text: text }),
      });
      expect(res.status).toBe(201);
    };
    await review(key, id, "And so my fellow Americans, ask not what your country can do for yours.");
    await review(otherKey, other, "something else entirely");
    const res = await get(await signIn(key), "/console/transcripts/quality");
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('id="quality-chart"');
    expect(html).toContain('<script type="module" src="/console/assets/quality.js">');
    const island = /<script type="application\/json" id="quality-data">([^<]*)<\/script>/.exec(html)![1]!;
    const { points } = JSON.parse(island) as { points: { reviews: number; meanWer: number | null }[] };
    expect(points).toHaveLength(12);
    // only this tenant's review: the other tenant's is not in its chart
    expect(points.at(-1)).toMatchObject({ reviews: 1 });
    expect(points.at(-1)!.meanWer).toBeCloseTo(1 / 14, 12);
    expect(points.slice(0, -1).every((p) => p.reviews === 0 && p.meanWer === null)).toBe(true);
  });
});

describe("console delete", { timeout: 30_000 }, () => {
  it("deletes through the API's deletion code after the two-step form, and returns to the list", async () => {
    const { key, tenantId } = await createTenant("delete-a");
    const { key: otherKey } = await createTenant("delete-b");
    const id = await completedJob(key, noiseWav({ seconds: 1 }));
    const cookie = await signIn(key);
    const html = await (await get(cookie, `/console/transcripts/${id}`)).text();
    expect(html).toMatch(/<details class="danger"><summary>Delete this transcript…<\/summary>/);
    const csrf = csrfOf(html);
    const path = `/console/transcripts/${id}/delete`;
    expect((await post(cookie, path, {})).status).toBe(403);

    // another tenant's session cannot delete it
    const otherCookie = await signIn(otherKey);
    const otherCsrf = csrfOf(await (await get(otherCookie, "/console")).text());
    expect((await post(otherCookie, path, { csrf_token: otherCsrf })).status).toBe(404);

    const res = await post(cookie, path, { csrf_token: csrf });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/console");
    expect((await call(`/v1/transcriptions/${id}`, { key })).status).toBe(404);
    expect(await env.BUCKET.head(audioKey(tenantId, id))).toBeNull();
    expect((await env.BUCKET.list({ prefix: `transcripts/${tenantId}/${id}/` })).objects).toHaveLength(0);
    expect((await get(cookie, `/console/transcripts/${id}`)).status).toBe(404);
  });

  it("is not offered to, and refused for, a key without transcriptions:write", async () => {
    const { key, tenantId } = await createTenant("delete-reader");
    const id = await completedJob(key, noiseWav({ seconds: 1 }));
    const minted = await call(`/v1/admin/tenants/${tenantId}/keys`, {
      method: "POST",
      key: adminKey(),
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ scopes: ["transcriptions:read"] }),
    });
    expect(minted.status).toBe(201);
    const cookie = await signIn(((await minted.json()) as { key: string }).key);
    const html = await (await get(cookie, `/console/transcripts/${id}`)).text();
    expect(html).not.toContain("Delete permanently");
    const res = await post(cookie, `/console/transcripts/${id}/delete`, { csrf_token: csrfOf(html) });
    expect(res.status).toBe(403);
    expect((await call(`/v1/transcriptions/${id}`, { key })).status).toBe(200);
  });
});
