/**
 * `npm run model:fetch -w gpu-worker -- <name> [...]`: downloads catalog models into MODEL_CACHE_DIR with their
 * SHA-256 checked (e.g. in a Docker build or a Kubernetes init container): Whisper models and the diarization
 * models (a diarization entry without a published checksum needs DIARIZATION_SEGMENTATION_SHA256 /
 * DIARIZATION_EMBEDDING_SHA256 and is refused without it).
 */
import { DEFAULT_MODEL_CACHE_DIR } from "../src/config.ts";
import { DIARIZATION_CATALOG, resolveDiarizationModel } from "../src/diarization/models.ts";
import { MODEL_CATALOG } from "../src/models/catalog.ts";
import { resolveModel } from "../src/models/resolve.ts";

const names = process.argv.slice(2);
if (names.length === 0) {
  console.error(
    `usage: npm run model:fetch -- <name> [...]\nnames: ${[...Object.keys(MODEL_CATALOG), ...Object.keys(DIARIZATION_CATALOG)].join(", ")}`,
  );
  process.exit(2);
}
const cacheDir = process.env.MODEL_CACHE_DIR ?? DEFAULT_MODEL_CACHE_DIR;
for (const name of names) {
  let lastPercent = -1;
  const onProgress = (received: number, total: number | null): void => {
    const percent = total ? Math.floor((received / total) * 100) : -1;
    if (percent !== lastPercent && percent % 10 === 0) {
      lastPercent = percent;
      console.error(`${name}: ${percent}%`);
    }
  };
  const diarization = DIARIZATION_CATALOG[name];
  const model = diarization
    ? await resolveDiarizationModel(diarization.kind, name, {
        cacheDir,
        allowDownload: true,
        sha256: process.env[`DIARIZATION_${diarization.kind.toUpperCase()}_SHA256`] || null,
        onProgress,
      })
    : await resolveModel(name, { cacheDir, allowDownload: true, onProgress });
  console.log(`${name}: ${model.path}`);
}
