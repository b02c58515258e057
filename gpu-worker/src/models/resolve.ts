/**
 * Turning `WHISPER_MODEL` into a model file: a path, a catalog name (downloaded once into the cache), or
 * `synthetic:<shape>` (generated offline; its text is meaningless).
 */
import { existsSync } from "node:fs";
import path from "node:path";

import { MODEL_CATALOG, modelUrl } from "./catalog.ts";
import { downloadVerified } from "./download.ts";
import { ensureSyntheticModel, SYNTHETIC_SHAPES, type SyntheticShapeName } from "./synthetic.ts";

const SYNTHETIC_PREFIX = "synthetic:";

/** A model ready to load. */
export interface ResolvedModel {
  path: string;
  /** Reported as `result.model`: `ggml-base.en`, `synthetic-mini`, or the file's base name. */
  name: string;
  synthetic: boolean;
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
    return { path: file, name: `synthetic-${shape}`, synthetic: true };
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
    return { path: file, name: catalogEntry.file.replace(/\.bin$/, ""), synthetic: false };
  }
  if (trimmed.includes("/") || trimmed.endsWith(".bin")) {
    const file = path.resolve(trimmed);
    if (!existsSync(file)) throw new Error(`model file ${file} does not exist`);
    return { path: file, name: path.basename(file).replace(/\.bin$/, ""), synthetic: false };
  }
  throw new Error(
    `unknown model "${trimmed}": give a file path, synthetic:mini, synthetic:tiny, or one of ${Object.keys(MODEL_CATALOG).join(", ")}`,
  );
}
