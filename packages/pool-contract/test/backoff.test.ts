import { describe, expect, it } from "vitest";

import { cappedExponentialBackoff } from "../src/backoff.ts";

describe("cappedExponentialBackoff", () => {
  it("doubles from base and stops at cap", () => {
    const delays = [0, 1, 2, 3, 4, 5, 6].map((n) => cappedExponentialBackoff(n, { base: 5, cap: 100 }));
    expect(delays).toEqual([5, 10, 20, 40, 80, 100, 100]);
  });

  it("counts negative doublings as none (attempt numbers minus one need no clamping)", () => {
    expect(cappedExponentialBackoff(-1, { base: 60, cap: 3600 })).toBe(60);
    expect(cappedExponentialBackoff(-50, { base: 60, cap: 3600 })).toBe(60);
  });

  it("stays finite for huge attempt counts, also with a zero base", () => {
    expect(cappedExponentialBackoff(5_000, { base: 1_000, cap: 300_000 })).toBe(300_000);
    expect(cappedExponentialBackoff(5_000, { base: 0, cap: 300_000 })).toBe(0);
  });

  it("stops doubling at maxDoublings", () => {
    expect(cappedExponentialBackoff(40, { base: 1, cap: Number.MAX_SAFE_INTEGER, maxDoublings: 30 })).toBe(2 ** 30);
  });
});
