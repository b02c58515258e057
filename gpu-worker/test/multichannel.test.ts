/**
 * Multichannel jobs (`speakers.multichannel`): ffprobe counts the channels of the real audio, ffmpeg decodes each
 * channel on its own, each is transcribed by the real whisper.cpp (synthetic model) through the real pool (Redis,
 * HTTP), and the callback merges them by time with the channel as the speaker. The synthetic model's words mean
 * nothing, so the tests compare against what the same pool gives for each channel alone as a mono file: greedy
 * decoding is deterministic and batch-invariant (batching.test.ts), so a channel transcribed inside a stereo job must
 * give exactly the segments of that channel transcribed on its own.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { DecodeOptions } from "../src/audio/decode.ts";
import { audioChannels, probeChannels } from "../src/audio/probe.ts";
import { channelSpeaker, mergeChannels, transcribeChannels, windowsPerChannel } from "../src/batch/channels.ts";
import type { StreamedTranscription } from "../src/batch/stream-job.ts";
import { refuseOptions } from "../src/bridge/options.ts";
import type { CallbackBody } from "../src/callback/deliver.ts";
import { PoolJobError } from "../src/errors.ts";
import type { RunningPool } from "../src/pool.ts";
import { type PrivateRedis, startPrivateRedis } from "../src/redis-server.ts";
import { bytesOf, JFK_WAV, makeClip } from "./helpers/audio.ts";
import { dispatch, type FakeEdge, startFakeEdge } from "./helpers/edge.ts";
import { startTestPool } from "./helpers/pool.ts";

const MULTICHANNEL = { labels: false, expected: null, min: null, max: null, multichannel: true };
/** Real ffmpeg and whisper.cpp on a shared 2-core machine: a job of 8 s stereo audio can take tens of seconds. */
const SLOW = 240_000;

type Result = Extract<CallbackBody, { status: "completed" }>["result"];
type Segment = Result["segments"][number];

describe("merging channels (pure)", () => {
  it("tags each channel's segments and words with its speaker and orders them by time, then channel", () => {
    const merged = mergeChannels([
      {
        text: "a b",
        segments: [
          { start: 0, end: 2, text: "a" },
          { start: 5, end: 6, text: "b" },
        ],
        words: [
          { start: 0, end: 1, word: "a" },
          { start: 5, end: 6, word: "b" },
        ],
        language: null,
      },
      {
        text: "c d",
        segments: [
          { start: 1, end: 3, text: "c" },
          { start: 5, end: 6, text: "d" },
        ],
        words: [{ start: 1, end: 2, word: "c" }],
        language: "en",
      },
    ]);
    expect(merged.segments).toEqual([
      { start: 0, end: 2, text: "a", speaker: "ch0" },
      { start: 1, end: 3, text: "c", speaker: "ch1" },
      // equal times: channel order
      { start: 5, end: 6, text: "b", speaker: "ch0" },
      { start: 5, end: 6, text: "d", speaker: "ch1" },
    ]);
    expect(merged.words!.map((w) => [w.word, w.speaker])).toEqual([
      ["a", "ch0"],
      ["c", "ch1"],
      ["b", "ch0"],
    ]);
    expect(merged.text).toBe("a c b d");
    expect(merged.language).toBe("en");
    // no channel with words: no words field
    expect(mergeChannels([{ text: "", segments: [], language: null }])).toEqual({
      text: "",
      segments: [],
      language: null,
    });
  });

  it("shares a job's window budget between its channels, at least one each", () => {
    expect(windowsPerChannel(8, 1)).toBe(8);
    expect(windowsPerChannel(8, 2)).toBe(4);
    expect(windowsPerChannel(8, 3)).toBe(3);
    expect(windowsPerChannel(2, 8)).toBe(1);
    expect(channelSpeaker(3)).toBe("ch3");
  });

  it("stops the other channels at the first failure and rethrows it once all have settled", async () => {
    const settled: number[] = [];
    const failure = new Error("channel 1 failed");
    const outcome = transcribeChannels(3, (channel, stop) =>
      channel === 1
        ? Promise.reject(failure)
        : new Promise<StreamedTranscription>((_, reject) =>
            stop.addEventListener("abort", () => {
              settled.push(channel);
              reject(new Error(`channel ${channel} stopped`));
            }),
          ),
    );
    await expect(outcome).rejects.toBe(failure);
    expect(settled.sort()).toEqual([0, 2]);
  });

  it("the pool no longer refuses multichannel at submit (speaker labels still are)", () => {
    expect(refuseOptions({ model: null, task: "transcribe", speakers: MULTICHANNEL }, ["synthetic:mini"], null)).toBe(
      null,
    );
  });

  it("reads the largest audio channel count from ffprobe's JSON, null without an audio stream", () => {
    const json = (streams: object[]): string => JSON.stringify({ programs: [], streams });
    expect(audioChannels(json([{ codec_type: "audio", channels: 2 }]))).toBe(2);
    expect(
      audioChannels(
        json([{ codec_type: "video" }, { codec_type: "audio", channels: 1 }, { codec_type: "audio", channels: 6 }]),
      ),
    ).toBe(6);
    expect(audioChannels(json([{ codec_type: "video" }]))).toBeNull();
    expect(audioChannels(json([]))).toBeNull();
    expect(audioChannels("not json")).toBeNull();
  });
});

/** jfk 0–4 s then 4 s of silence: the left channel. */
const left = (): Promise<string> =>
  makeClip({ name: "mc-left-8", input: ["-ss", "0", "-t", "4", "-i", JFK_WAV, "-af", "apad=whole_dur=8"] });
/** 4 s of silence then jfk 4–8 s: the right channel (silent in the first half). */
const right = (): Promise<string> =>
  makeClip({ name: "mc-right-8", input: ["-ss", "4", "-t", "4", "-i", JFK_WAV, "-af", "adelay=4000:all=1"] });
/** The mono files as the channels of one file (FLAC: lossless, so each channel decodes to its mono file's samples). */
async function merged(name: string, files: string[], format: "flac" | "m4a" = "flac"): Promise<string> {
  const labels = files.map((_, i) => `[${i}:a]`).join("");
  return makeClip({
    name,
    input: [...files.flatMap((f) => ["-i", f]), "-filter_complex", `${labels}amerge=inputs=${files.length}`],
    format,
  });
}

describe("probing the channel count with ffprobe", () => {
  let edge: FakeEdge;
  const options: DecodeOptions & { ffprobePath: string } = {
    ffmpegPath: "ffmpeg",
    ffprobePath: "ffprobe",
    maxAudioBytes: 20_000_000,
    maxAudioSeconds: 600,
    fetchTimeoutMs: 5_000,
    urlPolicy: { local: true, allowedHosts: "" },
  };
  const probe = async (jobId: string, bytes: Uint8Array): Promise<number> =>
    (await probeChannels((await edge.addJob(jobId, bytes)).audio_url as string, options)).channels;

  beforeAll(async () => {
    edge = await startFakeEdge();
  });
  afterAll(async () => {
    await edge?.close();
  });

  it(
    "counts the channels of WAV, FLAC and an MP4 with its index at the end, read from the URL's body",
    async () => {
      const [l, r] = await Promise.all([left(), right()]);
      const long = await makeClip({
        name: "mc-tone-stereo-60",
        input: ["-f", "lavfi", "-i", "sine=frequency=300:duration=60", "-ac", "2"],
        format: "m4a",
      });
      const longBytes = await bytesOf(long);
      // ffmpeg writes the MP4 index (moov) after the samples unless told otherwise: ffprobe must read through the pipe
      expect(longBytes.indexOf("moov")).toBeGreaterThan(longBytes.indexOf("mdat"));
      expect(await probe("tr_probe_mono", await bytesOf(l))).toBe(1);
      expect(await probe("tr_probe_stereo", await bytesOf(await merged("mc-stereo", [l, r])))).toBe(2);
      expect(await probe("tr_probe_three", await bytesOf(await merged("mc-three", [l, r, l])))).toBe(3);
      expect(await probe("tr_probe_m4a", longBytes)).toBe(2);
    },
    SLOW,
  );

  it(
    "fails input without an audio stream with invalid_audio, and a missing ffprobe as a retryable engine_error",
    async () => {
      const notAudio = await probeChannels(
        (await edge.addJob("tr_probe_text", new TextEncoder().encode("hello, not audio at all\n".repeat(50))))
          .audio_url as string,
        options,
      ).catch((e: unknown) => e);
      expect(notAudio).toBeInstanceOf(PoolJobError);
      expect(notAudio).toMatchObject({ code: "invalid_audio", retryable: false });
      const missing = await probeChannels(
        (await edge.addJob("tr_probe_missing", await bytesOf(await left()))).audio_url as string,
        { ...options, ffprobePath: "/nonexistent/ffprobe" },
      ).catch((e: unknown) => e);
      expect(missing).toMatchObject({ code: "engine_error", retryable: true });
    },
    SLOW,
  );
});

describe("multichannel jobs through the pool", () => {
  let redis: PrivateRedis;
  let edge: FakeEdge;
  let pool: RunningPool;
  let wholePool: RunningPool;
  const files: Record<string, Buffer> = {};

  beforeAll(async () => {
    [redis, edge] = await Promise.all([startPrivateRedis(), startFakeEdge()]);
    const [l, r] = await Promise.all([left(), right()]);
    const [stereo, swapped, three, m4a] = await Promise.all([
      merged("mc-stereo", [l, r]),
      merged("mc-swapped", [r, l]),
      merged("mc-three", [l, r, l]),
      merged("mc-stereo-m4a", [l, r], "m4a"),
    ]);
    for (const [name, file] of Object.entries({ l, r, stereo, swapped, three, m4a })) {
      files[name] = await bytesOf(file);
    }
    // 10 s of audio at most: an 8 s stereo file is 8 audio seconds (16 channel-seconds would be refused)
    [pool, wholePool] = await Promise.all([
      startTestPool(redis.url, { maxAudioSeconds: 10 }),
      startTestPool(redis.url, { maxAudioSeconds: 10, decodeMode: "whole", maxAudioChannels: 2 }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([pool?.stop(), wholePool?.stop()]);
    await edge?.close();
    await redis?.stop();
  });

  const run = async (
    target: RunningPool,
    jobId: string,
    file: string,
    extra: Record<string, unknown> = {},
  ): Promise<CallbackBody> => {
    const body = await edge.addJob(jobId, files[file]!, { language: null });
    const response = await dispatch(target.url, { ...body, word_timestamps: true, ...extra });
    expect(response.status).toBe(202);
    return (await edge.waitForCallback(jobId, { timeoutMs: SLOW - 20_000 })).body;
  };
  const completed = (body: CallbackBody): Result => {
    if (body.status !== "completed") throw new Error(`expected a completed callback, got ${JSON.stringify(body)}`);
    return body.result;
  };
  const withoutSpeaker = <T extends { speaker?: string }>(items: T[]): Omit<T, "speaker">[] =>
    items.map(({ speaker: _speaker, ...rest }) => rest);
  const ofSpeaker = <T extends { speaker?: string }>(items: T[], speaker: string): Omit<T, "speaker">[] =>
    withoutSpeaker(items.filter((i) => i.speaker === speaker));
  const ordered = (items: { start: number; end: number }[]): void => {
    for (let i = 1; i < items.length; i++) {
      expect(items[i]!.start).toBeGreaterThanOrEqual(items[i - 1]!.start);
    }
  };

  it(
    "transcribes each channel on its own and merges them by time, the channel as the speaker",
    async () => {
      const [alone0, alone1, stereo, swapped] = await Promise.all([
        run(pool, "tr_mc_left", "l").then(completed),
        run(pool, "tr_mc_right", "r").then(completed),
        run(pool, "tr_mc_stereo", "stereo", { speakers: MULTICHANNEL }).then(completed),
        run(pool, "tr_mc_swapped", "swapped", { speakers: MULTICHANNEL }).then(completed),
      ]);
      // the plain jobs carry no speakers; the channels gave something to compare
      expect(alone0.segments.length).toBeGreaterThan(0);
      expect(alone1.segments.length).toBeGreaterThan(0);
      expect(alone0.segments.every((s) => s.speaker === undefined)).toBe(true);

      // every segment and word names its channel, and channel N is exactly channel N transcribed alone
      for (const item of [...stereo.segments, ...stereo.words!]) expect(["ch0", "ch1"]).toContain(item.speaker);
      expect(ofSpeaker(stereo.segments, "ch0")).toEqual(alone0.segments);
      expect(ofSpeaker(stereo.segments, "ch1")).toEqual(alone1.segments);
      expect(ofSpeaker(stereo.words!, "ch0")).toEqual(alone0.words);
      expect(ofSpeaker(stereo.words!, "ch1")).toEqual(alone1.words);
      // swapping the channels swaps the speakers
      expect(ofSpeaker(swapped.segments, "ch0")).toEqual(alone1.segments);
      expect(ofSpeaker(swapped.segments, "ch1")).toEqual(alone0.segments);

      // merged by time, text in that order; the duration is the audio's, not channels × seconds
      ordered(stereo.segments);
      ordered(stereo.words!);
      expect(stereo.text).toBe(stereo.segments.map((s: Segment) => s.text).join(" "));
      expect(stereo.duration_seconds).toBe(8);
      expect(alone0.duration_seconds).toBe(8);
      expect(stereo.timings).toHaveProperty("probe_ms");
      // language: null was detected, but no whisper.cpp binding exposes the probability: none is invented
      expect(stereo).not.toHaveProperty("language_probability");
      // one fetch for ffprobe, one per channel
      expect(edge.audioRequests.filter((id) => id === "tr_mc_stereo")).toHaveLength(3);
    },
    SLOW,
  );

  it(
    "mono audio with multichannel is one speaker: the plain transcript, every segment on ch0",
    async () => {
      const [plain, mono] = await Promise.all([
        run(pool, "tr_mc_plain_again", "l").then(completed),
        run(pool, "tr_mc_mono", "l", { speakers: MULTICHANNEL }).then(completed),
      ]);
      expect(mono.segments.every((s) => s.speaker === "ch0")).toBe(true);
      expect(mono.words!.every((w) => w.speaker === "ch0")).toBe(true);
      expect(withoutSpeaker(mono.segments)).toEqual(plain.segments);
      expect(mono.text).toBe(plain.text);
    },
    SLOW,
  );

  it(
    "a stereo M4A with its index at the end: probed through the pipe, each channel decoded from its spooled file",
    async () => {
      // ffmpeg cannot decode this MP4 from a pipe: each channel's decode takes the file fallback (docs/pool.md)
      expect(files.m4a!.indexOf("moov")).toBeGreaterThan(files.m4a!.indexOf("mdat"));
      const result = completed(await run(pool, "tr_mc_m4a", "m4a", { speakers: MULTICHANNEL }));
      expect(new Set(result.segments.map((s) => s.speaker))).toEqual(new Set(["ch0", "ch1"]));
      ordered(result.segments);
      // AAC adds its priming samples: about 8 s, not 16
      expect(result.duration_seconds).toBeGreaterThan(7.9);
      expect(result.duration_seconds).toBeLessThan(8.2);
    },
    SLOW,
  );

  it(
    "DECODE_MODE=whole splits the channels the same way; more channels than MAX_AUDIO_CHANNELS is invalid_audio",
    async () => {
      const [streamed, whole, three] = await Promise.all([
        run(pool, "tr_mc_stream_ref", "stereo", { speakers: MULTICHANNEL }).then(completed),
        run(wholePool, "tr_mc_whole", "stereo", { speakers: MULTICHANNEL }).then(completed),
        run(wholePool, "tr_mc_three", "three", { speakers: MULTICHANNEL }),
      ]);
      expect(whole.segments).toEqual(streamed.segments);
      expect(whole.words).toEqual(streamed.words);
      expect(three).toMatchObject({ status: "failed", error: { code: "invalid_audio" } });
      if (three.status === "failed") expect(three.error.message).toContain("3 channels");
    },
    SLOW,
  );
});
