#!/usr/bin/env node
// The `vtt` command. In the repository it runs the TypeScript source through tsx (no build step); the published
// package (built by `npm run build -w @vtt/client`) has no src/ and runs the compiled dist/ instead.
import { existsSync } from "node:fs";

const source = new URL("../src/cli/entry.ts", import.meta.url);
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import(source.href);
} else {
  await import(new URL("../dist/cli/entry.js", import.meta.url).href);
}
