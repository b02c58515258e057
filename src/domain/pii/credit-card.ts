/**
 * Payment card numbers: 12–19 digits (optionally grouped by spaces or hyphens) that pass the Luhn check and fall in
 * a known issuer's range with one of its lengths (card-validator: Visa, Mastercard, American Express, Discover,
 * Diners, JCB, UnionPay, Maestro, Mir, Elo, Hiper, Hipercard).
 */
import cardValidator from "card-validator";

import type { DetectorInput, PiiSpan } from "./types.ts";

const CANDIDATE = /(?<![\d-])\d(?:[ -]?\d){11,18}(?!\d)/g;

/** Luhn (mod 10) over a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** Whether `digits` is a card number: Luhn and an issuer range of a length that issuer uses. */
export function isValidCardNumber(digits: string): boolean {
  if (!/^\d{12,19}$/.test(digits) || !luhnValid(digits)) return false;
  const verdict = cardValidator.number(digits, { maxLength: 19 });
  return verdict.isValid && verdict.card !== null;
}

export function detectCreditCardNumbers(input: DetectorInput): PiiSpan[] {
  const spans: PiiSpan[] = [];
  for (const m of input.normalised.matchAll(CANDIDATE)) {
    const digits = m[0].replace(/[ -]/g, "");
    if (isValidCardNumber(digits))
      spans.push({ type: "credit_card_number", ...input.toOriginal(m.index, m.index + m[0].length) });
  }
  return spans;
}
