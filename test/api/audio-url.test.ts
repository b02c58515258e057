/** Submitting audio by URL: the JSON body and the multipart `audio_url` field, and the refusals made up front. */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";

import { call, callWith, createTenant, storageCounts } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";
import { jobRow } from "../helpers/jobs.ts";

let key: string;

beforeAll(async () => {
  ({ key } = await createTenant("by-url"));
});

const AUDIO_URL = "https://media.example.com/calls/42.wav?X-Amz-Signature=secret-token";

function submitJson(body: unknown, init: { key?: string; headers?: Record<string, string> } = {}) {
  return call("/v1/transcriptions", {
    method: "POST",
    key: init.key ?? key,
    headers: { "content-type": "application/json", ...init.headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function expectProblem(res: Response, status: number, code: string) {
  const text = await res.clone().text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get("content-type")).toContain("application/problem+json");
  expect(((await res.json()) as { code: string }).code, text).toBe(code);
  return text;
}

describe("POST /v1/transcriptions with audio_url", () => {
  it("accepts a JSON body: 202, a queued job showing only the URL's host, URL and headers sealed in D1", async () => {
    const res = await submitJson({
      audio_url: AUDIO_URL,
      audio_url_headers: { authorization: "Bearer bucket-token-123" },
      language: "en",
      metadata: { call: "42" },
      delete_after_seconds: 3600,
    });
    const text = await res.clone().text();
    expect(res.status, text).toBe(202);
    const job = (await res.json()) as Record<string, unknown>;
    expect(job).toMatchObject({
      status: "queued",
      audio_bytes: 0,
      audio_format: "pending",
      language: "en",
      metadata: { call: "42" },
      delete_after_seconds: 3600,
      source: { type: "url", host: "media.example.com", fetched_at: null },
    });
    expect(text).not.toContain("secret-token");
    expect(text).not.toContain("bucket-token-123");
    expect(res.headers.get("location")).toBe(`/v1/transcriptions/${job.id as string}`);

    const row = (await jobRow(job.id as string))!;
    expect(row).toMatchObject({ audio_key: null, audio_bytes: 0, audio_format: "pending", audio_fetched_at: null });
    expect(String(row.audio_url_sealed)).toMatch(/^enc1\./);
    expect(String(row.audio_url_headers_sealed)).toMatch(/^enc1\./);
    expect(JSON.stringify(row)).not.toContain("secret-token");
    expect(JSON.stringify(row)).not.toContain("bucket-token-123");
    expect(JSON.stringify(row)).not.toContain("media.example.com");
    // nothing is stored in R2 until the consumer fetches
    expect((await env.BUCKET.list({ prefix: `audio/` })).objects.map((o) => o.key)).not.toContain(
      `audio/${row.tenant_id as string}/${job.id as string}`,
    );

    const read = (await (await call(`/v1/transcriptions/${job.id as string}`, { key })).json()) as Record<
      string,
      unknown
    >;
    expect(read.source).toEqual({ type: "url", host: "media.example.com", fetched_at: null });
    const list = (await (await call(`/v1/transcriptions?limit=5`, { key })).json()) as { data: { id: string }[] };
    expect(list.data.find((j) => j.id === job.id)).toMatchObject({ source: { type: "url" } });
  });

  it("accepts a multipart audio_url field without a file part; uploads show source upload", async () => {
    const form = new FormData();
    form.append("audio_url", "https://media.example.com/a.mp3");
    form.append("audio_url_headers", JSON.stringify({ "x-api-key": "k" }));
    form.append("language", "de");
    const res = await call("/v1/transcriptions", { method: "POST", key, body: form });
    expect(res.status, await res.clone().text()).toBe(202);
    expect(await res.json()).toMatchObject({ source: { type: "url", host: "media.example.com" }, language: "de" });

    const upload = new FormData();
    upload.append("file", new Blob([makeWav()], { type: "audio/wav" }), "a.wav");
    const uploaded = await call("/v1/transcriptions", { method: "POST", key, body: upload });
    expect(await uploaded.json()).toMatchObject({ source: { type: "upload" }, audio_format: "wav" });
  });

  it("an Idempotency-Key replays the same URL and refuses another URL or other headers", async () => {
    const send = (body: unknown) => submitJson(body, { headers: { "idempotency-key": "url-once" } });
    const first = await send({ audio_url: "https://media.example.com/x.wav", audio_url_headers: { "x-token": "a" } });
    expect(first.status).toBe(202);
    const id = ((await first.json()) as { id: string }).id;
    const again = await send({ audio_url: "https://media.example.com/x.wav", audio_url_headers: { "X-Token": "a" } });
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(((await again.json()) as { id: string; source: unknown }).id).toBe(id);
    await expectProblem(await send({ audio_url: "https://media.example.com/y.wav" }), 409, "idempotency_key_reused");
    await expectProblem(
      await send({ audio_url: "https://media.example.com/x.wav", audio_url_headers: { "x-token": "b" } }),
      409,
      "idempotency_key_reused",
    );
  });

  describe("refused up front, leaving no row and no object", () => {
    const refusals: [string, unknown, number, string][] = [
      ["private IPv4", { audio_url: "http://10.0.0.7/a.wav" }, 422, "audio_url_forbidden"],
      ["cloud metadata", { audio_url: "http://169.254.169.254/latest/meta-data" }, 422, "audio_url_forbidden"],
      ["IPv4-mapped IPv6 loopback", { audio_url: "http://[::ffff:127.0.0.1]/a.wav" }, 422, "audio_url_forbidden"],
      ["wildcard DNS", { audio_url: "https://127.0.0.1.nip.io/a.wav" }, 422, "audio_url_forbidden"],
      ["a local name", { audio_url: "https://printer.local/a.wav" }, 422, "audio_url_forbidden"],
      ["credentials in the URL", { audio_url: "https://u:p@media.example.com/a.wav" }, 422, "audio_url_forbidden"],
      ["a non-default port", { audio_url: "https://media.example.com:8443/a.wav" }, 422, "audio_url_forbidden"],
      ["ftp", { audio_url: "ftp://media.example.com/a.wav" }, 422, "audio_url_forbidden"],
      ["file", { audio_url: "file:///etc/passwd" }, 422, "audio_url_forbidden"],
      ["not a URL", { audio_url: "media.example.com/a.wav" }, 422, "invalid_audio_url"],
      ["a URL with a newline", { audio_url: "https://media.example.com/a\n.wav" }, 422, "invalid_audio_url"],
      ["a URL too long", { audio_url: `https://media.example.com/${"a".repeat(2100)}` }, 422, "invalid_audio_url"],
      ["a number as URL", { audio_url: 42 }, 422, "invalid_audio_url"],
      ["headers not an object", { audio_url: AUDIO_URL, audio_url_headers: ["a"] }, 422, "invalid_audio_url_headers"],
      [
        "a header with CR/LF",
        { audio_url: AUDIO_URL, audio_url_headers: { "x-a": "v\r\nx-injected: 1" } },
        422,
        "invalid_audio_url_headers",
      ],
      [
        "a Host header",
        { audio_url: AUDIO_URL, audio_url_headers: { Host: "internal" } },
        422,
        "invalid_audio_url_headers",
      ],
      [
        "a hop-by-hop header",
        { audio_url: AUDIO_URL, audio_url_headers: { connection: "close" } },
        422,
        "invalid_audio_url_headers",
      ],
      [
        "a Content-Length header",
        { audio_url: AUDIO_URL, audio_url_headers: { "Content-Length": "1" } },
        422,
        "invalid_audio_url_headers",
      ],
      [
        "a non-string header value",
        { audio_url: AUDIO_URL, audio_url_headers: { "x-a": 1 } },
        422,
        "invalid_audio_url_headers",
      ],
      [
        "too many headers",
        { audio_url: AUDIO_URL, audio_url_headers: Object.fromEntries([...Array(17)].map((_, i) => [`x-h${i}`, "v"])) },
        422,
        "invalid_audio_url_headers",
      ],
      ["a bad option beside the URL", { audio_url: AUDIO_URL, language: "klingon" }, 422, "invalid_language"],
      ["an unknown field", { audio_url: AUDIO_URL, colour: "red" }, 422, "unknown_field"],
      ["no audio_url at all", { language: "en" }, 422, "invalid_audio_url"],
      ["a JSON array", [AUDIO_URL], 400, "malformed_json"],
      ["not JSON", "{audio_url:", 400, "malformed_json"],
      ["an empty body", "", 400, "malformed_json"],
    ];
    for (const [name, body, status, code] of refusals) {
      it(name, async () => {
        const before = await storageCounts();
        const text = await expectProblem(await submitJson(body), status, code);
        expect(text).not.toContain("v\r\nx-injected");
        expect(await storageCounts()).toEqual(before);
      });
    }

    it("a JSON body over the limit is a 413", async () => {
      const before = await storageCounts();
      await expectProblem(
        await submitJson({ audio_url: AUDIO_URL, prompt: "a".repeat(70_000) }),
        413,
        "payload_too_large",
      );
      expect(await storageCounts()).toEqual(before);
    });

    it("a header value is never echoed in the refusal", async () => {
      const text = await expectProblem(
        await submitJson({ audio_url: AUDIO_URL, audio_url_headers: { "x-a": `secret-value${"\u0001"}` } }),
        422,
        "invalid_audio_url_headers",
      );
      expect(text).not.toContain("secret-value");
    });

    it("both a file and an audio_url, in either order, and audio_url in a raw upload's query", async () => {
      const before = await storageCounts();
      const urlFirst = new FormData();
      urlFirst.append("audio_url", AUDIO_URL);
      urlFirst.append("file", new Blob([makeWav()], { type: "audio/wav" }), "a.wav");
      await expectProblem(
        await call("/v1/transcriptions", { method: "POST", key, body: urlFirst }),
        422,
        "conflicting_audio_source",
      );
      const fileFirst = new FormData();
      fileFirst.append("file", new Blob([makeWav()], { type: "audio/wav" }), "a.wav");
      fileFirst.append("audio_url", AUDIO_URL);
      await expectProblem(
        await call("/v1/transcriptions", { method: "POST", key, body: fileFirst }),
        422,
        "conflicting_audio_source",
      );
      const raw = await call(`/v1/transcriptions?audio_url=${encodeURIComponent(AUDIO_URL)}`, {
        method: "POST",
        key,
        body: makeWav(),
        headers: { "content-type": "audio/wav" },
      });
      await expectProblem(raw, 422, "conflicting_audio_source");
      expect(await storageCounts()).toEqual(before);
    });

    it("loopback is allowed in development only", async () => {
      const before = await storageCounts();
      const production = await callWith({ ENVIRONMENT: "production" }, "/v1/transcriptions", {
        method: "POST",
        key,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ audio_url: "http://127.0.0.1:8080/a.wav" }),
      });
      await expectProblem(production, 422, "audio_url_forbidden");
      expect(await storageCounts()).toEqual(before);
      const development = await submitJson({ audio_url: "http://127.0.0.1:8080/a.wav" });
      expect(development.status).toBe(202);
    });

    it("AUDIO_FETCH_ALLOWED_HOSTS lets an operator-trusted host through", async () => {
      const res = await callWith(
        { ENVIRONMENT: "production", AUDIO_FETCH_ALLOWED_HOSTS: "media.internal:8443" },
        "/v1/transcriptions",
        {
          method: "POST",
          key,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ audio_url: "https://media.internal:8443/a.wav" }),
        },
      );
      expect(res.status, await res.clone().text()).toBe(202);
    });
  });
});
