/**
 * `POST /v1/redactions` against a real pool (real Redis, real ffmpeg): an M4A (AAC) and a stereo WebM (Opus) made by
 * ffmpeg with a known tone are fetched from a stand-in edge, toned over the spans and PUT back as 16-bit PCM WAV;
 * inside the spans the copy is the 1 kHz tone, outside it matches ffmpeg's own decode of the original. Bad audio,
 * bad signatures, bad bodies and a refused upload answer with stable codes.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { type RedactionRequestBody, signedHeaders } from "@vtt/pool-contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { redactionFilter } from "../src/audio/redact.ts";
import type { RunningPool } from "../src/pool.ts";
import { type PrivateRedis, startPrivateRedis } from "../src/redis-server.ts";
import { BRIDGE_KEYS } from "./helpers/edge.ts";
import { startTestPool } from "./helpers/pool.ts";

const run = promisify(execFile);

/** What the stand-in edge received on its upload route. */
interface Upload {
  path: string;
  contentType: string | undefined;
  body: Buffer;
}

let redis: PrivateRedis;
let pool: RunningPool;
let dir: string;
let edge: http.Server;
let edgeUrl = "";
const audio = new Map<string, Buffer>();
const uploads: Upload[] = [];
let uploadStatus = 200;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "vtt-redaction-test-"));
  edge = http.createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const url = new URL(request.url ?? "/", "http://edge");
    const audioMatch = /^\/internal\/audio\/([^/]+)$/.exec(url.pathname);
    if (audioMatch && request.method === "GET") {
      const bytes = audio.get(audioMatch[1]!);
      if (!bytes) return response.writeHead(404).end();
      response.writeHead(200, { "content-length": String(bytes.length) }).end(bytes);
      return;
    }
    if (url.pathname.startsWith("/internal/redactions/") && request.method === "PUT") {
      const body = Buffer.concat(chunks);
      uploads.push({ path: url.pathname, contentType: request.headers["content-type"], body });
      if (uploadStatus !== 200) return response.writeHead(uploadStatus).end();
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ stored: true, bytes: body.length }));
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => edge.listen(0, "127.0.0.1", resolve));
  edgeUrl = `http://127.0.0.1:${(edge.address() as AddressInfo).port}`;
  redis = await startPrivateRedis();
  pool = await startTestPool(redis.url);
});
afterAll(async () => {
  await pool?.stop();
  await redis?.stop();
  await new Promise<void>((resolve) => (edge ? edge.close(() => resolve()) : resolve()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A clip made by ffmpeg: a 440 Hz sine (one per channel, 660 Hz on the second) encoded with `codec`. */
async function makeClip(name: string, rate: number, channels: number, codec: string[]): Promise<string> {
  const file = path.join(dir, name);
  const source =
    channels === 1
      ? ["-f", "lavfi", "-i", `sine=frequency=440:duration=3:sample_rate=${rate}`]
      : [
          ...["-f", "lavfi", "-i", `sine=frequency=440:duration=3:sample_rate=${rate}`],
          ...["-f", "lavfi", "-i", `sine=frequency=660:duration=3:sample_rate=${rate}`],
          ...["-filter_complex", "[0:a][1:a]amerge=inputs=2[a]", "-map", "[a]"],
        ];
  await run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", ...source, ...codec, file]);
  return file;
}

/** ffmpeg's own decode of a clip as interleaved 16-bit samples at its own rate and channel count. */
async function decodeS16(file: string): Promise<Int16Array> {
  const { stdout } = await run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-i", file, "-f", "s16le", "pipe:1"], {
    encoding: "buffer",
    maxBuffer: 64 * 1024 * 1024,
  });
  return new Int16Array(stdout.buffer.slice(stdout.byteOffset, stdout.byteOffset + stdout.length));
}

function parseWav(bytes: Buffer): { rate: number; channels: number; samples: Int16Array } {
  expect(bytes.toString("latin1", 0, 4)).toBe("RIFF");
  expect(bytes.toString("latin1", 8, 16)).toBe("WAVEfmt ");
  expect(bytes.readUInt16LE(20)).toBe(1); // PCM
  expect(bytes.readUInt16LE(34)).toBe(16);
  expect(bytes.toString("latin1", 36, 40)).toBe("data");
  expect(bytes.readUInt32LE(40)).toBe(bytes.length - 44);
  const data = bytes.subarray(44);
  return {
    rate: bytes.readUInt32LE(24),
    channels: bytes.readUInt16LE(22),
    samples: new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)),
  };
}

async function requestRedaction(body: RedactionRequestBody | Record<string, unknown>, keys = BRIDGE_KEYS) {
  const raw = JSON.stringify(body);
  return fetch(`${pool.url}/v1/redactions`, {
    method: "POST",
    headers: { ...(await signedHeaders(keys, raw)), "content-type": "application/json" },
    body: raw,
  });
}

function redactionBody(jobId: string, spans: { start: number; end: number }[]): RedactionRequestBody {
  const exp = Math.floor(Date.now() / 1000) + 600;
  return {
    job_id: jobId,
    audio_url: `${edgeUrl}/internal/audio/${jobId}?exp=${exp}&kid=a1&sig=x`,
    audio_expires_at: exp,
    upload_url: `${edgeUrl}/internal/redactions/${jobId}/res1?exp=${exp}&kid=a1&sig=y`,
    spans,
  };
}

const SPANS = [
  { start: 0.5, end: 1.0 },
  { start: 2.0, end: 2.5 },
];
/** Samples this close to a span's edge are not compared (ffmpeg's `t` is per frame; AAC frames blur the edge). */
const EDGE_SECONDS = 0.01;

describe.each([
  { name: "M4A (AAC)", file: "clip.m4a", rate: 44_100, channels: 1, codec: ["-c:a", "aac", "-b:a", "128k"] },
  { name: "WebM (Opus, stereo)", file: "clip.webm", rate: 48_000, channels: 2, codec: ["-c:a", "libopus"] },
])("$name", ({ file, rate, channels, codec }) => {
  it("uploads a 16-bit WAV: the tone inside every span, the decoded original outside", async () => {
    const clip = await makeClip(file, rate, channels, codec);
    const jobId = `tr_${file.replace(".", "_")}`;
    audio.set(jobId, await readFile(clip));
    uploads.length = 0;
    const response = await requestRedaction(redactionBody(jobId, SPANS));
    expect(response.status).toBe(200);
    const answer = (await response.json()) as Record<string, number | string>;
    expect(uploads).toHaveLength(1);
    expect(uploads[0]!.path).toBe(`/internal/redactions/${jobId}/res1`);
    expect(uploads[0]!.contentType).toBe("audio/wav");
    const wav = parseWav(uploads[0]!.body);
    expect(answer).toMatchObject({ job_id: jobId, bytes: uploads[0]!.body.length, sample_rate: rate, channels });
    expect(wav.rate).toBe(rate);
    expect(wav.channels).toBe(channels);
    const original = await decodeS16(clip);
    expect(wav.samples.length).toBe(original.length);
    expect(Number(answer.duration_seconds)).toBeCloseTo(original.length / channels / rate, 6);
    let inside = 0;
    let outside = 0;
    let worstInside = 0;
    let worstOutside = 0;
    for (let i = 0; i < wav.samples.length; i++) {
      const t = Math.floor(i / channels) / rate;
      const span = SPANS.find((s) => t >= s.start - EDGE_SECONDS && t <= s.end + EDGE_SECONDS);
      if (span && t > span.start + EDGE_SECONDS && t < span.end - EDGE_SECONDS) {
        const expected = 0.25 * Math.sin(2 * Math.PI * 1000 * t) * 32767;
        worstInside = Math.max(worstInside, Math.abs(wav.samples[i]! - expected));
        inside++;
      } else if (!span) {
        worstOutside = Math.max(worstOutside, Math.abs(wav.samples[i]! - original[i]!));
        outside++;
      }
    }
    expect(inside).toBeGreaterThan(0.9 * rate * channels);
    expect(outside).toBeGreaterThan(1.9 * rate * channels);
    // inside: the tone itself (rounding to 16 bits); outside: the same decoder's output, to within one step
    expect(worstInside).toBeLessThanOrEqual(2);
    expect(worstOutside).toBeLessThanOrEqual(1);
  });
});

it("with no spans the copy is ffmpeg's plain decode as 16-bit WAV", async () => {
  const clip = await makeClip("plain.m4a", 22_050, 1, ["-c:a", "aac"]);
  audio.set("tr_plain", await readFile(clip));
  uploads.length = 0;
  const response = await requestRedaction(redactionBody("tr_plain", []));
  expect(response.status).toBe(200);
  const wav = parseWav(uploads[0]!.body);
  expect(wav.rate).toBe(22_050);
  expect(Array.from(wav.samples)).toEqual(Array.from(await decodeS16(clip)));
});

describe("failures", () => {
  it("answers 422 invalid_audio for bytes ffmpeg cannot decode, and uploads nothing", async () => {
    audio.set("tr_garbage", Buffer.from("this is not audio at all, just text pretending to be a file".repeat(50)));
    uploads.length = 0;
    const response = await requestRedaction(redactionBody("tr_garbage", SPANS));
    expect(response.status).toBe(422);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(await response.json()).toMatchObject({ code: "invalid_audio" });
    expect(uploads).toHaveLength(0);
  });

  it("answers 422 audio_gone when the edge no longer has the audio", async () => {
    const response = await requestRedaction(redactionBody("tr_missing", SPANS));
    expect(response.status).toBe(422);
    expect(await response.json()).toMatchObject({ code: "audio_gone" });
  });

  it("answers 422 upload_failed when the edge refuses the copy", async () => {
    const clip = await makeClip("refused.m4a", 16_000, 1, ["-c:a", "aac"]);
    audio.set("tr_refused", await readFile(clip));
    uploadStatus = 403;
    try {
      const response = await requestRedaction(redactionBody("tr_refused", SPANS));
      expect(response.status).toBe(422);
      expect(await response.json()).toMatchObject({ code: "upload_failed" });
    } finally {
      uploadStatus = 200;
    }
  });

  it("refuses a bad signature (401), a bad body (400 invalid_redaction) and other methods (405)", async () => {
    const body = redactionBody("tr_sig", SPANS);
    const wrong = await requestRedaction(body, [{ id: "e2", secret: "guess" }]);
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ code: "invalid_signature" });
    const reversed = await requestRedaction({ ...body, spans: [{ start: 2, end: 1 }] });
    expect(reversed.status).toBe(400);
    expect(await reversed.json()).toMatchObject({ code: "invalid_redaction" });
    const tooMany = await requestRedaction({ ...body, spans: Array.from({ length: 10_001 }, () => SPANS[0]) });
    expect(tooMany.status).toBe(400);
    const expired = await requestRedaction({ ...body, audio_expires_at: 1_000 });
    expect(await expired.json()).toMatchObject({ code: "audio_url_expired" });
    const get = await fetch(`${pool.url}/v1/redactions`);
    expect(get.status).toBe(405);
  });

  it("writes thousands of spans through a filter script, not the command line", () => {
    const spans = Array.from({ length: 10_000 }, (_, i) => ({ start: i, end: i + 0.5 }));
    expect(redactionFilter(spans).length).toBeGreaterThan(131_072);
  });
});
