/**
 * Fetching and decoding with the real ffmpeg: formats (including MP4/M4A, which needs the seekable fallback),
 * corrupt and non-audio input, caps, and HTTP failures mapped to contract codes; then a decode failure through a
 * whole pool ends as a terminal failed callback after a single attempt.
 */
import { mkdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { checkAudioUrl, type DecodeOptions, fetchAndDecode } from "../src/audio/decode.ts";
import { PoolJobError } from "../src/errors.ts";
import type { RunningPool } from "../src/pool.ts";
import { type PrivateRedis, startPrivateRedis } from "../src/redis-server.ts";
import { bytesOf, decodeReference, jfkSlice, makeClip, tone } from "./helpers/audio.ts";
import { dispatch, type FakeEdge, startFakeEdge } from "./helpers/edge.ts";
import { startTestPool } from "./helpers/pool.ts";

let edge: FakeEdge;
const OPTIONS: DecodeOptions = {
  ffmpegPath: "ffmpeg",
  maxAudioBytes: 5_000_000,
  maxAudioSeconds: 120,
  fetchTimeoutMs: 5_000,
  // the fake edge listens on http://127.0.0.1
  urlPolicy: { local: true, allowedHosts: "" },
};

beforeAll(async () => {
  edge = await startFakeEdge();
});
afterAll(async () => {
  await edge?.close();
});

async function audioUrlFor(jobId: string, bytes: Uint8Array | null): Promise<string> {
  return (await edge.addJob(jobId, bytes)).audio_url as string;
}

async function failure(promise: Promise<unknown>): Promise<PoolJobError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PoolJobError);
  return error as PoolJobError;
}

describe("fetchAndDecode", () => {
  it("streams WAV through ffmpeg into the same samples ffmpeg gives for the file", async () => {
    const file = await jfkSlice(0, 3);
    const decoded = await fetchAndDecode(await audioUrlFor("tr_wav", await bytesOf(file)), OPTIONS);
    expect(decoded.durationSeconds).toBeCloseTo(3, 2);
    expect(Buffer.from(decoded.pcm.buffer).equals(Buffer.from((await decodeReference(file)).buffer))).toBe(true);
  });

  it("reads ffmpeg's output through an abstract socket when the temporary directory's path is too long", async () => {
    // a Unix socket path is limited to 107 bytes: a long TMPDIR must not break decoding
    const tmp = path.join(os.tmpdir(), "vtt-long-tmpdir-".padEnd(120, "x"));
    await mkdir(tmp, { recursive: true });
    const before = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      const file = await jfkSlice(0, 2);
      const decoded = await fetchAndDecode(await audioUrlFor("tr_long_tmpdir", await bytesOf(file)), OPTIONS);
      expect(Buffer.from(decoded.pcm.buffer).equals(Buffer.from((await decodeReference(file)).buffer))).toBe(true);
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it.each(["mp3", "ogg", "flac", "m4a"] as const)("decodes %s to 16 kHz mono", async (format) => {
    const file = await jfkSlice(1, 2, format);
    const decoded = await fetchAndDecode(await audioUrlFor(`tr_${format}`, await bytesOf(file)), OPTIONS);
    expect(decoded.durationSeconds).toBeGreaterThan(1.9);
    expect(decoded.durationSeconds).toBeLessThan(2.2);
    expect(decoded.pcm.some((s) => Math.abs(s) > 0.01)).toBe(true);
  });

  it("decodes an MP4 whose index sits at the end (too big to probe from a pipe) through the file fallback", async () => {
    const file = await makeClip({
      name: "tone-m4a-90",
      input: ["-f", "lavfi", "-i", "sine=frequency=300:duration=90"],
      format: "m4a",
    });
    const decoded = await fetchAndDecode(await audioUrlFor("tr_m4a_long", await bytesOf(file)), OPTIONS);
    expect(decoded.durationSeconds).toBeGreaterThan(89.9);
    expect(decoded.durationSeconds).toBeLessThan(90.2);
  });

  it("fails corrupt, non-audio and empty input with invalid_audio, not a retry", async () => {
    const wav = await bytesOf(await jfkSlice(0, 1));
    const truncatedHeader = wav.subarray(0, 30);
    const text = Buffer.from("<html>this is not audio</html>".repeat(50));
    for (const [id, bytes] of [
      ["tr_trunc", truncatedHeader],
      ["tr_text", text],
      ["tr_empty", Buffer.alloc(0)],
    ] as const) {
      const error = await failure(fetchAndDecode(await audioUrlFor(id, bytes), OPTIONS));
      expect(error.code, id).toBe("invalid_audio");
      expect(error.retryable).toBe(false);
    }
  });

  it("enforces the byte and duration caps with invalid_audio", async () => {
    const bytes = await bytesOf(await tone(440, 4));
    const tooBig = await failure(
      fetchAndDecode(await audioUrlFor("tr_big", bytes), { ...OPTIONS, maxAudioBytes: 10_000 }),
    );
    expect(tooBig.code).toBe("invalid_audio");
    expect(tooBig.message).toMatch(/larger than/);
    const tooLong = await failure(
      fetchAndDecode(await audioUrlFor("tr_long", bytes), { ...OPTIONS, maxAudioSeconds: 2 }),
    );
    expect(tooLong.code).toBe("invalid_audio");
    expect(tooLong.message).toMatch(/longer than the 2 s/);
  });

  it("maps a deleted job (404) and a bad signature (403) to audio_gone, a 5xx to a retryable fetch failure", async () => {
    const gone = await failure(
      fetchAndDecode(`${edge.url}/internal/audio/tr_unknown?exp=9999999999&kid=a1&sig=x`, OPTIONS),
    );
    expect(gone.code).toBe("audio_gone");
    const url = new URL(await audioUrlFor("tr_forged", Buffer.alloc(10)));
    url.searchParams.set("sig", "0".repeat(64));
    expect((await failure(fetchAndDecode(url.href, OPTIONS))).code).toBe("audio_gone");
    const flaky = async (): Promise<Response> => new Response("busy", { status: 503 });
    const unavailable = await failure(fetchAndDecode("http://edge.invalid/a", { ...OPTIONS, fetchImpl: flaky }));
    expect([unavailable.code, unavailable.retryable]).toEqual(["audio_fetch_failed", true]);
  });
});

describe("decode failures through the pool", () => {
  let redis: PrivateRedis;
  let pool: RunningPool;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    pool = await startTestPool(redis.url, { jobAttempts: 3 });
  });
  afterAll(async () => {
    await pool?.stop();
    await redis?.stop();
  });

  it("ends a non-audio job with a failed invalid_audio callback after one attempt", async () => {
    const response = await dispatch(
      pool.url,
      await edge.addJob("tr_pool_garbage", Buffer.from("definitely not audio ".repeat(100))),
    );
    expect(response.status).toBe(202);
    const callback = await edge.waitForCallback("tr_pool_garbage");
    expect(callback.body).toMatchObject({
      job_id: "tr_pool_garbage",
      status: "failed",
      error: { code: "invalid_audio", retryable: false },
    });
    expect(edge.audioRequests.filter((id) => id === "tr_pool_garbage")).toHaveLength(1);
  });

  it("refuses an audio URL outside its URL policy without fetching it: audio_url_refused, one attempt", async () => {
    // a pool reachable from outside (not local) fetches only public https URLs; the fake edge is http://127.0.0.1
    const strict = await startTestPool(redis.url, { jobAttempts: 3, audioFetchLocal: false });
    try {
      await dispatch(strict.url, await edge.addJob("tr_pool_refused", await bytesOf(await jfkSlice(0, 1))));
      const callback = await edge.waitForCallback("tr_pool_refused");
      expect(callback.body).toMatchObject({ status: "failed", error: { code: "audio_url_refused", retryable: false } });
      expect(edge.audioRequests).not.toContain("tr_pool_refused");
    } finally {
      await strict.stop();
    }
  });

  it("ends a job whose audio is gone with audio_gone", async () => {
    const body = await edge.addJob("tr_pool_gone", null);
    await dispatch(pool.url, body);
    const callback = await edge.waitForCallback("tr_pool_gone");
    expect(callback.body).toMatchObject({ status: "failed", error: { code: "audio_gone" } });
  });
});

describe("audio URL policy (the edge's SSRF guard, shared through @vtt/pool-contract)", () => {
  const strict = { local: false, allowedHosts: "" };
  it.each([
    ["http://127.0.0.1:8787/internal/audio/tr_x", "scheme"],
    ["https://127.0.0.1/internal/audio/tr_x", "loopback"],
    ["https://169.254.169.254/latest/meta-data", "link-local"],
    ["https://10.0.0.5/internal/audio/tr_x", "private"],
    ["https://127.0.0.1.nip.io/internal/audio/tr_x", "wildcard"],
    ["https://localtest.me/internal/audio/tr_x", "localtest"],
    ["https://user:pw@edge.example/internal/audio/tr_x", "credentials"],
  ])("refuses %s outside a local setup (%s)", (url) => {
    expect(() => checkAudioUrl(url, strict)).toThrow(
      expect.objectContaining({ code: "audio_url_refused", retryable: false }),
    );
  });

  it("accepts a public https edge, loopback http in a local setup, and hosts the operator allowed", () => {
    expect(checkAudioUrl("https://edge.example/internal/audio/tr_x?exp=1", strict).hostname).toBe("edge.example");
    expect(checkAudioUrl("http://127.0.0.1:8787/internal/audio/tr_x", { local: true, allowedHosts: "" }).port).toBe(
      "8787",
    );
    const allowed = { local: false, allowedHosts: "edge.internal:8443" };
    expect(checkAudioUrl("https://edge.internal:8443/internal/audio/tr_x", allowed).host).toBe("edge.internal:8443");
    expect(() => checkAudioUrl("https://edge.internal:9000/internal/audio/tr_x", allowed)).toThrow(/refused/);
  });
});
