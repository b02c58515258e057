/**
 * The fetch stage of `audio_url` jobs, driven through the real queue handler with the audio host answered by the
 * fetch interceptor: redirects re-checked by the SSRF guard, limits, timeouts, retries and sealing at rest.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";

import { purgeExpired } from "../../src/compliance/retention.ts";
import type { Env } from "../../src/env.ts";
import { createDb } from "../../src/storage/db.ts";
import { getSealedStream } from "../../src/storage/sealed-objects.ts";
import { call, createTenant } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import { jobRow } from "../helpers/jobs.ts";
import { deliverDeadLetters, deliverJobs } from "../helpers/queue.ts";
import { OPENAI_VERBOSE_JSON } from "../providers/fixtures.ts";

let key: string;
let tenantId: string;

beforeAll(async () => {
  ({ key, tenantId } = await createTenant("url-fetch"));
});

const HOST = "https://media.example.com";
const OPENAI = "https://api.openai.com/v1/audio/transcriptions";

/** Submits a job by URL through the API and returns its id (the message the route sent is not consumed). */
async function submit(audioUrl: string, headers?: Record<string, string>): Promise<string> {
  const res = await call("/v1/transcriptions", {
    method: "POST",
    key,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ audio_url: audioUrl, ...(headers ? { audio_url_headers: headers } : {}) }),
  });
  if (res.status !== 202) throw new Error(`submit: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

/** The Worker's JSON log lines, read from console.log (and not printed) */
let logs: Record<string, unknown>[] = [];
beforeEach(() => {
  vi.spyOn(console, "log").mockImplementation((line: unknown) => {
    try {
      logs.push(JSON.parse(String(line)) as Record<string, unknown>);
    } catch {
      // not one of ours
    }
  });
});
afterEach(() => {
  logs = [];
});
/** The last `event` logged for job `id`. */
const logged = (event: string, id: string) => logs.filter((l) => l.event === event && l.job_id === id).at(-1);

const audioObject = (id: string) => `audio/${tenantId}/${id}`;

async function openedAudio(id: string): Promise<Uint8Array> {
  const opened = await getSealedStream(env, tenantId, audioObject(id));
  return new Uint8Array(await new Response(opened!.body).arrayBuffer());
}

/** A body of `total` bytes (a WAV header, then zeros) in `chunkBytes` chunks, with no Content-Length. */
function wavStream(total: number, onPull?: () => void, chunkBytes = 64 * 1024): ReadableStream<Uint8Array> {
  const head = makeWav(0.1);
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      onPull?.();
      if (sent >= total) return controller.close();
      const size = Math.min(chunkBytes, total - sent);
      const chunk = new Uint8Array(size);
      if (sent === 0) chunk.set(head.subarray(0, Math.min(head.byteLength, size)));
      controller.enqueue(chunk);
      sent += size;
    },
  });
}

describe("audio_url fetch stage", () => {
  it("fetches through redirects into sealed R2, then transcribes; headers go to the origin only and are dropped", async () => {
    const wav = makeWav(1);
    const id = await submit(`${HOST}/start.wav?token=secret-query`, { authorization: "Bearer bucket-secret" });
    const before = (await jobRow(id))!;
    expect(String(before.audio_url_headers_sealed)).not.toContain("bucket-secret");
    expect(String(before.audio_url_sealed)).not.toContain("secret-query");

    const outbound = interceptFetch()
      .on("GET", `${HOST}/start.wav`, () => new Response(null, { status: 302, headers: { location: "/moved.wav" } }))
      .on(
        "GET",
        `${HOST}/moved.wav`,
        () => new Response(null, { status: 307, headers: { location: "https://cdn.example.net/final.wav" } }),
      )
      .on(
        "GET",
        "https://cdn.example.net/final.wav",
        () => new Response(wav, { headers: { "content-type": "audio/wav" } }),
      )
      .on("POST", OPENAI, () => json(OPENAI_VERBOSE_JSON));
    const delivery = await deliverJobs([id], tenantId);
    expect(delivery.explicitAcks).toEqual(delivery.ids);

    const gets = outbound.requests.filter((r) => r.method === "GET");
    expect(gets.map((r) => r.url.href)).toEqual([
      `${HOST}/start.wav?token=secret-query`,
      `${HOST}/moved.wav`,
      "https://cdn.example.net/final.wav",
    ]);
    expect(gets[0]!.headers.get("authorization")).toBe("Bearer bucket-secret");
    expect(gets[1]!.headers.get("authorization")).toBe("Bearer bucket-secret");
    expect(gets[2]!.headers.get("authorization")).toBeNull();
    // the provider got the fetched audio
    const upload = outbound.requests.find((r) => r.method === "POST")!;
    expect(upload.body.byteLength).toBeGreaterThan(wav.byteLength);

    const row = (await jobRow(id))!;
    expect(row).toMatchObject({
      status: "completed",
      audio_key: audioObject(id),
      audio_bytes: wav.byteLength,
      audio_format: "wav",
      audio_url_headers_sealed: null,
    });
    expect(row.audio_fetched_at).toEqual(expect.any(Number));
    expect(await openedAudio(id)).toEqual(wav);
    // at rest the object is sealed, not the WAV
    const stored = new Uint8Array(await (await env.BUCKET.get(audioObject(id)))!.arrayBuffer());
    expect(new TextDecoder().decode(stored.subarray(0, 4))).not.toBe("RIFF");

    const job = (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as Record<string, unknown>;
    expect(job).toMatchObject({
      status: "completed",
      audio_format: "wav",
      source: { type: "url", host: "media.example.com" },
    });
    expect((job.source as { fetched_at: string | null }).fetched_at).toEqual(expect.any(String));

    // a provider retry after the fetch does not fetch again
    const again = await deliverJobs([id], tenantId, { attempts: 2 });
    expect(again.explicitAcks).toEqual(again.ids);
    expect(outbound.requests.filter((r) => r.method === "GET")).toHaveLength(3);
  });

  it("refuses a redirect to a private address: terminal audio_url_forbidden, nothing fetched there", async () => {
    const id = await submit(`${HOST}/a.wav`);
    const outbound = interceptFetch().on(
      "GET",
      `${HOST}/a.wav`,
      () => new Response(null, { status: 301, headers: { location: "http://169.254.169.254/latest/meta-data/" } }),
    );
    const delivery = await deliverJobs([id], tenantId);
    expect(delivery.explicitAcks).toEqual(delivery.ids);
    expect(outbound.requests).toHaveLength(1);
    expect(outbound.unhandled).toEqual([]);
    const row = (await jobRow(id))!;
    expect(row).toMatchObject({ status: "failed", error_code: "audio_url_forbidden", audio_key: null });
    expect(String(row.error_message)).toContain("Redirect 1");
  });

  it("fails after more than 5 redirects", async () => {
    const id = await submit(`${HOST}/r0`);
    const outbound = interceptFetch().on("GET", `${HOST}/r`, (r) => {
      const n = Number(r.url.pathname.slice(2));
      return new Response(null, { status: 302, headers: { location: `/r${n + 1}` } });
    });
    await deliverJobs([id], tenantId);
    expect(outbound.requests).toHaveLength(6);
    expect(await jobRow(id)).toMatchObject({ status: "failed", error_code: "audio_url_unreachable" });
  });

  it("a 404 is a terminal audio_url_http_error naming the status", async () => {
    const id = await submit(`${HOST}/gone.wav`);
    interceptFetch().on("GET", `${HOST}/gone.wav`, () => new Response("not here", { status: 404 }));
    const delivery = await deliverJobs([id], tenantId);
    expect(delivery.explicitAcks).toEqual(delivery.ids);
    const row = (await jobRow(id))!;
    expect(row).toMatchObject({ status: "failed", error_code: "audio_url_http_error" });
    expect(String(row.error_message)).toContain("404");
    const job = (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as { error: { code: string } };
    expect(job.error.code).toBe("audio_url_http_error");
  });

  it("a 503 is retried with backoff (and Retry-After); the next delivery fetches and completes", async () => {
    const id = await submit(`${HOST}/busy.wav`);
    interceptFetch().on(
      "GET",
      `${HOST}/busy.wav`,
      () => new Response("busy", { status: 503, headers: { "retry-after": "30" } }),
    );
    const first = await deliverJobs([id], tenantId);
    expect(first.retried).toEqual(first.ids);
    expect(first.retryDelays.get(first.ids[0]!)).toBeGreaterThanOrEqual(30);
    expect(await jobRow(id)).toMatchObject({ status: "queued", audio_fetched_at: null, error_code: null });

    interceptFetch()
      .on("GET", `${HOST}/busy.wav`, () => new Response(makeWav()))
      .on("POST", OPENAI, () => json(OPENAI_VERBOSE_JSON));
    const second = await deliverJobs([id], tenantId, { attempts: 2 });
    expect(second.explicitAcks).toEqual(second.ids);
    expect(await jobRow(id)).toMatchObject({ status: "completed", audio_format: "wav" });
  });

  it("a network failure is retried as audio_url_unreachable", async () => {
    const id = await submit(`${HOST}/reset.wav`);
    interceptFetch().on("GET", `${HOST}/reset.wav`, () => {
      throw new TypeError("Network connection lost.");
    });
    const delivery = await deliverJobs([id], tenantId);
    expect(delivery.retried).toEqual(delivery.ids);
    expect(await jobRow(id)).toMatchObject({ status: "queued" });
  });

  it("a declared Content-Length over MAX_URL_AUDIO_BYTES fails before the body is read", async () => {
    const id = await submit(`${HOST}/huge.wav`);
    let pulls = 0;
    interceptFetch().on(
      "GET",
      `${HOST}/huge.wav`,
      () =>
        new Response(
          wavStream(10_000_000, () => pulls++),
          { headers: { "content-length": "10000000" } },
        ),
    );
    await deliverJobs([id], tenantId, { env: { MAX_URL_AUDIO_BYTES: "1000000" } as Partial<Env> });
    expect(await jobRow(id)).toMatchObject({ status: "failed", error_code: "audio_url_too_large", audio_key: null });
    // at most the stream's own read-ahead, never the body
    expect(pulls).toBeLessThanOrEqual(2);
    expect((await env.BUCKET.list({ prefix: audioObject(id) })).objects).toHaveLength(0);
  });

  it("a body without Content-Length is cut at the limit and leaves no object", async () => {
    const id = await submit(`${HOST}/endless.wav`);
    let pulls = 0;
    interceptFetch().on("GET", `${HOST}/endless.wav`, () => new Response(wavStream(50_000_000, () => pulls++)));
    await deliverJobs([id], tenantId, { env: { MAX_URL_AUDIO_BYTES: "1000000" } as Partial<Env> });
    expect(await jobRow(id)).toMatchObject({ status: "failed", error_code: "audio_url_too_large", audio_key: null });
    // 1 MB in 64 KiB chunks, give or take read-ahead: not the 50 MB on offer
    expect(pulls).toBeLessThan(40);
    expect((await env.BUCKET.list({ prefix: audioObject(id) })).objects).toHaveLength(0);
  });

  it("a body that is not audio fails as audio_url_not_audio", async () => {
    const id = await submit(`${HOST}/page.html`);
    interceptFetch().on("GET", `${HOST}/page.html`, () => new Response("<html><body>login</body></html>".repeat(300)));
    await deliverJobs([id], tenantId);
    expect(await jobRow(id)).toMatchObject({ status: "failed", error_code: "audio_url_not_audio" });
    expect((await env.BUCKET.list({ prefix: audioObject(id) })).objects).toHaveLength(0);
  });

  it("a host that never answers times out (connect timeout), retried", async () => {
    const id = await submit(`${HOST}/slow.wav`);
    interceptFetch().on("GET", `${HOST}/slow.wav`, () => new Promise<Response>(() => undefined));
    const delivery = await deliverJobs([id], tenantId, {
      env: { AUDIO_FETCH_CONNECT_TIMEOUT_MS: "50" } as Partial<Env>,
    });
    expect(delivery.retried).toEqual(delivery.ids);
    expect(await jobRow(id)).toMatchObject({ status: "queued", audio_fetched_at: null });
  });

  it("a body that stalls past the overall timeout is abandoned, retried, and leaves no object", async () => {
    const id = await submit(`${HOST}/stall.wav`);
    const head = makeWav(0.5);
    interceptFetch().on(
      "GET",
      `${HOST}/stall.wav`,
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(head);
            },
            // never closes
          }),
        ),
    );
    const delivery = await deliverJobs([id], tenantId, { env: { AUDIO_FETCH_TIMEOUT_MS: "200" } as Partial<Env> });
    expect(delivery.retried).toEqual(delivery.ids);
    expect((await env.BUCKET.list({ prefix: audioObject(id) })).objects).toHaveLength(0);
  });

  /** A WAV header, then `chunks` chunks of `chunkBytes` zeros, one every `everyMs` ms (a slow but steady origin). */
  function tricklingWav(chunks: number, everyMs: number, chunkBytes = 16 * 1024): ReadableStream<Uint8Array> {
    let sent = 0;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent === 0) {
          controller.enqueue(makeWav(0.1));
        } else if (sent > chunks) {
          return controller.close();
        } else {
          await new Promise((resolve) => setTimeout(resolve, everyMs));
          controller.enqueue(new Uint8Array(chunkBytes));
        }
        sent += 1;
      },
    });
  }

  it("a slow origin that keeps delivering is not cut by the idle timeout, however long the body takes", async () => {
    const id = await submit(`${HOST}/trickle.wav`);
    // 30 chunks 40 ms apart: the body takes ≥ 1.2 s, six times the idle timeout, and never waits 200 ms for a byte
    interceptFetch().on("GET", `${HOST}/trickle.wav`, () => new Response(tricklingWav(30, 40)));
    const started = Date.now();
    const delivery = await deliverJobs([id], tenantId, {
      env: { AUDIO_FETCH_IDLE_TIMEOUT_MS: "200", OPENAI_API_KEY: "" } as Partial<Env>,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1200);
    const row = (await jobRow(id))!;
    expect(row.audio_fetched_at).toEqual(expect.any(Number));
    expect(row.audio_bytes).toBe(makeWav(0.1).byteLength + 30 * 16 * 1024);
    expect(delivery.ids).toHaveLength(1);
  });

  it("a body that stalls past the idle timeout is cut as audio_url_timeout and retried, long before the deadline", async () => {
    const id = await submit(`${HOST}/stops.wav`);
    interceptFetch().on(
      "GET",
      `${HOST}/stops.wav`,
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(makeWav(0.5));
              controller.enqueue(new Uint8Array(64 * 1024));
            },
            // then nothing, never closed
          }),
        ),
    );
    const started = Date.now();
    const delivery = await deliverJobs([id], tenantId, {
      env: { AUDIO_FETCH_IDLE_TIMEOUT_MS: "150", AUDIO_FETCH_TIMEOUT_MS: "600000" } as Partial<Env>,
    });
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(delivery.retried).toEqual(delivery.ids);
    expect(await jobRow(id)).toMatchObject({ status: "queued", audio_fetched_at: null, error_code: null });
    expect((await env.BUCKET.list({ prefix: audioObject(id) })).objects).toHaveLength(0);
    expect(logged("job_retry", id)).toMatchObject({ code: "audio_url_timeout" });
  });

  it("the overall deadline still bounds an origin that trickles just fast enough to dodge the idle timeout", async () => {
    const id = await submit(`${HOST}/slowloris.wav`);
    interceptFetch().on("GET", `${HOST}/slowloris.wav`, () => new Response(tricklingWav(1000, 40)));
    const delivery = await deliverJobs([id], tenantId, {
      env: { AUDIO_FETCH_IDLE_TIMEOUT_MS: "1000", AUDIO_FETCH_TIMEOUT_MS: "400" } as Partial<Env>,
    });
    expect(delivery.retried).toEqual(delivery.ids);
    expect(logged("job_retry", id)).toMatchObject({ code: "audio_url_timeout" });
    expect((await env.BUCKET.list({ prefix: audioObject(id) })).objects).toHaveLength(0);
  });

  it("a job deleted before its fetch is gone for good; one deleted during the fetch leaves no object", async () => {
    const early = await submit(`${HOST}/early.wav`);
    expect((await call(`/v1/transcriptions/${early}`, { method: "DELETE", key })).status).toBe(204);
    const outbound = interceptFetch();
    const ignored = await deliverJobs([early], tenantId);
    expect(ignored.explicitAcks).toEqual(ignored.ids);
    expect(outbound.requests).toHaveLength(0);

    const late = await submit(`${HOST}/late.wav`);
    outbound.on("GET", `${HOST}/late.wav`, async () => {
      expect((await call(`/v1/transcriptions/${late}`, { method: "DELETE", key })).status).toBe(204);
      return new Response(makeWav());
    });
    const delivery = await deliverJobs([late], tenantId);
    expect(delivery.explicitAcks).toEqual(delivery.ids);
    expect(await jobRow(late)).toBeNull();
    expect((await env.BUCKET.list({ prefix: audioObject(late) })).objects).toHaveLength(0);
  });

  it("a subject erasure before the fetch removes the job; the fetch then never happens", async () => {
    const res = await call("/v1/transcriptions", {
      method: "POST",
      key,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ audio_url: `${HOST}/subject.wav`, subject_id: "person-url-1" }),
    });
    const { id } = (await res.json()) as { id: string };
    const receipt = (await (await call("/v1/subjects/person-url-1", { method: "DELETE", key })).json()) as {
      erased: { transcriptions: number; audio_objects: number };
    };
    expect(receipt.erased).toMatchObject({ transcriptions: 1, audio_objects: 0 });
    const outbound = interceptFetch();
    await deliverJobs([id], tenantId);
    expect(outbound.requests).toHaveLength(0);
    expect(await jobRow(id)).toBeNull();
  });

  it("a job that failed before its fetch is purged by retention like any other; its sealed headers go first", async () => {
    const id = await submit(`${HOST}/never.wav`, { authorization: "Bearer purge-me" });
    interceptFetch().on("GET", `${HOST}/never.wav`, () => new Response("no", { status: 403 }));
    await deliverJobs([id], tenantId);
    const failed = (await jobRow(id))!;
    expect(failed).toMatchObject({ status: "failed", error_code: "audio_url_http_error", audio_key: null });
    expect(failed.audio_url_headers_sealed).not.toBeNull();
    const db = createDb(env);
    await purgeExpired(env, db, Number(failed.completed_at) + 31 * 86_400_000);
    // the tenant keeps finished jobs by default: the row stays, its audio side is gone
    const purged = (await jobRow(id))!;
    expect(purged).toMatchObject({ status: "failed", audio_url_headers_sealed: null, audio_key: null });
    expect(purged.audio_purged_at).toEqual(expect.any(Number));
  });

  it("dead-lettered before its fetch succeeded, the job is parked for re-drive, not failed as missing audio", async () => {
    const id = await submit(`${HOST}/down.wav`);
    const delivery = await deliverDeadLetters([id], tenantId);
    expect(delivery.explicitAcks).toEqual(delivery.ids);
    expect(await jobRow(id)).toMatchObject({ status: "queued", delayed_reason: "dead_lettered", error_code: null });
  });

  it("streams 150 MB (above the 100 MB upload limit) into an R2 multipart upload", async () => {
    const total = 150 * 1024 * 1024;
    const id = await submit(`${HOST}/long.wav`);
    const outbound = interceptFetch().on(
      "GET",
      `${HOST}/long.wav`,
      () => new Response(wavStream(total, undefined, 1024 * 1024)),
    );
    const delivery = await deliverJobs([id], tenantId);
    expect(delivery.explicitAcks).toEqual(delivery.ids);
    // stored whole; the job then moves on to routing: over OpenAI's 25 MB and no failover chain, so it fails at
    // once naming the limit, without a call
    const row = (await jobRow(id))!;
    expect(row).toMatchObject({ audio_bytes: total, audio_format: "wav", error_code: "audio_too_large_for_provider" });
    expect(row.audio_fetched_at).toEqual(expect.any(Number));
    expect(outbound.requests.filter((r) => r.method === "POST")).toHaveLength(0);
    const object = await env.BUCKET.head(audioObject(id));
    expect(object!.size).toBeGreaterThan(total);
  }, 120_000);
});
