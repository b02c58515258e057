import { describe, expect, it } from "vitest";

import { classifyDeadLetter, redriveDelaySeconds } from "../../src/jobs/dead-letter-policy.ts";
import { backoffDelaySeconds, retryPolicyFromSettings } from "../../src/jobs/retry-policy.ts";
import { canTransition } from "../../src/jobs/state.ts";
import { providerCandidates } from "../../src/providers/failover.ts";

describe("retry policy", () => {
  const policy = { baseSeconds: 5, capSeconds: 600 };
  it("full jitter: uniform in [0, min(cap, base·2^(n-1))]", () => {
    expect(backoffDelaySeconds(1, policy, null, () => 0.999)).toBe(5);
    expect(backoffDelaySeconds(3, policy, null, () => 0.999)).toBe(20);
    expect(backoffDelaySeconds(3, policy, null, () => 0)).toBe(0);
    expect(backoffDelaySeconds(20, policy, null, () => 0.999)).toBe(600);
  });
  it("Retry-After is a floor and the queue's 12 h maximum a ceiling", () => {
    expect(backoffDelaySeconds(1, policy, 42, () => 0)).toBe(42);
    expect(backoffDelaySeconds(1, policy, 10 ** 6, () => 0)).toBe(43_200);
  });
  it("reads its settings with defaults for bad values", () => {
    expect(retryPolicyFromSettings({ RETRY_BASE_SECONDS: "2", RETRY_CAP_SECONDS: "x" })).toEqual({
      baseSeconds: 2,
      capSeconds: 600,
    });
  });
});

describe("dead-letter classification", () => {
  const ok = { size: 1000, maxBytes: 10_000, sniffsAsAudio: true };
  it("tells corrupt input from provider trouble", () => {
    expect(classifyDeadLetter({ ...ok, size: null }, null)).toMatchObject({
      classification: "corrupt",
      code: "audio_missing",
    });
    expect(classifyDeadLetter({ ...ok, size: 0 }, null)).toMatchObject({
      classification: "corrupt",
      code: "empty_audio",
    });
    expect(classifyDeadLetter({ ...ok, size: 20_000 }, null)).toMatchObject({
      classification: "corrupt",
      code: "audio_too_large",
    });
    expect(classifyDeadLetter({ ...ok, sniffsAsAudio: false }, null)).toMatchObject({
      classification: "corrupt",
      code: "invalid_audio",
    });
    expect(classifyDeadLetter(ok, "provider_unavailable")).toEqual({
      classification: "recoverable",
      reason: "provider_unavailable",
    });
  });
  it("re-drives with growing, capped delay", () => {
    expect([0, 1, 2, 3, 10].map(redriveDelaySeconds)).toEqual([60, 120, 240, 480, 3600]);
  });
});

describe("failover chain and state machine", () => {
  it("fails over only to later, enabled providers of the chain", () => {
    expect(providerCandidates("openai", ["openai", "deepgram", "workers-ai"], ["openai", "deepgram"])).toEqual([
      "openai",
      "deepgram",
    ]);
    expect(providerCandidates("deepgram", ["openai", "deepgram"], ["openai", "deepgram"])).toEqual(["deepgram"]);
    expect(providerCandidates("whisper-pool", ["openai"], ["openai", "whisper-pool"])).toEqual(["whisper-pool"]);
  });
  it("terminal states are final", () => {
    expect(canTransition("queued", "processing")).toBe(true);
    expect(canTransition("completed", "processing")).toBe(false);
    expect(canTransition("failed", "queued")).toBe(false);
  });
});
