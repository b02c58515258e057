import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";

import { sealedSize } from "../../src/domain/envelope.ts";
import { getSealedStream } from "../../src/storage/sealed-objects.ts";
import { call, callWith, createTenant, multipartUpload, rawUpload, storageCounts } from "../helpers/api.ts";
import { chunkedStream, makeWav } from "../helpers/audio.ts";

const openedAudio = async (tenantId: string, jobId: string) =>
  new Uint8Array(
    await new Response((await getSealedStream(env, tenantId, `audio/${tenantId}/${jobId}`))!.body).arrayBuffer(),
  );

let key: string;
let tenantId: string;

beforeAll(async () => {
  ({ key, tenantId } = await createTenant("uploader"));
});

async function expectProblem(res: Response, status: number, code: string) {
  expect(res.status, await res.clone().text()).toBe(status);
  expect(res.headers.get("content-type")).toContain("application/problem+json");
  const body = (await res.json()) as { code: string; status: number; title: string };
  expect(body.code).toBe(code);
  expect(body.status).toBe(status);
  return body;
}

describe("POST /v1/transcriptions", () => {
  it("accepts multipart audio: 202, Location, job object, audio in R2, message on the queue", async () => {
    const wav = makeWav(1);
    const res = await multipartUpload(
      key,
      { language: "en", metadata: JSON.stringify({ call: "42" }), subject_id: "person-7", prompt: "names: Ada" },
      wav,
      "../../etc/passwd.wav",
    );
    expect(res.status).toBe(202);
    const job = (await res.json()) as Record<string, unknown>;
    expect(res.headers.get("location")).toBe(`/v1/transcriptions/${job.id}`);
    expect(job).toMatchObject({
      object: "transcription",
      status: "queued",
      provider: "openai",
      language: "en",
      text: null,
      segments: null,
      error: null,
      attempts: 0,
      metadata: { call: "42" },
      subject_id: "person-7",
      file_name: "passwd.wav",
      audio_bytes: wav.byteLength,
      audio_format: "wav",
      started_at: null,
      completed_at: null,
    });
    expect(String(job.id)).toMatch(/^tr_[0-9A-Z]{26}$/);
    // stored under tenant + job id, never under the client's file name
    const object = await env.BUCKET.get(`audio/${tenantId}/${job.id}`);
    expect(object).not.toBeNull();
    // R2 holds the tenant-sealed form; it opens back to the exact upload
    expect(new Uint8Array(await object!.arrayBuffer())).not.toEqual(wav);
    expect(object!.customMetadata).toMatchObject({ enc: "a256gcm-stream-1", kv: "m2" });
    expect(await openedAudio(tenantId, String(job.id))).toEqual(wav);
  });

  it("accepts a raw audio body with options as query parameters", async () => {
    const wav = makeWav(0.25);
    const res = await rawUpload(key, wav, "?language=auto&provider=deepgram", "application/octet-stream");
    expect(res.status).toBe(202);
    const job = (await res.json()) as Record<string, unknown>;
    expect(job).toMatchObject({ provider: "deepgram", language: null, audio_format: "wav", file_name: null });
  });

  it("streams a body larger than one R2 part through a multipart upload", async () => {
    // 9 MiB of WAV: one full 8 MiB part plus a tail
    const wav = makeWav((9 * 1024 * 1024) / 32_000);
    const res = await rawUpload(key, chunkedStream(wav, 64 * 1024), "", "audio/wav");
    expect(res.status).toBe(202);
    const job = (await res.json()) as { id: string; audio_bytes: number };
    expect(job.audio_bytes).toBe(wav.byteLength);
    const object = await env.BUCKET.head(`audio/${tenantId}/${job.id}`);
    expect(object!.size).toBe(sealedSize(wav.byteLength));
    const stored = await openedAudio(tenantId, job.id);
    expect(stored.byteLength).toBe(wav.byteLength);
    expect(stored.subarray(0, 64)).toEqual(wav.subarray(0, 64));
    expect(stored.subarray(-64)).toEqual(wav.subarray(-64));
  }, 60_000); // 9 MiB through R2 multipart and back: seconds on a loaded 2-core machine

  describe("rejects bad requests with problem+json and stores nothing", () => {
    const cases: [string, () => Promise<Response>, number, string][] = [
      ["no key", () => call("/v1/transcriptions", { method: "POST", body: makeWav() }), 401, "unauthenticated"],
      ["bad key", () => rawUpload("vtt_live_not-a-real-key-at-all", makeWav()), 401, "invalid_api_key"],
      ["0-byte raw body", () => rawUpload(key, new Uint8Array(0)), 400, "empty_body"],
      ["0-byte file part", () => multipartUpload(key, {}, new Uint8Array(0)), 400, "empty_body"],
      ["multipart without file", () => multipartUpload(key, { language: "en" }, null), 400, "missing_file"],
      [
        "text named .wav",
        () =>
          multipartUpload(
            key,
            {},
            new Uint8Array(new TextEncoder().encode("hello, this is not audio at all, just text words")),
            "x.wav",
          ),
        415,
        "unsupported_audio",
      ],
      [
        "PNG bytes as audio/wav",
        () =>
          rawUpload(key, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(80).fill(0)])),
        415,
        "unsupported_audio",
      ],
      [
        "zip bytes",
        () => rawUpload(key, new Uint8Array([0x50, 0x4b, 0x03, 0x04, ...new Array(80).fill(1)])),
        415,
        "unsupported_audio",
      ],
      [
        "a text content type (JSON is a submission by URL: test/api/audio-url.test.ts)",
        () =>
          call("/v1/transcriptions", {
            method: "POST",
            key,
            body: "{}",
            headers: { "content-type": "text/plain" },
          }),
        415,
        "unsupported_media_type",
      ],
      [
        "multipart without boundary",
        () =>
          call("/v1/transcriptions", {
            method: "POST",
            key,
            body: "x",
            headers: { "content-type": "multipart/form-data" },
          }),
        400,
        "malformed_multipart",
      ],
      [
        "truncated multipart",
        () =>
          call("/v1/transcriptions", {
            method: "POST",
            key,
            body: '--b\r\ncontent-disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF',
            headers: { "content-type": "multipart/form-data; boundary=b" },
          }),
        400,
        "malformed_multipart",
      ],
      ["bad language", () => multipartUpload(key, { language: "english" }), 422, "invalid_language"],
      ["metadata not JSON", () => multipartUpload(key, { metadata: "{nope" }), 422, "invalid_metadata"],
      [
        "nested metadata",
        () => multipartUpload(key, { metadata: JSON.stringify({ a: { b: "c" } }) }),
        422,
        "invalid_metadata",
      ],
      ["metadata array", () => multipartUpload(key, { metadata: '["a"]' }), 422, "invalid_metadata"],
      [
        "metadata over 4 KB",
        () =>
          multipartUpload(key, {
            metadata: JSON.stringify({
              a: "x".repeat(1000),
              b: "x".repeat(1000),
              c: "x".repeat(1000),
              d: "x".repeat(1000),
              e: "x".repeat(200),
            }),
          }),
        422,
        "invalid_metadata",
      ],
      ["unknown provider", () => multipartUpload(key, { provider: "acme-asr" }), 422, "unknown_provider"],
      ["disabled provider", () => multipartUpload(key, { provider: "workers-ai" }), 422, "unknown_provider"],
      [
        "non-https webhook",
        () => rawUpload(key, makeWav(), "?webhook_url=ftp%3A%2F%2Fexample.com%2Fhook"),
        422,
        "invalid_webhook_url",
      ],
      ["unknown field", () => multipartUpload(key, { colour: "blue" }), 422, "unknown_field"],
      ["control characters in prompt", () => multipartUpload(key, { prompt: "hi\u0007there" }), 422, "invalid_prompt"],
      ["bad query option on raw body", () => rawUpload(key, makeWav(), "?language=xx"), 422, "invalid_language"],
    ];
    for (const [name, send, status, code] of cases) {
      it(`${name} → ${status} ${code}`, async () => {
        const before = await storageCounts();
        await expectProblem(await send(), status, code);
        expect(await storageCounts()).toEqual(before);
      });
    }
  });

  it("rejects a body over MAX_UPLOAD_BYTES by its declared length", async () => {
    const before = await storageCounts();
    const res = await call("/v1/transcriptions", {
      method: "POST",
      key,
      headers: { "content-type": "audio/wav", "content-length": String(200 * 1024 * 1024) },
      body: makeWav(0.1),
    });
    await expectProblem(res, 413, "payload_too_large");
    expect(await storageCounts()).toEqual(before);
  });
});

describe("a failing upload stream is told apart by its type, not its message", () => {
  /** Sends `head`, then fails as a disconnecting client's body does. */
  const failingAfter = (head: Uint8Array) => {
    let sent = false;
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) return controller.error(new Error("connection reset by peer"));
        sent = true;
        controller.enqueue(head);
      },
    });
  };
  const encoder = new TextEncoder();
  // handed to the Worker's fetch in this isolate (callWith), so the stream's own error reaches the handler
  const upload = (body: ReadableStream<Uint8Array>, contentType: string) =>
    callWith({}, "/v1/transcriptions", { method: "POST", key, body, headers: { "content-type": contentType } });

  it("a raw body that breaks off → 400 upload_interrupted, nothing stored", async () => {
    const before = await storageCounts();
    await expectProblem(
      await upload(failingAfter(makeWav(1).slice(0, 20_000)), "audio/wav"),
      400,
      "upload_interrupted",
    );
    expect(await storageCounts()).toEqual(before);
  });

  it("a multipart body that breaks off inside a field or inside the file → 400 upload_interrupted", async () => {
    const before = await storageCounts();
    const multipart = (body: ReadableStream<Uint8Array>) => upload(body, "multipart/form-data; boundary=b");
    const inField = encoder.encode('--b\r\ncontent-disposition: form-data; name="language"\r\n\r\ne');
    const inFile = new Uint8Array([
      ...encoder.encode('--b\r\ncontent-disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'),
      ...makeWav(0.5),
    ]);
    await expectProblem(await multipart(failingAfter(inField)), 400, "upload_interrupted");
    await expectProblem(await multipart(failingAfter(inFile)), 400, "upload_interrupted");
    expect(await storageCounts()).toEqual(before);
  });

  it("a storage failure whose message mentions a stream is our fault: 500, not a client error", async () => {
    const failingBucket = new Proxy(env.BUCKET, {
      get(target, name) {
        if (name === "put" || name === "createMultipartUpload")
          return async () => Promise.reject(new Error("network stream disconnected"));
        const value = Reflect.get(target, name);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const res = await callWith({ BUCKET: failingBucket }, "/v1/transcriptions", {
      method: "POST",
      key,
      body: makeWav(0.2),
      headers: { "content-type": "audio/wav" },
    });
    await expectProblem(res, 500, "internal_error");
  });
});

describe("option limits", () => {
  it("a prompt is measured in UTF-16 code units: 500 emoji (1000 units) pass, 501 do not", async () => {
    const ok = await multipartUpload(key, { prompt: "😀".repeat(500) });
    expect(ok.status, await ok.clone().text()).toBe(202);
    expect(((await ok.json()) as { id: string }).id).toMatch(/^tr_/);
    const body = await expectProblem(await multipartUpload(key, { prompt: "😀".repeat(501) }), 422, "invalid_prompt");
    expect(JSON.stringify(body)).toContain("UTF-16 code units");
  });

  it("a webhook URL is stored exactly as sent, never cleaned of whitespace", async () => {
    const url = "https://hooks.example.com/a?b=1";
    const res = await multipartUpload(key, { webhook_url: url });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { webhook_url: string }).webhook_url).toBe(url);
    await expectProblem(await multipartUpload(key, { webhook_url: `${url}\t` }), 422, "invalid_webhook_url");
  });
});
