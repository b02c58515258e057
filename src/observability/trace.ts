/**
 * W3C Trace Context `traceparent` headers (https://www.w3.org/TR/trace-context/): parse, create, derive a child.
 * Pure: only `crypto.getRandomValues`, which workerd and Node ≥ 20 both provide globally.
 *
 * Format: `version-traceid-parentid-flags`, all lowercase hex: 2, 32, 16 and 2 characters. Version `ff` is
 * invalid; an all-zero trace id or parent id is invalid; uppercase hex is invalid. Headers of a higher version than
 * `00` are read by the spec's forward-compatible rule (the first four fields, then end of string or `-`), and
 * everything this module writes is version `00`.
 */

/** The only version this module writes. */
export const TRACEPARENT_VERSION = "00";
/** trace-flags bit 0: the caller may have recorded its span. */
export const TRACE_FLAG_SAMPLED = 0x01;
/** trace-flags bit 1 (Trace Context Level 2): the trace id's right-most 7 bytes are random. */
export const TRACE_FLAG_RANDOM = 0x02;
/** Flags a child keeps from its parent; other bits are reserved and must be written as zero. */
const PROPAGATED_FLAGS = TRACE_FLAG_SAMPLED | TRACE_FLAG_RANDOM;

const TRACE_ID_BYTES = 16;
const PARENT_ID_BYTES = 8;
/** Length of a version-00 header: 2 + 1 + 32 + 1 + 16 + 1 + 2. */
const VERSION_00_LENGTH = 55;
const INVALID_VERSION = "ff";
/** Longer values are not parsed at all, so a hostile header cannot cost more than a bounded check. */
const MAX_TRACEPARENT_LENGTH = 512;
const FIELDS = /^([\da-f]{2})-([\da-f]{32})-([\da-f]{16})-([\da-f]{2})/;
const ALL_ZEROS = /^0+$/;
/** Optional whitespace HTTP allows around a field value. */
const OWS = /^[ \t]+|[ \t]+$/g;

/** A parsed `traceparent`. */
export interface Traceparent {
  version: string;
  /** 32 lowercase hex characters, not all zeros */
  traceId: string;
  /** the caller's span id: 16 lowercase hex characters, not all zeros */
  parentId: string;
  /** the 8-bit trace-flags field */
  flags: number;
  /** whether {@link TRACE_FLAG_SAMPLED} is set */
  sampled: boolean;
}

/** The header's fields, or null when it is absent or invalid (the spec says to ignore it and start a new trace). */
export function parseTraceparent(header: string | null | undefined): Traceparent | null {
  if (typeof header !== "string" || header.length > MAX_TRACEPARENT_LENGTH) return null;
  const value = header.replace(OWS, "");
  const match = FIELDS.exec(value);
  if (!match) return null;
  const [, version, traceId, parentId, flagsHex] = match as unknown as [string, string, string, string, string];
  if (version === INVALID_VERSION) return null;
  if (version === TRACEPARENT_VERSION) {
    if (value.length !== VERSION_00_LENGTH) return null;
  } else if (value.length > VERSION_00_LENGTH && value[VERSION_00_LENGTH] !== "-") {
    // A future version may append fields, but only after another dash.
    return null;
  }
  if (ALL_ZEROS.test(traceId) || ALL_ZEROS.test(parentId)) return null;
  const flags = parseInt(flagsHex, 16);
  return { version, traceId, parentId, flags, sampled: (flags & TRACE_FLAG_SAMPLED) !== 0 };
}

/** Writes a version-00 header from its parts (ids must already be valid lowercase hex). */
export function formatTraceparent(traceId: string, parentId: string, flags: number): string {
  return `${TRACEPARENT_VERSION}-${traceId}-${parentId}-${(flags & 0xff).toString(16).padStart(2, "0")}`;
}

/** A new root `traceparent` with random trace and span ids; sampled unless `{ sampled: false }`. */
export function newTraceparent(options: { sampled?: boolean } = {}): string {
  const flags = options.sampled === false ? 0 : TRACE_FLAG_SAMPLED;
  return formatTraceparent(randomHexId(TRACE_ID_BYTES), randomHexId(PARENT_ID_BYTES), flags);
}

/**
 * The header to send downstream from a span of `parent`'s trace: same trace id, a new random span id, and the
 * parent's sampled/random flags. When `parent` is absent or invalid a new sampled root is started instead, so the
 * result is always a valid header.
 */
export function childTraceparent(parent: string | Traceparent | null | undefined): string {
  const parsed = typeof parent === "string" || parent == null ? parseTraceparent(parent) : parent;
  if (!parsed) return newTraceparent();
  return formatTraceparent(parsed.traceId, randomHexId(PARENT_ID_BYTES), parsed.flags & PROPAGATED_FLAGS);
}

/** The trace id of a valid header (for log correlation), or null. */
export function traceIdOf(header: string | null | undefined): string | null {
  return parseTraceparent(header)?.traceId ?? null;
}

/** Random bytes as lowercase hex, drawn again in the (2^-64 or less) case that they are all zero. */
function randomHexId(byteLength: number): string {
  for (;;) {
    const bytes = crypto.getRandomValues(new Uint8Array(byteLength));
    if (bytes.some((byte) => byte !== 0))
      return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  }
}
