// `npm run console:build`: regenerates src/api/console/assets.generated.ts from the console's browser modules.
import { writeFileSync } from "node:fs";

import { buildConsoleAssets, GENERATED_FILE } from "./lib/console-assets.mjs";

writeFileSync(GENERATED_FILE, await buildConsoleAssets());
console.log(`wrote ${GENERATED_FILE}`);
