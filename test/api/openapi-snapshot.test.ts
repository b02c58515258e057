/** The client's types are generated from a committed copy of /openapi.json; this says when that copy is stale. */
import snapshot from "@vtt/client/openapi.json";
import { expect, it } from "vitest";

import { call } from "../helpers/api.ts";

it("GET /openapi.json is the document packages/client was generated from (else: npm run client:generate)", async () => {
  const served = (await (await call("/openapi.json")).json()) as { servers: { url: string }[] };
  // `servers` names the deployment (PUBLIC_BASE_URL); the snapshot keeps only the local dev server
  expect(snapshot.servers.map((server) => server.url)).toEqual(["http://127.0.0.1:8787"]);
  const local = served.servers.filter((server) => server.url === "http://127.0.0.1:8787");
  expect({ ...served, servers: local }, "packages/client/openapi.json is stale: run `npm run client:generate`").toEqual(
    snapshot,
  );
});
