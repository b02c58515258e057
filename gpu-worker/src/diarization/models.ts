/**
 * The diarization stage's two ONNX models: `DIARIZATION_SEGMENTATION_MODEL` and `DIARIZATION_EMBEDDING_MODEL` are a
 * file path, a catalog name (downloaded once into `MODEL_CACHE_DIR`, SHA-256-checked like the Whisper weights), or
 * `synthetic:tones` (generated offline, synthetic.ts: tests only, the labels mean nothing for speech).
 *
 * Checksums: upstream (k2-fsa/sherpa-onnx) publishes none. The ones below are the Git LFS object ids (= SHA-256) of
 * the Hugging Face files, as recorded with the same byte counts by two unrelated public projects; they could not
 * be checked against a download here (no internet). An entry without a checksum cannot be downloaded until the
 * operator supplies one (`DIARIZATION_SEGMENTATION_SHA256` / `DIARIZATION_EMBEDDING_SHA256`), which also overrides a
 * catalog checksum.
 */
import { existsSync } from "node:fs";
import path from "node:path";

import { downloadVerified } from "../models/download.ts";
import { ensureSyntheticDiarizationModel, type SyntheticDiarizationKind } from "./synthetic.ts";

/** A downloadable diarization model. */
export interface DiarizationCatalogModel {
  kind: SyntheticDiarizationKind;
  url: string;
  /** File name in the cache. */
  file: string;
  /** Null: none published; the operator must supply one. */
  sha256: string | null;
  bytes: number | null;
}

/** Known models by name. */
export const DIARIZATION_CATALOG: Record<string, DiarizationCatalogModel> = {
  /** pyannote/segmentation-3.0 as exported by sherpa-onnx (float32, 10 s windows, 3 local speakers). */
  "pyannote-segmentation-3.0": {
    kind: "segmentation",
    url: "https://huggingface.co/csukuangfj/sherpa-onnx-pyannote-segmentation-3-0/resolve/main/model.onnx",
    file: "sherpa-onnx-pyannote-segmentation-3-0.onnx",
    sha256: "220ad67ca923bef2fa91f2390c786097bf305bceb5e261d4af67b38e938e1079",
    bytes: 5_992_913,
  },
  /** 3D-Speaker ERes2Net base (the embedding model of sherpa-onnx's diarization examples). */
  "3dspeaker-eres2net-base": {
    kind: "embedding",
    url: "https://huggingface.co/csukuangfj/speaker-embedding-models/resolve/main/3dspeaker_speech_eres2net_base_sv_zh-cn_3dspeaker_16k.onnx",
    file: "3dspeaker_speech_eres2net_base_sv_zh-cn_3dspeaker_16k.onnx",
    sha256: "1a331345f04805badbb495c775a6ddffcdd1a732567d5ec8b3d5749e3c7a5e4b",
    bytes: 39_593_761,
  },
  /** WeSpeaker ResNet34-LM trained on VoxCeleb (English); no checksum found: needs DIARIZATION_EMBEDDING_SHA256. */
  "wespeaker-voxceleb-resnet34-lm": {
    kind: "embedding",
    url: "https://github.com/k2-fsa/sherpa-onnx/releases/download/speaker-recongition-models/wespeaker_en_voxceleb_resnet34_LM.onnx",
    file: "wespeaker_en_voxceleb_resnet34_LM.onnx",
    sha256: null,
    bytes: null,
  },
};

/** What the synthetic models are called in settings. */
export const SYNTHETIC_DIARIZATION_MODEL = "synthetic:tones";

/** A diarization model ready to load. */
export interface ResolvedDiarizationModel {
  path: string;
  /** Catalog name, `synthetic-tones`, or the file's base name. */
  name: string;
  synthetic: boolean;
}

/** A model setting that cannot be honoured; `code` tells operators (and tests) which problem it is. */
export class DiarizationModelError extends Error {
  readonly code: "diarization_model_unknown" | "diarization_model_missing" | "diarization_checksum_required";
  constructor(code: DiarizationModelError["code"], message: string) {
    super(message);
    this.name = "DiarizationModelError";
    this.code = code;
  }
}

/** Options for {@link resolveDiarizationModel}. */
export interface ResolveDiarizationModelOptions {
  cacheDir: string;
  allowDownload: boolean;
  /** Operator-supplied SHA-256 (overrides the catalog's; required where the catalog has none). */
  sha256?: string | null;
  fetchImpl?: typeof fetch;
  onProgress?: (receivedBytes: number, totalBytes: number | null) => void;
}

const SHA256_HEX = /^[0-9a-f]{64}$/i;

/** Resolves one model setting of the given kind; throws a {@link DiarizationModelError} with a clear message. */
export async function resolveDiarizationModel(
  kind: SyntheticDiarizationKind,
  spec: string,
  options: ResolveDiarizationModelOptions,
): Promise<ResolvedDiarizationModel> {
  const trimmed = spec.trim();
  if (trimmed === SYNTHETIC_DIARIZATION_MODEL) {
    return {
      path: await ensureSyntheticDiarizationModel(kind, options.cacheDir),
      name: "synthetic-tones",
      synthetic: true,
    };
  }
  const entry = DIARIZATION_CATALOG[trimmed];
  if (entry) {
    if (entry.kind !== kind) {
      throw new DiarizationModelError(
        "diarization_model_unknown",
        `${trimmed} is a ${entry.kind} model, not a ${kind} model`,
      );
    }
    const file = path.join(options.cacheDir, entry.file);
    if (existsSync(file)) return { path: file, name: trimmed, synthetic: false };
    const sha256 = options.sha256?.trim() || entry.sha256;
    if (!sha256) {
      throw new DiarizationModelError(
        "diarization_checksum_required",
        `no SHA-256 is published for ${trimmed}; set DIARIZATION_${kind.toUpperCase()}_SHA256 to the digest of ${entry.url} (verified yourself) before it can be downloaded`,
      );
    }
    if (!SHA256_HEX.test(sha256)) {
      throw new DiarizationModelError(
        "diarization_checksum_required",
        `DIARIZATION_${kind.toUpperCase()}_SHA256 must be 64 hexadecimal characters`,
      );
    }
    if (!options.allowDownload) {
      throw new DiarizationModelError(
        "diarization_model_missing",
        `diarization model ${trimmed} is not cached in ${options.cacheDir}; run \`npm run model:fetch -w gpu-worker -- ${trimmed}\``,
      );
    }
    await downloadVerified({
      url: entry.url,
      sha256,
      file,
      fetchImpl: options.fetchImpl,
      onProgress: options.onProgress,
    });
    return { path: file, name: trimmed, synthetic: false };
  }
  if (trimmed.includes("/") || trimmed.endsWith(".onnx")) {
    const file = path.resolve(trimmed);
    if (!existsSync(file)) {
      throw new DiarizationModelError("diarization_model_missing", `diarization model file ${file} does not exist`);
    }
    return { path: file, name: path.basename(file).replace(/\.onnx$/, ""), synthetic: false };
  }
  const names = Object.entries(DIARIZATION_CATALOG)
    .filter(([, m]) => m.kind === kind)
    .map(([name]) => name);
  throw new DiarizationModelError(
    "diarization_model_unknown",
    `unknown ${kind} model "${trimmed}": give a .onnx file path, ${SYNTHETIC_DIARIZATION_MODEL}, or one of ${names.join(", ")}`,
  );
}
