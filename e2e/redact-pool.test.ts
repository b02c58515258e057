/**
 * End to end, all real: `wrangler dev` (Worker, D1, R2, Queues under Miniflare) with a real Whisper pool process
 * (`npm start -w gpu-worker`: its HTTP server and ffmpeg). An M4A (AAC) upload with `redact_pii_audio` is
 * transcribed by an OpenAI-compatible stand-in (a tiny local server: the vendor is not ours) that says a phone number
 * at 1.0–1.6 s; the Worker asks the pool to redact (`POST /v1/redactions`), the pool fetches the signed audio URL,
 * tones the span with ffmpeg and PUTs the WAV to the signed upload URL; the console's player then serves the copy.
 * A second M4A is transcribed by the pool itself (synthetic whisper.cpp weights): its result callback only stores the
 * text-redacted transcript and queues the audio redaction, which the Worker's queue consumer (Miniflare's real local
 * queue) asks the pool for before it completes the job.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { afterAll, beforeAll, expect, it } from "vitest";

// plain ESM helper shared with `npm start`
import { stopAll } from "../scripts/lib/dev-env.mjs";
import { startPoolSystem } from "./support/pool-system.ts";

const ADMIN = "e2e-admin-key-0123456789abcdef";
const runFile = promisify(execFile);
let base = "";
let stateDir = "";
let clipDir = "";
let vendor: http.Server;

const WORDS = [
  { word: "call", start: 0.2, end: 0.4 },
  { word: "me", start: 0.4, end: 0.6 },
  { word: "on", start: 0.6, end: 0.9 },
  { word: "415", start: 1.0, end: 1.2 },
  { word: "555", start: 1.2, end: 1.4 },
  { word: "2671", start: 1.4, end: 1.6 },
  { word: "thanks", start: 2.0, end: 2.4 },
];
const TEXT = "call me on 415 555 2671 thanks";

beforeAll(async () => {
  clipDir = mkdtempSync(path.join(tmpdir(), "vtt-e2e-redact-"));
  vendor = http.createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(
        JSON.stringify({
          task: "transcribe",
          language: "english",
          duration: 3,
          text: TEXT,
          segments: [
            { id: 0, seek: 0, start: 0, end: 3, text: ` ${TEXT}`, tokens: [], temperature: 0, avg_logprob: -0.2 },
          ],
          words: WORDS,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => vendor.listen(0, "127.0.0.1", resolve));
  const vendorUrl = `http://127.0.0.1:${(vendor.address() as AddressInfo).port}/v1`;
  const system = await startPoolSystem({
    label: "redact-pool",
    adminKey: ADMIN,
    vars: {
      PROVIDERS: "openai,whisper-pool",
      OPENAI_API_KEY: "sk-e2e",
      OPENAI_BASE_URL: vendorUrl,
      OPENAI_MODEL: "whisper-1",
    },
  });
  base = system.base;
  stateDir = system.stateDir;
});

afterAll(async () => {
  await stopAll();
  await new Promise<void>((resolve) => (vendor ? vendor.close(() => resolve()) : resolve()));
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  if (clipDir) rmSync(clipDir, { recursive: true, force: true });
});

async function json(res: Response) {
  const text = await res.text();
  if (!res.ok) throw new Error(`${res.status}: ${text}`);
  return JSON.parse(text);
}

/** A 3 s M4A (AAC) of a 440 Hz tone, made by ffmpeg. */
async function m4aClip(name: string): Promise<Buffer<ArrayBuffer>> {
  const clip = path.join(clipDir, name);
  const source = "aevalsrc=0.5*sin(2*PI*440*t):s=16000:d=3";
  await runFile("ffmpeg", ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", source, "-c:a", "aac", clip]);
  return readFileSync(clip);
}

/** A new tenant's API key, as an authorization header. */
async function tenantAuth(name: string): Promise<Record<string, string>> {
  const admin = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };
  const tenant = await json(
    await fetch(`${base}/v1/admin/tenants`, { method: "POST", headers: admin, body: JSON.stringify({ name }) }),
  );
  const { key } = await json(
    await fetch(`${base}/v1/admin/tenants/${tenant.id}/keys`, { method: "POST", headers: admin, body: "{}" }),
  );
  return { authorization: `Bearer ${key}` };
}

/** Uploads `audio` with `redact_pii_audio` on `provider` and polls the job until it settles. */
async function redactedJob(auth: Record<string, string>, audio: Buffer<ArrayBuffer>, provider: string) {
  const form = new FormData();
  form.append("provider", provider);
  form.append("redact_pii", "true");
  form.append("redact_pii_audio", "true");
  form.append("file", new Blob([audio]), "call.m4a");
  const upload = await fetch(`${base}/v1/transcriptions`, { method: "POST", headers: auth, body: form });
  expect(upload.status).toBe(202);
  const { id } = await upload.json();
  let job: Record<string, unknown> = {};
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    job = await json(await fetch(`${base}/v1/transcriptions/${id}`, { headers: auth }));
    if (job.status === "completed" || job.status === "failed") break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return { id: String(id), job };
}

/** The job's stored audio as the console's player serves it (signed in with the tenant's key). */
async function consoleAudio(auth: Record<string, string>, id: string): Promise<Buffer> {
  const signIn = await fetch(`${base}/console/sign-in`, {
    method: "POST",
    redirect: "manual",
    headers: { origin: base, "sec-fetch-site": "same-origin" },
    body: new URLSearchParams({ api_key: auth.authorization!.slice("Bearer ".length) }),
  });
  expect(signIn.status).toBe(303);
  const cookie = signIn.headers.get("set-cookie")!.split(";")[0]!;
  const audio = await fetch(`${base}/console/transcripts/${id}/audio`, { headers: { cookie }, redirect: "manual" });
  expect(audio.status).toBe(200);
  return Buffer.from(await audio.arrayBuffer());
}

it("an M4A upload with redact_pii_audio is toned by the pool's ffmpeg and stored as 16-bit WAV", async () => {
  const auth = await tenantAuth("e2e-redact");
  const { id, job } = await redactedJob(auth, await m4aClip("call.m4a"), "openai");
  expect(job.error).toBeNull();
  expect(job).toMatchObject({ status: "completed", audio_format: "wav", text: "call me on [PHONE_NUMBER] thanks" });

  const bytes = await consoleAudio(auth, id);
  expect(bytes.toString("latin1", 0, 4)).toBe("RIFF");
  expect(bytes.readUInt16LE(34)).toBe(16);
  const rate = bytes.readUInt32LE(24);
  expect(rate).toBe(16_000);
  const sample = (seconds: number) => bytes.readInt16LE(44 + 2 * Math.round(seconds * rate)) / 32767;
  // inside the span (0.95–1.65 s): the 1 kHz tone at 0.25; outside: the 440 Hz signal at 0.5 (lossy)
  let toneError = 0;
  let signalError = 0;
  for (let f = Math.round(1.0 * rate); f < Math.round(1.6 * rate); f++)
    toneError = Math.max(toneError, Math.abs(sample(f / rate) - 0.25 * Math.sin((2 * Math.PI * 1000 * f) / rate)));
  for (let f = Math.round(2.0 * rate); f < Math.round(2.8 * rate); f++)
    signalError = Math.max(signalError, Math.abs(sample(f / rate) - 0.5 * Math.sin((2 * Math.PI * 440 * f) / rate)));
  expect(toneError).toBeLessThan(0.001);
  expect(signalError).toBeLessThan(0.1);
});

it("an M4A the pool transcribes: its callback queues the redaction, the consumer has the pool tone it, the job completes", async () => {
  // the synthetic model's words are noise: whatever spans they hold (usually none), the stored copy is the pool's WAV
  const auth = await tenantAuth("e2e-redact-pooled");
  const { id, job } = await redactedJob(auth, await m4aClip("pooled.m4a"), "whisper-pool");
  expect(job.error).toBeNull();
  expect(job).toMatchObject({ status: "completed", provider: "whisper-pool", audio_format: "wav" });
  const redaction = job.redaction as { audio: boolean; audio_spans: unknown[] };
  expect(redaction.audio).toBe(true);
  expect(Array.isArray(redaction.audio_spans)).toBe(true);
  const bytes = await consoleAudio(auth, id);
  expect(bytes.toString("latin1", 0, 4)).toBe("RIFF");
  expect(bytes.readUInt16LE(34)).toBe(16);
  expect(bytes.readUInt32LE(24)).toBe(16_000);
  // about the clip's 3 s (AAC's priming samples trimmed by ffmpeg's decode)
  expect((bytes.length - 44) / 2 / 16_000).toBeGreaterThan(2.9);
  expect((bytes.length - 44) / 2 / 16_000).toBeLessThan(3.1);
});
