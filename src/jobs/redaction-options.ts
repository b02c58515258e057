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

/**
 * `pending_audio_redaction`: a pool-transcribed job's stored, text-redacted result waiting for its audio redaction —
 * the result id its transcript is stored under, the entity counts and the padded spans to tone (unrounded: the copy
 * is toned over exactly what the job will report, to the millisecond it rounds to).
 */
export interface PendingAudioRedaction {
  resultId: string;
  entities: Partial<Record<PiiEntityType, number>>;
  spans: RedactedTimeSpan[];
}

export const serialisePendingAudioRedaction = (pending: PendingAudioRedaction) =>
  JSON.stringify({
    result_id: pending.resultId,
    entities: pending.entities,
    spans: pending.spans.map((s) => [s.start, s.end]),
  });

/** The pending redaction a row records, or null when none (or, never written so, unreadable). */
export function storedPendingAudioRedaction(text: string | null): PendingAudioRedaction | null {
  const parsed = parseJson<{ result_id?: unknown; entities?: unknown; spans?: unknown }>(text);
  if (!parsed || typeof parsed.result_id !== "string" || !Array.isArray(parsed.spans)) return null;
  const spans: RedactedTimeSpan[] = [];
  for (const pair of parsed.spans as unknown[]) {
    if (!Array.isArray(pair) || typeof pair[0] !== "number" || typeof pair[1] !== "number") return null;
    spans.push({ start: pair[0], end: pair[1] });
  }
  const entities =
    parsed.entities && typeof parsed.entities === "object"
      ? (parsed.entities as Partial<Record<PiiEntityType, number>>)
      : {};
  return { resultId: parsed.result_id, entities, spans };
}
