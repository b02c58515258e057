import { describe, expect, it } from "vitest";

import {
  type AttemptOutcome,
  decideAfterAttempt,
  parseRetryAfter,
  WEBHOOK_MAX_ATTEMPTS,
  WEBHOOK_RETRY_DELAYS_SECONDS,
  WEBHOOK_RETRY_JITTER_RATIO,
  WEBHOOK_RETRY_WINDOW_SECONDS,
  WEBHOOK_TIMEOUT_MS,
} from "../../src/webhooks/delivery-policy.ts";

const FIRST = Date.UTC(2026, 0, 15, 12, 0, 0);
const HOUR = 3_600;
const noJitter = () => 0.5; // 2·0.5 − 1 = 0 → factor exactly 1
const lowest = () => 0; // factor 1 − ratio
const highest = () => 0.999_999; // factor just under 1 + ratio

const after = (outcome: Partial<AttemptOutcome> & { attempt: number }) =>
  decideAfterAttempt({ status: 500, firstAttemptAt: FIRST, now: FIRST, random: noJitter, ...outcome });

describe("constants", () => {
  it("times out each attempt after 10 s", () => {
    expect(WEBHOOK_TIMEOUT_MS).toBe(10_000);
  });

  it("schedule grows from seconds to hours and spans just under a day", () => {
    expect(WEBHOOK_RETRY_DELAYS_SECONDS.slice(0, 4)).toEqual([5, 30, 120, 600]);
    for (let i = 1; i < WEBHOOK_RETRY_DELAYS_SECONDS.length; i++) {
      expect(WEBHOOK_RETRY_DELAYS_SECONDS[i]!).toBeGreaterThanOrEqual(WEBHOOK_RETRY_DELAYS_SECONDS[i - 1]!);
    }
    const total = WEBHOOK_RETRY_DELAYS_SECONDS.reduce((sum, delay) => sum + delay, 0);
    expect(total).toBeGreaterThan(22 * HOUR);
    expect(total).toBeLessThanOrEqual(WEBHOOK_RETRY_WINDOW_SECONDS);
    expect(WEBHOOK_MAX_ATTEMPTS).toBe(WEBHOOK_RETRY_DELAYS_SECONDS.length + 1);
  });
});

describe("decideAfterAttempt", () => {
  it.each([200, 201, 202, 204, 299])("%i is delivered", (status) => {
    expect(after({ attempt: 1, status })).toEqual({ action: "done" });
    expect(after({ attempt: WEBHOOK_MAX_ATTEMPTS, status })).toEqual({ action: "done" });
  });

  it("410 Gone gives up at once, even on the first attempt", () => {
    expect(after({ attempt: 1, status: 410 })).toEqual({ action: "give_up", reason: "endpoint_gone" });
  });

  it.each<[number | null, string]>([
    [null, "timeout or network error"],
    [100, "informational"],
    [199, "below 2xx"],
    [300, "redirects are not followed"],
    [301, "redirects are not followed"],
    [400, "client error"],
    [401, "unauthorised"],
    [404, "not found"],
    [429, "rate limited"],
    [500, "server error"],
    [502, "bad gateway"],
    [503, "unavailable"],
  ])("%s (%s) is retried", (status) => {
    expect(after({ attempt: 1, status })).toEqual({ action: "retry", delaySeconds: 5 });
  });

  it("follows the schedule without jitter", () => {
    let now = FIRST;
    const delays: number[] = [];
    for (let attempt = 1; attempt < WEBHOOK_MAX_ATTEMPTS; attempt++) {
      const decision = after({ attempt, now });
      expect(decision.action).toBe("retry");
      if (decision.action !== "retry") break;
      delays.push(decision.delaySeconds);
      now += decision.delaySeconds * 1000;
    }
    expect(delays).toEqual(WEBHOOK_RETRY_DELAYS_SECONDS);
    expect(after({ attempt: WEBHOOK_MAX_ATTEMPTS, now })).toEqual({
      action: "give_up",
      reason: "max_attempts_reached",
    });
  });

  it("jitters each delay within ±20 % and rounds to whole seconds", () => {
    expect(WEBHOOK_RETRY_JITTER_RATIO).toBe(0.2);
    expect(after({ attempt: 4, random: lowest })).toEqual({ action: "retry", delaySeconds: 480 });
    expect(after({ attempt: 4, random: highest })).toEqual({ action: "retry", delaySeconds: 720 });
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const decision = decideAfterAttempt({ attempt: 3, status: 503, firstAttemptAt: FIRST, now: FIRST });
      if (decision.action !== "retry") throw new Error("expected a retry");
      expect(Number.isInteger(decision.delaySeconds)).toBe(true);
      expect(decision.delaySeconds).toBeGreaterThanOrEqual(96);
      expect(decision.delaySeconds).toBeLessThanOrEqual(144);
      seen.add(decision.delaySeconds);
    }
    expect(seen.size).toBeGreaterThan(10); // Math.random really spreads them
  });

  it("never schedules an attempt past 24 h after the first, even with maximal jitter", () => {
    let now = FIRST;
    let attempt = 1;
    let decision = after({ attempt, now, random: highest });
    while (decision.action === "retry") {
      now += decision.delaySeconds * 1000;
      expect(now).toBeLessThanOrEqual(FIRST + WEBHOOK_RETRY_WINDOW_SECONDS * 1000);
      attempt += 1;
      decision = after({ attempt, now, random: highest });
    }
    expect(decision).toEqual({ action: "give_up", reason: "retry_window_exhausted" });
    // the last attempt is made right at the end of the window, not skipped
    expect(now).toBe(FIRST + WEBHOOK_RETRY_WINDOW_SECONDS * 1000);
  });

  it("gives up once the window is over, whatever the attempt number", () => {
    const late = FIRST + WEBHOOK_RETRY_WINDOW_SECONDS * 1000;
    expect(after({ attempt: 2, now: late })).toEqual({ action: "give_up", reason: "retry_window_exhausted" });
    expect(after({ attempt: 2, now: late + 5_000, status: null })).toEqual({
      action: "give_up",
      reason: "retry_window_exhausted",
    });
    // with 90 s left a 2-hour step is clipped to the remaining time
    expect(after({ attempt: 7, now: late - 90_000 })).toEqual({ action: "retry", delaySeconds: 90 });
  });

  it("honours a longer Retry-After, clipped to the window, and ignores a shorter one", () => {
    expect(after({ attempt: 1, status: 429, retryAfterSeconds: 120 })).toEqual({ action: "retry", delaySeconds: 120 });
    expect(after({ attempt: 1, status: 503, retryAfterSeconds: 2.2 })).toEqual({ action: "retry", delaySeconds: 5 });
    expect(after({ attempt: 1, status: 503, retryAfterSeconds: 7.2 })).toEqual({ action: "retry", delaySeconds: 8 });
    expect(after({ attempt: 1, status: 503, retryAfterSeconds: 10 * 86_400 })).toEqual({
      action: "retry",
      delaySeconds: WEBHOOK_RETRY_WINDOW_SECONDS,
    });
    expect(after({ attempt: 1, status: 503, retryAfterSeconds: null })).toEqual({ action: "retry", delaySeconds: 5 });
  });

  it.each([0, -1, 1.5, Number.NaN])("rejects attempt %s", (attempt) => {
    expect(() => after({ attempt })).toThrow(RangeError);
  });

  it("rejects non-finite times", () => {
    expect(() => after({ attempt: 1, now: Number.NaN })).toThrow(RangeError);
  });
});

describe("parseRetryAfter", () => {
  const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
  it.each<[string | null | undefined, number | null]>([
    ["120", 120],
    [" 0 ", 0],
    ["Thu, 15 Jan 2026 12:01:30 GMT", 90],
    ["Thu, 15 Jan 2026 11:00:00 GMT", 0],
    ["-5", null],
    ["1.5", null],
    ["soon", null],
    ["", null],
    [null, null],
    [undefined, null],
  ])("%s → %s", (header, expected) => {
    expect(parseRetryAfter(header, NOW)).toBe(expected);
  });
});
