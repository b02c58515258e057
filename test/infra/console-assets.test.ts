/**
 * The console's bundled browser modules are committed (src/api/console/assets.generated.ts) so that `npm start` and
 * a deploy need no build step; this fails when a module under src/api/console/browser changed without
 * `npm run console:build`.
 */
import { readFileSync } from "node:fs";

import { describe, expect, it } from "vitest";

// plain ESM build helper shared with `npm run console:build`
import { buildConsoleAssets, GENERATED_FILE } from "../../scripts/lib/console-assets.mjs";

describe("console assets", () => {
  it("the committed bundle is what the browser modules build to", async () => {
    const built = await buildConsoleAssets();
    expect(readFileSync(GENERATED_FILE, "utf8") === built, "run `npm run console:build` and commit").toBe(true);
  });

  it("no bundled module fetches code from another origin at run time", async () => {
    const built = await buildConsoleAssets();
    expect(built).not.toMatch(/import\s*\(?\s*["']https?:/);
  });
});
