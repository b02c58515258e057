import { describe, expect, it } from "vitest";

import {
  BinsError,
  bucketLabels,
  type CategoricalBins,
  compareHistograms,
  histogram,
  mergeHistograms,
  MISSING_BUCKET,
  type NumericBins,
  OTHER_BUCKET,
  psi,
  PSI_DEFAULT_EPSILON,
  PSI_SIGNIFICANT_FROM,
  PSI_STABLE_BELOW,
  psiVerdict,
} from "../../src/drift/psi.ts";
import { seededRandom } from "../helpers/random.ts";

/** Normal samples by Box–Muller from the seeded generator. */
function normalSamples(count: number, mean: number, seed: number): number[] {
  const random = seededRandom(seed);
  return Array.from(
    { length: count },
    () => mean + Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()),
  );
}

const UNIT_NORMAL_BINS: NumericBins = {
  kind: "numeric",
  feature: "score",
  edges: [-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2],
};
const LANGUAGE_BINS: CategoricalBins = {
  kind: "categorical",
  feature: "language",
  categories: ["en", "es", "fr", "de"],
};

const repeat = <T>(value: T, times: number): T[] => Array.from({ length: times }, () => value);

describe("histogram", () => {
  it("counts numeric values into half-open buckets with open ends and a missing bucket", () => {
    const bins: NumericBins = { kind: "numeric", feature: "duration", edges: [1, 5] };
    const h = histogram([-Infinity, 0, 0.999, 1, 4.9, 5, 600, Infinity, null, undefined, Number.NaN], bins);
    expect(h.labels).toEqual(["(-inf,1)", "[1,5)", "[5,+inf)", MISSING_BUCKET]);
    expect(h.counts).toEqual([3, 2, 3, 3]);
    expect(h.total).toBe(11);
    expect(h.missing).toBe(3);
  });

  it("counts categories case-insensitively, with unlisted ones in 'other' and blanks missing", () => {
    const h = histogram(["en", " EN ", "fr", "xx", "ja", "", null, undefined], LANGUAGE_BINS);
    expect(h.labels).toEqual(["en", "es", "fr", "de", OTHER_BUCKET, MISSING_BUCKET]);
    expect(h.counts).toEqual([2, 0, 1, 0, 2, 3]);
  });

  it("rejects bins that cannot be compared", () => {
    expect(() => histogram([], { kind: "numeric", feature: "x", edges: [] })).toThrow(BinsError);
    expect(() => histogram([], { kind: "numeric", feature: "x", edges: [1, 1] })).toThrow(/strictly increasing/);
    expect(() => histogram([], { kind: "numeric", feature: "x", edges: [0, Infinity] })).toThrow(/finite/);
    expect(() => histogram([], { kind: "categorical", feature: "x", categories: ["en", "EN"] })).toThrow(/duplicate/);
    expect(() => histogram([], { kind: "categorical", feature: "x", categories: ["missing"] })).toThrow(/reserved/);
  });

  it("merges histograms of the same bins by adding counts", () => {
    const merged = mergeHistograms(
      histogram([0, 2, null], { kind: "numeric", feature: "d", edges: [1] }),
      histogram([3], { kind: "numeric", feature: "d", edges: [1] }),
    );
    expect(merged.counts).toEqual([1, 2, 1]);
    expect(merged.total).toBe(4);
    expect(merged.missing).toBe(1);
    expect(() => mergeHistograms(merged, histogram([1], { kind: "numeric", feature: "d", edges: [2] }))).toThrow(
      /different bins/,
    );
  });
});

describe("psi", () => {
  it("is exactly 0 for identical distributions", () => {
    const result = psi([10, 30, 60, 0], [10, 30, 60, 0]);
    expect(result.value).toBe(0);
    expect(result.verdict).toBe("stable");
    expect(result.contributions).toEqual([0, 0, 0, 0]);
  });

  it("is 0 for the same proportions at different sample sizes", () => {
    expect(psi([100, 300, 600], [1_000, 3_000, 6_000]).value).toBeCloseTo(0, 12);
  });

  it("matches a hand-computed two-bin case", () => {
    // (0.8 − 0.5)·ln(0.8/0.5) + (0.2 − 0.5)·ln(0.2/0.5) = 0.3·ln 1.6 + 0.3·ln 2.5 = 0.3·ln 4
    const result = psi([50, 50], [80, 20]);
    expect(Math.abs(result.value! - 0.415888308335967)).toBeLessThan(1e-9);
    expect(Math.abs(result.value! - 0.3 * Math.log(4))).toBeLessThan(1e-9);
    expect(result.contributions[0]).toBeCloseTo(0.3 * Math.log(1.6), 12);
    expect(result.verdict).toBe("significant");
  });

  it("replaces an empty bin's proportion by epsilon", () => {
    const result = psi([100, 0], [90, 10]);
    const expected = (0.9 - 1) * Math.log(0.9) + (0.1 - PSI_DEFAULT_EPSILON) * Math.log(0.1 / PSI_DEFAULT_EPSILON);
    expect(Math.abs(result.value! - expected)).toBeLessThan(1e-12);
    const smallerEpsilon = psi([100, 0], [90, 10], { epsilon: 1e-6 });
    expect(smallerEpsilon.value!).toBeGreaterThan(result.value!);
  });

  it("grades by the named thresholds", () => {
    expect(PSI_STABLE_BELOW).toBe(0.1);
    expect(PSI_SIGNIFICANT_FROM).toBe(0.25);
    expect(psiVerdict(0.0999)).toBe("stable");
    expect(psiVerdict(0.1)).toBe("moderate");
    expect(psiVerdict(0.2499)).toBe("moderate");
    expect(psiVerdict(0.25)).toBe("significant");
    // 0.15·ln(0.65/0.35) ≈ 0.093 and 0.2·ln(0.7/0.3) ≈ 0.169
    expect(psi([50, 50], [65, 35]).verdict).toBe("stable");
    expect(psi([50, 50], [70, 30]).verdict).toBe("moderate");
  });

  it("says insufficient_data below the minimum sample count, and gives no value for an empty window", () => {
    const small = psi([5, 5], [8, 2]);
    expect(small.verdict).toBe("insufficient_data");
    expect(small.value).toBeCloseTo(0.3 * Math.log(4), 12);
    expect(psi([5, 5], [8, 2], { minSamples: 10 }).verdict).toBe("significant");
    const empty = psi([50, 50], [0, 0]);
    expect(empty).toEqual({
      value: null,
      verdict: "insufficient_data",
      contributions: [],
      baselineTotal: 100,
      currentTotal: 0,
    });
  });

  it("rejects counts that are not comparable", () => {
    expect(() => psi([1, 2], [1, 2, 3])).toThrow(BinsError);
    expect(() => psi([], [])).toThrow(BinsError);
    expect(() => psi([1, -1], [1, 1])).toThrow(/non-negative integers/);
    expect(() => psi([1.5, 1], [1, 1])).toThrow(/non-negative integers/);
    expect(() => psi([1, 1], [1, 1], { epsilon: 0 })).toThrow(/epsilon/);
  });
});

describe("compareHistograms", () => {
  it("finds a one-sigma shift of a normal distribution significant and a resample stable", () => {
    const baseline = histogram(normalSamples(5_000, 0, 1), UNIT_NORMAL_BINS);
    const resampled = histogram(normalSamples(5_000, 0, 2), UNIT_NORMAL_BINS);
    const shifted = histogram(normalSamples(5_000, 1, 3), UNIT_NORMAL_BINS);

    const same = compareHistograms(baseline, resampled);
    expect(same.verdict).toBe("stable");
    expect(same.value!).toBeLessThan(0.02);

    // For two unit normals a mean shift δ has symmetric KL divergence δ²; binned PSI lands somewhat below it.
    const drift = compareHistograms(baseline, shifted);
    expect(drift.verdict).toBe("significant");
    expect(drift.value!).toBeGreaterThan(0.7);
    expect(drift.value!).toBeLessThan(1.1);
    expect(drift.baselineMissingShare).toBe(0);
  });

  it("detects a shift in the language mix, including a language that never appeared before", () => {
    const baseline = histogram([...repeat("en", 600), ...repeat("es", 200), ...repeat("fr", 200)], LANGUAGE_BINS);
    const current = histogram(
      [...repeat("en", 300), ...repeat("es", 200), ...repeat("fr", 200), ...repeat("de", 300)],
      LANGUAGE_BINS,
    );
    const report = compareHistograms(baseline, current);
    const expected =
      (0.3 - 0.6) * Math.log(0.3 / 0.6) + (0.3 - PSI_DEFAULT_EPSILON) * Math.log(0.3 / PSI_DEFAULT_EPSILON);
    expect(report.value!).toBeCloseTo(expected, 12);
    expect(report.verdict).toBe("significant");
    expect(report.labels).toEqual(bucketLabels(LANGUAGE_BINS));
    // The largest term belongs to the new language.
    expect(report.contributions.indexOf(Math.max(...report.contributions))).toBe(report.labels.indexOf("de"));
  });

  it("reports the missing share and counts a rise in missing values as drift", () => {
    const bins: NumericBins = { kind: "numeric", feature: "loudness", edges: [-40, -20] };
    const baseline = histogram([...repeat(-30, 180), ...repeat(null, 20)], bins);
    const current = histogram([...repeat(-30, 100), ...repeat(null, 100)], bins);
    const report = compareHistograms(baseline, current);
    expect(report.baselineMissingShare).toBe(0.1);
    expect(report.currentMissingShare).toBe(0.5);
    // (0.5 − 0.9)·ln(0.5/0.9) + (0.5 − 0.1)·ln(0.5/0.1)
    expect(report.value!).toBeCloseTo(-0.4 * Math.log(0.5 / 0.9) + 0.4 * Math.log(5), 12);
    expect(report.verdict).toBe("significant");
  });

  it("refuses histograms of different features or bins", () => {
    const a = histogram([1], { kind: "numeric", feature: "a", edges: [0] });
    const b = histogram([1], { kind: "numeric", feature: "b", edges: [0] });
    expect(() => compareHistograms(a, b)).toThrow(/cannot compare/);
  });
});
