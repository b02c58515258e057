import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { breakerFor } from "../../src/breaker/circuit-breaker.ts";
import type { BreakerState } from "../../src/breaker/policy.ts";
import { call } from "../helpers/api.ts";

describe("CircuitBreaker Durable Object", () => {
  it("opens on failures, survives a restart in storage, goes half-open on its alarm and closes on probes", async () => {
    const stub = breakerFor(env, "deepgram");
    for (let i = 0; i < 5; i++) {
      const { decision } = await stub.acquire("deepgram");
      expect(decision).toBe("allow");
      await stub.record("deepgram", "failure", false);
    }
    expect((await stub.acquire("deepgram")).decision).toBe("reject");
    // state lives in the object's storage, with an alarm at the end of the cool-down
    await runInDurableObject(stub, async (_instance, state) => {
      const stored = await state.storage.get<BreakerState>("state");
      expect(stored?.status).toBe("open");
      expect(await state.storage.getAlarm()).toBe(stored?.nextAttemptAt);
    });
    // a fresh instance (as after eviction) reads the same state
    const again = breakerFor(env, "deepgram");
    expect((await again.snapshot("deepgram")).state.status).toBe("open");

    // pretend the cool-down passed, then let the alarm fire
    await runInDurableObject(stub, async (_instance, state) => {
      const stored = (await state.storage.get<BreakerState>("state"))!;
      await state.storage.put("state", { ...stored, nextAttemptAt: Date.now() - 1 });
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await stub.snapshot("deepgram")).state.status).toBe("half_open");

    const probe = await stub.acquire("deepgram");
    expect(probe.decision).toBe("probe");
    await stub.record("deepgram", "success", true);
    const probe2 = await stub.acquire("deepgram");
    expect(probe2.decision).toBe("probe");
    await stub.record("deepgram", "success", true);
    expect((await stub.snapshot("deepgram")).state.status).toBe("closed");
  });

  it("a failed probe re-opens with a longer cool-down", async () => {
    const stub = breakerFor(env, "whisper-pool");
    for (let i = 0; i < 5; i++) {
      await stub.acquire("whisper-pool");
      await stub.record("whisper-pool", "failure", false);
    }
    const firstCooldown = (await stub.snapshot("whisper-pool")).state.cooldownMs;
    await runInDurableObject(stub, async (_i, state) => {
      const stored = (await state.storage.get<BreakerState>("state"))!;
      await state.storage.put("state", { ...stored, nextAttemptAt: Date.now() - 1 });
    });
    await runDurableObjectAlarm(stub);
    const probe = await stub.acquire("whisper-pool");
    expect(probe.decision).toBe("probe");
    await stub.record("whisper-pool", "failure", true);
    const snap = (await stub.snapshot("whisper-pool")).state;
    expect(snap.status).toBe("open");
    expect(snap.cooldownMs).toBeGreaterThan(firstCooldown);
  });

  it("admin API reads every breaker and forces them open and closed; /v1/status reports availability", async () => {
    const admin = env.ADMIN_API_KEY;
    const opened = await call("/v1/admin/breakers/openai/open", { method: "POST", key: admin });
    expect(opened.status).toBe(200);
    expect(await opened.json()).toMatchObject({ provider: "openai", status: "open", forced_open: true });
    const list = (await (await call("/v1/admin/breakers", { key: admin })).json()) as {
      data: { provider: string; status: string }[];
    };
    expect(list.data.map((b) => b.provider)).toEqual(["openai", "deepgram", "whisper-pool"]);
    const status = (await (await call("/v1/status", { key: admin })).json()) as {
      status: string;
      providers: { provider: string; available: boolean }[];
    };
    expect(status.status).toBe("degraded");
    expect(status.providers.find((p) => p.provider === "openai")?.available).toBe(false);
    expect((await call("/healthz")).status).toBe(200);
    const closed = await call("/v1/admin/breakers/openai/close", { method: "POST", key: admin });
    expect(await closed.json()).toMatchObject({ status: "closed", forced_open: false });
    expect((await call("/v1/admin/breakers/acme/open", { method: "POST", key: admin })).status).toBe(404);
  });
});
