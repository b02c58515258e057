import { parseKeyRing, verifySignedRequest } from "@vtt/pool-contract";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import type { Env } from "../../src/env.ts";
import { erasePoolJobs } from "../../src/providers/whisper-pool.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";

const POOL_KEYS = parseKeyRing("e1:edge-to-pool-secret");
const JOB_PATH = /^\/v1\/jobs\/([^/]+)$/;

/** A pool that erases what it holds: `held` ids answer erased:true once, then absent. */
function fakePool(held: string[]) {
  const remaining = new Set(held);
  return interceptFetch().on("DELETE", "https://pool.test/v1/jobs/", ({ url }) => {
    const id = decodeURIComponent(JOB_PATH.exec(url.pathname)![1]!);
    const erased = remaining.delete(id);
    return json({ job_id: id, erased, state: erased ? "completed" : "absent", callback: "absent" });
  });
}

describe("erasePoolJobs", () => {
  it("sends one signed DELETE per job to the pool and counts what it erased", async () => {
    const outbound = fakePool(["tr_a", "tr_b"]);
    const result = await erasePoolJobs(env, ["tr_a", "tr_b", "tr_gone", "tr_a"]);
    expect(result).toEqual({ erased: 2, failed: [] });
    // duplicates are sent once
    expect(outbound.requests.map((r) => `${r.method} ${r.url.href}`).sort()).toEqual([
      "DELETE https://pool.test/v1/jobs/tr_a",
      "DELETE https://pool.test/v1/jobs/tr_b",
      "DELETE https://pool.test/v1/jobs/tr_gone",
    ]);
    for (const sent of outbound.requests) {
      const id = JOB_PATH.exec(sent.url.pathname)![1]!;
      expect(sent.body.byteLength).toBe(0);
      // signed over the method and the job's path, so a signature cannot be replayed against another job
      expect(await verifySignedRequest(POOL_KEYS, sent.headers, `DELETE /v1/jobs/${id}`)).toEqual({
        ok: true,
        keyId: "e1",
      });
      expect((await verifySignedRequest(POOL_KEYS, sent.headers, `DELETE /v1/jobs/tr_other`)).ok).toBe(false);
      expect((await verifySignedRequest(POOL_KEYS, sent.headers, "")).ok).toBe(false);
    }
    expect(outbound.unhandled).toEqual([]);
  });

  it("records a 5xx, a 401, a network error and a timeout as failed without throwing", async () => {
    interceptFetch()
      .on("DELETE", "https://pool.test/v1/jobs/tr_ok", () =>
        json({ job_id: "tr_ok", erased: true, state: "failed", callback: "absent" }),
      )
      .on("DELETE", "https://pool.test/v1/jobs/tr_503", () => json({ code: "queue_unavailable" }, 503))
      .on("DELETE", "https://pool.test/v1/jobs/tr_401", () => json({ code: "invalid_signature" }, 401))
      .on("DELETE", "https://pool.test/v1/jobs/tr_down", () => {
        throw new TypeError("connection refused");
      })
      .on("DELETE", "https://pool.test/v1/jobs/tr_hangs", () => new Promise<Response>(() => undefined));
    const started = Date.now();
    const result = await erasePoolJobs(env, ["tr_ok", "tr_503", "tr_401", "tr_down", "tr_hangs"], { timeoutMs: 50 });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(result.erased).toBe(1);
    expect(result.failed.sort()).toEqual(["tr_401", "tr_503", "tr_down", "tr_hangs"]);
  });

  it("gives up on the rest once its overall deadline has passed", async () => {
    const outbound = interceptFetch().on("DELETE", "https://pool.test/", () => new Promise<Response>(() => undefined));
    const ids = ["tr_1", "tr_2", "tr_3", "tr_4", "tr_5"];
    const result = await erasePoolJobs(env, ids, { timeoutMs: 1_000, deadlineMs: 60, concurrency: 2 });
    expect(result).toEqual({ erased: 0, failed: expect.arrayContaining(ids) as string[] });
    expect(result.failed).toHaveLength(5);
    expect(outbound.requests.length).toBe(2);
  });

  it("does nothing without POOL_URL, and fails every id when it has no signing key", async () => {
    const outbound = interceptFetch();
    expect(await erasePoolJobs({ ...env, POOL_URL: undefined } as Env, ["tr_a"])).toEqual({ erased: 0, failed: [] });
    expect(await erasePoolJobs({ ...env, POOL_URL: "" } as Env, ["tr_a"])).toEqual({ erased: 0, failed: [] });
    expect(await erasePoolJobs(env, [])).toEqual({ erased: 0, failed: [] });
    expect(await erasePoolJobs({ ...env, POOL_SIGNING_KEYS: "" } as Env, ["tr_a", "tr_b"])).toEqual({
      erased: 0,
      failed: ["tr_a", "tr_b"],
    });
    expect(await erasePoolJobs({ ...env, POOL_SIGNING_KEYS: "malformed" } as Env, ["tr_a"])).toEqual({
      erased: 0,
      failed: ["tr_a"],
    });
    expect(outbound.requests).toEqual([]);
  });

  it("treats an answer it cannot read as failed", async () => {
    interceptFetch().on("DELETE", "https://pool.test/", () => new Response("<html>proxy</html>", { status: 200 }));
    expect(await erasePoolJobs(env, ["tr_a"])).toEqual({ erased: 0, failed: ["tr_a"] });
  });
});
