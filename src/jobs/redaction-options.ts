/** A job's PII redaction as its row stores it (`redact_pii*`, `pii_*` columns), read back into typed options. */
import {
  isPiiEntityType,
  PII_ENTITY_TYPES,
  PII_SUBSTITUTIONS,
  type PiiEntityType,
  type PiiRedactionOptions,
  type PiiSubstitution,
  type RedactedTimeSpan,
} from "../domain/pii/index.ts";
import type { TranscriptionRow } from "../storage/schema.ts";

export type RedactionColumns = Pick<
  TranscriptionRow,
  "redactPii" | "redactPiiPolicies" | "redactPiiSub" | "redactPiiAudio"
>;

/** The job's redaction, or null when it asked for none. A stored list is read strictly: unknown names are dropped. */
export function redactionOptionsOf(row: RedactionColumns): (PiiRedactionOptions & { audio: boolean }) | null {
  if (!row.redactPii) return null;
  let policies: PiiEntityType[] = [...PII_ENTITY_TYPES];
  if (row.redactPiiPolicies) {
    try {
      const parsed: unknown = JSON.parse(row.redactPiiPolicies);
      if (Array.isArray(parsed))
        policies = parsed.filter((t): t is PiiEntityType => typeof t === "string" && isPiiEntityType(t));
    } catch {
      // a row is only ever written from validated options; an unreadable list redacts everything
    }
  }
  const substitution: PiiSubstitution = (PII_SUBSTITUTIONS as readonly string[]).includes(row.redactPiiSub ?? "")
    ? (row.redactPiiSub as PiiSubstitution)
    : "entity_name";
  return { policies, substitution, audio: row.redactPiiAudio };
}

function parseJson<T>(text: string | null): T | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}

/** `pii_entities`: counts per type. */
export const storedEntityCounts = (text: string | null) => parseJson<Partial<Record<PiiEntityType, number>>>(text);

/** `pii_audio_spans` is stored as `[[start, end], …]`. */
export function storedAudioSpans(text: string | null): RedactedTimeSpan[] | null {
  const pairs = parseJson<[number, number][]>(text);
  return pairs ? pairs.map(([start, end]) => ({ start, end })) : null;
}

export const serialiseAudioSpans = (spans: readonly RedactedTimeSpan[]) =>
  JSON.stringify(spans.map((s) => [Math.round(s.start * 1000) / 1000, Math.round(s.end * 1000) / 1000]));
