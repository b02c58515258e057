#!/usr/bin/env node
// The `vtt` command in the repository: the TypeScript source runs through tsx, so there is no build step. The
// published package (`npm run build -w @vtt/client` stages it in dist/) has its own bin that runs compiled code.
import { register } from "tsx/esm/api";

register();
await import(new URL("../src/cli/entry.ts", import.meta.url).href);
