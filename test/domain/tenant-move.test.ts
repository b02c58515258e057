import { describe, expect, it } from "vitest";

import { parsePlacement } from "../../src/domain/placement.ts";
import { appendFormerShard, copyMismatches, moveTarget, parseFormerShards } from "../../src/domain/tenant-move.ts";

const placement = parsePlacement(
  JSON.stringify({
    regions: {
      us: { bucket: "BUCKET", jobs_queue: "JOBS", shards: [{ code: "us0", binding: "SHARD_US_0" }] },
      eu: {
        bucket: "BUCKET_EU",
        jobs_queue: "JOBS_EU",
        shards: [
          { code: "eu0", binding: "SHARD_EU_0" },
          { code: "eu1", binding: "SHARD_EU_1" },
          { code: "eu2", binding: "SHARD_EU_2", accepting: false },
        ],
      },
      ap: {
        bucket: "BUCKET_AP",
        jobs_queue: "JOBS_AP",
        shards: [{ code: "ap0", binding: "SHARD_AP_0", accepting: false }],
      },
    },
  }),
);

describe("moveTarget", () => {
  it("takes a named shard as it is, even one closed to new tenants", () => {
    expect(moveTarget(placement, { shard: "eu2" }, new Map())).toMatchObject({ ok: true, shard: { code: "eu2" } });
  });
  it("picks the region's accepting shard with the fewest tenants", () => {
    const counts = new Map([
      ["eu0", 5],
      ["eu1", 2],
      ["eu2", 0],
    ]);
    expect(moveTarget(placement, { region: "eu" }, counts)).toMatchObject({ ok: true, shard: { code: "eu1" } });
  });
  it("names what is wrong: unknown shard, unknown region, a region that accepts nobody", () => {
    expect(moveTarget(placement, { shard: "zz9" }, new Map())).toMatchObject({ ok: false, code: "unknown_shard" });
    expect(moveTarget(placement, { region: "mars" }, new Map())).toMatchObject({ ok: false, code: "unknown_region" });
    expect(moveTarget(placement, { region: "ap" }, new Map())).toMatchObject({ ok: false, code: "region_full" });
  });
});

describe("copyMismatches", () => {
  it("is empty for an exact copy and lists every difference otherwise", () => {
    const source = { rows: { transcriptions: 3, webhook_events: 2 }, objects: { objects: 6, bytes: 1000 } };
    expect(copyMismatches(source, structuredClone(source))).toEqual([]);
    expect(
      copyMismatches(source, { rows: { transcriptions: 3, webhook_events: 1 }, objects: { objects: 6, bytes: 999 } }),
    ).toEqual(["webhook_events: 2 → 1", "object bytes: 1000 → 999"]);
    expect(copyMismatches(source, { rows: {} })).toHaveLength(4);
  });
});

describe("former shards", () => {
  it("appends a code once and reads garbage as none", () => {
    expect(appendFormerShard(null, "us0")).toBe('["us0"]');
    expect(appendFormerShard('["us0"]', "eu0")).toBe('["us0","eu0"]');
    expect(appendFormerShard('["us0"]', "us0")).toBe('["us0"]');
    expect(parseFormerShards("not json")).toEqual([]);
    expect(parseFormerShards('{"a":1}')).toEqual([]);
  });
});
