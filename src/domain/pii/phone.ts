/**
 * Phone numbers through libphonenumber-js (full metadata: a number must match its region's number patterns, not
 * only their lengths): international forms in any region, national forms for the default regions (US, GB).
 * A number right after an identifier cue ("serial", "order", "version" …) is not a phone number.
 */
import { findPhoneNumbersInText } from "libphonenumber-js/max";

import { hasCue, IDENTIFIER_CUES, wordsBefore } from "./context.ts";
import type { DetectorInput, PiiSpan } from "./types.ts";

/** Regions whose national forms (no `+`) are recognised. */
export const DEFAULT_PHONE_REGIONS = ["US", "GB"] as const;

export function detectPhoneNumbers(input: DetectorInput): PiiSpan[] {
  const text = input.normalised;
  const spans: PiiSpan[] = [];
  const seen = new Set<number>();
  for (const region of DEFAULT_PHONE_REGIONS) {
    for (const found of findPhoneNumbersInText(text, region)) {
      if (seen.has(found.startsAt) || !found.number.isValid()) continue;
      // a national form outside the NANP starts with its trunk prefix ("020 7946 0958"); without it, it is not one
      const raw = text.slice(found.startsAt, found.endsAt);
      if (region !== "US" && !/^\(?[+0]/.test(raw)) continue;
      // part of a longer digit run (a card or an account number) is not a phone number of its own
      if (/\d/.test(text[found.startsAt - 1] ?? "") || /\d/.test(text[found.endsAt] ?? "")) continue;
      if (hasCue(wordsBefore(text, found.startsAt, 3), IDENTIFIER_CUES)) continue;
      seen.add(found.startsAt);
      spans.push({ type: "phone_number", ...input.toOriginal(found.startsAt, found.endsAt) });
    }
  }
  return spans;
}
