/**
 * Synthetic diarization models: real ONNX files with the inputs, outputs and metadata sherpa-onnx expects of a
 * pyannote segmentation-3.0 model and of a wespeaker-style embedding extractor, but hand-set weights instead of
 * trained ones. They exist so tests run the real sherpa-onnx `OfflineSpeakerDiarization` (segmentation windows,
 * powerset decoding, fbank features, embeddings, clustering) without downloading weights. They recognise NO voices:
 *
 * - `synthetic:tones` segmentation: each output frame (991-sample receptive field, 270-sample shift, 10 s window
 *   like segmentation-3.0) measures the energy of the signal at {@link SYNTHETIC_TONE_HZ} with Hann-windowed sine and
 *   cosine filters (a Conv, a square, a 1×1 Conv, a Transpose); local speaker 1 is "a tone of the first frequency",
 *   speaker 2 "of the second", silence below an amplitude of about 0.1. Anything else (speech) is whatever tone
 *   filter leaks most.
 * - `synthetic:tones` embedding: the time-mean of the 80 log-mel features with their mean over bins removed
 *   (ReduceMean, ReduceMean, Sub): two tones far apart in frequency get near-orthogonal embeddings, so the clustering
 *   separates them.
 */
import { existsSync } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";

import { encodeOnnxModel } from "./onnx-writer.ts";

/** The two "voices" the synthetic segmentation model tells apart (Hz). */
export const SYNTHETIC_TONE_HZ = [300, 1200] as const;

const SAMPLE_RATE = 16000;
/** segmentation-3.0's chunk and frame geometry (sherpa-onnx's export of it carries the same numbers). */
const WINDOW_SIZE = 160000;
const RECEPTIVE_FIELD_SIZE = 991;
const RECEPTIVE_FIELD_SHIFT = 270;
/** Energy (amplitude²) under which a frame is silence. */
const SILENCE_ENERGY = 0.01;
const EMBEDDING_DIM = 80;
/** Bump when a generator's output changes, so cached files are regenerated. */
const GENERATOR_VERSION = 1;

/** The bytes of the synthetic segmentation model. */
export function buildSyntheticSegmentationModel(): Uint8Array {
  const k = RECEPTIVE_FIELD_SIZE;
  const filters = new Float32Array(4 * k);
  SYNTHETIC_TONE_HZ.forEach((hz, tone) => {
    for (let n = 0; n < k; n++) {
      const hann = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / (k - 1));
      // scaled so a tone of amplitude A gives sin² + cos² ≈ A²
      const scale = (4 / k) * hann;
      const phase = (2 * Math.PI * hz * n) / SAMPLE_RATE;
      filters[2 * tone * k + n] = scale * Math.sin(phase);
      filters[(2 * tone + 1) * k + n] = scale * Math.cos(phase);
    }
  });
  // powerset classes of 3 speakers, at most 2 at once: {}, {1}, {2}, {3}, {1,2}, {1,3}, {2,3}
  const mix = new Float32Array(7 * 4);
  mix[1 * 4 + 0] = 1;
  mix[1 * 4 + 1] = 1;
  mix[2 * 4 + 2] = 1;
  mix[2 * 4 + 3] = 1;
  const bias = Float32Array.from([SILENCE_ENERGY, 0, 0, -100, -100, -100, -100]);
  return encodeOnnxModel({
    producer: "vtt-synthetic-diarization",
    opset: 13,
    inputs: [{ name: "x", shape: ["N", 1, "T"] }],
    outputs: [{ name: "y", shape: ["N", "F", 7] }],
    initializers: [
      { name: "filters", dims: [4, 1, k], values: filters },
      { name: "mix", dims: [7, 4, 1], values: mix },
      { name: "bias", dims: [7], values: bias },
    ],
    nodes: [
      {
        op: "Conv",
        inputs: ["x", "filters"],
        outputs: ["response"],
        attributes: [
          { name: "kernel_shape", ints: [k] },
          { name: "strides", ints: [RECEPTIVE_FIELD_SHIFT] },
        ],
      },
      { op: "Mul", inputs: ["response", "response"], outputs: ["energy"] },
      {
        op: "Conv",
        inputs: ["energy", "mix", "bias"],
        outputs: ["logits"],
        attributes: [{ name: "kernel_shape", ints: [1] }],
      },
      { op: "Transpose", inputs: ["logits"], outputs: ["y"], attributes: [{ name: "perm", ints: [0, 2, 1] }] },
    ],
    metadata: {
      model_type: "pyannote-segmentation-3.0",
      // "synthetic" is ours; sherpa-onnx ignores it. It lets the pool say loudly that labels are meaningless.
      synthetic: "tones",
      sample_rate: String(SAMPLE_RATE),
      window_size: String(WINDOW_SIZE),
      window_shift: String(WINDOW_SIZE / 10),
      receptive_field_size: String(RECEPTIVE_FIELD_SIZE),
      receptive_field_shift: String(RECEPTIVE_FIELD_SHIFT),
      num_speakers: "3",
      powerset_max_classes: "2",
      num_classes: "7",
    },
  });
}

/** The bytes of the synthetic embedding extractor. */
export function buildSyntheticEmbeddingModel(): Uint8Array {
  return encodeOnnxModel({
    producer: "vtt-synthetic-diarization",
    opset: 13,
    inputs: [{ name: "feats", shape: ["N", "T", 80] }],
    outputs: [{ name: "embs", shape: ["N", EMBEDDING_DIM] }],
    initializers: [],
    nodes: [
      {
        op: "ReduceMean",
        inputs: ["feats"],
        outputs: ["mean_over_time"],
        attributes: [
          { name: "axes", ints: [1] },
          { name: "keepdims", int: 0 },
        ],
      },
      {
        op: "ReduceMean",
        inputs: ["mean_over_time"],
        outputs: ["mean_over_bins"],
        attributes: [
          { name: "axes", ints: [1] },
          { name: "keepdims", int: 1 },
        ],
      },
      { op: "Sub", inputs: ["mean_over_time", "mean_over_bins"], outputs: ["embs"] },
    ],
    metadata: {
      framework: "wespeaker",
      synthetic: "tones",
      output_dim: String(EMBEDDING_DIM),
      sample_rate: String(SAMPLE_RATE),
      normalize_samples: "1",
      language: "none",
      comment: "synthetic: time-mean log-mel with the mean over bins removed",
    },
  });
}

/** Which synthetic model. */
export type SyntheticDiarizationKind = "segmentation" | "embedding";

/** Returns the path of a synthetic model, generating it once (atomically) into `cacheDir`. */
export async function ensureSyntheticDiarizationModel(
  kind: SyntheticDiarizationKind,
  cacheDir: string,
): Promise<string> {
  const file = path.join(cacheDir, `synthetic-tones-${kind}-v${GENERATOR_VERSION}.onnx`);
  if (existsSync(file)) return file;
  await mkdir(cacheDir, { recursive: true });
  const bytes = kind === "segmentation" ? buildSyntheticSegmentationModel() : buildSyntheticEmbeddingModel();
  const partial = `${file}.${process.pid}.${Date.now()}.partial`;
  await writeFile(partial, bytes);
  await rename(partial, file);
  return file;
}
