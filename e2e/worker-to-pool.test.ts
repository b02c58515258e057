/**
 * End to end, all real: `wrangler dev` (Worker, D1, R2, Queues under Miniflare) → signed dispatch to the Whisper pool
 * (BullMQ on a private redis-server, ffmpeg, whisper.cpp on a synthetic model) → signed callback → completed job.
 */
import { rmSync } from "node:fs";

import { afterAll, beforeAll, expect, it } from "vitest";

// plain ESM helper shared with `npm start`
import { stopAll } from "../scripts/lib/dev-env.mjs";
import { startPoolSystem } from "./support/pool-system.ts";

const ADMIN = "e2e-admin-key-0123456789abcdef";
let base = "";
let stateDir = "";

function wav(seconds: number): Buffer {
  const rate = 16_000;
  const samples = Math.round(seconds * rate);
  const buf = Buffer.alloc(44 + samples * 2);
  buf.write("RIFF", 0);
  buf.writeUInt32LE(36 + samples * 2, 4);
  buf.write("WAVEfmt ", 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write("data", 36);
  buf.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++) {
    // a warbling tone with pauses, so the pool has something speech-like to window
    const envelope = Math.floor(i / (rate * 0.7)) % 2 === 0 ? 1 : 0.05;
    buf.writeInt16LE(
      Math.round(Math.sin((2 * Math.PI * (300 + 200 * Math.sin(i / 3000)) * i) / rate) * 9000 * envelope),
      44 + i * 2,
    );
  }
  return buf;
}

/** Everything the pool and the Worker print, to follow one trace id across both processes. */
const poolLogs: string[] = [];
const workerLogs: string[] = [];

beforeAll(async () => {
  const system = await startPoolSystem({ label: "pool", adminKey: ADMIN, poolLogs, workerLogs });
  base = system.base;
  stateDir = system.stateDir;
});

afterAll(async () => {
  await stopAll();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

async function json(res: Response) {
  const text = await res.text();
  if (!res.ok) throw new Error(`${res.status}: ${text}`);
  return JSON.parse(text);
}

it("an upload goes through the pool and comes back as a completed transcript", async () => {
  const admin = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };
  const tenant = await json(
    await fetch(`${base}/v1/admin/tenants`, { method: "POST", headers: admin, body: '{"name":"e2e"}' }),
  );
  const { key } = await json(
    await fetch(`${base}/v1/admin/tenants/${tenant.id}/keys`, { method: "POST", headers: admin, body: "{}" }),
  );
  const auth = { authorization: `Bearer ${key}` };

  const form = new FormData();
  form.append("file", new Blob([new Uint8Array(wav(3))], { type: "audio/wav" }), "tone.wav");
  form.append("language", "en");
  const traceId = "0af7651916cd43dd8448eb211c80319c";
  const upload = await fetch(`${base}/v1/transcriptions`, {
    method: "POST",
    headers: { ...auth, traceparent: `00-${traceId}-b7ad6b7169203331-01` },
    body: form,
  });
  expect(upload.status).toBe(202);
  expect(upload.headers.get("x-trace-id")).toBe(traceId);
  const { id } = await upload.json();

  let job: Record<string, unknown> = {};
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    job = await json(await fetch(`${base}/v1/transcriptions/${id}`, { headers: auth }));
    if (job.status === "completed" || job.status === "failed") break;
    await new Promise((r) => setTimeout(r, 500));
  }
  expect(job.error).toBeNull();
  expect(job).toMatchObject({ id, status: "completed", provider: "whisper-pool" });
  expect(typeof job.text).toBe("string");
  expect(Array.isArray(job.segments)).toBe(true);
  // whisper.cpp's token probabilities reach the stored segments (drift features use them)
  for (const segment of job.segments as { avg_logprob?: number }[]) expect(segment.avg_logprob).toBeLessThanOrEqual(0);
  expect(String(job.model)).toContain("synthetic");
  expect(job.started_at).toEqual(expect.any(String));
  const vtt = await fetch(`${base}/v1/transcriptions/${id}/transcript?format=vtt`, { headers: auth });
  expect(vtt.status).toBe(200);
  expect((await vtt.text()).startsWith("WEBVTT")).toBe(true);

  // one trace id across both processes: the Worker's upload, consumer and callback lines, and the pool's job lines
  const traced = (lines: string[]) =>
    lines.flatMap((line) => {
      const start = line.indexOf("{");
      if (start < 0) return [];
      try {
        const parsed = JSON.parse(line.slice(start)) as Record<string, unknown>;
        return parsed.trace_id === traceId ? [String(parsed.event)] : [];
      } catch {
        return [];
      }
    });
  expect(traced(workerLogs)).toEqual(
    expect.arrayContaining(["request", "provider_call", "job_dispatched", "pool_callback", "job_finished"]),
  );
  expect(traced(poolLogs).length).toBeGreaterThan(0);
});
