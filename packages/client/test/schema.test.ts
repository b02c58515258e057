import { readFileSync } from "node:fs";

import { expect, it } from "vitest";

import { renderSchemaTypes } from "../scripts/schema-types.mjs";

it("src/schema.d.ts is what openapi-typescript makes of openapi.json (else: npm run client:generate)", async () => {
  const root = new URL("../", import.meta.url);
  const document = JSON.parse(readFileSync(new URL("openapi.json", root), "utf8"));
  const committed = readFileSync(new URL("src/schema.d.ts", root), "utf8");
  const fresh = await renderSchemaTypes(document);
  expect(committed === fresh, "src/schema.d.ts is stale: run `npm run client:generate`").toBe(true);
});
