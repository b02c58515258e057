import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { forgetBacklogCount } from "../../src/jobs/backlog.ts";
import { call, callWith, createTenant } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";

describe("degraded mode", () => {
  it("keeps accepting uploads while the provider's breaker is open, with a processing-delayed notice", async () => {
    const { key } = await createTenant("degraded");
    await call("/v1/admin/breakers/deepgram/open", { method: "POST", key: env.ADMIN_API_KEY });
    // the request path caches breaker state for a few seconds; a fresh isolate-level read is what a new upload sees
    const res = await call("/v1/transcriptions?provider=deepgram", {
      method: "POST",
      key,
      body: makeWav(0.2),
      headers: { "content-type": "audio/wav" },
    });
    expect(res.status).toBe(202);
    const job = (await res.json()) as Record<string, unknown>;
    expect(job).toMatchObject({
      status: "queued",
      delayed: true,
      delay_reason: "provider_unavailable",
      notice: "processing delayed",
    });
    expect((await call("/healthz")).status).toBe(200);
    await call("/v1/admin/breakers/deepgram/close", { method: "POST", key: env.ADMIN_API_KEY });
  });

  it("marks new and queued jobs as delayed when the backlog passes BACKLOG_DELAY_THRESHOLD", async () => {
    const { key } = await createTenant("backlog");
    forgetBacklogCount();
    const small = await callWith({ BACKLOG_DELAY_THRESHOLD: "100000" }, "/v1/transcriptions?provider=whisper-pool", {
      method: "POST",
      key,
      body: makeWav(0.2),
      headers: { "content-type": "audio/wav" },
    });
    expect(((await small.json()) as { delayed: boolean }).delayed).toBe(false);
    forgetBacklogCount();
    const big = await callWith({ BACKLOG_DELAY_THRESHOLD: "1" }, "/v1/transcriptions?provider=whisper-pool", {
      method: "POST",
      key,
      body: makeWav(0.2),
      headers: { "content-type": "audio/wav" },
    });
    const job = (await big.json()) as { id: string; delayed: boolean; delay_reason: string; notice: string };
    expect(big.status).toBe(202);
    expect(job).toMatchObject({ delayed: true, delay_reason: "backlog", notice: "processing delayed" });
    const read = (await (
      await callWith({ BACKLOG_DELAY_THRESHOLD: "1" }, `/v1/transcriptions/${job.id}`, { key })
    ).json()) as { delayed: boolean };
    expect(read.delayed).toBe(true);
    forgetBacklogCount();
  });
});
