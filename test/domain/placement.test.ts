import { describe, expect, it } from "vitest";

import {
  chooseShard,
  findRegion,
  parsePlacement,
  PlacementError,
  shardCodeOf,
  shardOfId,
} from "../../src/domain/placement.ts";
import { isWellFormedId, newId } from "../../src/lib/ids.ts";

const TWO_REGIONS = JSON.stringify({
  directory: "DIRECTORY",
  regions: {
    us: {
      bucket: "BUCKET",
      jobs_queue: "JOBS",
      shards: [
        { code: "us0", binding: "DB" },
        { code: "us1", binding: "DB_US_1" },
      ],
    },
    eu: {
      bucket: "BUCKET_EU",
      jobs_queue: "JOBS_EU",
      pool_url: "https://pool.eu.example.com",
      shards: [{ code: "eu0", binding: "DB_EU_0" }],
    },
  },
});

describe("placement", () => {
  it("is one region over the DB binding when PLACEMENT is unset, so today's deployments need no change", () => {
    for (const raw of [undefined, "", "  "]) {
      const placement = parsePlacement(raw);
      expect(placement.directory).toBe("DB");
      expect(placement.regions.map((r) => r.name)).toEqual(["us"]);
      expect(placement.shards).toEqual([{ code: "us0", binding: "DB", accepting: true, region: "us" }]);
    }
  });

  it("keeps the configured region order; the first region is the default", () => {
    const placement = parsePlacement(TWO_REGIONS);
    expect(placement.regions.map((r) => r.name)).toEqual(["us", "eu"]);
    expect(placement.shards.map((s) => `${s.region}/${s.code}/${s.binding}`)).toEqual([
      "us/us0/DB",
      "us/us1/DB_US_1",
      "eu/eu0/DB_EU_0",
    ]);
    expect(findRegion(placement, null)?.name).toBe("us");
    expect(findRegion(placement, "eu")?.poolUrl).toBe("https://pool.eu.example.com");
    expect(findRegion(placement, "ap")).toBeNull();
  });

  it.each([
    ["not JSON", "{", /not valid JSON/],
    ["no regions", JSON.stringify({ regions: {} }), /at least one region/],
    [
      "a shard code used twice",
      JSON.stringify({
        regions: {
          us: { bucket: "B", jobs_queue: "Q", shards: [{ code: "us0", binding: "DB" }] },
          eu: { bucket: "B2", jobs_queue: "Q2", shards: [{ code: "us0", binding: "DB2" }] },
        },
      }),
      /used twice/,
    ],
    [
      "an uppercase shard code",
      JSON.stringify({ regions: { us: { bucket: "B", jobs_queue: "Q", shards: [{ code: "US0", binding: "DB" }] } } }),
      /regions\.us\.shards\.0\.code/,
    ],
    [
      "a region without shards",
      JSON.stringify({ regions: { us: { bucket: "B", jobs_queue: "Q", shards: [] } } }),
      /regions\.us\.shards/,
    ],
    [
      "a binding name that is not one",
      JSON.stringify({ regions: { us: { bucket: "b-1", jobs_queue: "Q", shards: [{ code: "us0", binding: "DB" }] } } }),
      /regions\.us\.bucket/,
    ],
  ])("refuses %s with a PlacementError naming the place (never a silent default)", (_name, raw, message) => {
    expect(() => parsePlacement(raw)).toThrow(PlacementError);
    expect(() => parsePlacement(raw)).toThrow(message);
  });
});

describe("ids that name their shard", () => {
  const placement = parsePlacement(TWO_REGIONS);

  it("append the shard code after the ULID and stay well formed and time ordered", () => {
    const id = newId("transcription", "eu0");
    expect(id).toMatch(/^tr_[0-9A-HJKMNP-TV-Z]{26}eu0$/);
    expect(isWellFormedId(id, "transcription")).toBe(true);
    expect(shardCodeOf(id)).toBe("eu0");
    expect(shardOfId(placement, id)?.region).toBe("eu");
    const later = newId("transcription", "us0");
    expect(later.slice(0, 29) > id.slice(0, 29)).toBe(true);
  });

  it("without a suffix belong to the first shard of the first region (issued before shards)", () => {
    const legacy = newId("transcription");
    expect(shardCodeOf(legacy)).toBeNull();
    expect(shardOfId(placement, legacy)?.code).toBe("us0");
    expect(isWellFormedId(legacy, "transcription")).toBe(true);
  });

  it("with a suffix no shard has resolve to no shard, so the caller answers 404 before any query", () => {
    const forged = newId("transcription").concat("zz9");
    expect(isWellFormedId(forged, "transcription")).toBe(true);
    expect(shardOfId(placement, forged)).toBeNull();
  });

  it("are refused for kinds that live in the directory and for malformed codes", () => {
    expect(() => newId("tenant", "us0")).toThrow();
    expect(() => newId("transcription", "US0")).toThrow();
    expect(isWellFormedId(newId("tenant") + "us0", "tenant")).toBe(false);
    expect(isWellFormedId(newId("transcription") + "u", "transcription")).toBe(false);
  });
});

describe("chooseShard", () => {
  const us = parsePlacement(TWO_REGIONS).regions[0]!;

  it("takes the accepting shard with the fewest tenants, ties in configured order", () => {
    expect(chooseShard(us, new Map())?.code).toBe("us0");
    expect(chooseShard(us, new Map([["us0", 3]]))?.code).toBe("us1");
    expect(
      chooseShard(
        us,
        new Map([
          ["us0", 2],
          ["us1", 2],
        ]),
      )?.code,
    ).toBe("us0");
  });

  it("skips full shards and says so when none accepts", () => {
    const full = { ...us, shards: us.shards.map((s, i) => ({ ...s, accepting: i === 1 })) };
    expect(chooseShard(full, new Map([["us1", 99]]))?.code).toBe("us1");
    expect(chooseShard({ ...us, shards: us.shards.map((s) => ({ ...s, accepting: false })) }, new Map())).toBeNull();
  });
});
