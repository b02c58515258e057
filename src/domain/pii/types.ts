/** PII entity types, substitution styles and the spans the detectors report. Pure: no bindings. */

/** Every entity type `redact_pii_policies` may name (default: all of them). */
export const PII_ENTITY_TYPES = [
  "email_address",
  "phone_number",
  "credit_card_number",
  "iban",
  "us_social_security_number",
  "ip_address",
  "date_of_birth",
  "person_name",
] as const;
export type PiiEntityType = (typeof PII_ENTITY_TYPES)[number];

/** `entity_name` → `[PHONE_NUMBER]`, `hash` → `#####`, `mask` → every letter and digit replaced by `*`. */
export const PII_SUBSTITUTIONS = ["entity_name", "hash", "mask"] as const;
export type PiiSubstitution = (typeof PII_SUBSTITUTIONS)[number];

/** One detected entity: `[start, end)` in UTF-16 code units of the text it was found in. */
export interface PiiSpan {
  type: PiiEntityType;
  start: number;
  end: number;
}

/** The redaction a job asked for. */
export interface PiiRedactionOptions {
  policies: readonly PiiEntityType[];
  substitution: PiiSubstitution;
}

/** A detector finds spans of one type in a text and its spoken-number normalisation. */
export type PiiDetector = (input: DetectorInput) => PiiSpan[];

export interface DetectorInput {
  /** the text as transcribed */
  original: string;
  /** the text with spoken numbers written as digits; `toOriginal` maps its spans back */
  normalised: string;
  toOriginal: (start: number, end: number) => { start: number; end: number };
}

export function isPiiEntityType(value: string): value is PiiEntityType {
  return (PII_ENTITY_TYPES as readonly string[]).includes(value);
}
