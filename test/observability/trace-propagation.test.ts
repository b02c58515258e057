import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";

import type { JobMessage } from "../../src/env.ts";
import { parseTraceparent } from "../../src/observability/trace.ts";
import { call, createTenant } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import { jobRow } from "../helpers/jobs.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";
import { deliver, QUEUES } from "../helpers/queue.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const INCOMING = `00-${TRACE}-00f067aa0ba902b7-01`;

function captureLogs() {
  const lines: Record<string, unknown>[] = [];
  vi.spyOn(console, "log").mockImplementation((line: unknown) => {
    if (typeof line === "string" && line.startsWith("{")) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  return lines;
}

afterEach(() => vi.restoreAllMocks());

describe("W3C trace context from the upload through the queue, the pool and the callback", () => {
  it("every hop carries the caller's trace id, and each log line names it", async () => {
    const { key } = await createTenant("trace");
    const sent: JobMessage[] = [];
    const send = env.JOBS.send.bind(env.JOBS);
    vi.spyOn(env.JOBS, "send").mockImplementation(async (body, options) => {
      sent.push(body as JobMessage);
      return send(body, options);
    });
    const logs = captureLogs();

    // 1. upload: the caller's trace continues (same trace id, new span)
    const form = new FormData();
    form.append("provider", "whisper-pool");
    form.append("file", new Blob([makeWav(0.3)], { type: "audio/wav" }), "clip.wav");
    const traced = await call("/v1/transcriptions", {
      method: "POST",
      key,
      body: form,
      headers: { traceparent: INCOMING },
    });
    expect(traced.status).toBe(202);
    expect(traced.headers.get("x-trace-id")).toBe(TRACE);
    const { id } = (await traced.json()) as { id: string };
    const row = (await jobRow(id))!;
    const stored = parseTraceparent(String(row.traceparent))!;
    expect(stored.traceId).toBe(TRACE);
    expect(stored.parentId).not.toBe("00f067aa0ba902b7");

    // 2. queue message
    const message = sent.find((m) => m.job_id === id)!;
    expect(message.traceparent).toBe(row.traceparent);

    // 3. consumer → pool dispatch: a child span of the same trace
    const pool = interceptFetch().on("POST", "https://pool.test/v1/jobs", () =>
      json({ job_id: id, status: "queued", duplicate: false }, 202),
    );
    await deliver(QUEUES.jobs, [{ body: message }]);
    const dispatched = JSON.parse(new TextDecoder().decode(pool.requests[0]!.body)) as { traceparent: string };
    const dispatchSpan = parseTraceparent(dispatched.traceparent)!;
    expect(dispatchSpan.traceId).toBe(TRACE);
    expect(dispatchSpan.parentId).not.toBe(stored.parentId);

    // 4. the pool's callback carries the traceparent it was given
    const callback = await poolCallback(completedCallback(id), undefined, undefined, {
      traceparent: dispatched.traceparent,
    });
    expect(callback.status).toBe(200);
    expect(callback.headers.get("x-trace-id")).toBe(TRACE);
    expect((await jobRow(id))!.status).toBe("completed");

    // every line about this job, on every hop, carries the trace id
    const about = logs.filter((l) => l.job_id === id);
    const events = new Set(about.map((l) => l.event));
    for (const event of ["provider_call", "job_dispatched", "pool_callback", "job_finished"])
      expect(events, event).toContain(event);
    for (const line of about) expect(line.trace_id, String(line.event)).toBe(TRACE);
    const requests = logs.filter((l) => l.event === "request" && l.trace_id === TRACE);
    expect(requests.map((l) => l.route)).toEqual(
      expect.arrayContaining(["/v1/transcriptions", "/internal/pool/callback"]),
    );
    for (const line of logs) expect(typeof line.ts).toBe("string");
  });

  it("starts a new trace when the caller sends none or a malformed one", async () => {
    const a = await call("/healthz");
    const b = await call("/healthz", {
      headers: { traceparent: "00-00000000000000000000000000000000-00f067aa0ba902b7-01" },
    });
    expect(a.headers.get("x-trace-id")).toMatch(/^[0-9a-f]{32}$/);
    expect(b.headers.get("x-trace-id")).toMatch(/^[0-9a-f]{32}$/);
    expect(b.headers.get("x-trace-id")).not.toBe("00000000000000000000000000000000");
    expect(a.headers.get("x-trace-id")).not.toBe(b.headers.get("x-trace-id"));
  });

  it("request logs name the route pattern, never the path with a subject id", async () => {
    const { key } = await createTenant("trace-subject");
    const logs = captureLogs();
    await call("/v1/subjects/jane.doe@example.com", { method: "DELETE", key });
    const request = logs.find((l) => l.event === "request")!;
    expect(request.route).toBe("/v1/subjects/:subject_id");
    expect(JSON.stringify(logs)).not.toContain("jane.doe");
  });
});
