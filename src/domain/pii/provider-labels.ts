/**
 * Entities a provider already redacted and marked in its text. Deepgram (`redact=…`) writes `[PHONE_NUMBER_1]`,
 * `[NAME_GIVEN_2]`, `[SSN_1]` …: each such label becomes a span of our entity type, so our substitution style
 * replaces it and the word keeps its timing. Names are only ever found this way (no name list of our own).
 */
import type { DetectorInput, PiiEntityType, PiiSpan } from "./types.ts";

/** Deepgram entity types (its `redact` values) for each of ours. */
export const DEEPGRAM_REDACT_ENTITIES: Record<PiiEntityType, readonly string[]> = {
  email_address: ["email_address"],
  phone_number: ["phone_number"],
  credit_card_number: ["credit_card"],
  iban: ["banking_information"],
  us_social_security_number: ["ssn"],
  ip_address: ["ip_address"],
  date_of_birth: ["dob"],
  person_name: ["name"],
};

/** The labels Deepgram writes (entity types in upper case, subtypes included) mapped to ours. */
const LABELS: Record<string, PiiEntityType> = {
  EMAIL_ADDRESS: "email_address",
  PHONE_NUMBER: "phone_number",
  CREDIT_CARD: "credit_card_number",
  CREDIT_CARD_NUMBER: "credit_card_number",
  BANKING_INFORMATION: "iban",
  SSN: "us_social_security_number",
  IP_ADDRESS: "ip_address",
  DOB: "date_of_birth",
  NAME: "person_name",
  NAME_GIVEN: "person_name",
  NAME_FAMILY: "person_name",
  NAME_MEDICAL_PROFESSIONAL: "person_name",
};
const LABEL = /\[([A-Z]+(?:_[A-Z]+)*)_\d+\]/g;

export function detectProviderLabels(input: DetectorInput): PiiSpan[] {
  const spans: PiiSpan[] = [];
  for (const m of input.original.matchAll(LABEL)) {
    const type = Object.hasOwn(LABELS, m[1]!) ? LABELS[m[1]!] : undefined;
    if (type) spans.push({ type, start: m.index, end: m.index + m[0].length });
  }
  return spans;
}
