/**
 * Synthetic whisper.cpp models: the real GGML file format with deterministic pseudo-random weights.
 *
 * There are no real Whisper weights offline, so tests, benchmarks and `WHISPER_MODEL=synthetic:*` build a model from
 * the vocabulary-only `fixtures/for-tests-ggml-tiny.en.bin` plus every tensor the loader expects. The engine then runs
 * its whole path (log-mel, encoder, decoder loop, timestamps); the text it produces has NO meaning.
 * Layout facts: /work/shared/models/SYNTHETIC-MODEL.md (copied in docs/pool.md).
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";

/** Shapes of the synthetic models; the names are what `WHISPER_MODEL=synthetic:<name>` accepts. */
export const SYNTHETIC_SHAPES = {
  /** S 64, 2 heads, 1 encoder + 1 decoder layer: about 8 MB, fast enough for unit tests. */
  mini: { state: 64, heads: 2, audioLayers: 1, textLayers: 1 },
  /** Exactly tiny's dimensions (384, 6 heads, 4 + 4 layers): about 78 MB, realistic compute for benchmarks. */
  tiny: { state: 384, heads: 6, audioLayers: 4, textLayers: 4 },
  /**
   * mini with a multilingual vocabulary size (51865: whisper.cpp adds the language and task tokens, shifted by one),
   * so the decoder's prompt carries `translate`/`transcribe` and a translate task really changes the decode.
   */
  "mini-multilingual": { state: 64, heads: 2, audioLayers: 1, textLayers: 1, multilingual: true },
} as const satisfies Record<string, SyntheticShape>;

interface SyntheticShape {
  state: number;
  heads: number;
  audioLayers: number;
  textLayers: number;
  multilingual?: boolean;
}

/** The vocabulary size whisper.cpp's multilingual checkpoints have (the tiny.en header has 51864). */
const MULTILINGUAL_VOCAB = 51865;

export type SyntheticShapeName = keyof typeof SYNTHETIC_SHAPES;

/** Bump when the generator's output changes, so cached files are regenerated. */
const GENERATOR_VERSION = 1;
const DEFAULT_SEED = 1;
const HEADER_HPARAMS_BYTES = 48;
const GGML_MAGIC = 0x67676d6c;
const TYPE_F32 = 0;
const TYPE_F16 = 1;
const WEIGHT_STDDEV = 0.02;
const BIAS_STDDEV = 0.005;

/** Where the vocabulary-only header ships in this package. */
export const DEFAULT_HEADER_FILE = path.resolve(import.meta.dirname, "../../fixtures/for-tests-ggml-tiny.en.bin");

interface TensorSpec {
  name: string;
  /** ggml order: ne[0] is the contiguous dimension. */
  shape: number[];
  type: typeof TYPE_F32 | typeof TYPE_F16;
  init: "normal" | "bias" | "ones" | "zeros";
}

interface Hparams {
  nVocab: number;
  nAudioCtx: number;
  nMels: number;
  nTextCtx: number;
}

/** Options for {@link ensureSyntheticModel}. */
export interface SyntheticModelOptions {
  shape: SyntheticShapeName;
  /** Directory for generated files; the same shape and seed reuse the same file. */
  cacheDir: string;
  seed?: number;
  headerFile?: string;
}

/**
 * Returns the path of a synthetic model file, generating it once (atomically) into `cacheDir`.
 * The same shape and seed always give a byte-identical file.
 */
export async function ensureSyntheticModel(options: SyntheticModelOptions): Promise<string> {
  const seed = options.seed ?? DEFAULT_SEED;
  const file = path.join(options.cacheDir, `ggml-synthetic-${options.shape}-s${seed}-v${GENERATOR_VERSION}.bin`);
  if (existsSync(file)) return file;
  await mkdir(options.cacheDir, { recursive: true });
  const header = await readFile(options.headerFile ?? DEFAULT_HEADER_FILE);
  const bytes = buildSyntheticModel(header, options.shape, seed);
  const partial = `${file}.${process.pid}.${Date.now()}.partial`;
  await writeFile(partial, bytes);
  await rename(partial, file);
  return file;
}

/** Builds the model bytes: the header with the shape's hparams, then one record per expected tensor. */
export function buildSyntheticModel(header: Uint8Array, shapeName: SyntheticShapeName, seed = DEFAULT_SEED): Buffer {
  const shape: SyntheticShape = SYNTHETIC_SHAPES[shapeName];
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  if (view.getUint32(0, true) !== GGML_MAGIC) throw new Error("header file is not a GGML whisper model");
  const hparams: Hparams = {
    nVocab: shape.multilingual ? MULTILINGUAL_VOCAB : view.getInt32(4, true),
    nAudioCtx: view.getInt32(8, true),
    nTextCtx: view.getInt32(24, true),
    nMels: view.getInt32(40, true),
  };
  const head = Buffer.from(header.subarray(0, HEADER_HPARAMS_BYTES));
  head.writeInt32LE(hparams.nVocab, 4);
  head.writeInt32LE(shape.state, 12);
  head.writeInt32LE(shape.heads, 16);
  head.writeInt32LE(shape.audioLayers, 20);
  head.writeInt32LE(shape.state, 28);
  head.writeInt32LE(shape.heads, 32);
  head.writeInt32LE(shape.textLayers, 36);
  head.writeInt32LE(TYPE_F16, 44);
  const parts: Buffer[] = [head, Buffer.from(header.subarray(HEADER_HPARAMS_BYTES))];
  for (const spec of tensorSpecs(shape, hparams)) parts.push(tensorRecord(spec, seed));
  return Buffer.concat(parts);
}

function tensorSpecs(shape: SyntheticShape, h: Hparams): TensorSpec[] {
  const S = shape.state;
  const W = TYPE_F16;
  const specs: TensorSpec[] = [
    { name: "encoder.positional_embedding", shape: [S, h.nAudioCtx], type: TYPE_F32, init: "normal" },
    { name: "encoder.conv1.weight", shape: [3, h.nMels, S], type: TYPE_F16, init: "normal" },
    { name: "encoder.conv1.bias", shape: [1, S], type: TYPE_F32, init: "bias" },
    { name: "encoder.conv2.weight", shape: [3, S, S], type: TYPE_F16, init: "normal" },
    { name: "encoder.conv2.bias", shape: [1, S], type: TYPE_F32, init: "bias" },
    { name: "encoder.ln_post.weight", shape: [S], type: TYPE_F32, init: "ones" },
    { name: "encoder.ln_post.bias", shape: [S], type: TYPE_F32, init: "zeros" },
    { name: "decoder.positional_embedding", shape: [S, h.nTextCtx], type: TYPE_F32, init: "normal" },
    { name: "decoder.token_embedding.weight", shape: [S, h.nVocab], type: W, init: "normal" },
    { name: "decoder.ln.weight", shape: [S], type: TYPE_F32, init: "ones" },
    { name: "decoder.ln.bias", shape: [S], type: TYPE_F32, init: "zeros" },
  ];
  const block = (prefix: string, crossAttention: boolean): void => {
    const attention = (name: string): void => {
      specs.push(
        { name: `${prefix}.${name}_ln.weight`, shape: [S], type: TYPE_F32, init: "ones" },
        { name: `${prefix}.${name}_ln.bias`, shape: [S], type: TYPE_F32, init: "zeros" },
        { name: `${prefix}.${name}.query.weight`, shape: [S, S], type: W, init: "normal" },
        { name: `${prefix}.${name}.query.bias`, shape: [S], type: TYPE_F32, init: "bias" },
        { name: `${prefix}.${name}.key.weight`, shape: [S, S], type: W, init: "normal" },
        { name: `${prefix}.${name}.value.weight`, shape: [S, S], type: W, init: "normal" },
        { name: `${prefix}.${name}.value.bias`, shape: [S], type: TYPE_F32, init: "bias" },
        { name: `${prefix}.${name}.out.weight`, shape: [S, S], type: W, init: "normal" },
        { name: `${prefix}.${name}.out.bias`, shape: [S], type: TYPE_F32, init: "bias" },
      );
    };
    attention("attn");
    if (crossAttention) attention("cross_attn");
    specs.push(
      { name: `${prefix}.mlp_ln.weight`, shape: [S], type: TYPE_F32, init: "ones" },
      { name: `${prefix}.mlp_ln.bias`, shape: [S], type: TYPE_F32, init: "zeros" },
      { name: `${prefix}.mlp.0.weight`, shape: [S, 4 * S], type: W, init: "normal" },
      { name: `${prefix}.mlp.0.bias`, shape: [4 * S], type: TYPE_F32, init: "bias" },
      { name: `${prefix}.mlp.2.weight`, shape: [4 * S, S], type: W, init: "normal" },
      { name: `${prefix}.mlp.2.bias`, shape: [S], type: TYPE_F32, init: "bias" },
    );
  };
  for (let i = 0; i < shape.audioLayers; i++) block(`encoder.blocks.${i}`, false);
  for (let i = 0; i < shape.textLayers; i++) block(`decoder.blocks.${i}`, true);
  return specs;
}

function tensorRecord(spec: TensorSpec, seed: number): Buffer {
  const name = Buffer.from(spec.name, "utf8");
  const count = spec.shape.reduce((a, b) => a * b, 1);
  const elementBytes = spec.type === TYPE_F16 ? 2 : 4;
  const headerBytes = 12 + 4 * spec.shape.length + name.length;
  const out = Buffer.alloc(headerBytes + count * elementBytes);
  out.writeInt32LE(spec.shape.length, 0);
  out.writeInt32LE(name.length, 4);
  out.writeInt32LE(spec.type, 8);
  spec.shape.forEach((dim, i) => out.writeInt32LE(dim, 12 + 4 * i));
  name.copy(out, 12 + 4 * spec.shape.length);
  const values = tensorValues(spec, count, seed);
  const data = out.subarray(headerBytes);
  if (spec.type === TYPE_F32) {
    Buffer.from(values.buffer, values.byteOffset, values.byteLength).copy(data);
  } else {
    for (let i = 0; i < count; i++) data.writeUInt16LE(float32ToFloat16Bits(values[i]!), 2 * i);
  }
  return out;
}

function tensorValues(spec: TensorSpec, count: number, seed: number): Float32Array {
  const values = new Float32Array(count);
  if (spec.init === "ones") return values.fill(1);
  if (spec.init === "zeros") return values;
  const stddev = spec.init === "bias" ? BIAS_STDDEV : WEIGHT_STDDEV;
  // each tensor has its own stream, so adding or reordering tensors never changes the others
  const digest = createHash("sha256").update(`${seed}:${spec.name}`).digest();
  const next = sfc32(digest.readUInt32LE(0), digest.readUInt32LE(4), digest.readUInt32LE(8), digest.readUInt32LE(12));
  for (let i = 0; i < count; i += 2) {
    // Box-Muller: two normals per pair of uniforms
    const u1 = next() || Number.MIN_VALUE;
    const u2 = next();
    const radius = Math.sqrt(-2 * Math.log(u1)) * stddev;
    values[i] = radius * Math.cos(2 * Math.PI * u2);
    if (i + 1 < count) values[i + 1] = radius * Math.sin(2 * Math.PI * u2);
  }
  return values;
}

/** Small fast seeded PRNG (uniform in [0, 1)). */
function sfc32(a: number, b: number, c: number, d: number): () => number {
  return () => {
    a |= 0;
    b |= 0;
    c |= 0;
    d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE 754 binary32 → binary16 with round-to-nearest-even (weights are small, so no NaN/Inf care needed beyond clamping). */
export function float32ToFloat16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = ((x >>> 23) & 0xff) - 127 + 15;
  let mantissa = x & 0x7fffff;
  if (exponent >= 31) return sign | 0x7c00;
  if (exponent <= 0) {
    if (exponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - exponent;
    let half = mantissa >>> shift;
    const remainder = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (remainder > halfway || (remainder === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = sign | (exponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  if (remainder > 0x1000 || (remainder === 0x1000 && half & 1)) half++;
  return half;
}
