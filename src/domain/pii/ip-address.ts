/**
 * IP addresses through ipaddr.js: IPv4 in dotted-quad form (four parts of 0–255) and IPv6 in any RFC 4291 text form
 * (with `::`, an embedded IPv4 or a zone). A dotted quad right after a version cue ("version 10.2.0.1", "v1.2.3.4",
 * "build") is a version string, not an address.
 */
import ipaddr from "ipaddr.js";

import { hasCue, wordsBefore } from "./context.ts";
import type { DetectorInput, PiiSpan } from "./types.ts";

const V4 = /(?<![\d.A-Za-z])\d{1,3}(?:\.\d{1,3}){3}(?!\d|\.\d)/g;
const V6 = /(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|\d{1,3}(?:\.\d{1,3}){3})?(?![0-9A-Fa-f:])/g;
const VERSION_CUES: ReadonlySet<string> = new Set([
  "version",
  "ver",
  "v",
  "release",
  "build",
  "firmware",
  "patch",
  "revision",
  "update",
  "upgrade",
  "sdk",
  "api",
]);

export function detectIpAddresses(input: DetectorInput): PiiSpan[] {
  const text = input.normalised;
  const spans: PiiSpan[] = [];
  for (const m of text.matchAll(V4)) {
    if (!ipaddr.IPv4.isValidFourPartDecimal(m[0])) continue;
    if (hasCue(wordsBefore(text, m.index, 2), VERSION_CUES)) continue;
    spans.push({ type: "ip_address", ...input.toOriginal(m.index, m.index + m[0].length) });
  }
  for (const m of text.matchAll(V6)) {
    const value = m[0];
    const colons = value.split(":").length - 1;
    if (!/[0-9A-Fa-f]/.test(value) || (colons < 3 && !value.includes("::"))) continue;
    if (!ipaddr.IPv6.isValid(value)) continue;
    spans.push({ type: "ip_address", ...input.toOriginal(m.index, m.index + value.length) });
  }
  return spans;
}
