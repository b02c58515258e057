/**
 * The real `tus-js-client` in Node against a real `wrangler dev` (issue 13 §1): a 300 MB 16 kHz mono WAV (9375 s,
 * about 2.6 h) goes up in 50 MB PATCHes through a loopback TCP proxy that cuts the connection once ~120 MB have
 * passed; a new Upload resumes from the upload's URL at the offset the server reports, and the job completes.
 *
 * The provider is a loopback OpenAI-compatible server (the Worker's OpenAI adapter, OPENAI_BASE_URL, with
 * OPENAI_MAX_AUDIO_BYTES raised to take 300 MB), not the whisper.cpp pool: 2.6 h of audio would take far too long on
 * this machine's CPUs. The fake does not know the file: it answers with the duration it computes from the WAV bytes
 * the Worker actually sent it (the file part's length minus the 44-byte header, at 32 000 bytes per second), so the
 * job's duration proves all 300 MB arrived in R2 and came back out in order of size.
 *
 * `wrangler dev` 4.86 puts a proxy (its ProxyWorker) in front of the Worker. When one of its forwards fails — the cut
 * PATCH's does, and so does now and then one sent on a pooled proxy → Worker connection that the other end had
 * closed (`Broken pipe` in wrangler's log; in one loaded run the PATCH after every PATCH) — a PATCH gets
 * `503 Your worker restarted mid-request` (tus-js-client retries it), while a GET or HEAD is parked in a retry queue
 * that the proxy drains only when the next request reaches `wrangler dev`. The test's own HEAD after the upload was
 * such a lone request: it waited for undici's 300 s `headersTimeout` and failed with "fetch failed" (the full CI run
 * of 2026-12-01); a second request sent while it hung answered it at once. So while the test runs it sends
 * `GET /healthz` once a second ({@link keepDevProxyDraining}): a parked request waits a second, not forever.
 */
import { once } from "node:events";
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

import * as tus from "tus-js-client";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";

// plain ESM helper shared with `npm start`
import { freePort, stopAll } from "../scripts/lib/dev-env.mjs";
import { startWranglerDev } from "./support/wrangler-dev.ts";

const ADMIN = "e2e-admin-key-0123456789abcdef";
const RATE = 16_000;
const SECONDS = 9375; // 300 000 000 bytes of samples
const DATA_BYTES = SECONDS * RATE * 2;
const FILE_BYTES = 44 + DATA_BYTES;
const CHUNK = 50 * 1024 * 1024;
const CUT_AFTER = 120 * 1024 * 1024;

let tmp = "";
let stateDir = "";
let wavPath = "";
let base = "";
let proxied = "";
let proxy: net.Server;
let cutArmed = true;
let cuts = 0;
/** bytes clients sent through the proxy, all connections together */
let proxiedBytes = 0;
const proxySockets = new Set<net.Socket>();
let upstream: http.Server;
const upstreamCalls: { fileBytes: number; header: string }[] = [];
/** what wrangler dev printed, shown when the test fails */
const workerLogs: string[] = [];
let stopDraining = () => {};

/** Writes the WAV block by block (a 330 Hz tone), so the test never holds 300 MB. */
async function writeWav(file: string): Promise<void> {
  const out = createWriteStream(file);
  const header = Buffer.alloc(44);
  header.write("RIFF", 0);
  header.writeUInt32LE(36 + DATA_BYTES, 4);
  header.write("WAVEfmt ", 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(RATE, 24);
  header.writeUInt32LE(RATE * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write("data", 36);
  header.writeUInt32LE(DATA_BYTES, 40);
  const write = async (buf: Buffer) => {
    if (!out.write(buf)) await once(out, "drain");
  };
  await write(header);
  // one second of tone, repeated (330 Hz: a whole number of periods per second)
  const second = Buffer.alloc(RATE * 2);
  for (let i = 0; i < RATE; i++)
    second.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 330 * i) / RATE) * 9000), i * 2);
  const block = Buffer.concat(Array.from({ length: 25 }, () => second)); // 25 s per write
  for (let s = 0; s < SECONDS; s += 25) await write(block);
  out.end();
  await once(out, "finish");
}

/**
 * A loopback OpenAI-compatible server that streams the multipart body (keeping only its first and last 64 KiB) and
 * answers `verbose_json` whose duration is computed from the length of the file part it received.
 */
function startUpstream(): Promise<string> {
  upstream = http.createServer(async (req, res) => {
    const boundary = /boundary=([^;]+)/.exec(req.headers["content-type"] ?? "")?.[1] ?? "";
    let head = Buffer.alloc(0);
    let tail = Buffer.alloc(0);
    let total = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (head.length < 65_536) head = Buffer.concat([head, chunk]).subarray(0, 65_536);
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > 65_536) tail = tail.subarray(tail.length - 65_536);
    }
    const fileHeaderAt = head.indexOf("filename=");
    const fileStart = head.indexOf("\r\n\r\n", fileHeaderAt) + 4;
    const tailStart = total - tail.length;
    const end = tailStart + tail.indexOf(`\r\n--${boundary}`, Math.max(0, fileStart - tailStart));
    const fileBytes = end - fileStart;
    const header = head.subarray(fileStart, fileStart + 12).toString("latin1");
    upstreamCalls.push({ fileBytes, header });
    const duration = header.startsWith("RIFF") ? (fileBytes - 44) / (RATE * 2) : 0;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        task: "transcribe",
        language: "english",
        duration,
        text: "A long tone.",
        segments: [{ start: 0, end: duration, text: " A long tone.", avg_logprob: -0.2, no_speech_prob: 0.01 }],
        usage: { type: "duration", seconds: Math.ceil(duration) },
      }),
    );
  });
  return new Promise((resolve) =>
    upstream.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`)),
  );
}

/**
 * Sends `GET /healthz` to `wrangler dev` every second until the returned function is called, so a GET or HEAD that
 * wrangler's dev proxy parked after a failed forward is retried within a second (module comment).
 */
function keepDevProxyDraining(origin: string): () => void {
  const timer = setInterval(() => {
    fetch(`${origin}/healthz`, { signal: AbortSignal.timeout(5_000) })
      .then((res) => res.body?.cancel())
      .catch(() => undefined);
  }, 1_000);
  return () => clearInterval(timer);
}

/**
 * Client → proxy → wrangler dev. While armed, the connection that carries the byte past CUT_AFTER (counted over all
 * connections: wrangler's dev proxy may close a kept-alive connection after a PATCH, so tus-js-client's next PATCH
 * can come on a new one) is destroyed.
 */
function startProxy(target: number): Promise<string> {
  proxy = net.createServer((client) => {
    const server = net.connect(target, "127.0.0.1");
    for (const socket of [client, server]) {
      proxySockets.add(socket);
      socket.on("close", () => proxySockets.delete(socket));
    }
    client.on("data", (chunk: Buffer) => {
      proxiedBytes += chunk.length;
      if (cutArmed && proxiedBytes > CUT_AFTER) {
        cutArmed = false;
        cuts++;
        client.destroy();
        server.destroy();
        return;
      }
      if (!server.write(chunk)) {
        client.pause();
        server.once("drain", () => client.resume());
      }
    });
    client.on("end", () => server.end());
    server.pipe(client);
    client.on("error", () => server.destroy());
    server.on("error", () => client.destroy());
  });
  return new Promise((resolve) =>
    proxy.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`)),
  );
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), "vtt-e2e-tus-"));
  wavPath = path.join(tmp, "lecture.wav");
  // written while wrangler dev starts, outside the project tree (wrangler's watcher never sees it)
  const written = writeWav(wavPath);
  const upstreamURL = await startUpstream();

  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const vars: Record<string, string> = {
    ENVIRONMENT: "development",
    ADMIN_API_KEY: ADMIN,
    PROVIDERS: "openai",
    OPENAI_API_KEY: "sk-e2e-upstream",
    OPENAI_BASE_URL: upstreamURL,
    OPENAI_MODEL: "whisper-1",
    // the compatible server takes the whole file (OpenAI itself stops at 25 MB)
    OPENAI_MAX_AUDIO_BYTES: String(512 * 1024 * 1024),
    OPENAI_TIMEOUT_MS: "600000",
    PUBLIC_BASE_URL: base,
    ENCRYPTION_KEYS: "e2e:e2e-master-key-0123456789abcdefghijkl",
  };
  const dev = await startWranglerDev({ label: "tus", port, vars, logs: workerLogs });
  stateDir = dev.stateDir;
  await Promise.all([dev.ready, written]);
  expect(statSync(wavPath).size).toBe(FILE_BYTES);
  proxied = await startProxy(port);
  stopDraining = keepDevProxyDraining(base);
}, 300_000);

afterAll(async () => {
  stopDraining();
  await stopAll();
  // keep-alive connections (the tus client's agent, the Worker's fetch) would hold close() open
  for (const socket of proxySockets) socket.destroy();
  upstream?.closeAllConnections();
  await new Promise((resolve) => proxy?.close(resolve));
  await new Promise((resolve) => upstream?.close(resolve));
  for (const dir of [tmp, stateDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

async function tenantKey(): Promise<string> {
  const admin = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };
  const tenant = (await (
    await fetch(`${base}/v1/admin/tenants`, { method: "POST", headers: admin, body: JSON.stringify({ name: "tus" }) })
  ).json()) as { id: string };
  const key = (await (
    await fetch(`${base}/v1/admin/tenants/${tenant.id}/keys`, { method: "POST", headers: admin, body: "{}" })
  ).json()) as { key: string };
  return key.key;
}

type Job = {
  id: string;
  status: string;
  upload_id: string | null;
  audio_bytes: number;
  duration_seconds: number | null;
  error: { code: string; message: string } | null;
};

async function waitForJob(key: string, id: string): Promise<Job> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const job = (await (
      await fetch(`${base}/v1/transcriptions/${id}`, { headers: { authorization: `Bearer ${key}` } })
    ).json()) as Job;
    if (job.status === "completed" || job.status === "failed") return job;
    if (Date.now() > deadline) throw new Error(`job ${id} stuck: ${JSON.stringify(job)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe("tus-js-client against wrangler dev", () => {
  it("uploads 300 MB in 50 MB chunks, survives a cut connection, resumes from its URL, and the job completes", async () => {
    // the drain's once-a-second health checks would crowd out everything else
    const printed = () => workerLogs.filter((line) => line.trim() && !line.includes("/healthz")).slice(-80);
    onTestFailed(() => console.log(`wrangler dev, last lines:\n${printed().join("\n")}`));
    const key = await tenantKey();
    const options = {
      endpoint: `${proxied}/v1/uploads`,
      chunkSize: CHUNK,
      headers: { authorization: `Bearer ${key}` },
      metadata: { filename: "lecture.wav", filetype: "audio/wav", language: "en" },
      uploadSize: FILE_BYTES,
    };

    // 1. the first client: the cut ends it with an error after the upload URL exists (before the cut it retries what
    // any tus client retries, such as a 503 from wrangler's dev proxy; after it, nothing)
    let uploadUrl = "";
    const firstError = await new Promise<Error>((resolve, reject) => {
      const upload = new tus.Upload(createReadStream(wavPath), {
        ...options,
        retryDelays: [0, 1000, 3000],
        onShouldRetry: (error, attempt, opts) => cuts === 0 && tus.defaultOptions.onShouldRetry!(error, attempt, opts),
        onError: (error) => {
          uploadUrl = upload.url ?? "";
          resolve(error);
        },
        onSuccess: () => reject(new Error("the upload finished although the connection was cut")),
      });
      upload.start();
    });
    expect(cuts).toBe(1);
    expect(firstError.message).toMatch(/failed|socket|reset|ECONNRESET|hang up/i);
    expect(uploadUrl).toMatch(/\/v1\/uploads\/[A-Za-z0-9_-]+$/);

    // 2. a new client resumes from the URL: it HEADs the offset and PATCHes from there
    const headOffsets: number[] = [];
    const patchOffsets: number[] = [];
    let transcriptionId = "";
    await new Promise<void>((resolve, reject) => {
      const upload = new tus.Upload(createReadStream(wavPath), {
        ...options,
        uploadUrl,
        retryDelays: [0, 1000, 3000],
        onBeforeRequest: (req) => {
          if (req.getMethod() === "PATCH") patchOffsets.push(Number(req.getHeader("Upload-Offset")));
        },
        onAfterResponse: (req, res) => {
          if (req.getMethod() === "HEAD") headOffsets.push(Number(res.getHeader("Upload-Offset")));
          const id = res.getHeader("Transcription-Id");
          if (id) transcriptionId = id;
        },
        onError: reject,
        onSuccess: () => resolve(),
      });
      upload.start();
    });
    const resumedAt = headOffsets[0];
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThan(FILE_BYTES);
    expect(patchOffsets[0]).toBe(resumedAt);
    expect(transcriptionId).toMatch(/^tr_/);

    // 3. a HEAD on the finished upload names the same job
    const head = await fetch(uploadUrl, {
      method: "HEAD",
      headers: { authorization: `Bearer ${key}`, "tus-resumable": "1.0.0" },
    });
    expect(head.status).toBe(200);
    expect(head.headers.get("upload-offset")).toBe(String(FILE_BYTES));
    expect(head.headers.get("transcription-id")).toBe(transcriptionId);

    // 4. the job completes with the WAV's duration, computed upstream from the bytes the Worker sent
    const job = await waitForJob(key, transcriptionId);
    expect(job.error).toBeNull();
    expect(job.status).toBe("completed");
    expect(job.upload_id).toBe(uploadUrl.split("/").pop());
    expect(job.audio_bytes).toBe(FILE_BYTES);
    expect(upstreamCalls).toHaveLength(1);
    expect(upstreamCalls[0]!.fileBytes).toBe(FILE_BYTES);
    expect(upstreamCalls[0]!.header.slice(0, 4) + upstreamCalls[0]!.header.slice(8)).toBe("RIFFWAVE");
    expect(Math.abs((job.duration_seconds ?? 0) - SECONDS)).toBeLessThanOrEqual(0.1);
  }, 600_000);
});
