/**
 * tus 1.0 on `/v1/uploads`, through the Worker's real fetch handler: D1, R2 (multipart), the upload's Durable Object
 * and the queue are real. Every status code the protocol and the issue name, resume after a cut, remainders carried
 * across parts, expiry with the cron's cleanup, erasure.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";

import { eraseSubject, eraseTenant } from "../../src/compliance/erasure.ts";
import { createDb } from "../../src/storage/db.ts";
import { getSealedStream } from "../../src/storage/sealed-objects.ts";
import { purgeExpiredUploads } from "../../src/uploads/expiry.ts";
import { MAX_TAIL_PIECES, RESUMABLE_PART_BYTES } from "../../src/uploads/resumable-upload.ts";
import { call, callWith, createTenant } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";

const TUS = { "tus-resumable": "1.0.0" };
const OCTETS = { ...TUS, "content-type": "application/offset+octet-stream" };

let key: string;
let tenantId: string;
let otherKey: string;

beforeAll(async () => {
  ({ key, tenantId } = await createTenant("tus-uploader"));
  ({ key: otherKey } = await createTenant("tus-other"));
});

const b64 = (text: string) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));
const metadata = (fields: Record<string, string>) =>
  Object.entries(fields)
    .map(([k, v]) => `${k} ${b64(v)}`)
    .join(",");

/** A problem+json answer with its stable code (a HEAD answer has no body: its status and type are checked). */
async function expectProblem(res: Response, status: number, code: string) {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get("content-type")).toContain("application/problem+json");
  expect(res.headers.get("tus-resumable")).toBe("1.0.0");
  if (text === "") return;
  expect(JSON.parse(text)).toMatchObject({ code, status });
}

async function create(length: number, fields: Record<string, string> = {}, extra: Record<string, string> = {}) {
  const res = await call("/v1/uploads", {
    method: "POST",
    key,
    headers: { ...TUS, "upload-length": String(length), "upload-metadata": metadata(fields), ...extra },
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return res.headers.get("location")!;
}

const patch = (url: string, offset: number, body: BodyInit | null, headers: Record<string, string> = {}, k = key) =>
  call(url, { method: "PATCH", key: k, headers: { ...OCTETS, "upload-offset": String(offset), ...headers }, body });
const head = (url: string, k = key) => call(url, { method: "HEAD", key: k, headers: TUS });

async function sha256b64(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return btoa(String.fromCharCode(...digest));
}

/** Length and SHA-256 of the job's audio as stored (opened through the envelope): compared, never diffed whole. */
async function storedAudio(jobId: string): Promise<{ bytes: number; sha256: string }> {
  const opened = await getSealedStream(env, tenantId, `audio/${tenantId}/${jobId}`);
  return fingerprint(new Uint8Array(await new Response(opened!.body).arrayBuffer()));
}

async function fingerprint(bytes: Uint8Array): Promise<{ bytes: number; sha256: string }> {
  return { bytes: bytes.byteLength, sha256: await sha256b64(bytes) };
}

async function tusObjects(uploadId: string): Promise<string[]> {
  const listed = await env.BUCKET.list({ prefix: `tus/${tenantId}/${uploadId}/` });
  return listed.objects.map((o) => o.key);
}

/**
 * A WAV of `bytes` bytes without synthesising samples: a real WAV header and a cheap byte pattern after it (the tus
 * path stores bytes, it never decodes them), so tens of megabytes cost no more than their own buffer.
 */
function bigWav(bytes: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 4093) out[i] = i & 0xff;
  out.set(makeWav(0.1));
  return out;
}

/** A body that yields `bytes` then fails, as a request body does when the client's connection is cut. */
function cutStream(bytes: Uint8Array, chunk = 1024 * 1024): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.error(new Error("connection reset"));
      controller.enqueue(bytes.slice(offset, offset + chunk));
      offset += chunk;
    },
  });
}

describe("discovery and creation", () => {
  it("OPTIONS names the version, extensions, max size and checksum algorithm", async () => {
    const res = await call("/v1/uploads", { method: "OPTIONS", key });
    expect(res.status).toBe(204);
    expect(res.headers.get("tus-version")).toBe("1.0.0");
    expect(res.headers.get("tus-extension")).toBe("creation,creation-with-upload,expiration,termination,checksum");
    expect(res.headers.get("tus-max-size")).toBe(String(5 * 1024 ** 3));
    expect(res.headers.get("tus-checksum-algorithm")).toBe("sha256");
  });

  it("POST creates an upload: 201, Location, Upload-Expires; HEAD says offset 0", async () => {
    const url = await create(1000, { filename: "talk.wav", language: "en" });
    expect(url).toMatch(/^\/v1\/uploads\/up_[0-9A-Z]{26}$/);
    const res = await head(url);
    expect(res.status).toBe(200);
    expect(res.headers.get("upload-offset")).toBe("0");
    expect(res.headers.get("upload-length")).toBe("1000");
    expect(Date.parse(res.headers.get("upload-expires")!)).toBeGreaterThan(Date.now());
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("transcription-id")).toBeNull();
  });

  it("412 for a missing or foreign Tus-Resumable, with Tus-Version", async () => {
    for (const [headers, code] of [
      [{}, "tus_resumable_missing"],
      [{ "tus-resumable": "0.2.2" }, "tus_version_unsupported"],
    ] as const) {
      const res = await call("/v1/uploads", { method: "POST", key, headers: { ...headers, "upload-length": "10" } });
      await expectProblem(res, 412, code);
      expect(res.headers.get("tus-version")).toBe("1.0.0");
    }
  });

  it("400 / 413 for a missing, negative, malformed or absurd Upload-Length", async () => {
    const cases: [Record<string, string>, number, string][] = [
      [{}, 400, "upload_length_missing"],
      [{ "upload-defer-length": "1" }, 400, "upload_length_missing"],
      [{ "upload-length": "-5" }, 400, "invalid_upload_length"],
      [{ "upload-length": "1e9" }, 400, "invalid_upload_length"],
      [{ "upload-length": "0" }, 400, "empty_upload"],
      [{ "upload-length": String(5 * 1024 ** 3 + 1) }, 413, "upload_too_large"],
      [{ "upload-length": "99999999999999999999999999" }, 413, "upload_too_large"],
    ];
    for (const [headers, status, code] of cases) {
      await expectProblem(
        await call("/v1/uploads", { method: "POST", key, headers: { ...TUS, ...headers } }),
        status,
        code,
      );
    }
  });

  it("400 for Upload-Metadata that is not base64 pairs; 422 for a bad job option before any byte", async () => {
    for (const bad of [
      "filename not-base64!",
      "filename a2V5 extra",
      "filename YQ=",
      `filename ${b64("a")},filename ${b64("b")}`,
    ]) {
      const res = await call("/v1/uploads", {
        method: "POST",
        key,
        headers: { ...TUS, "upload-length": "100", "upload-metadata": bad },
      });
      await expectProblem(res, 400, "invalid_upload_metadata");
    }
    const badOption = await call("/v1/uploads", {
      method: "POST",
      key,
      headers: { ...TUS, "upload-length": "100", "upload-metadata": metadata({ provider: "nope" }) },
    });
    await expectProblem(badOption, 422, "unknown_provider");
    const unknown = await call("/v1/uploads", {
      method: "POST",
      key,
      headers: { ...TUS, "upload-length": "100", "upload-metadata": metadata({ colour: "blue" }) },
    });
    await expectProblem(unknown, 422, "unknown_field");
  });

  it("Idempotency-Key: the same creation answers with the same upload, a different one is a 409", async () => {
    const headers = { "idempotency-key": "tus-idem-1" };
    const first = await create(500, { language: "en" }, headers);
    const again = await call("/v1/uploads", {
      method: "POST",
      key,
      headers: { ...TUS, "upload-length": "500", "upload-metadata": metadata({ language: "en" }), ...headers },
    });
    expect(again.status).toBe(201);
    expect(again.headers.get("location")).toBe(first);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    const other = await call("/v1/uploads", {
      method: "POST",
      key,
      headers: { ...TUS, "upload-length": "501", "upload-metadata": metadata({ language: "en" }), ...headers },
    });
    await expectProblem(other, 409, "idempotency_key_reused");
  });
});

describe("appending", () => {
  it("one PATCH with the whole file creates the job: Transcription-Id, upload_id, the bytes in R2", async () => {
    const wav = makeWav(1);
    const url = await create(wav.byteLength, { filename: "dir/clip.wav", language: "en", subject_id: "p-1" });
    const res = await patch(url, 0, wav);
    expect(res.status, await res.clone().text()).toBe(204);
    expect(res.headers.get("upload-offset")).toBe(String(wav.byteLength));
    const jobId = res.headers.get("transcription-id")!;
    expect(jobId).toMatch(/^tr_/);
    const h = await head(url);
    expect(h.headers.get("transcription-id")).toBe(jobId);
    expect(h.headers.get("upload-offset")).toBe(String(wav.byteLength));
    const job = (await (await call(`/v1/transcriptions/${jobId}`, { key })).json()) as Record<string, unknown>;
    expect(job).toMatchObject({
      status: "queued",
      upload_id: url.split("/").pop(),
      audio_bytes: wav.byteLength,
      audio_format: "wav",
      file_name: "clip.wav",
      language: "en",
      subject_id: "p-1",
    });
    expect(await storedAudio(jobId)).toEqual(await fingerprint(wav));
    expect(await tusObjects(url.split("/").pop()!)).toEqual([]);
    // a PATCH after the end is a conflict, not a second job
    await expectProblem(await patch(url, wav.byteLength, new Uint8Array(1)), 409, "upload_complete");
  });

  it("creation-with-upload: the POST body is the first chunk", async () => {
    const wav = makeWav(0.5);
    const res = await call("/v1/uploads", {
      method: "POST",
      key,
      headers: { ...OCTETS, "upload-length": String(wav.byteLength) },
      body: wav.slice(0, 5000),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    expect(res.headers.get("upload-offset")).toBe("5000");
    const url = res.headers.get("location")!;
    const done = await patch(url, 5000, wav.slice(5000));
    expect(done.status).toBe(204);
    expect(await storedAudio(done.headers.get("transcription-id")!)).toEqual(await fingerprint(wav));
  });

  it("carries remainders across parts: uneven chunks over several 8 MiB parts reassemble exactly", async () => {
    const wav = bigWav(22_400_000); // two whole parts and a shorter last one
    expect(wav.byteLength).toBeGreaterThan(2 * RESUMABLE_PART_BYTES);
    const url = await create(wav.byteLength);
    const uploadId = url.split("/").pop()!;
    const cuts = [3_000_001, 3_000_001 + 9_000_000, 3_000_001 + 9_000_000 + 1, 20_000_000, wav.byteLength];
    let offset = 0;
    let jobId: string | null = null;
    let pieces = 0;
    for (const end of cuts) {
      const res = await patch(url, offset, wav.slice(offset, end));
      expect(res.status, await res.clone().text()).toBe(204);
      expect(res.headers.get("upload-offset")).toBe(String(end));
      // the bytes past the last whole part wait sealed, one piece per PATCH since that part (never read back and
      // rewritten: a PATCH that fills no part adds a piece and leaves the others as they are)
      const crossed = Math.floor(end / RESUMABLE_PART_BYTES) > Math.floor(offset / RESUMABLE_PART_BYTES);
      pieces = crossed ? (end % RESUMABLE_PART_BYTES ? 1 : 0) : pieces + 1;
      if (end < wav.byteLength) {
        const objects = await tusObjects(uploadId);
        expect(objects).toHaveLength(pieces);
        for (const object of objects) expect((await env.BUCKET.head(object))?.customMetadata?.enc).toBeTruthy();
      }
      offset = end;
      jobId = res.headers.get("transcription-id");
    }
    expect(jobId).toMatch(/^tr_/);
    expect(await storedAudio(jobId!)).toEqual(await fingerprint(wav));
    expect(await tusObjects(uploadId)).toEqual([]);
  }, 120_000);

  it("a PATCH ending on a part boundary leaves no remainder; a last part of full size completes the file", async () => {
    const wav = bigWav(3 * RESUMABLE_PART_BYTES); // the last part is a whole part too
    const url = await create(wav.byteLength);
    const uploadId = url.split("/").pop()!;
    let jobId: string | null = null;
    for (let offset = 0; offset < wav.byteLength; offset += RESUMABLE_PART_BYTES) {
      const res = await patch(url, offset, wav.slice(offset, offset + RESUMABLE_PART_BYTES));
      expect(res.status, await res.clone().text()).toBe(204);
      expect(res.headers.get("upload-offset")).toBe(String(offset + RESUMABLE_PART_BYTES));
      // the part was written as it filled, so nothing waits in a tail object
      expect(await tusObjects(uploadId)).toEqual([]);
      jobId = res.headers.get("transcription-id");
    }
    expect(jobId).toMatch(/^tr_/);
    expect(await storedAudio(jobId!)).toEqual(await fingerprint(wav));
  }, 120_000);

  it("resumes after a cut: HEAD gives the bytes kept, the rest completes the file", async () => {
    const wav = bigWav(12_800_000);
    const url = await create(wav.byteLength);
    const cut = await patch(url, 0, cutStream(wav.slice(0, 10 * 1024 * 1024)), {}).catch(() => null);
    // the client saw its connection fail; whatever it got back, the server kept what arrived
    if (cut) expect(cut.status).not.toBe(500);
    const h = await head(url);
    const kept = Number(h.headers.get("upload-offset"));
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(10 * 1024 * 1024);
    // a stale offset is refused with the real one
    const stale = await patch(url, 0, wav.slice(0, 10));
    await expectProblem(stale, 409, "offset_mismatch");
    expect(stale.headers.get("upload-offset")).toBe(String(kept));
    const done = await patch(url, kept, wav.slice(kept));
    expect(done.status, await done.clone().text()).toBe(204);
    expect(await storedAudio(done.headers.get("transcription-id")!)).toEqual(await fingerprint(wav));
  }, 120_000);

  it("a cut PATCH with a Content-Length keeps every part it finished; the rest is sent again from HEAD", async () => {
    const wav = bigWav(20_000_000);
    const url = await create(wav.byteLength);
    expect((await patch(url, 0, wav.slice(0, 3_000_000))).status).toBe(204);
    // declares 10 MiB, is cut after 6 MiB: the part it filled (8 MiB) stays, the bytes after it were in flight
    const declared = 10 * 1024 * 1024;
    const cut = await patch(url, 3_000_000, cutStream(wav.slice(3_000_000, 3_000_000 + 6 * 1024 * 1024)), {
      "content-length": String(declared),
    }).catch(() => null);
    if (cut) expect(cut.status).toBeLessThan(500);
    const kept = Number((await head(url)).headers.get("upload-offset"));
    expect(kept).toBe(RESUMABLE_PART_BYTES);
    const done = await patch(url, kept, wav.slice(kept));
    expect(done.status, await done.clone().text()).toBe(204);
    expect(await storedAudio(done.headers.get("transcription-id")!)).toEqual(await fingerprint(wav));
  }, 120_000);

  it("many tiny PATCHes: the remainder pieces are joined past MAX_TAIL_PIECES and the file reassembles", async () => {
    const wav = bigWav(RESUMABLE_PART_BYTES + 500_000);
    const url = await create(wav.byteLength);
    const uploadId = url.split("/").pop()!;
    let offset = 0;
    for (let i = 0; i < MAX_TAIL_PIECES + 8; i++) {
      const res = await patch(url, offset, wav.slice(offset, offset + 20_000));
      expect(res.status, await res.clone().text()).toBe(204);
      offset += 20_000;
      expect((await tusObjects(uploadId)).length).toBeLessThanOrEqual(MAX_TAIL_PIECES);
    }
    const done = await patch(url, offset, wav.slice(offset));
    expect(done.status, await done.clone().text()).toBe(204);
    expect(await storedAudio(done.headers.get("transcription-id")!)).toEqual(await fingerprint(wav));
    expect(await tusObjects(uploadId)).toEqual([]);
  }, 180_000);

  it("checksummed PATCHes across a part boundary: a mismatch keeps the remainder before it, a match fills the part", async () => {
    const wav = bigWav(2 * RESUMABLE_PART_BYTES + 3_000_000);
    const url = await create(wav.byteLength);
    const first = wav.slice(0, 5_000_000);
    expect((await patch(url, 0, first, { "upload-checksum": `sha256 ${await sha256b64(first)}` })).status).toBe(204);
    const second = wav.slice(5_000_000, 5_000_000 + RESUMABLE_PART_BYTES);
    const wrong = await patch(url, 5_000_000, second, { "upload-checksum": `sha256 ${await sha256b64(first)}` });
    await expectProblem(wrong, 460, "checksum_mismatch");
    expect((await head(url)).headers.get("upload-offset")).toBe("5000000");
    const right = await patch(url, 5_000_000, second, { "upload-checksum": `sha256 ${await sha256b64(second)}` });
    expect(right.status, await right.clone().text()).toBe(204);
    const end = 5_000_000 + RESUMABLE_PART_BYTES;
    expect(right.headers.get("upload-offset")).toBe(String(end));
    const done = await patch(url, end, wav.slice(end));
    expect(done.status, await done.clone().text()).toBe(204);
    expect(await storedAudio(done.headers.get("transcription-id")!)).toEqual(await fingerprint(wav));
  }, 120_000);

  it("413 for bytes beyond Upload-Length (declared or streamed)", async () => {
    const wav = makeWav(0.2);
    const url = await create(wav.byteLength);
    const over = new Uint8Array(wav.byteLength + 1);
    over.set(wav);
    await expectProblem(await patch(url, 0, over), 413, "exceeds_upload_length");
    const streamed = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(over);
        c.close();
      },
    });
    // a streamed body is refused at the network chunk that passes the end; what came before it is kept and named
    const refusedStream = await patch(url, 0, streamed);
    const keptOffset = refusedStream.headers.get("upload-offset");
    await expectProblem(refusedStream, 413, "exceeds_upload_length");
    expect(Number(keptOffset)).toBeLessThan(wav.byteLength);
    expect((await head(url)).headers.get("upload-offset")).toBe(keptOffset);
  });

  it("Upload-Checksum: a match is stored, a mismatch is 460 and keeps nothing", async () => {
    const wav = makeWav(0.5);
    const url = await create(wav.byteLength);
    const first = wav.slice(0, 6000);
    const wrong = await patch(url, 0, first, { "upload-checksum": `sha256 ${await sha256b64(wav.slice(1, 6001))}` });
    await expectProblem(wrong, 460, "checksum_mismatch");
    expect((await head(url)).headers.get("upload-offset")).toBe("0");
    const right = await patch(url, 0, first, { "upload-checksum": `sha256 ${await sha256b64(first)}` });
    expect(right.status).toBe(204);
    expect(right.headers.get("upload-offset")).toBe("6000");
    await expectProblem(
      await patch(url, 6000, wav.slice(6000), { "upload-checksum": "md5 abc" }),
      400,
      "unsupported_checksum_algorithm",
    );
    await expectProblem(
      await patch(url, 6000, wav.slice(6000), { "upload-checksum": "sha256 short" }),
      400,
      "invalid_checksum",
    );
  });

  it("first bytes that are not audio end the upload with 415; it is gone (410) and leaves nothing", async () => {
    const png = new Uint8Array(8192);
    png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const url = await create(png.byteLength * 4);
    await expectProblem(await patch(url, 0, png), 415, "unsupported_audio");
    await expectProblem(await head(url), 410, "upload_terminated");
    expect(await tusObjects(url.split("/").pop()!)).toEqual([]);
  });

  it("400/415 for PATCH without Upload-Offset or the tus content type; 404 for unknown and foreign ids", async () => {
    const url = await create(100);
    await expectProblem(
      await call(url, { method: "PATCH", key, headers: OCTETS, body: new Uint8Array(1) }),
      400,
      "upload_offset_missing",
    );
    await expectProblem(
      await patch(url, 0, new Uint8Array(1), { "upload-offset": "-1" }),
      400,
      "invalid_upload_offset",
    );
    await expectProblem(
      await call(url, {
        method: "PATCH",
        key,
        headers: { ...TUS, "upload-offset": "0", "content-type": "audio/wav" },
        body: "x",
      }),
      415,
      "invalid_content_type",
    );
    await expectProblem(await head("/v1/uploads/up_01ZZZZZZZZZZZZZZZZZZZZZZZZ"), 404, "upload_not_found");
    await expectProblem(await head("/v1/uploads/not-an-id"), 404, "upload_not_found");
    await expectProblem(await head(url, otherKey), 404, "upload_not_found");
    await expectProblem(await patch(url, 0, new Uint8Array(1), {}, otherKey), 404, "upload_not_found");
    await expectProblem(await call(url, { method: "DELETE", key: otherKey, headers: TUS }), 404, "upload_not_found");
    await expectProblem(await call(url, { key }), 405, "method_not_allowed");
  });
});

describe("termination, expiry and erasure", () => {
  it("DELETE terminates: 204, then 410; the multipart parts and tail are gone", async () => {
    const wav = bigWav(9_600_000); // one part written, a tail kept
    const url = await create(wav.byteLength);
    const uploadId = url.split("/").pop()!;
    expect((await patch(url, 0, wav.slice(0, 9_000_000))).status).toBe(204);
    expect(await tusObjects(uploadId)).toHaveLength(1);
    expect((await call(url, { method: "DELETE", key, headers: TUS })).status).toBe(204);
    await expectProblem(await head(url), 410, "upload_terminated");
    await expectProblem(await patch(url, 9_000_000, wav.slice(9_000_000)), 410, "upload_terminated");
    expect(await tusObjects(uploadId)).toEqual([]);
  }, 60_000);

  it("an expired upload is 410; the cron aborts its multipart upload and deletes parts, tail and state", async () => {
    const wav = bigWav(9_600_000);
    const created = await callWith({ RESUMABLE_UPLOAD_TTL_SECONDS: "2" }, "/v1/uploads", {
      method: "POST",
      key,
      headers: { ...TUS, "upload-length": String(wav.byteLength) },
    });
    expect(created.status).toBe(201);
    const url = created.headers.get("location")!;
    const uploadId = url.split("/").pop()!;
    expect((await patch(url, 0, wav.slice(0, 9_000_000))).status).toBe(204);
    const state = await env.RESUMABLE_UPLOADS.get(env.RESUMABLE_UPLOADS.idFromName(uploadId)).view();
    expect(state?.offset).toBe(9_000_000);
    await new Promise((r) => setTimeout(r, 2100));
    await expectProblem(await head(url), 410, "upload_expired");
    await expectProblem(await patch(url, 9_000_000, wav.slice(9_000_000)), 410, "upload_expired");

    const db = createDb(env);
    const { purged } = await purgeExpiredUploads(env, db);
    expect(purged).toBeGreaterThanOrEqual(1);
    expect(await tusObjects(uploadId)).toEqual([]);
    await expectProblem(await head(url), 404, "upload_not_found");
    const row = await env.DB.prepare("SELECT id FROM resumable_uploads WHERE id = ?").bind(uploadId).first();
    expect(row).toBeNull();
  }, 60_000);

  it("erasing a subject or a tenant removes their unfinished uploads", async () => {
    const doomed = await createTenant("tus-erased");
    const wav = bigWav(9_600_000);
    const start = async (k: string, subject?: string) => {
      const res = await call("/v1/uploads", {
        method: "POST",
        key: k,
        headers: {
          ...TUS,
          "upload-length": String(wav.byteLength),
          "upload-metadata": subject ? metadata({ subject_id: subject }) : "",
        },
      });
      const url = res.headers.get("location")!;
      expect((await patch(url, 0, wav.slice(0, 9_000_000), {}, k)).status).toBe(204);
      return url;
    };
    const subjectUpload = await start(doomed.key, "erase-me");
    const otherUpload = await start(doomed.key, "keep-me");
    const db = createDb(env);
    const receipt = await eraseSubject(env, db, doomed.tenantId, "erase-me");
    expect(receipt.erased.resumable_uploads).toBe(1);
    await expectProblem(await head(subjectUpload, doomed.key), 404, "upload_not_found");
    expect((await head(otherUpload, doomed.key)).status).toBe(200);
    const tenantReceipt = await eraseTenant(env, db, doomed.tenantId);
    expect(tenantReceipt.erased.resumable_uploads).toBe(1);
    const left = await env.BUCKET.list({ prefix: `tus/${doomed.tenantId}/` });
    expect(left.objects).toEqual([]);
  }, 60_000);
});
