/**
 * Speaker labels through the real pool (Redis, HTTP, ffmpeg, whisper.cpp with the synthetic mini model, and the
 * real sherpa-onnx diarization on the synthetic `synthetic:tones` models): a pool with the diarization models
 * labels segments and words of a two-voice recording by time overlap; a pool without them refuses such jobs at
 * once; audio past MAX_DIARIZATION_SECONDS fails with its own code. Whisper's words mean nothing here: the tests
 * check which speaker each item gets from the times the voices change, never the text.
 */
import { readdir } from "node:fs/promises";
import { tmpdir } from "node:os";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { refuseOptions } from "../src/bridge/options.ts";
import { poolOptionsFromEnv, resolvePoolSettings } from "../src/config.ts";
import { speakerOf } from "../src/diarization/assign.ts";
import { resolveDiarizationModel, SYNTHETIC_DIARIZATION_MODEL } from "../src/diarization/models.ts";
import { SYNTHETIC_TONE_HZ } from "../src/diarization/synthetic.ts";
import type { RunningPool } from "../src/pool.ts";
import { type PrivateRedis, startPrivateRedis } from "../src/redis-server.ts";
import { bytesOf, makeClip } from "./helpers/audio.ts";
import { dispatch, type FakeEdge, startFakeEdge } from "./helpers/edge.ts";
import { startTestPool } from "./helpers/pool.ts";
import { waitFor } from "./helpers/wait.ts";

const [LOW, HIGH] = SYNTHETIC_TONE_HZ;
const TURN_SECONDS = 4;
const TURNS = 4;
const SPEAKERS = { labels: true, expected: null, min: null, max: null, multichannel: false };
const DIARIZATION = {
  diarizationSegmentationModel: SYNTHETIC_DIARIZATION_MODEL,
  diarizationEmbeddingModel: SYNTHETIC_DIARIZATION_MODEL,
};

/** Low and high tone alternating every TURN_SECONDS, as a 16 kHz WAV (the edge's upload). */
function twoVoices(): Promise<string> {
  return makeClip({
    name: `voices-${TURNS}x${TURN_SECONDS}`,
    input: [
      "-f",
      "lavfi",
      "-i",
      `aevalsrc=exprs='0.5*if(lt(mod(t\\,${2 * TURN_SECONDS})\\,${TURN_SECONDS})\\,sin(2*PI*${LOW}*t)\\,sin(2*PI*${HIGH}*t))':s=16000:d=${TURNS * TURN_SECONDS}`,
    ],
  });
}

/** The voice truly heard in each turn: "low" in even turns, "high" in odd ones. */
const TRUTH = Array.from({ length: TURNS }, (_, i) => ({
  start: i * TURN_SECONDS,
  end: (i + 1) * TURN_SECONDS,
  speaker: i % 2 === 0 ? "low" : "high",
}));

async function spools(): Promise<string[]> {
  return (await readdir(tmpdir())).filter((name) => name.startsWith("vtt-diarize-"));
}

describe("which dispatches a pool can honour, with diarization (pure)", () => {
  const names = ["synthetic:mini"];
  it("takes speaker labels only when the pool has the diarization stage", () => {
    const job = { model: null, task: "transcribe" as const, speakers: SPEAKERS };
    expect(refuseOptions(job, names, null)?.code).toBe("diarization_unavailable");
    expect(refuseOptions(job, names, null, false)?.code).toBe("diarization_unavailable");
    expect(refuseOptions(job, names, null, true)).toBeNull();
    // the diarization stage does not make a multichannel job possible
    expect(
      refuseOptions({ ...job, speakers: { ...SPEAKERS, labels: false, multichannel: true } }, names, null, true)?.code,
    ).toBe("multichannel_unsupported");
  });

  it("reads the diarization settings from the environment and wants both models or neither", () => {
    const env = { BRIDGE_KEYS: "e1:x", CALLBACK_KEYS: "p1:y", REDIS_URL: "redis://127.0.0.1:1" };
    const settings = resolvePoolSettings(
      poolOptionsFromEnv({
        ...env,
        DIARIZATION_SEGMENTATION_MODEL: "pyannote-segmentation-3.0",
        DIARIZATION_EMBEDDING_MODEL: "wespeaker-voxceleb-resnet34-lm",
        DIARIZATION_EMBEDDING_SHA256: "ab".repeat(32),
        DIARIZATION_THREADS: "2",
        DIARIZATION_THRESHOLD: "0.7",
        MAX_DIARIZATION_SECONDS: "600",
      }),
    );
    expect(settings).toMatchObject({
      diarizationSegmentationModel: "pyannote-segmentation-3.0",
      diarizationEmbeddingModel: "wespeaker-voxceleb-resnet34-lm",
      diarizationEmbeddingSha256: "ab".repeat(32),
      diarizationThreads: 2,
      diarizationThreshold: 0.7,
      maxDiarizationSeconds: 600,
    });
    expect(resolvePoolSettings(poolOptionsFromEnv(env))).toMatchObject({
      diarizationSegmentationModel: "",
      maxDiarizationSeconds: 7200,
    });
    expect(() =>
      resolvePoolSettings(poolOptionsFromEnv({ ...env, DIARIZATION_SEGMENTATION_MODEL: "pyannote-segmentation-3.0" })),
    ).toThrow(/set together or not at all/);
    expect(() => resolvePoolSettings(poolOptionsFromEnv({ ...env, DIARIZATION_THRESHOLD: "0" }))).toThrow(
      /diarizationThreshold/,
    );
  });
});

describe("speaker labels through the pool", () => {
  let redis: PrivateRedis;
  let edge: FakeEdge;
  let labelling: RunningPool;
  let capped: RunningPool;
  let plain: RunningPool;
  let audio: Buffer;

  beforeAll(async () => {
    [redis, edge, audio] = await Promise.all([startPrivateRedis(), startFakeEdge(), twoVoices().then(bytesOf)]);
    [labelling, capped, plain] = await Promise.all([
      startTestPool(redis.url, DIARIZATION),
      startTestPool(redis.url, { ...DIARIZATION, maxDiarizationSeconds: 10 }),
      startTestPool(redis.url),
    ]);
  });
  afterAll(async () => {
    await Promise.all([labelling?.stop(), capped?.stop(), plain?.stop()]);
    await edge?.close();
    await redis?.stop();
  });

  it("says in /readyz which diarization models it loaded (and nothing without them)", async () => {
    const ready = (await (await fetch(`${labelling.url}/readyz`)).json()) as Record<string, unknown>;
    expect(ready).toMatchObject({
      status: "ready",
      diarization: { segmentation: "synthetic-tones", embedding: "synthetic-tones", synthetic: true },
    });
    expect(await (await fetch(`${plain.url}/readyz`)).json()).not.toHaveProperty("diarization");
  });

  it("labels every segment and word with the voice it overlaps, two speakers alternating", async () => {
    const before = await spools();
    const body = await edge.addJob("tr_diarize_two", audio, { language: "en" });
    const response = await dispatch(labelling.url, { ...body, word_timestamps: true, speakers: SPEAKERS });
    expect(response.status).toBe(202);
    const callback = await edge.waitForCallback("tr_diarize_two");
    expect(callback.body.status).toBe("completed");
    if (callback.body.status !== "completed") return;
    const { result } = callback.body;
    expect(result.timings?.diarization_ms).toBeGreaterThan(0);
    const items = [...result.segments, ...(result.words ?? [])];
    expect(result.segments.length).toBeGreaterThan(0);
    // every item is labelled, with one of exactly two speakers
    for (const item of items) expect(item.speaker).toMatch(/^speaker_[01]$/);
    // the diarizer's speaker_0 is the voice heard first (the low tone); each item has the speaker of the voice it
    // overlaps most (the nearest voice for an item outside the audio)
    const names: Record<string, string> = { low: "speaker_0", high: "speaker_1" };
    for (const item of items) expect(item.speaker).toBe(names[speakerOf(item, TRUTH)!]);
    // the job's spooled audio is deleted once the job ends (just after its callback is queued)
    await waitFor(async () => (await spools()).length === before.length, { description: "the spool removed" });
    expect(await spools()).toEqual(before);
  });

  it("labels the same way when the whole file is decoded first (DECODE_MODE=whole)", async () => {
    const whole = await startTestPool(redis.url, { ...DIARIZATION, decodeMode: "whole" });
    try {
      const body = await edge.addJob("tr_diarize_whole", audio, { language: "en" });
      expect((await dispatch(whole.url, { ...body, speakers: SPEAKERS })).status).toBe(202);
      const callback = await edge.waitForCallback("tr_diarize_whole");
      expect(callback.body.status).toBe("completed");
      if (callback.body.status !== "completed") return;
      const names: Record<string, string> = { low: "speaker_0", high: "speaker_1" };
      expect(callback.body.result.segments.length).toBeGreaterThan(0);
      for (const segment of callback.body.result.segments) {
        expect(segment.speaker).toBe(names[speakerOf(segment, TRUTH)!]);
      }
    } finally {
      await whole.stop();
    }
  });

  it("clusters to speakers_expected", async () => {
    const body = await edge.addJob("tr_diarize_one", audio, { language: "en" });
    const speakers = { ...SPEAKERS, expected: 1 };
    expect((await dispatch(labelling.url, { ...body, speakers })).status).toBe(202);
    const callback = await edge.waitForCallback("tr_diarize_one");
    expect(callback.body.status).toBe("completed");
    if (callback.body.status !== "completed") return;
    expect(new Set(callback.body.result.segments.map((s) => s.speaker))).toEqual(new Set(["speaker_0"]));
  });

  it("leaves a job without speaker options exactly as before (no speaker, no diarization timing)", async () => {
    const body = await edge.addJob("tr_diarize_none", audio, { language: "en" });
    expect((await dispatch(labelling.url, body)).status).toBe(202);
    const callback = await edge.waitForCallback("tr_diarize_none");
    expect(callback.body.status).toBe("completed");
    if (callback.body.status !== "completed") return;
    expect(callback.body.result.segments.every((s) => s.speaker === undefined)).toBe(true);
    expect(callback.body.result.timings).not.toHaveProperty("diarization_ms");
  });

  it("fails audio longer than MAX_DIARIZATION_SECONDS with diarization_too_long, at once and for good", async () => {
    const before = await spools();
    const body = await edge.addJob("tr_diarize_long", audio, { language: "en" });
    expect((await dispatch(capped.url, { ...body, speakers: SPEAKERS })).status).toBe(202);
    const callback = await edge.waitForCallback("tr_diarize_long");
    expect(callback.body).toMatchObject({
      status: "failed",
      error: { code: "diarization_too_long", retryable: false },
    });
    expect(edge.audioRequests.filter((id) => id === "tr_diarize_long")).toHaveLength(1); // not retried
    // the failed callback is queued before the job's spooled audio is deleted
    await waitFor(async () => (await spools()).length === before.length, { description: "the spool removed" });
    expect(await spools()).toEqual(before);
  });

  it("does not start with diarization models it cannot resolve or load, and says why", async () => {
    await expect(
      startTestPool(redis.url, { ...DIARIZATION, diarizationEmbeddingModel: "/nonexistent/embedding.onnx" }),
    ).rejects.toThrow(/diarization model file \/nonexistent\/embedding.onnx does not exist/);
    // a catalog entry without a published checksum is never downloaded without the operator's
    await expect(
      startTestPool(redis.url, { ...DIARIZATION, diarizationEmbeddingModel: "wespeaker-voxceleb-resnet34-lm" }),
    ).rejects.toThrow(/no SHA-256 is published for wespeaker-voxceleb-resnet34-lm/);
    // both synthetic models exist but in each other's place: sherpa-onnx refuses them in the host, not in the pool
    const swapped = await resolveDiarizationModel("embedding", SYNTHETIC_DIARIZATION_MODEL, {
      cacheDir: labelling.settings.modelCacheDir,
      allowDownload: false,
    });
    await expect(
      startTestPool(redis.url, { ...DIARIZATION, diarizationSegmentationModel: swapped.path }),
    ).rejects.toThrow(/the diarization host exited while loading/);
  });

  it("refuses a speaker-label dispatch at once on a pool without the diarization models", async () => {
    const body = await edge.addJob("tr_diarize_refused", audio, { language: "en" });
    const response = await dispatch(plain.url, { ...body, speakers: SPEAKERS });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "diarization_unavailable" });
  });
});
