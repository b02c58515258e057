/**
 * Redaction of a transcript: its text, each segment's text and each word are redacted with the same detectors, so
 * the three views agree. Segments and words are detected as one joined string (an entity spoken across two segments
 * or many words is still one entity) and each piece gets the substitution of the part it holds; a redacted word keeps
 * its timing, and the time spans of redacted words (of redacted segments when the provider gave no words) are what
 * audio redaction silences.
 */
import { detectPii } from "./detect.ts";
import type { PiiEntityType, PiiRedactionOptions, PiiSpan, PiiSubstitution } from "./types.ts";

/** A transcript as far as redaction is concerned (src/providers/types.ts NormalisedTranscript fits it). */
export interface RedactableTranscript {
  text: string;
  segments: { start: number; end: number; text: string }[];
  words?: { start: number; end: number; word: string }[];
}

/** A stretch of audio that held a redacted entity, in seconds. */
export interface RedactedTimeSpan {
  start: number;
  end: number;
}

export interface RedactionResult<T extends RedactableTranscript> {
  transcript: T;
  /** entities found in the text, per type (only types with at least one) */
  entities: Partial<Record<PiiEntityType, number>>;
  /** time spans of redacted words (or segments), merged where they touch */
  audioSpans: RedactedTimeSpan[];
}

/** The replacement of `value`, an entity of `type`. */
export function substitute(type: PiiEntityType, value: string, substitution: PiiSubstitution): string {
  if (substitution === "entity_name") return `[${type.toUpperCase()}]`;
  if (substitution === "hash") return "#####";
  // a provider's own label ("[SSN_1]") hides the value's length already: it is masked as one run
  if (/^\[[A-Z]+(?:_[A-Z]+)*_\d+\]$/.test(value)) return "*****";
  return value.replace(/[\p{L}\p{N}]/gu, "*");
}

/** Replaces every span in `text` (spans sorted, not overlapping). */
function applySpans(text: string, spans: readonly PiiSpan[], substitution: PiiSubstitution): string {
  let out = "";
  let cursor = 0;
  for (const s of spans) {
    out += text.slice(cursor, s.start) + substitute(s.type, text.slice(s.start, s.end), substitution);
    cursor = s.end;
  }
  return out + text.slice(cursor);
}

/** Redacts one text. */
export function redactText(text: string, options: PiiRedactionOptions): { text: string; spans: PiiSpan[] } {
  const spans = detectPii(text, options.policies);
  return { text: applySpans(text, spans, options.substitution), spans };
}

/**
 * Redacts pieces of one text (segments, words) detected as one string joined by spaces. Returns each piece redacted
 * and whether it held part of an entity.
 */
export function redactPieces(
  pieces: readonly string[],
  options: PiiRedactionOptions,
): { pieces: string[]; touched: boolean[] } {
  const offsets: number[] = [];
  let joined = "";
  for (const piece of pieces) {
    if (joined) joined += " ";
    offsets.push(joined.length);
    joined += piece;
  }
  const spans = detectPii(joined, options.policies);
  const touched = pieces.map(() => false);
  const out = pieces.map((piece, i) => {
    const from = offsets[i]!;
    const to = from + piece.length;
    const local = spans
      .filter((s) => s.start < to && s.end > from)
      .map((s) => ({ type: s.type, start: Math.max(s.start, from) - from, end: Math.min(s.end, to) - from }));
    if (!local.length) return piece;
    touched[i] = true;
    return applySpans(piece, local, options.substitution);
  });
  return { pieces: out, touched };
}

function mergeTimeSpans(spans: RedactedTimeSpan[]): RedactedTimeSpan[] {
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  const merged: RedactedTimeSpan[] = [];
  for (const s of sorted) {
    const last = merged[merged.length - 1];
    // words of one entity sit next to each other; a gap of a few hundredths of a second is the same stretch
    if (last && s.start <= last.end + 0.05) last.end = Math.max(last.end, s.end);
    else merged.push({ start: s.start, end: s.end });
  }
  return merged;
}

/** Redacts a transcript's text, segments and words; every other field is kept as it is. */
export function redactTranscript<T extends RedactableTranscript>(
  transcript: T,
  options: PiiRedactionOptions,
): RedactionResult<T> {
  const text = redactText(transcript.text, options);
  const entities: Partial<Record<PiiEntityType, number>> = {};
  for (const span of text.spans) entities[span.type] = (entities[span.type] ?? 0) + 1;
  const segments = redactPieces(
    transcript.segments.map((s) => s.text),
    options,
  );
  const words = transcript.words
    ? redactPieces(
        transcript.words.map((w) => w.word),
        options,
      )
    : null;
  const timed =
    transcript.words && words
      ? transcript.words.filter((_, i) => words.touched[i])
      : transcript.segments.filter((_, i) => segments.touched[i]);
  return {
    transcript: {
      ...transcript,
      text: text.text,
      segments: transcript.segments.map((s, i) => ({ ...s, text: segments.pieces[i]! })),
      ...(transcript.words && words
        ? { words: transcript.words.map((w, i) => ({ ...w, word: words.pieces[i]! })) }
        : {}),
    },
    entities,
    audioSpans: mergeTimeSpans(timed.map((t) => ({ start: t.start, end: t.end }))),
  };
}
