#!/usr/bin/env node
// Writes src/schema.d.ts from the committed openapi.json (offline). `npm run client:generate` at the repository root
// first refreshes openapi.json from the Worker, then runs this.
import { readFileSync, writeFileSync } from "node:fs";

import { renderSchemaTypes } from "./schema-types.mjs";

const root = new URL("../", import.meta.url);
const document = JSON.parse(readFileSync(new URL("openapi.json", root), "utf8"));
writeFileSync(new URL("src/schema.d.ts", root), await renderSchemaTypes(document));
console.log("wrote packages/client/src/schema.d.ts");
