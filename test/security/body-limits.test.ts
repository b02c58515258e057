/**
 * Bodies are read through a byte counter (src/http/body-limit.ts), never whole before a size or signature check:
 * each request here streams without a Content-Length, and the test counts how many bytes the Worker pulled.
 */
import { signedHeaders } from "@vtt/pool-contract";
import { beforeAll, describe, expect, it } from "vitest";

import { MAX_JSON_BODY_BYTES } from "../../src/http/body-limit.ts";
import { adminKey, callWith, createTenant } from "../helpers/api.ts";
import { POOL_CALLBACK_RING } from "../helpers/pool.ts";
import { expectProblem } from "./snapshot.ts";

const MIB = 1024 * 1024;
/** The pool callback's limit (src/api/internal.ts) */
const MAX_CALLBACK_BYTES = 8 * MIB;

/** A chunked body of `totalBytes` spaces, produced only as the reader pulls; `pulled` says how much was read. */
function countingBody(totalBytes: number, chunkBytes = 64 * 1024) {
  const counter = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (counter.pulled >= totalBytes) return controller.close();
        const size = Math.min(chunkBytes, totalBytes - counter.pulled);
        counter.pulled += size;
        controller.enqueue(new Uint8Array(size).fill(0x20));
      },
      cancel() {
        counter.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, counter };
}

/** Sends a streamed body straight to the Worker's fetch handler, so every pull is the Worker's own. */
function post(path: string, body: ReadableStream<Uint8Array>, headers: Record<string, string>, key?: string) {
  return callWith({}, path, { method: "POST", body, headers, key });
}

let tenantKey: string;
beforeAll(async () => {
  ({ key: tenantKey } = await createTenant("body-limits", ["transcriptions:read", "transcriptions:write", "admin"]));
});

describe("the pool callback reads nothing before the signature headers pass, and at most its limit after", () => {
  it("an unsigned 24 MiB chunked POST is refused with 401 having read (almost) nothing", async () => {
    const { stream, counter } = countingBody(24 * MIB);
    const res = await post("/internal/pool/callback", stream, { "content-type": "application/json" });
    await expectProblem(res, 401, "invalid_signature");
    expect(counter.pulled).toBeLessThan(MIB);
  });

  it("an unknown key id or a stale timestamp is refused before reading", async () => {
    for (const [headers, code] of [
      [await signedHeaders([{ id: "zz", secret: "guess" }], "{}"), "invalid_signature"],
      [await signedHeaders(POOL_CALLBACK_RING, "{}", Math.floor(Date.now() / 1000) - 3600), "stale_signature"],
    ] as const) {
      const { stream, counter } = countingBody(24 * MIB);
      await expectProblem(
        await post("/internal/pool/callback", stream, { ...headers, "content-type": "application/json" }),
        401,
        code,
      );
      expect(counter.pulled, code).toBeLessThan(MIB);
    }
  });

  it("with plausible headers, a 24 MiB chunked body is cut off at the limit with 413", async () => {
    const headers = await signedHeaders(POOL_CALLBACK_RING, "not this body");
    const { stream, counter } = countingBody(24 * MIB);
    const res = await post("/internal/pool/callback", stream, { ...headers, "content-type": "application/json" });
    await expectProblem(res, 413, "payload_too_large");
    expect(counter.pulled).toBeLessThanOrEqual(MAX_CALLBACK_BYTES + MIB);
    expect(counter.cancelled).toBe(true);
  });
});

describe("JSON routes behind authentication read at most MAX_JSON_BODY_BYTES", () => {
  it("admin: a 4 MiB chunked tenant body is 413, not parsed", async () => {
    const { stream, counter } = countingBody(4 * MIB);
    const res = await post("/v1/admin/tenants", stream, { "content-type": "application/json" }, adminKey());
    await expectProblem(res, 413, "payload_too_large");
    expect(counter.pulled).toBeLessThanOrEqual(MAX_JSON_BODY_BYTES + 128 * 1024);
  });

  it("feedback: a 4 MiB chunked body is 413", async () => {
    const { stream, counter } = countingBody(4 * MIB);
    const res = await post(
      "/v1/transcriptions/tr_01ZZZZZZZZZZZZZZZZZZZZZZZZ/feedback",
      stream,
      { "content-type": "application/json" },
      tenantKey,
    );
    await expectProblem(res, 413, "payload_too_large");
    expect(counter.pulled).toBeLessThanOrEqual(MAX_JSON_BODY_BYTES + 128 * 1024);
  });

  it("a declared Content-Length over the limit is refused before reading", async () => {
    const res = await callWith({}, "/v1/admin/tenants", {
      method: "POST",
      key: adminKey(),
      body: JSON.stringify({ name: "x" }),
      headers: { "content-type": "application/json", "content-length": String(MAX_JSON_BODY_BYTES + 1) },
    });
    await expectProblem(res, 413, "payload_too_large");
  });

  it("an unauthenticated body is never read", async () => {
    const { stream, counter } = countingBody(4 * MIB);
    const res = await post("/v1/admin/tenants", stream, { "content-type": "application/json" });
    await expectProblem(res, 401, "unauthenticated");
    expect(counter.pulled).toBeLessThan(MIB);
  });

  it("the largest valid review, every character \\u-escaped, fits under the limit", async () => {
    const body = `{"rating":"bad","corrected_text":"${"\\u00e9".repeat(100_000)}"}`;
    expect(body.length).toBeGreaterThan(600_000);
    const res = await callWith({}, "/v1/transcriptions/tr_01ZZZZZZZZZZZZZZZZZZZZZZZZ/feedback", {
      method: "POST",
      key: tenantKey,
      body: new Blob([body]).stream(),
      headers: { "content-type": "application/json" },
    });
    // past the limit and the validator: the job does not exist
    await expectProblem(res, 404, "not_found");
  });

  it("a body under the limit still reaches the validator", async () => {
    const res = await callWith({}, "/v1/admin/tenants", {
      method: "POST",
      key: adminKey(),
      body: JSON.stringify({ name: "under the limit" }),
      headers: { "content-type": "application/json" },
    });
    expect(res.status, await res.clone().text()).toBe(201);
  });
});
