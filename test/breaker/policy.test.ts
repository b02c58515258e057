import { describe, expect, it } from "vitest";

import {
  acquire,
  type BreakerSettings,
  type BreakerState,
  type CallOutcome,
  DEFAULT_BREAKER_SETTINGS,
  failureRate,
  forceState,
  initialBreakerState,
  onCooldownElapsed,
  recordResult,
  resolveBreakerSettings,
} from "../../src/breaker/policy.ts";

const T0 = 1_700_000_000_000;
const SETTINGS = resolveBreakerSettings({
  windowSize: 10,
  windowDurationMs: 60_000,
  failureRateThreshold: 0.5,
  minimumCalls: 4,
  baseCooldownMs: 30_000,
  cooldownMultiplier: 2,
  maxCooldownMs: 100_000,
  halfOpenMaxProbes: 2,
  halfOpenSuccessesToClose: 2,
  probeTimeoutMs: 120_000,
  halfOpenRetryAfterMs: 5_000,
});

/** Runs acquire + recordResult for each outcome, 1 ms apart, asserting every call is admitted as a normal call. */
function feed(state: BreakerState, outcomes: CallOutcome[], start: number, settings: BreakerSettings = SETTINGS) {
  let current = state;
  outcomes.forEach((outcome, index) => {
    const now = start + index;
    const admitted = acquire(current, now, settings);
    expect(admitted.decision).toBe("allow");
    current = recordResult(admitted.state, outcome, now, settings, false).state;
  });
  return current;
}

/** A breaker that has just tripped open at `T0 + 3` (four failures). */
function trippedBreaker(): BreakerState {
  const state = feed(initialBreakerState(), ["failure", "failure", "failure", "failure"], T0);
  expect(state.status).toBe("open");
  return state;
}

describe("settings", () => {
  it("defaults are valid and match the documented values", () => {
    expect(resolveBreakerSettings()).toEqual(DEFAULT_BREAKER_SETTINGS);
    expect(DEFAULT_BREAKER_SETTINGS).toMatchObject({
      windowSize: 20,
      failureRateThreshold: 0.5,
      minimumCalls: 5,
      baseCooldownMs: 30_000,
      cooldownMultiplier: 2,
      maxCooldownMs: 600_000,
    });
  });

  it.each<[Partial<BreakerSettings>, RegExp]>([
    [{ windowSize: 0 }, /windowSize/],
    [{ minimumCalls: 2.5 }, /minimumCalls/],
    [{ failureRateThreshold: 0 }, /failureRateThreshold/],
    [{ failureRateThreshold: 1.5 }, /failureRateThreshold/],
    [{ cooldownMultiplier: 0.5 }, /cooldownMultiplier/],
    [{ windowDurationMs: -1 }, /windowDurationMs/],
    [{ minimumCalls: 30, windowSize: 20 }, /never trip/],
    [{ baseCooldownMs: 60_000, maxCooldownMs: 1_000 }, /maxCooldownMs/],
    [{ halfOpenMaxProbes: 0 }, /halfOpenMaxProbes/],
  ])("rejects %o", (overrides, message) => {
    expect(() => resolveBreakerSettings(overrides)).toThrow(message);
  });
});

describe("closed", () => {
  it("starts closed and allows calls", () => {
    const result = acquire(initialBreakerState(), T0, SETTINGS);
    expect(result).toMatchObject({ decision: "allow", retryAfterMs: 0 });
    expect(result.state.status).toBe("closed");
    expect(result.transition).toBeUndefined();
  });

  it("does not trip before the minimum number of calls, however bad the rate", () => {
    const state = feed(initialBreakerState(), ["failure", "failure", "failure"], T0);
    expect(state.status).toBe("closed");
    expect(failureRate(state, T0 + 3, SETTINGS)).toBe(1);
  });

  it("trips when the failure rate reaches the threshold with enough calls", () => {
    let state = feed(initialBreakerState(), ["success", "success", "failure"], T0);
    const admitted = acquire(state, T0 + 10, SETTINGS);
    const result = recordResult(admitted.state, "failure", T0 + 10, SETTINGS, false);
    // 2 failures / 4 calls = 0.5, exactly the threshold
    expect(result.transition).toEqual({ from: "closed", to: "open", at: T0 + 10 });
    state = result.state;
    expect(state).toMatchObject({
      status: "open",
      openedAt: T0 + 10,
      nextAttemptAt: T0 + 10 + 30_000,
      cooldownMs: 30_000,
      consecutiveOpens: 1,
      window: [],
      lastTransitionAt: T0 + 10,
    });
  });

  it("stays closed while the failure rate is below the threshold", () => {
    const state = feed(initialBreakerState(), ["success", "failure", "success", "success", "failure", "success"], T0);
    expect(state.status).toBe("closed");
    expect(failureRate(state, T0 + 6, SETTINGS)).toBeCloseTo(2 / 6);
  });

  it("trips on the call that reaches the minimum, whatever that call's outcome", () => {
    // three failures are below the minimum; the fourth call (a success) brings it to 3/4 = 75 %
    const state = feed(initialBreakerState(), ["failure", "failure", "failure"], T0);
    const result = recordResult(acquire(state, T0 + 5, SETTINGS).state, "success", T0 + 5, SETTINGS, false);
    expect(result.transition).toEqual({ from: "closed", to: "open", at: T0 + 5 });
  });

  it("evicts the oldest calls beyond the count window", () => {
    // minimumCalls = windowSize = 10, so only a full window can trip; 10 successes push the 4 failures out
    const settings = resolveBreakerSettings({ ...SETTINGS, minimumCalls: 10, windowDurationMs: null });
    let state = feed(initialBreakerState(), ["failure", "failure", "failure", "failure"], T0, settings);
    state = feed(state, Array<CallOutcome>(10).fill("success"), T0 + 100, settings);
    expect(state.window).toHaveLength(10);
    expect(state.window.every((entry) => !entry.failed)).toBe(true);
    // 4 new failures out of 10 is still below 50 %, proving the old ones no longer count
    state = feed(state, ["failure", "failure", "failure", "failure"], T0 + 200, settings);
    expect(state.status).toBe("closed");
    expect(failureRate(state, T0 + 204, settings)).toBeCloseTo(0.4);
  });

  it("evicts calls older than the time window", () => {
    let state = feed(initialBreakerState(), ["failure", "failure", "failure"], T0);
    // 60 s later the three failures have aged out; one more failure is 1 call, below minimumCalls
    state = feed(state, ["failure"], T0 + 60_000 + 10);
    expect(state.status).toBe("closed");
    expect(state.window).toEqual([{ at: T0 + 60_000 + 10, failed: true }]);
    expect(failureRate(state, T0 + 60_000 + 10, SETTINGS)).toBe(1);
    expect(failureRate(state, T0 + 200_000, SETTINGS)).toBe(0);
  });

  it("counts admitted calls, successes and failures", () => {
    const state = feed(initialBreakerState(), ["success", "failure", "success"], T0);
    expect(state.counters).toMatchObject({ admitted: 3, successes: 2, failures: 1, rejected: 0, transitions: 0 });
  });
});

describe("open", () => {
  it("rejects with the time left until nextAttemptAt", () => {
    const state = trippedBreaker();
    const result = acquire(state, T0 + 3 + 10_000, SETTINGS);
    expect(result).toMatchObject({ decision: "reject", retryAfterMs: 20_000 });
    expect(result.state.counters.rejected).toBe(1);
    expect(result.state.status).toBe("open");
  });

  it("moves to half-open when the cool-down has elapsed (alarm)", () => {
    const state = trippedBreaker();
    expect(onCooldownElapsed(state, T0 + 3 + 29_999)).toEqual({ state }); // early alarm: nothing
    const result = onCooldownElapsed(state, T0 + 3 + 30_000);
    expect(result.transition).toEqual({ from: "open", to: "half_open", at: T0 + 30_003 });
    expect(result.state).toMatchObject({
      status: "half_open",
      nextAttemptAt: null,
      probesInFlight: [],
      probeSuccesses: 0,
    });
    // the alarm firing twice is harmless
    expect(onCooldownElapsed(result.state, T0 + 40_000)).toEqual({ state: result.state });
  });

  it("acquire itself moves to half-open when the alarm is late, and admits a probe", () => {
    const state = trippedBreaker();
    const result = acquire(state, T0 + 50_000, SETTINGS);
    expect(result.decision).toBe("probe");
    expect(result.transition).toEqual({ from: "open", to: "half_open", at: T0 + 50_000 });
    expect(result.state.probesInFlight).toEqual([T0 + 50_000]);
  });

  it("a late result from a call admitted while closed does not change the state", () => {
    const state = trippedBreaker();
    const late = recordResult(state, "success", T0 + 100, SETTINGS, false);
    expect(late.transition).toBeUndefined();
    expect(late.state.status).toBe("open");
    expect(late.state.counters.successes).toBe(state.counters.successes + 1);
  });
});

describe("half-open", () => {
  function halfOpen(): BreakerState {
    return onCooldownElapsed(trippedBreaker(), T0 + 40_000).state;
  }

  it("admits at most halfOpenMaxProbes probes at once", () => {
    let state = halfOpen();
    const first = acquire(state, T0 + 40_001, SETTINGS);
    const second = acquire(first.state, T0 + 40_002, SETTINGS);
    const third = acquire(second.state, T0 + 40_003, SETTINGS);
    expect([first.decision, second.decision, third.decision]).toEqual(["probe", "probe", "reject"]);
    expect(third.retryAfterMs).toBe(SETTINGS.halfOpenRetryAfterMs);
    state = third.state;
    expect(state.probesInFlight).toHaveLength(2);
    expect(state.counters).toMatchObject({ probes: 2 });
    // a finished probe frees its slot
    state = recordResult(state, "success", T0 + 40_010, SETTINGS, true).state;
    expect(state.status).toBe("half_open");
    expect(acquire(state, T0 + 40_011, SETTINGS).decision).toBe("probe");
  });

  it("closes after enough probe successes, with a clean window and reset cool-down", () => {
    let state = halfOpen();
    state = acquire(state, T0 + 40_001, SETTINGS).state;
    state = acquire(state, T0 + 40_002, SETTINGS).state;
    const firstSuccess = recordResult(state, "success", T0 + 41_000, SETTINGS, true);
    expect(firstSuccess.transition).toBeUndefined();
    expect(firstSuccess.state.probeSuccesses).toBe(1);
    const closed = recordResult(firstSuccess.state, "success", T0 + 42_000, SETTINGS, true);
    expect(closed.transition).toEqual({ from: "half_open", to: "closed", at: T0 + 42_000 });
    expect(closed.state).toMatchObject({
      status: "closed",
      window: [],
      cooldownMs: 0,
      consecutiveOpens: 0,
      openedAt: null,
      nextAttemptAt: null,
      probesInFlight: [],
    });
    // after closing, the next trip starts again from the base cool-down
    const reopened = feed(closed.state, ["failure", "failure", "failure", "failure"], T0 + 50_000);
    expect(reopened.cooldownMs).toBe(30_000);
  });

  it("a probe failure re-opens with a cool-down that grows by the multiplier up to the cap", () => {
    let state = trippedBreaker();
    const cooldowns: number[] = [state.cooldownMs];
    let now: number;
    for (let round = 0; round < 4; round++) {
      now = state.nextAttemptAt!;
      state = onCooldownElapsed(state, now).state;
      const probe = acquire(state, now + 1, SETTINGS);
      expect(probe.decision).toBe("probe");
      const result = recordResult(probe.state, "failure", now + 2, SETTINGS, true);
      expect(result.transition).toEqual({ from: "half_open", to: "open", at: now + 2 });
      state = result.state;
      expect(state.nextAttemptAt).toBe(now + 2 + state.cooldownMs);
      cooldowns.push(state.cooldownMs);
    }
    expect(cooldowns).toEqual([30_000, 60_000, 100_000, 100_000, 100_000]);
    expect(state.consecutiveOpens).toBe(5);
    expect(state.counters.opens).toBe(5);
  });

  it("a result from a non-probe call does not count as probe evidence", () => {
    const state = halfOpen();
    const result = recordResult(state, "success", T0 + 40_001, SETTINGS, false);
    expect(result.state.probeSuccesses).toBe(0);
    expect(result.state.status).toBe("half_open");
  });

  it("frees slots of probes that never reported after probeTimeoutMs", () => {
    let state = halfOpen();
    state = acquire(state, T0 + 40_001, SETTINGS).state;
    state = acquire(state, T0 + 40_002, SETTINGS).state;
    expect(acquire(state, T0 + 40_003, SETTINGS).decision).toBe("reject");
    const later = acquire(state, T0 + 40_001 + SETTINGS.probeTimeoutMs, SETTINGS);
    expect(later.decision).toBe("probe");
    expect(later.state.probesInFlight).toEqual([T0 + 40_002, T0 + 40_001 + SETTINGS.probeTimeoutMs]);
  });

  it("a second probe failing after the first already re-opened it changes nothing", () => {
    let state = halfOpen();
    state = acquire(state, T0 + 40_001, SETTINGS).state;
    state = acquire(state, T0 + 40_002, SETTINGS).state;
    const reopened = recordResult(state, "failure", T0 + 40_100, SETTINGS, true).state;
    const stale = recordResult(reopened, "failure", T0 + 40_200, SETTINGS, true);
    expect(stale.transition).toBeUndefined();
    expect(stale.state.nextAttemptAt).toBe(reopened.nextAttemptAt);
    expect(stale.state.cooldownMs).toBe(reopened.cooldownMs);
  });
});

describe("force", () => {
  it("force open holds the breaker open with no automatic half-open", () => {
    const forced = forceState(initialBreakerState(), "open", T0, SETTINGS);
    expect(forced.transition).toEqual({ from: "closed", to: "open", at: T0 });
    expect(forced.state).toMatchObject({ status: "open", forcedOpen: true, nextAttemptAt: null });
    expect(onCooldownElapsed(forced.state, T0 + 10 * 3_600_000).state.status).toBe("open");
    const rejected = acquire(forced.state, T0 + 10 * 3_600_000, SETTINGS);
    expect(rejected).toMatchObject({ decision: "reject", retryAfterMs: SETTINGS.maxCooldownMs });
  });

  it("force open on an already open breaker pins it without a second transition", () => {
    const state = trippedBreaker();
    const forced = forceState(state, "open", T0 + 10, SETTINGS);
    expect(forced.transition).toBeUndefined();
    expect(forced.state).toMatchObject({ status: "open", forcedOpen: true, nextAttemptAt: null, openedAt: T0 + 3 });
    expect(forced.state.counters.opens).toBe(state.counters.opens);
  });

  it("force close from open or half-open resets everything", () => {
    const fromOpen = forceState(
      forceState(initialBreakerState(), "open", T0, SETTINGS).state,
      "closed",
      T0 + 5,
      SETTINGS,
    );
    expect(fromOpen.transition).toEqual({ from: "open", to: "closed", at: T0 + 5 });
    expect(fromOpen.state).toMatchObject({ status: "closed", forcedOpen: false, cooldownMs: 0, consecutiveOpens: 0 });
    expect(acquire(fromOpen.state, T0 + 6, SETTINGS).decision).toBe("allow");

    const halfOpen = onCooldownElapsed(trippedBreaker(), T0 + 40_000).state;
    const fromHalfOpen = forceState(halfOpen, "closed", T0 + 40_001, SETTINGS);
    expect(fromHalfOpen.transition).toEqual({ from: "half_open", to: "closed", at: T0 + 40_001 });
  });

  it("force close on a closed breaker clears the window without a transition", () => {
    const state = feed(initialBreakerState(), ["failure", "failure"], T0);
    const result = forceState(state, "closed", T0 + 5, SETTINGS);
    expect(result.transition).toBeUndefined();
    expect(result.state.window).toEqual([]);
  });
});

describe("persistence and observability", () => {
  it("state survives a JSON round trip at every stage", () => {
    let state = trippedBreaker();
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    state = onCooldownElapsed(state, T0 + 40_000).state;
    state = acquire(state, T0 + 40_001, SETTINGS).state;
    const restored = JSON.parse(JSON.stringify(state)) as BreakerState;
    expect(restored).toEqual(state);
    // decisions from the restored copy are identical
    expect(acquire(restored, T0 + 40_002, SETTINGS)).toEqual(acquire(state, T0 + 40_002, SETTINGS));
  });

  it("never mutates the state it is given", () => {
    const state = trippedBreaker();
    const snapshot = structuredClone(state);
    acquire(state, T0 + 100_000, SETTINGS);
    recordResult(state, "failure", T0 + 100_000, SETTINGS, true);
    forceState(state, "closed", T0 + 100_000, SETTINGS);
    onCooldownElapsed(state, T0 + 100_000);
    expect(state).toEqual(snapshot);
  });

  it("counts transitions and records the last transition time across a full cycle", () => {
    let state = trippedBreaker(); // closed → open
    state = onCooldownElapsed(state, T0 + 40_000).state; // open → half_open
    state = acquire(state, T0 + 40_001, SETTINGS).state;
    state = acquire(state, T0 + 40_002, SETTINGS).state;
    state = recordResult(state, "success", T0 + 40_003, SETTINGS, true).state;
    state = recordResult(state, "success", T0 + 40_004, SETTINGS, true).state; // half_open → closed
    expect(state.counters).toMatchObject({
      transitions: 3,
      opens: 1,
      probes: 2,
      admitted: 6,
      failures: 4,
      successes: 2,
    });
    expect(state.lastTransitionAt).toBe(T0 + 40_004);
  });
});
