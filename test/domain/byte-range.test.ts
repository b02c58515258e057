/** Range headers (RFC 9110 §14) and ranged opening of sealed objects, segment by segment. */
import { describe, expect, it } from "vitest";

import { contentRange, parseRangeHeader } from "../../src/domain/byte-range.ts";
import {
  createOpener,
  openRangeStream,
  plainSizeOf,
  sealBytes,
  sealedSize,
  sealedSpanOf,
  SEGMENT_BYTES,
  segmentCountOf,
} from "../../src/domain/envelope.ts";

const RING = [{ version: "v1", secret: "range-test-master-secret-0123456789abcdef" }];

describe("parseRangeHeader", () => {
  it.each([
    [undefined, { kind: "whole" }],
    ["bytes=0-9", { kind: "range", range: { start: 0, end: 9 } }],
    ["BYTES = 5-", { kind: "range", range: { start: 5, end: 99 } }],
    ["bytes=-10", { kind: "range", range: { start: 90, end: 99 } }],
    ["bytes=-1000", { kind: "range", range: { start: 0, end: 99 } }],
    ["bytes=90-500", { kind: "range", range: { start: 90, end: 99 } }],
    ["bytes=99-99", { kind: "range", range: { start: 99, end: 99 } }],
    ["bytes=100-", { kind: "unsatisfiable" }],
    ["bytes=5-4", { kind: "unsatisfiable" }],
    ["bytes=-0", { kind: "unsatisfiable" }],
    ["bytes=-", { kind: "unsatisfiable" }],
    ["bytes=a-b", { kind: "unsatisfiable" }],
    ["bytes=1.5-2", { kind: "unsatisfiable" }],
    ["bytes", { kind: "unsatisfiable" }],
    [`bytes=${"9".repeat(30)}-`, { kind: "unsatisfiable" }],
    ["items=0-9", { kind: "whole" }],
    ["bytes=0-1,4-5", { kind: "whole" }],
  ])("%s of 100 bytes", (header, expected) => {
    expect(parseRangeHeader(header, 100)).toEqual(expected);
  });

  it("has nothing to serve of an empty representation", () => {
    expect(parseRangeHeader("bytes=0-", 0)).toEqual({ kind: "unsatisfiable" });
    expect(parseRangeHeader("bytes=-5", 0)).toEqual({ kind: "unsatisfiable" });
  });

  it("writes Content-Range", () => {
    expect(contentRange({ start: 0, end: 9 }, 100)).toBe("bytes 0-9/100");
    expect(contentRange(null, 100)).toBe("bytes */100");
  });
});

describe("openRangeStream", { timeout: 30_000 }, () => {
  const plain = Uint8Array.from({ length: 3 * SEGMENT_BYTES + 1234 }, (_, i) => (i * 31 + 7) & 0xff);

  async function sealed() {
    const { header, sealed } = await sealBytes(RING, "tn_range", "audio/tn_range/x", plain);
    return { header, sealed, opener: await createOpener(RING, "tn_range", "audio/tn_range/x", header) };
  }

  async function read(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  it("sizes match the sealing", () => {
    for (const n of [0, 1, SEGMENT_BYTES - 1, SEGMENT_BYTES, SEGMENT_BYTES + 1, 5 * SEGMENT_BYTES + 3]) {
      expect(plainSizeOf(sealedSize(n))).toBe(n);
    }
  });

  it.each([
    [0, 0],
    [10, 20],
    [SEGMENT_BYTES - 1, SEGMENT_BYTES],
    [SEGMENT_BYTES, 2 * SEGMENT_BYTES - 1],
    [100, 3 * SEGMENT_BYTES + 1233],
    [3 * SEGMENT_BYTES + 1000, 3 * SEGMENT_BYTES + 1233],
  ])("opens bytes %i-%i from only the segments that hold them", async (start, end) => {
    const { sealed: bytes, opener } = await sealed();
    const span = sealedSpanOf(start, end, bytes.byteLength);
    const body = new Blob([bytes.slice(span.offset, span.offset + span.length)]).stream();
    const out = await read(openRangeStream(opener, body, span, end - start + 1, segmentCountOf(bytes.byteLength)));
    expect(out).toEqual(plain.subarray(start, end + 1));
  });

  it("fails on a tampered or truncated segment instead of yielding unauthenticated bytes", async () => {
    const { sealed: bytes, opener } = await sealed();
    const span = sealedSpanOf(SEGMENT_BYTES + 5, SEGMENT_BYTES + 50, bytes.byteLength);
    const tampered = bytes.slice(span.offset, span.offset + span.length);
    tampered[100]! ^= 1;
    const total = segmentCountOf(bytes.byteLength);
    await expect(read(openRangeStream(opener, new Blob([tampered]).stream(), span, 46, total))).rejects.toThrow(
      /Decryption failed/,
    );
    const truncated = bytes.slice(span.offset, span.offset + span.length - 10);
    await expect(read(openRangeStream(opener, new Blob([truncated]).stream(), span, 46, total))).rejects.toThrow(
      /truncated/,
    );
    // a middle segment presented as the object's last one does not open either
    await expect(
      read(
        openRangeStream(opener, new Blob([bytes.slice(span.offset, span.offset + span.length)]).stream(), span, 46, 2),
      ),
    ).rejects.toThrow(/Decryption failed/);
  });
});
