/** The client's types are generated from a committed copy of /openapi.json; this says when that copy is stale. */
import snapshot from "@vtt/client/openapi.json";
import { expect, it } from "vitest";

import { call } from "../helpers/api.ts";

it("GET /openapi.json is the document packages/client was generated from (else: npm run client:generate)", async () => {
  const served = await (await call("/openapi.json")).json();
  expect(served, "packages/client/openapi.json is stale: run `npm run client:generate`").toEqual(snapshot);
});
