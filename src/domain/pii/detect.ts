/**
 * The one orchestrator: spoken numbers are written as digits once, every selected detector runs over the text, and
 * overlapping findings merge into one span (the longer finding names it), so nothing of either is left in clear.
 */
import { detectCreditCardNumbers } from "./credit-card.ts";
import { detectDatesOfBirth } from "./date-of-birth.ts";
import { detectEmailAddresses } from "./email.ts";
import { detectIbans } from "./iban.ts";
import { detectIpAddresses } from "./ip-address.ts";
import { detectPhoneNumbers } from "./phone.ts";
import { detectProviderLabels } from "./provider-labels.ts";
import { normaliseSpokenNumbers, toOriginalSpan } from "./spoken-numbers.ts";
import { detectSsns } from "./ssn.ts";
import type { DetectorInput, PiiDetector, PiiEntityType, PiiSpan } from "./types.ts";

/** The detector of each entity type; `person_name` is only found where the provider marked it. */
export const PII_DETECTORS: Record<PiiEntityType, PiiDetector> = {
  email_address: detectEmailAddresses,
  phone_number: detectPhoneNumbers,
  credit_card_number: detectCreditCardNumbers,
  iban: detectIbans,
  us_social_security_number: detectSsns,
  ip_address: detectIpAddresses,
  date_of_birth: detectDatesOfBirth,
  person_name: () => [],
};

/** Every span of the selected types in `text`, sorted, overlaps merged. */
export function detectPii(text: string, policies: readonly PiiEntityType[]): PiiSpan[] {
  if (!text) return [];
  const normalised = normaliseSpokenNumbers(text);
  const input: DetectorInput = {
    original: text,
    normalised: normalised.text,
    toOriginal: (start, end) => toOriginalSpan(normalised, start, end),
  };
  const selected = new Set(policies);
  const found: PiiSpan[] = detectProviderLabels(input).filter((s) => selected.has(s.type));
  for (const type of selected) found.push(...PII_DETECTORS[type](input));
  return mergeSpans(found.filter((s) => s.end > s.start));
}

/** Sorts and merges overlapping spans; the merged span keeps the type of its longest part. */
export function mergeSpans(spans: PiiSpan[]): PiiSpan[] {
  const sorted = [...spans].sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: (PiiSpan & { longest: number })[] = [];
  for (const span of sorted) {
    const last = merged[merged.length - 1];
    if (last && span.start < last.end) {
      if (span.end - span.start > last.longest) {
        last.type = span.type;
        last.longest = span.end - span.start;
      }
      last.end = Math.max(last.end, span.end);
    } else merged.push({ ...span, longest: span.end - span.start });
  }
  return merged.map(({ type, start, end }) => ({ type, start, end }));
}
