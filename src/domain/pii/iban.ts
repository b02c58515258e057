/**
 * IBANs (ibantools): a registered country code, that country's length and BBAN format, and the ISO 13616 mod-97
 * check digits. Written with or without the usual groups of four.
 */
import { getCountrySpecifications, isValidIBAN } from "ibantools";

import type { DetectorInput, PiiSpan } from "./types.ts";

const START = /(?<![A-Za-z0-9])([A-Za-z]{2})\s?(\d{2})(?=\s?[A-Za-z0-9])/g;
const SPECS = getCountrySpecifications();

export function detectIbans(input: DetectorInput): PiiSpan[] {
  const text = input.normalised;
  const spans: PiiSpan[] = [];
  for (const m of text.matchAll(START)) {
    const country = m[1]!.toUpperCase();
    const length = SPECS[country]?.chars;
    if (!length) continue;
    // collect the IBAN's characters from the start, single spaces allowed between them, up to the country's length
    let collected = "";
    let end = m.index;
    for (let i = m.index; i < text.length && collected.length < length; i++) {
      const ch = text[i]!;
      if (/[A-Za-z0-9]/.test(ch)) {
        collected += ch.toUpperCase();
        end = i + 1;
      } else if (ch !== " " || text[i + 1] === " ") break;
    }
    if (collected.length !== length || /[A-Za-z0-9]/.test(text[end] ?? "")) continue;
    if (isValidIBAN(collected)) spans.push({ type: "iban", ...input.toOriginal(m.index, end) });
  }
  return spans;
}
