import { describe, expect, it } from "vitest";

import {
  childTraceparent,
  formatTraceparent,
  newTraceparent,
  parseTraceparent,
  traceIdOf,
} from "../../src/observability/trace.ts";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";
const EXAMPLE = `00-${TRACE_ID}-${PARENT_ID}-01`;
const VERSION_00 = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

describe("parseTraceparent", () => {
  it("parses the specification's example", () => {
    expect(parseTraceparent(EXAMPLE)).toEqual({
      version: "00",
      traceId: TRACE_ID,
      parentId: PARENT_ID,
      flags: 1,
      sampled: true,
    });
  });

  it("reads the sampled bit out of the flags field", () => {
    expect(parseTraceparent(`00-${TRACE_ID}-${PARENT_ID}-00`)).toMatchObject({ flags: 0, sampled: false });
    expect(parseTraceparent(`00-${TRACE_ID}-${PARENT_ID}-09`)).toMatchObject({ flags: 9, sampled: true });
    expect(parseTraceparent(`00-${TRACE_ID}-${PARENT_ID}-02`)).toMatchObject({ flags: 2, sampled: false });
  });

  it("tolerates optional whitespace around the value", () => {
    expect(parseTraceparent(` ${EXAMPLE}\t`)?.traceId).toBe(TRACE_ID);
  });

  it.each([
    ["absent", undefined],
    ["null", null],
    ["empty", ""],
    ["uppercase hex", EXAMPLE.toUpperCase()],
    ["uppercase trace id only", `00-${TRACE_ID.toUpperCase()}-${PARENT_ID}-01`],
    ["invalid version ff", `ff-${TRACE_ID}-${PARENT_ID}-01`],
    ["all-zero trace id", `00-${"0".repeat(32)}-${PARENT_ID}-01`],
    ["all-zero parent id", `00-${TRACE_ID}-${"0".repeat(16)}-01`],
    ["short trace id", `00-${TRACE_ID.slice(1)}-${PARENT_ID}-01`],
    ["long parent id", `00-${TRACE_ID}-${PARENT_ID}0-01`],
    ["one-digit flags", `00-${TRACE_ID}-${PARENT_ID}-1`],
    ["non-hex character", `00-${TRACE_ID.slice(0, -1)}g-${PARENT_ID}-01`],
    ["underscores for dashes", `00_${TRACE_ID}_${PARENT_ID}_01`],
    ["version 00 with trailing data", `${EXAMPLE}-extra`],
    ["future version without a dash after flags", `01-${TRACE_ID}-${PARENT_ID}-01x`],
    ["absurdly long", `01-${TRACE_ID}-${PARENT_ID}-01-${"a".repeat(600)}`],
  ])("rejects %s", (_name, header) => {
    expect(parseTraceparent(header)).toBeNull();
  });

  it("reads a higher version by its first four fields, as the spec asks", () => {
    expect(parseTraceparent(`cc-${TRACE_ID}-${PARENT_ID}-01`)).toMatchObject({
      version: "cc",
      traceId: TRACE_ID,
      sampled: true,
    });
    expect(parseTraceparent(`01-${TRACE_ID}-${PARENT_ID}-01-what-the-future-holds`)).toMatchObject({
      version: "01",
      parentId: PARENT_ID,
    });
  });
});

describe("newTraceparent", () => {
  it("creates a sampled version-00 header with random, non-zero ids", () => {
    const header = newTraceparent();
    expect(header).toMatch(VERSION_00);
    expect(header.endsWith("-01")).toBe(true);
    const parsed = parseTraceparent(header)!;
    expect(parsed.sampled).toBe(true);
    const others = new Set(Array.from({ length: 50 }, () => newTraceparent()));
    expect(others.size).toBe(50);
    expect(new Set([...others].map(traceIdOf)).size).toBe(50);
  });

  it("can start an unsampled trace", () => {
    expect(newTraceparent({ sampled: false })).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  });
});

describe("childTraceparent", () => {
  it("keeps the trace id and flags and draws a new span id", () => {
    const child = childTraceparent(EXAMPLE);
    const parsed = parseTraceparent(child)!;
    expect(parsed.traceId).toBe(TRACE_ID);
    expect(parsed.parentId).not.toBe(PARENT_ID);
    expect(parsed.flags).toBe(1);
    expect(childTraceparent(parseTraceparent(EXAMPLE))).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
  });

  it("propagates an unsampled decision and drops reserved flag bits", () => {
    expect(childTraceparent(`00-${TRACE_ID}-${PARENT_ID}-00`).endsWith("-00")).toBe(true);
    expect(childTraceparent(`00-${TRACE_ID}-${PARENT_ID}-03`).endsWith("-03")).toBe(true);
    expect(childTraceparent(`00-${TRACE_ID}-${PARENT_ID}-ff`).endsWith("-03")).toBe(true);
  });

  it("writes version 00 for a parent of a higher version", () => {
    expect(childTraceparent(`cc-${TRACE_ID}-${PARENT_ID}-01-more`)).toMatch(
      new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`),
    );
  });

  it("starts a new sampled trace when the parent is absent or invalid", () => {
    for (const parent of [undefined, null, "", "garbage", EXAMPLE.toUpperCase()]) {
      const child = childTraceparent(parent);
      expect(child).toMatch(VERSION_00);
      expect(traceIdOf(child)).not.toBe(TRACE_ID);
      expect(parseTraceparent(child)!.sampled).toBe(true);
    }
  });
});

describe("traceIdOf and formatTraceparent", () => {
  it("extracts the trace id of a valid header only", () => {
    expect(traceIdOf(EXAMPLE)).toBe(TRACE_ID);
    expect(traceIdOf(`ff-${TRACE_ID}-${PARENT_ID}-01`)).toBeNull();
    expect(traceIdOf(undefined)).toBeNull();
  });

  it("round-trips through parse and format", () => {
    expect(formatTraceparent(TRACE_ID, PARENT_ID, 1)).toBe(EXAMPLE);
    expect(formatTraceparent(TRACE_ID, PARENT_ID, 0x0a)).toBe(`00-${TRACE_ID}-${PARENT_ID}-0a`);
  });
});
