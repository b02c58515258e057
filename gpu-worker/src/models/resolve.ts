/**
 * Turning `WHISPER_MODEL` into a model file: a path, a catalog name (downloaded once into the cache), or
 * `synthetic:<shape>` (generated offline; its text is meaningless).
 */
import { existsSync } from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";

import { MODEL_CATALOG, modelUrl } from "./catalog.ts";
import { downloadVerified } from "./download.ts";
import { ensureSyntheticModel, SYNTHETIC_SHAPES, type SyntheticShapeName } from "./synthetic.ts";

const SYNTHETIC_PREFIX = "synthetic:";
/** whisper.cpp counts a model as multilingual (it can translate) from this vocabulary size on. */
const MULTILINGUAL_MIN_VOCAB = 51865;

/** A model ready to load. */
export interface ResolvedModel {
  path: string;
  /** Reported as `result.model`: `ggml-base.en`, `synthetic-mini`, or the file's base name. */
  name: string;
  synthetic: boolean;
  /** From the GGML header's vocabulary size: an English-only model (`*.en`) cannot translate. */
  multilingual: boolean;
}

/** Reads `n_vocab` from a GGML whisper model's header (bytes 4–8, after the magic); false when unreadable. */
export async function isMultilingualModelFile(file: string): Promise<boolean> {
  const handle = await open(file, "r");
  try {
    const header = Buffer.alloc(8);
    const { bytesRead } = await handle.read(header, 0, 8, 0);
    return bytesRead === 8 && header.readInt32LE(4) >= MULTILINGUAL_MIN_VOCAB;
  } finally {
    await handle.close();
  }
}

/** Options for {@link resolveModel}. */
export interface ResolveModelOptions {
  cacheDir: string;
  /** Download a catalog model that is not cached yet (otherwise fail and point at `npm run model:fetch`). */
  allowDownload: boolean;
  fetchImpl?: typeof fetch;
  onProgress?: (receivedBytes: number, totalBytes: number | null) => void;
}

/** Resolves a model spec; throws with a clear message for an unknown name or a missing file. */
export async function resolveModel(spec: string, options: ResolveModelOptions): Promise<ResolvedModel> {
  const trimmed = spec.trim();
  if (trimmed.startsWith(SYNTHETIC_PREFIX)) {
    const shape = trimmed.slice(SYNTHETIC_PREFIX.length);
    if (!(shape in SYNTHETIC_SHAPES)) {
      throw new Error(
        `unknown synthetic model "${trimmed}"; use ${Object.keys(SYNTHETIC_SHAPES)
          .map((s) => SYNTHETIC_PREFIX + s)
          .join(" or ")}`,
      );
    }
    const file = await ensureSyntheticModel({ shape: shape as SyntheticShapeName, cacheDir: options.cacheDir });
    return {
      path: file,
      name: `synthetic-${shape}`,
      synthetic: true,
      multilingual: await isMultilingualModelFile(file),
    };
  }
  const catalogEntry = MODEL_CATALOG[trimmed];
  if (catalogEntry) {
    const file = path.join(options.cacheDir, catalogEntry.file);
    if (!existsSync(file)) {
      if (!options.allowDownload) {
        throw new Error(
          `model ${trimmed} is not cached in ${options.cacheDir}; run \`npm run model:fetch -w gpu-worker -- ${trimmed}\``,
        );
      }
      await downloadVerified({
        url: modelUrl(catalogEntry),
        sha256: catalogEntry.sha256,
        file,
        fetchImpl: options.fetchImpl,
        onProgress: options.onProgress,
      });
    }
    const name = catalogEntry.file.replace(/\.bin$/, "");
    return { path: file, name, synthetic: false, multilingual: await isMultilingualModelFile(file) };
  }
  if (trimmed.includes("/") || trimmed.endsWith(".bin")) {
    const file = path.resolve(trimmed);
    if (!existsSync(file)) throw new Error(`model file ${file} does not exist`);
    const name = path.basename(file).replace(/\.bin$/, "");
    return { path: file, name, synthetic: false, multilingual: await isMultilingualModelFile(file) };
  }
  throw new Error(
    `unknown model "${trimmed}": give a file path, synthetic:mini, synthetic:tiny, or one of ${Object.keys(MODEL_CATALOG).join(", ")}`,
  );
}
