/**
 * The diarization stage: overlap assignment (pure), the PCM spool, model resolution (catalog, SHA-256, clear codes),
 * and the real sherpa-onnx `OfflineSpeakerDiarization` in its host process on synthetic ONNX models (real
 * segmentation windows, powerset decoding, fbank features, embeddings and clustering; the models only tell two
 * sine tones apart, see src/diarization/synthetic.ts) fed audio made by the real ffmpeg.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { assignSpeakers, speakerOf, type SpeakerTurn } from "../src/diarization/assign.ts";
import { Diarizer, type DiarizerOptions } from "../src/diarization/diarizer.ts";
import {
  DIARIZATION_CATALOG,
  DiarizationModelError,
  resolveDiarizationModel,
  SYNTHETIC_DIARIZATION_MODEL,
} from "../src/diarization/models.ts";
import { PcmSpool } from "../src/diarization/pcm-spool.ts";
import {
  buildSyntheticEmbeddingModel,
  buildSyntheticSegmentationModel,
  ensureSyntheticDiarizationModel,
  SYNTHETIC_TONE_HZ,
} from "../src/diarization/synthetic.ts";
import { createLogger } from "../src/log.ts";
import { CACHE_DIR, makeClip } from "./helpers/audio.ts";

const run = promisify(execFile);
const MODEL_DIR = path.join(CACHE_DIR, "models");
const [LOW, HIGH] = SYNTHETIC_TONE_HZ;

/** `turns` of `seconds` each, alternating the two synthetic voices (low first), as 16 kHz float PCM. */
async function alternatingVoices(turns: number, seconds: number): Promise<Float32Array> {
  const file = await makeClip({
    name: `voices-${turns}x${seconds}`,
    input: [
      "-f",
      "lavfi",
      "-i",
      `aevalsrc=exprs='0.5*if(lt(mod(t\\,${2 * seconds})\\,${seconds})\\,sin(2*PI*${LOW}*t)\\,sin(2*PI*${HIGH}*t))':s=16000:d=${turns * seconds}`,
    ],
  });
  const { stdout } = await run("ffmpeg", ["-loglevel", "error", "-i", file, "-f", "f32le", "-ac", "1", "pipe:1"], {
    encoding: "buffer",
    maxBuffer: 64 * 1024 * 1024,
  });
  return new Float32Array(stdout.buffer, stdout.byteOffset, stdout.byteLength / 4);
}

describe("assignSpeakers (pure)", () => {
  const turns: SpeakerTurn[] = [
    { start: 0, end: 4, speaker: "speaker_0" },
    { start: 4, end: 8, speaker: "speaker_1" },
    { start: 9, end: 12, speaker: "speaker_0" },
  ];

  it("gives each item the speaker it overlaps most, summed over turns", () => {
    expect(speakerOf({ start: 3, end: 6 }, turns)).toBe("speaker_1"); // 1 s of 0 against 2 s of 1
    expect(speakerOf({ start: 3.5, end: 4.2 }, turns)).toBe("speaker_0");
    expect(speakerOf({ start: 2.5, end: 10.5 }, turns)).toBe("speaker_1"); // speaker_0: 1.5 + 1.5 = 3 s < 4 s
    expect(speakerOf({ start: 1, end: 11 }, turns)).toBe("speaker_0"); // summed over two turns: 3 + 2 = 5 s > 4 s
  });

  it("gives an item no turn overlaps the nearest turn, and nothing when there are no turns", () => {
    expect(speakerOf({ start: 8.2, end: 8.4 }, turns)).toBe("speaker_1"); // in the pause, nearer the end of turn 2
    expect(speakerOf({ start: 8.7, end: 8.9 }, turns)).toBe("speaker_0");
    expect(speakerOf({ start: 20, end: 20 }, turns)).toBe("speaker_0"); // zero-length, after the last turn
    expect(speakerOf({ start: 1, end: 2 }, [])).toBeUndefined();
  });

  it("labels segments and words and keeps their fields and order", () => {
    const labelled = assignSpeakers(
      {
        segments: [
          { start: 0.5, end: 3.9, text: "hello", avg_logprob: -0.2 },
          { start: 4.1, end: 7.5, text: "world" },
        ],
        words: [
          { start: 0.5, end: 1, word: "hel" },
          { start: 8.1, end: 8.2, word: "lo" },
          { start: 11, end: 11.5, word: "x" },
        ],
      },
      turns,
    );
    expect(labelled.segments).toEqual([
      { start: 0.5, end: 3.9, text: "hello", avg_logprob: -0.2, speaker: "speaker_0" },
      { start: 4.1, end: 7.5, text: "world", speaker: "speaker_1" },
    ]);
    expect(labelled.words!.map((w) => w.speaker)).toEqual(["speaker_0", "speaker_1", "speaker_0"]);
    expect(assignSpeakers({ segments: [{ start: 0, end: 1, text: "a" }] }, [])).toEqual({
      segments: [{ start: 0, end: 1, text: "a" }],
    });
  });
});

describe("PcmSpool", () => {
  it("appends copies in order, so the caller may reuse its buffer, and removes its directory", async () => {
    const spool = await PcmSpool.create();
    const buffer = new Float32Array(5);
    const expected: number[] = [];
    for (let i = 0; i < 4; i++) {
      buffer.fill(i + 0.5);
      spool.append(buffer.subarray(0, 3 + (i % 2)));
      expected.push(...Array.from({ length: 3 + (i % 2) }, () => i + 0.5));
      buffer.fill(-1); // reused at once, as the window cutter does
    }
    await spool.finish();
    expect(spool.sampleCount).toBe(expected.length);
    const bytes = await readFile(spool.file);
    expect(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4))).toEqual(expected);
    await spool.remove();
    expect(existsSync(path.dirname(spool.file))).toBe(false);
  });
});

describe("resolveDiarizationModel", () => {
  let cacheDir: string;
  beforeAll(async () => {
    cacheDir = await mkdtemp(path.join(tmpdir(), "vtt-diar-models-"));
  });
  afterAll(async () => {
    await rm(cacheDir, { recursive: true, force: true });
  });

  const codeOf = async (promise: Promise<unknown>): Promise<string> => {
    const error = await promise.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DiarizationModelError);
    return (error as DiarizationModelError).code;
  };

  it("has a checksum or says it needs one for every catalog entry, and https URLs", () => {
    for (const entry of Object.values(DIARIZATION_CATALOG)) {
      expect(entry.url).toMatch(/^https:\/\//);
      if (entry.sha256 !== null) expect(entry.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(DIARIZATION_CATALOG["pyannote-segmentation-3.0"]!.kind).toBe("segmentation");
  });

  it("refuses to download a catalog model without a published or operator-supplied SHA-256", async () => {
    const fetchImpl = (() => {
      throw new Error("must not fetch");
    }) as unknown as typeof fetch;
    expect(
      await codeOf(
        resolveDiarizationModel("embedding", "wespeaker-voxceleb-resnet34-lm", {
          cacheDir,
          allowDownload: true,
          fetchImpl,
        }),
      ),
    ).toBe("diarization_checksum_required");
    expect(
      await codeOf(
        resolveDiarizationModel("embedding", "wespeaker-voxceleb-resnet34-lm", {
          cacheDir,
          allowDownload: true,
          sha256: "not-hex",
          fetchImpl,
        }),
      ),
    ).toBe("diarization_checksum_required");
  });

  it("downloads with the operator's SHA-256 checked, and keeps nothing on a mismatch", async () => {
    const bytes = buildSyntheticEmbeddingModel();
    const digest = createHash("sha256").update(bytes).digest("hex");
    const urls: string[] = [];
    const fetchImpl = (async (url: string) => {
      urls.push(url);
      return new Response(Buffer.from(bytes));
    }) as unknown as typeof fetch;
    const entry = DIARIZATION_CATALOG["wespeaker-voxceleb-resnet34-lm"]!;
    await expect(
      resolveDiarizationModel("embedding", "wespeaker-voxceleb-resnet34-lm", {
        cacheDir,
        allowDownload: true,
        sha256: "0".repeat(64),
        fetchImpl,
      }),
    ).rejects.toThrow(/SHA-256 mismatch/);
    expect(existsSync(path.join(cacheDir, entry.file))).toBe(false);
    const resolved = await resolveDiarizationModel("embedding", "wespeaker-voxceleb-resnet34-lm", {
      cacheDir,
      allowDownload: true,
      sha256: digest,
      fetchImpl,
    });
    expect(urls).toEqual([entry.url, entry.url]);
    expect(resolved).toEqual({
      path: path.join(cacheDir, entry.file),
      name: "wespeaker-voxceleb-resnet34-lm",
      synthetic: false,
    });
    expect(await readFile(resolved.path)).toEqual(Buffer.from(bytes));
  });

  it("names the problem: not cached without downloads, wrong kind, unknown name, missing file", async () => {
    expect(
      await codeOf(
        resolveDiarizationModel("segmentation", "pyannote-segmentation-3.0", { cacheDir, allowDownload: false }),
      ),
    ).toBe("diarization_model_missing");
    expect(
      await codeOf(
        resolveDiarizationModel("embedding", "pyannote-segmentation-3.0", { cacheDir, allowDownload: true }),
      ),
    ).toBe("diarization_model_unknown");
    expect(await codeOf(resolveDiarizationModel("embedding", "titanet", { cacheDir, allowDownload: true }))).toBe(
      "diarization_model_unknown",
    );
    expect(
      await codeOf(resolveDiarizationModel("embedding", "/nonexistent/model.onnx", { cacheDir, allowDownload: true })),
    ).toBe("diarization_model_missing");
  });
});

describe("synthetic diarization models", () => {
  it("are generated byte-identically and once per cache directory", async () => {
    expect(Buffer.from(buildSyntheticSegmentationModel())).toEqual(Buffer.from(buildSyntheticSegmentationModel()));
    const cacheDir = await mkdtemp(path.join(tmpdir(), "vtt-diar-synthetic-"));
    try {
      const first = await ensureSyntheticDiarizationModel("segmentation", cacheDir);
      const again = await ensureSyntheticDiarizationModel("segmentation", cacheDir);
      expect(again).toBe(first);
      expect(await readFile(first)).toEqual(Buffer.from(buildSyntheticSegmentationModel()));
      expect(await readFile(await ensureSyntheticDiarizationModel("embedding", cacheDir))).toEqual(
        Buffer.from(buildSyntheticEmbeddingModel()),
      );
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  });
});

describe("Diarizer (real sherpa-onnx, synthetic models)", () => {
  const logger = createLogger({ level: "silent" });
  let options: DiarizerOptions;
  let diarizer: Diarizer;
  let dir: string;

  const spoolOf = async (samples: Float32Array): Promise<{ file: string; count: number }> => {
    const file = path.join(dir, `pcm-${samples.length}-${Math.random()}.f32`);
    await writeFile(file, new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength));
    return { file, count: samples.length };
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "vtt-diar-"));
    const resolve = (kind: "segmentation" | "embedding") =>
      resolveDiarizationModel(kind, SYNTHETIC_DIARIZATION_MODEL, { cacheDir: MODEL_DIR, allowDownload: false });
    options = {
      segmentation: await resolve("segmentation"),
      embedding: await resolve("embedding"),
      threads: 1,
      threshold: 0.5,
      minDurationOn: 0.3,
      minDurationOff: 0.5,
      logger,
    };
    diarizer = new Diarizer(options);
    await diarizer.start();
  });
  afterAll(async () => {
    await diarizer?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("finds two speakers in two alternating voices, with the turns where the voice changes", async () => {
    const { file, count } = await spoolOf(await alternatingVoices(4, 4));
    const result = await diarizer.diarize(
      file,
      count,
      { expected: null, min: null, max: null },
      AbortSignal.timeout(30_000),
    );
    expect(result.clusters).toBe(2);
    expect(result.passes).toBe(1);
    expect(result.turns.map((t) => t.speaker)).toEqual(["speaker_0", "speaker_1", "speaker_0", "speaker_1"]);
    result.turns.forEach((turn, i) => {
      expect(turn.start).toBeCloseTo(i * 4, 0);
      expect(turn.end).toBeCloseTo((i + 1) * 4, 0);
    });
  });

  it("clusters to speakers_expected, and re-runs with the bound when the threshold falls outside min/max", async () => {
    const { file, count } = await spoolOf(await alternatingVoices(4, 4));
    const one = await diarizer.diarize(file, count, { expected: 1, min: null, max: null }, AbortSignal.timeout(30_000));
    expect(one.clusters).toBe(1);
    expect(new Set(one.turns.map((t) => t.speaker))).toEqual(new Set(["speaker_0"]));
    const capped = await diarizer.diarize(
      file,
      count,
      { expected: null, min: null, max: 1 },
      AbortSignal.timeout(30_000),
    );
    expect(capped).toMatchObject({ clusters: 1, passes: 2 });
    const within = await diarizer.diarize(file, count, { expected: null, min: 1, max: 3 }, AbortSignal.timeout(30_000));
    expect(within).toMatchObject({ clusters: 2, passes: 1 });
  });

  it("reports no turns for silence", async () => {
    const { file, count } = await spoolOf(new Float32Array(16000 * 3));
    const result = await diarizer.diarize(
      file,
      count,
      { expected: null, min: null, max: null },
      AbortSignal.timeout(30_000),
    );
    expect(result.turns).toEqual([]);
  });

  it("kills the host when a job is aborted mid-inference, and the next job starts a fresh one", async () => {
    const { file, count } = await spoolOf(await alternatingVoices(30, 4));
    const controller = new AbortController();
    const aborted = diarizer.diarize(file, count, { expected: null, min: null, max: null }, controller.signal);
    setTimeout(() => controller.abort(new Error("job timeout")), 200);
    await expect(aborted).rejects.toThrow("job timeout");
    const short = await spoolOf(await alternatingVoices(2, 4));
    const next = await diarizer.diarize(
      short.file,
      short.count,
      { expected: null, min: null, max: null },
      AbortSignal.timeout(30_000),
    );
    expect(next.clusters).toBe(2);
  });

  it("fails a job aborted while it waits for the host at once, without running it", async () => {
    const { file, count } = await spoolOf(await alternatingVoices(8, 4));
    const first = diarizer.diarize(file, count, { expected: null, min: null, max: null }, AbortSignal.timeout(30_000));
    const controller = new AbortController();
    const queued = diarizer.diarize(file, count, { expected: null, min: null, max: null }, controller.signal);
    controller.abort(new Error("timed out in the queue"));
    const started = performance.now();
    await expect(queued).rejects.toThrow("timed out in the queue");
    expect(performance.now() - started).toBeLessThan(100);
    expect((await first).clusters).toBe(2);
  });

  it("fails to start with a clear message on a file sherpa-onnx cannot load, or a model missing its metadata", async () => {
    const garbage = path.join(dir, "garbage.onnx");
    await writeFile(garbage, "not an onnx model");
    const broken = new Diarizer({ ...options, segmentation: { path: garbage, name: "garbage", synthetic: false } });
    await expect(broken.start()).rejects.toThrow(/diarization/);
    await broken.close();
    // an embedding model where the segmentation model belongs: sherpa-onnx exits the process on missing metadata
    const swapped = new Diarizer({ ...options, segmentation: options.embedding });
    await expect(swapped.start()).rejects.toThrow(/the diarization host exited while loading/);
    await swapped.close();
  });
});
