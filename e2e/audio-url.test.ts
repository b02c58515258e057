/**
 * Audio by URL under a real `wrangler dev` (development mode, so loopback hosts are allowed as for webhooks): a real
 * Node HTTP server on 127.0.0.1 serves a WAV behind a redirect and a bearer check; the Worker's queue consumer
 * fetches it into R2 and the job moves on to its provider. The pool is not running (nothing listens at POOL_URL), so
 * the job stays `processing` with its dispatch retried; the stored audio is read back through the pool's signed
 * audio URL and compared byte for byte.
 */
import { rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";

import { encodeWav16, signAudioUrl } from "@vtt/pool-contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// plain ESM helper shared with `npm start`
import { freePort, stopAll } from "../scripts/lib/dev-env.mjs";
import { startWranglerDev } from "./support/wrangler-dev.ts";

const ADMIN = "e2e-admin-key-0123456789abcdef";
const AUDIO_URL_SECRET = "audio-url-e2e-secret";
const BEARER = "Bearer e2e-private-bucket-token";
let base = "";
let stateDir = "";
let audioServer: http.Server;
let audioBase = "";
const audioRequests: { path: string; authorization: string | undefined }[] = [];

const samples = Float32Array.from({ length: 16_000 }, (_, i) => Math.sin(i / 6) * 0.25);
const WAV = Buffer.from(encodeWav16(samples, 16_000));

beforeAll(async () => {
  audioServer = http.createServer((req, res) => {
    audioRequests.push({ path: req.url ?? "", authorization: req.headers.authorization });
    if (req.url === "/private/start.wav?sig=x") {
      res.writeHead(302, { location: "/private/clip.wav" }).end();
    } else if (req.url === "/private/clip.wav" && req.headers.authorization === BEARER) {
      res.writeHead(200, { "content-type": "audio/wav", "content-length": String(WAV.byteLength) }).end(WAV);
    } else if (req.url === "/page.html") {
      res.writeHead(200, { "content-type": "text/html" }).end("<html>" + "x".repeat(8000) + "</html>");
    } else {
      res.writeHead(404).end("no");
    }
  });
  await new Promise<void>((resolve) => audioServer.listen(0, "127.0.0.1", resolve));
  audioBase = `http://127.0.0.1:${(audioServer.address() as AddressInfo).port}`;

  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const vars: Record<string, string> = {
    ENVIRONMENT: "development",
    ADMIN_API_KEY: ADMIN,
    PROVIDERS: "whisper-pool",
    PUBLIC_BASE_URL: base,
    // nothing listens there: the dispatch after the fetch is retried, the job stays processing
    POOL_URL: "http://127.0.0.1:9",
    POOL_SIGNING_KEYS: "e2e:edge-to-pool",
    POOL_CALLBACK_KEYS: "e2e:pool-to-edge",
    AUDIO_URL_KEYS: `e2e:${AUDIO_URL_SECRET}`,
    ENCRYPTION_KEYS: "e2e:e2e-master-key-0123456789abcdefghijkl",
  };
  const dev = await startWranglerDev({ label: "audio-url", port, vars });
  stateDir = dev.stateDir;
  await dev.ready;
});

afterAll(async () => {
  await stopAll();
  await new Promise((resolve) => audioServer?.close(resolve));
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

async function tenantKey(): Promise<string> {
  const admin = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };
  const tenant = (await (
    await fetch(`${base}/v1/admin/tenants`, {
      method: "POST",
      headers: admin,
      body: JSON.stringify({ name: "e2e-url" }),
    })
  ).json()) as { id: string };
  const key = (await (
    await fetch(`${base}/v1/admin/tenants/${tenant.id}/keys`, { method: "POST", headers: admin, body: "{}" })
  ).json()) as { key: string };
  return key.key;
}

type Job = {
  id: string;
  status: string;
  audio_bytes: number;
  audio_format: string;
  attempts: number;
  error: { code: string; message: string } | null;
  source: { type: string; host?: string; fetched_at?: string | null };
};

async function waitForJob(key: string, id: string, done: (job: Job) => boolean): Promise<Job> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const job = (await (
      await fetch(`${base}/v1/transcriptions/${id}`, { headers: { authorization: `Bearer ${key}` } })
    ).json()) as Job;
    if (done(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} stuck: ${JSON.stringify(job)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("audio_url under wrangler dev", () => {
  it("fetches a WAV from a loopback server through a redirect with a bearer, stores it, and moves the job on", async () => {
    const key = await tenantKey();
    const submitted = await fetch(`${base}/v1/transcriptions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({
        audio_url: `${audioBase}/private/start.wav?sig=x`,
        audio_url_headers: { authorization: BEARER },
        language: "en",
      }),
    });
    expect(submitted.status, await submitted.clone().text()).toBe(202);
    const created = (await submitted.json()) as Job;
    expect(created).toMatchObject({ status: "queued", audio_bytes: 0, audio_format: "pending" });
    expect(created.source).toEqual({ type: "url", host: "127.0.0.1", fetched_at: null });

    const job = await waitForJob(key, created.id, (j) => j.source.fetched_at !== null && j.attempts > 0);
    expect(job).toMatchObject({ audio_bytes: WAV.byteLength, audio_format: "wav", error: null });
    expect(["queued", "processing"]).toContain(job.status);
    expect(audioRequests.map((r) => r.path)).toEqual(["/private/start.wav?sig=x", "/private/clip.wav"]);
    expect(audioRequests.every((r) => r.authorization === BEARER)).toBe(true);

    // the stored audio, read back the way the pool would (signed URL, opened from the sealed object)
    const exp = Math.floor(Date.now() / 1000) + 60;
    const sig = await signAudioUrl(AUDIO_URL_SECRET, created.id, exp);
    const audio = await fetch(`${base}/internal/audio/${created.id}?exp=${exp}&kid=e2e&sig=${sig}`);
    expect(audio.status).toBe(200);
    expect(Buffer.from(await audio.arrayBuffer()).equals(WAV)).toBe(true);
  });

  it("a page that is not audio fails the job with audio_url_not_audio; a 404 with audio_url_http_error", async () => {
    const key = await tenantKey();
    const submit = async (url: string) => {
      const res = await fetch(`${base}/v1/transcriptions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ audio_url: url }),
      });
      expect(res.status).toBe(202);
      return ((await res.json()) as Job).id;
    };
    const page = await submit(`${audioBase}/page.html`);
    const missing = await submit(`${audioBase}/missing.wav`);
    expect((await waitForJob(key, page, (j) => j.status === "failed")).error?.code).toBe("audio_url_not_audio");
    const gone = await waitForJob(key, missing, (j) => j.status === "failed");
    expect(gone.error?.code).toBe("audio_url_http_error");
    expect(gone.error?.message).toContain("404");
  });
});
