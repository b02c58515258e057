/** `Prefer: wait=N` on a job GET: held until the job settles, woken by the job's JobWaiter, never by a poll loop. */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";

import { preferredWaitSeconds } from "../../src/http/prefer.ts";
import { WAIT_RECHECK_MS } from "../../src/jobs/job-waiter.ts";
import { call, createTenant, multipartUpload } from "../helpers/api.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";

let key: string;
let other: { key: string; tenantId: string };

beforeAll(async () => {
  ({ key } = await createTenant("long-poll"));
  other = await createTenant("long-poll-other");
});

async function submit(): Promise<string> {
  const res = await multipartUpload(key, { provider: "whisper-pool" });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

const getJob = (id: string, prefer?: string, k = key) =>
  call(`/v1/transcriptions/${id}`, { key: k, headers: prefer ? { prefer } : {} });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("preferredWaitSeconds (RFC 7240)", () => {
  it("reads wait among other preferences, caps it and ignores what it does not understand", () => {
    expect(preferredWaitSeconds("wait=10", 60)).toBe(10);
    expect(preferredWaitSeconds("respond-async, wait=5", 60)).toBe(5);
    expect(preferredWaitSeconds('WAIT="7"', 60)).toBe(7);
    expect(preferredWaitSeconds("wait=10; foo=bar", 60)).toBe(10);
    expect(preferredWaitSeconds("wait=600", 60)).toBe(60);
    expect(preferredWaitSeconds("wait=0", 60)).toBe(0);
    for (const ignored of [undefined, "", "respond-async", "wait", "wait=", "wait=-1", "wait=1.5", "wait=abc"]) {
      expect(preferredWaitSeconds(ignored, 60)).toBeNull();
    }
  });
});

describe("GET /v1/transcriptions/{id} with Prefer: wait", () => {
  it("answers a finished job at once and says the preference was applied", async () => {
    const id = await submit();
    expect((await poolCallback(completedCallback(id))).status).toBe(200);
    const started = Date.now();
    const res = await getJob(id, "wait=30");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(res.status).toBe(200);
    expect(res.headers.get("preference-applied")).toBe("wait=30");
    expect(res.headers.get("vary")).toContain("Prefer");
    expect(((await res.json()) as { status: string }).status).toBe("completed");
  });

  it("is woken when the job completes, long before any re-check would have read it", async () => {
    const id = await submit();
    const started = Date.now();
    const held = getJob(id, "wait=50");
    await sleep(300);
    expect((await poolCallback(completedCallback(id))).status).toBe(200);
    const res = await held;
    const elapsed = Date.now() - started;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string; text: string }).status).toBe("completed");
    // the waiter re-reads D1 only every WAIT_RECHECK_MS; an answer well inside that came from the notification
    expect(elapsed).toBeLessThan(WAIT_RECHECK_MS / 2);
  });

  it("is woken by a failure too", async () => {
    const id = await submit();
    const held = getJob(id, "wait=50");
    await sleep(200);
    const failed = await poolCallback({
      job_id: id,
      status: "failed",
      error: { code: "audio_decode_failed", message: "ffmpeg could not decode the audio" },
    });
    expect(failed.status).toBe(200);
    const res = await held;
    const job = (await res.json()) as { status: string; error: { code: string } };
    expect(job.status).toBe("failed");
    expect(job.error.code).toBe("audio_decode_failed");
  });

  it("answers with the job as it stands when the wait runs out", async () => {
    const id = await submit();
    const started = Date.now();
    const res = await getJob(id, "wait=1");
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(WAIT_RECHECK_MS);
    expect(res.status).toBe(200);
    expect(res.headers.get("preference-applied")).toBe("wait=1");
    expect(((await res.json()) as { status: string }).status).toBe("queued");
  });

  it("caps the wait at 60 seconds and ignores a malformed preference", async () => {
    const id = await submit();
    expect((await poolCallback(completedCallback(id))).status).toBe(200);
    expect((await getJob(id, "wait=3600")).headers.get("preference-applied")).toBe("wait=60");
    const ignored = await getJob(id, "wait=soon");
    expect(ignored.status).toBe(200);
    expect(ignored.headers.get("preference-applied")).toBeNull();
  });

  it("turns into a 404 when the job is deleted while a request waits on it", async () => {
    const id = await submit();
    const held = getJob(id, "wait=50");
    await sleep(200);
    expect((await call(`/v1/transcriptions/${id}`, { method: "DELETE", key })).status).toBe(204);
    const res = await held;
    expect(res.status).toBe(404);
    expect(((await res.json()) as { code: string }).code).toBe("not_found");
  });

  it("never waits on another tenant's job", async () => {
    const id = await submit();
    const started = Date.now();
    const res = await getJob(id, "wait=30", other.key);
    expect(res.status).toBe(404);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe("JobWaiter", () => {
  it("remembers a settlement that came before the wait, then forgets it at its alarm", async () => {
    const stub = env.JOB_WAITER.get(env.JOB_WAITER.idFromName("tr_settled_before_wait"));
    await stub.settle();
    const started = Date.now();
    expect(await stub.wait(30_000)).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
    // `onlyNew` ignores the remembered settlement (the waiter saw the row still active after being woken)
    expect(await stub.wait(50, true)).toBe(false);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.get("settled"))).toBeUndefined();
    expect(await stub.wait(50)).toBe(false);
  });
});
