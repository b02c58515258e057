/**
 * US Social Security numbers: area 001–899 except 666, group 01–99, serial 0001–9999, and never one of
 * the numbers made public in advertising (078-05-1120, 219-09-9999; the 987-65-432x range is in the 900s). Written as
 * 3-2-4 groups (hyphens or spaces, the same separator twice) they stand alone; nine bare digits count only after a
 * cue ("social security", "SSN").
 */
import { hasCue, wordsBefore } from "./context.ts";
import type { DetectorInput, PiiSpan } from "./types.ts";

const CANDIDATE = /(?<![\d-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\d-])/g;
const CUES: ReadonlySet<string> = new Set(["social", "security", "ssn", "ss", "#ssn"]);
const PUBLICISED: ReadonlySet<string> = new Set(["078051120", "219099999"]);

/** Whether nine digits are an SSN the SSA could have issued. */
export function isValidSsn(digits: string): boolean {
  if (!/^\d{9}$/.test(digits) || PUBLICISED.has(digits)) return false;
  const area = Number(digits.slice(0, 3));
  const group = Number(digits.slice(3, 5));
  const serial = Number(digits.slice(5));
  if (area === 0 || area === 666 || area >= 900) return false;
  if (group === 0 || serial === 0) return false;
  return true;
}

export function detectSsns(input: DetectorInput): PiiSpan[] {
  const text = input.normalised;
  const spans: PiiSpan[] = [];
  for (const m of text.matchAll(CANDIDATE)) {
    const digits = `${m[1]}${m[3]}${m[4]}`;
    if (!isValidSsn(digits)) continue;
    if (m[2] === "" && !hasCue(wordsBefore(text, m.index, 6), CUES)) continue;
    spans.push({ type: "us_social_security_number", ...input.toOriginal(m.index, m.index + m[0].length) });
  }
  return spans;
}
