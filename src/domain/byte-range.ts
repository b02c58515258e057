/**
 * HTTP `Range: bytes=…` requests (RFC 9110 §14) for serving one representation of known size. Pure code.
 *
 * One range is served: `bytes=a-b`, `bytes=a-` and `bytes=-n` (the last n bytes). A header in another unit, or with
 * several ranges, is ignored (the whole representation is served, which RFC 9110 allows); a malformed byte range or
 * one that starts at or past the end is unsatisfiable (416, with `*` for the range in `Content-Range`).
 */

/** An inclusive byte range of a representation. */
export interface ByteRange {
  start: number;
  /** inclusive */
  end: number;
}

export type RangeRequest = { kind: "whole" } | { kind: "range"; range: ByteRange } | { kind: "unsatisfiable" };

const SINGLE_RANGE = /^(\d*)-(\d*)$/;

/** Reads a `Range` header against a representation of `size` bytes. */
export function parseRangeHeader(header: string | null | undefined, size: number): RangeRequest {
  if (header === null || header === undefined) return { kind: "whole" };
  const trimmed = header.trim();
  const eq = trimmed.indexOf("=");
  if (eq < 0) return { kind: "unsatisfiable" };
  if (trimmed.slice(0, eq).trim().toLowerCase() !== "bytes") return { kind: "whole" };
  const spec = trimmed.slice(eq + 1).trim();
  if (spec.includes(",")) return { kind: "whole" };
  const match = SINGLE_RANGE.exec(spec);
  if (!match) return { kind: "unsatisfiable" };
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return { kind: "unsatisfiable" };
  if (first === "") {
    // suffix: the last n bytes
    const length = Number(last);
    if (!Number.isSafeInteger(length) || length === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "range", range: { start: Math.max(0, size - length), end: size - 1 } };
  }
  const start = Number(first);
  if (!Number.isSafeInteger(start) || start >= size) return { kind: "unsatisfiable" };
  if (last === "") return { kind: "range", range: { start, end: size - 1 } };
  const end = Number(last);
  if (!Number.isSafeInteger(end) || end < start) return { kind: "unsatisfiable" };
  return { kind: "range", range: { start, end: Math.min(end, size - 1) } };
}

/** `Content-Range` of a served range, or of a refused one (an asterisk in place of the range). */
export function contentRange(range: ByteRange | null, size: number): string {
  return range ? `bytes ${range.start}-${range.end}/${size}` : `bytes */${size}`;
}
