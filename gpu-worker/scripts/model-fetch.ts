/**
 * `npm run model:fetch -w gpu-worker -- <name> [...]`: downloads catalog models into MODEL_CACHE_DIR with their
 * SHA-256 checked (e.g. in a Docker build or a Kubernetes init container).
 */
import { DEFAULT_MODEL_CACHE_DIR } from "../src/config.ts";
import { MODEL_CATALOG } from "../src/models/catalog.ts";
import { resolveModel } from "../src/models/resolve.ts";

const names = process.argv.slice(2);
if (names.length === 0) {
  console.error(`usage: npm run model:fetch -- <name> [...]\nnames: ${Object.keys(MODEL_CATALOG).join(", ")}`);
  process.exit(2);
}
const cacheDir = process.env.MODEL_CACHE_DIR ?? DEFAULT_MODEL_CACHE_DIR;
for (const name of names) {
  let lastPercent = -1;
  const model = await resolveModel(name, {
    cacheDir,
    allowDownload: true,
    onProgress: (received, total) => {
      const percent = total ? Math.floor((received / total) * 100) : -1;
      if (percent !== lastPercent && percent % 10 === 0) {
        lastPercent = percent;
        console.error(`${name}: ${percent}%`);
      }
    },
  });
  console.log(`${name}: ${model.path}`);
}
