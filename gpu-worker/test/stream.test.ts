/**
 * Streamed decoding (docs/pool.md "Streaming"): with the real ffmpeg, the windows cut from ffmpeg's stdout as it
 * arrives equal the windows of the whole decoded file sample for sample (WAV, MP3, MP4 with its index at the end);
 * a job holds a bounded number of windows while the real whisper.cpp (mini synthetic model) works through them;
 * stitching loses and repeats nothing at window edges; and failures mid-stream end with a code.
 */
import { execFile } from "node:child_process";
import { chmod, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { promisify } from "node:util";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type DecodeOptions, fetchAndDecode, fetchAndDecodeStream, readAhead } from "../src/audio/decode.ts";
import { type AudioWindow, padInPlace, SAMPLE_RATE, splitIntoWindows, WindowCutter } from "../src/audio/windows.ts";
import { BatchScheduler } from "../src/batch/scheduler.ts";
import { stitchWindows } from "../src/batch/stitch.ts";
import { transcribeStream } from "../src/batch/stream-job.ts";
import type { CallbackBody } from "../src/callback/deliver.ts";
import { ConfigError, poolOptionsFromEnv, resolvePoolSettings } from "../src/config.ts";
import { DEFAULT_WINDOW_OPTIONS, type EngineWindowResult } from "../src/engines/engine.ts";
import { WhisperCppEngine } from "../src/engines/whispercpp.ts";
import { PoolJobError } from "../src/errors.ts";
import { createLogger } from "../src/log.ts";
import { ensureSyntheticModel } from "../src/models/synthetic.ts";
import { type PrivateRedis, startPrivateRedis } from "../src/redis-server.ts";
import { bytesOf, CACHE_DIR, decodeReference, jfkRepeated, makeClip } from "./helpers/audio.ts";
import { dispatch, type FakeEdge, startFakeEdge } from "./helpers/edge.ts";
import { startTestPool } from "./helpers/pool.ts";

const run = promisify(execFile);

const OPTIONS: DecodeOptions = {
  ffmpegPath: "ffmpeg",
  maxAudioBytes: 50_000_000,
  maxAudioSeconds: 3_600,
  fetchTimeoutMs: 10_000,
  urlPolicy: { local: true, allowedHosts: "" },
};

let edge: FakeEdge;
beforeAll(async () => {
  edge = await startFakeEdge();
});
afterAll(async () => {
  await edge?.close();
});

/** Seeded noise with quiet stretches at irregular places, so cut points depend on the content. */
function noiseWithGaps(seconds: number, seed = 7): Float32Array {
  const pcm = new Float32Array(Math.round(seconds * SAMPLE_RATE));
  let state = seed;
  for (let i = 0; i < pcm.length; i++) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    const t = i / SAMPLE_RATE;
    const quiet = Math.sin(t * 0.37) > 0.93 || Math.sin(t * 1.91 + 1) > 0.97;
    pcm[i] = ((state / 2 ** 31) * 2 - 1) * (quiet ? 0.001 : 0.3);
  }
  return pcm;
}

function cutInChunks(pcm: Float32Array, chunk: number, options = {}): AudioWindow[] {
  const cutter = new WindowCutter(options);
  const windows: AudioWindow[] = [];
  for (let at = 0; at < pcm.length; at += chunk) windows.push(...cutter.push(pcm.subarray(at, at + chunk)));
  windows.push(...cutter.finish());
  return windows;
}

function expectSameWindows(actual: AudioWindow[], expected: AudioWindow[]): void {
  expect(actual.map((w) => [w.index, w.startSample, w.samples.length])).toEqual(
    expected.map((w) => [w.index, w.startSample, w.samples.length]),
  );
  // Buffer.equals: a byte comparison (deep equality on megabytes of samples is far too slow)
  const bytes = (w: AudioWindow): Buffer => Buffer.from(w.samples.buffer, w.samples.byteOffset, w.samples.byteLength);
  expect(actual.map((w, i) => bytes(w).equals(bytes(expected[i]!)))).toEqual(actual.map(() => true));
}

describe("WindowCutter", () => {
  it("cuts chunked PCM into exactly the windows of the whole buffer, whatever the chunk size", () => {
    const pcm = noiseWithGaps(200);
    const whole = splitIntoWindows(pcm);
    expect(whole.length).toBeGreaterThan(6);
    for (const chunk of [1_000, 16_384, 123_457, 30 * SAMPLE_RATE + 1, pcm.length]) {
      expectSameWindows(cutInChunks(pcm, chunk), whole);
    }
    // short windows, and sample-by-sample feeding on a short input
    expectSameWindows(cutInChunks(pcm, 4_099, { maxWindowSeconds: 2 }), splitIntoWindows(pcm, { maxWindowSeconds: 2 }));
    const short = noiseWithGaps(7, 3);
    expectSameWindows(cutInChunks(short, 1, { maxWindowSeconds: 3 }), splitIntoWindows(short, { maxWindowSeconds: 3 }));
  });

  it("agrees at the boundary lengths (one window, one window plus the minimum tail, a sample either side)", () => {
    const max = 30 * SAMPLE_RATE;
    for (const length of [1, max - 1, max, max + 1, max + SAMPLE_RATE - 1, max + SAMPLE_RATE, 2 * max + SAMPLE_RATE]) {
      const pcm = noiseWithGaps(length / SAMPLE_RATE + 1, length).subarray(0, length);
      expectSameWindows(cutInChunks(pcm, 10_000), splitIntoWindows(pcm));
    }
  });

  it("reuses released window buffers: a long job allocates a handful, and the windows stay sample-exact", () => {
    const pcm = noiseWithGaps(600);
    const expected = splitIntoWindows(pcm);
    const cutter = new WindowCutter();
    const copies: AudioWindow[] = [];
    const held: AudioWindow[] = [];
    const keep = (windows: AudioWindow[]): void => {
      for (const window of windows) {
        copies.push({ ...window, samples: window.samples.slice() });
        held.push(window);
        // like a job with 3 windows in flight: the oldest is given back once a fourth is held
        if (held.length > 3) cutter.release(held.shift()!);
      }
    };
    for (let at = 0; at < pcm.length; at += 16_384) keep(cutter.push(pcm.subarray(at, at + 16_384)));
    keep(cutter.finish());
    expect(expected.length).toBeGreaterThanOrEqual(20);
    expectSameWindows(copies, expected);
    expect(cutter.allocatedBuffers).toBe(4);
    // a released buffer is zero-padded in place, without a copy, and a second release is ignored
    const last = held.at(-1)!;
    const padded = padInPlace(last.samples, 30 * SAMPLE_RATE);
    expect(padded.buffer).toBe(last.samples.buffer);
    expect(padded.subarray(last.samples.length).every((s) => s === 0)).toBe(true);
    cutter.release(last);
    cutter.release(last);
    // without release every window gets its own buffer, as before
    expect(new Set(cutInChunks(pcm, 16_384).map((w) => w.samples.buffer)).size).toBe(expected.length);
  });

  it("holds at most one window plus the minimum tail plus one chunk", () => {
    const cutter = new WindowCutter();
    const pcm = noiseWithGaps(120);
    let most = 0;
    for (let at = 0; at < pcm.length; at += 16_384) {
      cutter.push(pcm.subarray(at, at + 16_384));
      most = Math.max(most, cutter.bufferedSamples);
    }
    expect(most).toBeLessThan(31 * SAMPLE_RATE);
    expect(cutter.totalSamples).toBe(pcm.length);
  });
});

describe("readAhead", () => {
  it("reads at most the limit plus one chunk ahead, yields the chunks unjoined, and cancels the body when left", async () => {
    let pulled = 0;
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          controller.enqueue(new Uint8Array(1_000).fill(pulled++ % 256));
        },
        cancel() {
          cancelled = true;
        },
      },
      { highWaterMark: 0 },
    );
    const chunks = readAhead(body, 10_000);
    const first = await chunks.next();
    await new Promise((resolve) => setTimeout(resolve, 50));
    // one chunk taken, and the limit (10 chunks) plus the one in hand read ahead, never more
    expect(pulled).toBeLessThanOrEqual(12);
    expect(pulled).toBeGreaterThanOrEqual(10);
    expect(first.value!.length).toBe(1_000);
    for (let i = 1; i < 30; i++) {
      const next = await chunks.next();
      expect([next.value!.length, next.value![0]]).toEqual([1_000, i % 256]);
    }
    await chunks.return(undefined);
    expect(cancelled).toBe(true);
  });
});

/** Streams `file` through the fake edge and ffmpeg, cutting windows as samples arrive. */
async function streamedWindows(jobId: string, file: string): Promise<AudioWindow[]> {
  const body = await edge.addJob(jobId, await bytesOf(file));
  const cutter = new WindowCutter();
  const windows: AudioWindow[] = [];
  await fetchAndDecodeStream(body.audio_url as string, OPTIONS, (samples) => {
    windows.push(...cutter.push(samples));
  });
  windows.push(...cutter.finish());
  return windows;
}

describe("streamed decoding with the real ffmpeg", () => {
  it.each(["wav", "mp3", "m4a"] as const)(
    "gives the whole-file windows sample for sample (%s; m4a has its index at the end)",
    async (format) => {
      const source = await jfkRepeated(7, 1.5);
      const file =
        format === "wav" ? source : await makeClip({ name: `stream-jfk-x7.${format}`, input: ["-i", source], format });
      if (format === "m4a") {
        // ffmpeg's MP4 muxer writes the index (moov) after the media data unless told +faststart
        const bytes = await bytesOf(file);
        expect(bytes.indexOf("moov")).toBeGreaterThan(bytes.indexOf("mdat"));
      }
      const streamed = await streamedWindows(`tr_stream_${format}`, file);
      // the whole-file path (DECODE_MODE=whole): the same fetch and ffmpeg pipe, every sample in one buffer
      const body = await edge.addJob(`tr_whole_${format}`, await bytesOf(file));
      const whole = splitIntoWindows((await fetchAndDecode(body.audio_url as string, OPTIONS)).pcm);
      expect(whole.length).toBeGreaterThanOrEqual(3);
      expectSameWindows(streamed, whole);
      const reference = splitIntoWindows(await decodeReference(file));
      if (format === "mp3") {
        // ffmpeg trims an MP3's end padding only when it can seek to the end (a file, not a pipe): the last window
        // is up to one frame (1152 samples at 48 kHz → < 400 at 16 kHz) longer through a pipe, the rest is identical
        expectSameWindows(streamed.slice(0, -1), reference.slice(0, -1));
        const tail = streamed.at(-1)!.samples.length - reference.at(-1)!.samples.length;
        expect(tail).toBeGreaterThanOrEqual(0);
        expect(tail).toBeLessThan(400);
      } else {
        // the same samples ffmpeg gives for the file itself (m4a: through the seekable-file fallback)
        expectSameWindows(streamed, reference);
      }
    },
    180_000,
  );

  it("keeps samples split across pipe reads at odd byte offsets intact", async () => {
    // the real ffmpeg behind a pipe that re-chunks its output into reads of 1, 3, 4093, 2 and 8191 bytes
    const rechunk = path.join(CACHE_DIR, "rechunk.mjs");
    await writeFile(
      rechunk,
      [
        "const sizes = [1, 3, 4093, 2, 8191];",
        "let n = 0;",
        "for await (const data of process.stdin) {",
        "  for (let at = 0; at < data.length; ) {",
        "    const size = sizes[n++ % sizes.length];",
        "    const part = data.subarray(at, at + size);",
        "    at += part.length;",
        "    if (!process.stdout.write(part)) await new Promise((r) => process.stdout.once('drain', r));",
        "    await new Promise((r) => setImmediate(r));",
        "  }",
        "}",
      ].join("\n"),
    );
    const wrapper = path.join(CACHE_DIR, "ffmpeg-rechunked.sh");
    await writeFile(wrapper, `#!/bin/sh\nffmpeg "$@" | "${process.execPath}" "${rechunk}"\n`);
    await chmod(wrapper, 0o755);
    const file = await makeClip({
      name: "stream-tone-20",
      input: ["-f", "lavfi", "-i", "sine=frequency=330:duration=20"],
    });
    const body = await edge.addJob("tr_stream_rechunked", await bytesOf(file));
    const decoded = await fetchAndDecode(body.audio_url as string, { ...OPTIONS, ffmpegPath: wrapper });
    const reference = await decodeReference(file);
    expect(decoded.pcm.length).toBe(reference.length);
    expect(Buffer.from(decoded.pcm.buffer).equals(Buffer.from(reference.buffer))).toBe(true);
  }, 120_000);

  it("stops reading ffmpeg while the sink holds it back (backpressure)", async () => {
    const file = await makeClip({
      name: "stream-tone-600",
      input: ["-f", "lavfi", "-i", "sine=frequency=330:duration=600"],
    });
    const body = await edge.addJob("tr_stream_pressure", await bytesOf(file));
    let received = 0;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let firstHeld = true;
    const decoding = fetchAndDecodeStream(body.audio_url as string, OPTIONS, async (samples) => {
      received += samples.length;
      if (received > 10 * SAMPLE_RATE && firstHeld) {
        firstHeld = false;
        await held;
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    // 600 s decode in well under a second when not held back; held, nothing more arrived than the chunk in hand
    const whileHeld = received;
    expect(whileHeld).toBeLessThanOrEqual(10 * SAMPLE_RATE + 2 * 16_384);
    release();
    const result = await decoding;
    expect(result.sampleCount).toBe(600 * SAMPLE_RATE);
    expect(received).toBe(600 * SAMPLE_RATE);
  });
});

/** A server whose answer the test writes by hand (a connection cut mid-body). */
async function rawServer(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/audio`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function failure(promise: Promise<unknown>): Promise<PoolJobError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PoolJobError);
  return error as PoolJobError;
}

/** ffmpeg processes that are children of this test process. */
async function ffmpegChildren(): Promise<number[]> {
  const { stdout } = await run("pgrep", ["-P", String(process.pid), "-x", "ffmpeg"]).catch(() => ({ stdout: "" }));
  return stdout.split("\n").filter(Boolean).map(Number);
}

describe("failures mid-stream", () => {
  it("a connection cut mid-body is a retryable audio_fetch_failed", async () => {
    const wav = await bytesOf(await jfkRepeated(7, 1.5));
    const server = await rawServer((_request, response) => {
      response.writeHead(200, { "content-length": String(wav.length) });
      response.write(wav.subarray(0, Math.floor(wav.length / 2)), () => response.destroy());
    });
    try {
      const error = await failure(fetchAndDecodeStream(server.url, OPTIONS, () => undefined));
      expect([error.code, error.retryable]).toEqual(["audio_fetch_failed", true]);
    } finally {
      await server.close();
    }
  });

  it("an MP4 cut short (its index lost) is invalid_audio", async () => {
    const file = await makeClip({
      name: "stream-m4a-cut-src",
      input: ["-f", "lavfi", "-i", "sine=frequency=300:duration=60"],
      format: "m4a",
    });
    const bytes = await bytesOf(file);
    const body = await edge.addJob("tr_stream_m4a_cut", bytes.subarray(0, Math.floor(bytes.length * 0.7)));
    const error = await failure(fetchAndDecodeStream(body.audio_url as string, OPTIONS, () => undefined));
    expect([error.code, error.retryable]).toEqual(["invalid_audio", false]);
  });

  it("ffmpeg killed mid-stream is engine_error (this node's fault, retryable), never a short transcript", async () => {
    const file = await makeClip({
      name: "stream-tone-600",
      input: ["-f", "lavfi", "-i", "sine=frequency=330:duration=600"],
    });
    const body = await edge.addJob("tr_stream_killed", await bytesOf(file));
    let killed = false;
    const error = await failure(
      fetchAndDecodeStream(body.audio_url as string, OPTIONS, async () => {
        if (killed) return;
        killed = true;
        const pids = await ffmpegChildren();
        expect(pids.length).toBeGreaterThan(0);
        for (const pid of pids) process.kill(pid, "SIGKILL");
      }),
    );
    expect([error.code, error.retryable]).toEqual(["engine_error", true]);
    expect(error.message).toMatch(/ffmpeg was killed \(SIGKILL\)/);
  });

  it("the duration cap applies as samples arrive", async () => {
    const file = await makeClip({
      name: "stream-tone-600",
      input: ["-f", "lavfi", "-i", "sine=frequency=330:duration=600"],
    });
    const body = await edge.addJob("tr_stream_cap", await bytesOf(file));
    let received = 0;
    const error = await failure(
      fetchAndDecodeStream(body.audio_url as string, { ...OPTIONS, maxAudioSeconds: 100 }, (samples) => {
        received += samples.length;
      }),
    );
    expect(error.code).toBe("invalid_audio");
    expect(error.message).toMatch(/longer than the 100 s/);
    expect(received).toBeLessThanOrEqual(100 * SAMPLE_RATE + 1);
  });
});

describe("a streamed job on the real whisper.cpp", () => {
  let engine: WhisperCppEngine;
  let scheduler: BatchScheduler;

  beforeAll(async () => {
    const modelPath = await ensureSyntheticModel({ shape: "mini", cacheDir: `${CACHE_DIR}/models` });
    engine = new WhisperCppEngine({
      binding: "smart-whisper",
      modelPath,
      modelName: "synthetic-mini",
      synthetic: true,
      capacity: 2,
      useGpu: false,
      logger: createLogger({ level: "silent" }),
      maxTokens: 8,
      temperatureInc: 0,
      bestOf: 1,
      threads: 1,
    });
    await engine.start();
    scheduler = new BatchScheduler({ engine, batchSize: 2, batchWaitMs: 10 });
  });
  afterAll(async () => {
    await engine?.close();
  });

  const submit = (samples: Float32Array, signal: AbortSignal): Promise<EngineWindowResult> =>
    scheduler.submit({ samples, language: "en", prompt: null, ...DEFAULT_WINDOW_OPTIONS, signal });

  it("holds at most JOB_WINDOWS_IN_FLIGHT windows and returns every window's result in order", async () => {
    const file = await makeClip({
      name: "stream-tone-240",
      input: ["-f", "lavfi", "-i", "sine=frequency=330:duration=240"],
    });
    for (const limit of [1, 3]) {
      const body = await edge.addJob(`tr_stream_held_${limit}`, await bytesOf(file));
      let most = 0;
      const seen: number[] = [];
      const result = await transcribeStream(body.audio_url as string, {
        decode: { ...OPTIONS, signal: AbortSignal.timeout(400_000) },
        windows: {},
        maxWindowsInFlight: limit,
        submit,
        onHeldWindows: (held) => {
          most = Math.max(most, held);
          seen.push(held);
        },
      });
      expect(most).toBe(limit);
      // 240 s in windows of at most 30 s, cut at quiet points: at least 8
      expect(result.placements.length).toBeGreaterThanOrEqual(8);
      expect(result.results).toHaveLength(result.placements.length);
      expect(result.placements).toEqual(
        splitIntoWindows(await decodeReference(file)).map((w) => ({
          startSample: w.startSample,
          sampleCount: w.samples.length,
        })),
      );
      expect(result.results.every((r) => Array.isArray(r.segments))).toBe(true);
      expect(result.durationSeconds).toBe(240);
    }
  }, 900_000);

  it("a window's engine failure fails the job with it and stops ffmpeg", async () => {
    const file = await makeClip({
      name: "stream-tone-600",
      input: ["-f", "lavfi", "-i", "sine=frequency=330:duration=600"],
    });
    const body = await edge.addJob("tr_stream_engine_fail", await bytesOf(file));
    let calls = 0;
    const error = await transcribeStream(body.audio_url as string, {
      decode: { ...OPTIONS, signal: AbortSignal.timeout(60_000) },
      windows: {},
      maxWindowsInFlight: 2,
      submit: (samples, signal) =>
        ++calls === 3
          ? Promise.reject(new PoolJobError("engine_error", "the engine host crashed"))
          : submit(samples, signal),
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: "engine_error", message: "the engine host crashed" });
    expect(calls).toBeLessThanOrEqual(4);
    expect(await ffmpegChildren()).toEqual([]);
  }, 120_000);
});

describe("stitching at window edges", () => {
  it("keeps every segment once, in order, with edge segments clamped to their own window", () => {
    const w = 30 * SAMPLE_RATE;
    const placements = [
      { startSample: 0, sampleCount: w },
      { startSample: w, sampleCount: w - 8_000 },
      { startSample: 2 * w - 8_000, sampleCount: 20_000 },
    ];
    const seg = (startMs: number, endMs: number, text: string) => ({ startMs, endMs, text });
    const results: EngineWindowResult[] = [
      { language: "en", segments: [seg(0, 12_000, "a"), seg(12_000, 30_000, "b-ends-at-edge")] },
      // a segment from 0 ms, and one the engine ran past the window's real end
      { language: "en", segments: [seg(0, 4_000, "c-starts-at-edge"), seg(20_000, 31_000, "d-past-end")] },
      { language: "en", segments: [seg(0, 1_250, "e")] },
    ];
    const stitched = stitchWindows(placements, results, "en");
    expect(stitched.segments.map((s) => [s.start, s.end, s.text])).toEqual([
      [0, 12, "a"],
      [12, 30, "b-ends-at-edge"],
      [30, 34, "c-starts-at-edge"],
      [50, 59.5, "d-past-end"],
      [59.5, 60.75, "e"],
    ]);
    expect(stitched.text).toBe("a b-ends-at-edge c-starts-at-edge d-past-end e");
  });
});

describe("stream mode through a whole pool", () => {
  let redis: PrivateRedis;

  beforeAll(async () => {
    redis = await startPrivateRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  async function transcribe(jobId: string, bytes: Buffer, overrides: object): Promise<CallbackBody> {
    const pool = await startTestPool(redis.url, { whisperMaxTokens: 8, jobAttempts: 1, ...overrides });
    try {
      await dispatch(pool.url, await edge.addJob(jobId, bytes));
      return (await edge.waitForCallback(jobId, { timeoutMs: 180_000 })).body;
    } finally {
      await pool.stop();
    }
  }

  it("gives exactly the segments of the whole-file path, with or without intra-job batching", async () => {
    const bytes = await bytesOf(await jfkRepeated(7, 1.5));
    const whole = await transcribe("tr_pool_whole", bytes, { decodeMode: "whole" });
    const intra = await transcribe("tr_pool_intra", bytes, { decodeMode: "stream", jobWindowsInFlight: 2 });
    const serial = await transcribe("tr_pool_serial", bytes, { decodeMode: "stream", jobWindowsInFlight: 1 });
    expect(whole.status).toBe("completed");
    const view = (b: CallbackBody) =>
      b.status === "completed" ? { text: b.result.text, segments: b.result.segments, d: b.result.duration_seconds } : b;
    expect(view(intra)).toEqual(view(whole));
    expect(view(serial)).toEqual(view(whole));
    if (whole.status === "completed") {
      const starts = whole.result.segments.map((s) => s.start);
      expect([...starts].sort((a, b) => a - b)).toEqual(starts);
      expect(whole.result.segments.at(-1)!.end).toBeLessThanOrEqual(whole.result.duration_seconds);
    }
  }, 600_000);

  it("fails a job whose ffmpeg dies mid-stream with a failed callback and a code", async () => {
    const bytes = await bytesOf(
      await makeClip({ name: "stream-tone-600", input: ["-f", "lavfi", "-i", "sine=frequency=330:duration=600"] }),
    );
    const pool = await startTestPool(redis.url, { whisperMaxTokens: 8, jobAttempts: 1, jobWindowsInFlight: 1 });
    try {
      await dispatch(pool.url, await edge.addJob("tr_pool_ffmpeg_dies", bytes));
      let pids: number[] = [];
      for (let i = 0; i < 400 && pids.length === 0; i++) {
        pids = await ffmpegChildren();
        if (pids.length === 0) await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(pids.length).toBeGreaterThan(0);
      for (const pid of pids) process.kill(pid, "SIGKILL");
      const callback = await edge.waitForCallback("tr_pool_ffmpeg_dies", { timeoutMs: 120_000 });
      expect(callback.body).toMatchObject({ status: "failed", error: { code: "engine_error" } });
    } finally {
      await pool.stop();
    }
  }, 240_000);
});

describe("stream settings", () => {
  const required = { redisUrl: "redis://127.0.0.1:1", bridgeKeys: [{ id: "e", secret: "s" }] };
  const keys = { ...required, callbackKeys: [{ id: "p", secret: "s" }] };

  it("defaults to stream mode with 2 × BATCH_SIZE windows per job, and reads both from the environment", () => {
    expect(resolvePoolSettings({ ...keys, batchSize: 8 })).toMatchObject({
      decodeMode: "stream",
      jobWindowsInFlight: 16,
    });
    const env = { BRIDGE_KEYS: "e:s", CALLBACK_KEYS: "p:s", REDIS_URL: "redis://127.0.0.1:1" };
    expect(
      resolvePoolSettings(poolOptionsFromEnv({ ...env, DECODE_MODE: "whole", JOB_WINDOWS_IN_FLIGHT: "1" })),
    ).toMatchObject({ decodeMode: "whole", jobWindowsInFlight: 1 });
  });

  it("refuses an unknown mode and a window limit below 1, naming the setting", () => {
    expect(() => resolvePoolSettings({ ...keys, decodeMode: "chunked" as never, jobWindowsInFlight: 0 })).toThrow(
      ConfigError,
    );
    try {
      resolvePoolSettings({ ...keys, decodeMode: "chunked" as never, jobWindowsInFlight: 0 });
    } catch (error) {
      expect((error as ConfigError).problems.join("\n")).toMatch(/decodeMode must be stream or whole/);
      expect((error as ConfigError).problems.join("\n")).toMatch(/jobWindowsInFlight must be an integer between 1/);
    }
  });
});
