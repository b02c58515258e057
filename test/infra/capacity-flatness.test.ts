/**
 * bench/capacity's flatness verdict (issue 15 §3, docs/benchmarks.md): it compares 1 and 4 shards only on the same
 * data, and says why when the data differ. The bench itself drives two real `wrangler dev` systems; this checks its
 * pure rules (bench/capacity/flatness.mjs) without timing anything.
 */
import { describe, expect, it } from "vitest";

import {
  answerProblems,
  FLAT_GOAL,
  flatRows,
  flatVerdict,
  quantile,
  sameDataProblems,
  type SeededSystem,
  type SeededTenant,
} from "../../bench/capacity/flatness.mjs";

const tenant = (jobs: number, statuses: SeededTenant["statuses"] = { completed: jobs }): SeededTenant => ({
  jobs,
  statuses,
  hits: { list: jobs, "q=fox": jobs, "q=zebra": 0 },
});
const system = (label: string, tenants: SeededTenant[]): SeededSystem => ({ label, tenants });

describe("the same data (bench/capacity flatness)", () => {
  it("holds when every job of both systems completed and each tenant pair lists and finds the same", () => {
    const one = system("1 shard", [tenant(19), tenant(19), tenant(18)]);
    const four = system("4 shards", [tenant(19), tenant(19), tenant(18)]);
    expect(sameDataProblems(one, four)).toEqual([]);
  });

  it("does not hold when one system completed fewer jobs (the recorded 300 vs 196 run)", () => {
    const one = system("1 shard", [tenant(150), tenant(150)]);
    const four = system("4 shards", [
      { ...tenant(150, { completed: 98, processing: 2, queued: 50 }), hits: { list: 150, "q=fox": 98 } },
      { ...tenant(150, { completed: 98, queued: 52 }), hits: { list: 150, "q=fox": 98 } },
    ]);
    const problems = sameDataProblems(one, four);
    expect(problems).toContain("4 shards: 196 of 300 jobs completed (2 processing, 102 queued)");
    expect(problems).toContain("tenant 0, q=fox: 150 in 1 shard, 98 in 4 shards");
    expect(problems).toContain("tenant 1, q=zebra: 0 in 1 shard, not counted in 4 shards");
  });

  it("does not hold with failed jobs, even when both systems have as many", () => {
    const failing = () => tenant(10, { completed: 9, failed: 1 });
    const problems = sameDataProblems(system("1 shard", [failing()]), system("4 shards", [failing()]));
    expect(problems).toEqual([
      "1 shard: 9 of 10 jobs completed (1 failed)",
      "4 shards: 9 of 10 jobs completed (1 failed)",
    ]);
  });

  it("does not hold when the jobs are spread over the tenants differently", () => {
    const problems = sameDataProblems(
      system("1 shard", [tenant(20), tenant(10)]),
      system("4 shards", [tenant(15), tenant(15)]),
    );
    expect(problems).toContain("tenant 0: 20 jobs in 1 shard, 15 in 4 shards");
    expect(problems).toContain("tenant 1, list: 10 in 1 shard, 15 in 4 shards");
    expect(sameDataProblems(system("a", [tenant(1)]), system("b", []))).toEqual(["a has 1 tenants, b 0"]);
  });

  it("compares the answers to the sampled requests, request by request", () => {
    const labels: [string, string] = ["1 shard", "4 shards"];
    expect(answerProblems(labels, { "list, tenant 0": 19 }, { "list, tenant 0": 19 })).toEqual([]);
    expect(answerProblems(labels, { "list, tenant 0": 19, "q=fox, tenant 1": 18 }, { "list, tenant 0": 11 })).toEqual([
      "list, tenant 0: 19 items in 1 shard, 11 in 4 shards",
      "q=fox, tenant 1: 18 items in 1 shard, not asked in 4 shards",
    ]);
  });
});

describe("the flatness figures and verdict", () => {
  it("takes nearest-rank quantiles", () => {
    const xs = [50, 10, 40, 20, 30, 60, 70, 80, 90, 100];
    expect(quantile(xs, 0.5)).toBe(60);
    expect(quantile(xs, 0.9)).toBe(100);
    expect(quantile([7], 0.9)).toBe(7);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it("reports p50 and p90 per request kind with the 4 / 1 ratio, and judges the medians against 1.2", () => {
    const flat = Array.from({ length: 10 }, (_, i) => 40 + i);
    const slower = flat.map((ms) => ms * 1.5);
    const rows = flatRows(["status", "list"], [flat, flat], [flat, slower]);
    expect(rows[0]).toEqual({
      name: "status",
      samples: 10,
      p50: { one: 45, four: 45, ratio: 1 },
      p90: { one: 49, four: 49, ratio: 1 },
    });
    expect(rows[1]!.p50.ratio).toBeCloseTo(1.5);
    expect(rows[1]!.p90.ratio).toBeCloseTo(1.5);

    const verdict = flatVerdict(rows);
    expect(verdict.goal).toBe(FLAT_GOAL);
    expect(verdict.met).toBe(false);
    expect(verdict.worstP50.name).toBe("list");
    expect(verdict.worstP50.ratio).toBeCloseTo(1.5);
    expect(flatVerdict(rows.slice(0, 1)).met).toBe(true);
    expect(flatVerdict([]).met).toBe(false);
  });

  it("meets the goal on a median within 1.2 even when the p90 ratio is above it", () => {
    const one = Array.from({ length: 10 }, () => 40);
    const four = [...Array.from({ length: 9 }, () => 44), 100];
    const verdict = flatVerdict(flatRows(["search"], [one], [four]));
    expect(verdict.worstP50.ratio).toBeCloseTo(1.1);
    expect(verdict.worstP90.ratio).toBeCloseTo(2.5);
    expect(verdict.met).toBe(true);
  });
});
