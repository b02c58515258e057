/**
 * A stored transcript rendered the way OpenAI's `/v1/audio/transcriptions` and `/v1/audio/translations` answer:
 * `json`, `text`, `srt`, `vtt`, `verbose_json`, and the `stream=true` events. Pure string code.
 *
 * `verbose_json` carries fields we do not store; they are filled honestly (docs/api.md): `seek` from the segment
 * start in Whisper's 10 ms frames, `temperature` from the job, `compression_ratio` computed from the segment text
 * exactly as Whisper does (UTF-8 bytes over zlib-compressed bytes), `tokens` empty (no provider gives us token ids),
 * `avg_logprob` and `no_speech_prob` as the engine reported them, else `ln(confidence)` (Deepgram) and 0.
 */
import { deflateSync } from "node:zlib";

import { languageName } from "@vtt/pool-contract";

import { toSrt, toVtt } from "./subtitles.ts";

export const OPENAI_RESPONSE_FORMATS = ["json", "text", "srt", "vtt", "verbose_json", "diarized_json"] as const;
export type OpenAIResponseFormat = (typeof OPENAI_RESPONSE_FORMATS)[number];

export const TIMESTAMP_GRANULARITIES = ["word", "segment"] as const;
export type TimestampGranularity = (typeof TIMESTAMP_GRANULARITIES)[number];

/** What the renderers need of a finished job and its transcript document. */
export interface RenderableTranscript {
  task: "transcribe" | "translate";
  text: string;
  segments: {
    start: number;
    end: number;
    text: string;
    avg_logprob?: number;
    no_speech_prob?: number;
    confidence?: number;
    speaker?: string;
  }[];
  words?: { start: number; end: number; word: string }[];
  /** ISO 639-1 code, or null when nobody reported one */
  language: string | null;
  duration: number | null;
  /** the job's sampling temperature; null renders as 0 (what a caller that sent none got) */
  temperature: number | null;
}

export interface RenderedBody {
  contentType: string;
  body: string;
}

/** OpenAI's segment as `verbose_json` lists it. */
export interface VerboseSegment {
  id: number;
  seek: number;
  start: number;
  end: number;
  text: string;
  tokens: number[];
  temperature: number;
  avg_logprob: number;
  compression_ratio: number;
  no_speech_prob: number;
}

/** Whisper's frames per second: `seek` counts 10 ms mel frames. */
const FRAMES_PER_SECOND = 100;

/**
 * Whisper's `compression_ratio`: UTF-8 bytes of the text over the bytes of its zlib compression (level 6, as Python's
 * `zlib.compress`). 0 for an empty text.
 */
export function compressionRatio(text: string): number {
  const bytes = new TextEncoder().encode(text);
  if (bytes.byteLength === 0) return 0;
  return bytes.byteLength / deflateSync(bytes, { level: 6 }).byteLength;
}

/** Whisper's segment texts start with the space of their first token; ours are stored trimmed. */
const whisperText = (text: string) => {
  const trimmed = text.trim();
  return trimmed ? ` ${trimmed}` : "";
};

export function verboseSegments(doc: RenderableTranscript): VerboseSegment[] {
  return doc.segments.map((segment, id) => {
    const text = whisperText(segment.text);
    const avgLogprob =
      segment.avg_logprob ??
      (segment.confidence !== undefined && segment.confidence > 0 ? Math.log(segment.confidence) : 0);
    return {
      id,
      seek: Math.max(0, Math.floor(segment.start * FRAMES_PER_SECOND)),
      start: segment.start,
      end: segment.end,
      text,
      tokens: [],
      temperature: doc.temperature ?? 0,
      avg_logprob: avgLogprob,
      compression_ratio: compressionRatio(text),
      no_speech_prob: segment.no_speech_prob ?? 0,
    };
  });
}

/** The audio duration OpenAI bills and reports: the stored one, else the end of the last segment. */
function durationOf(doc: RenderableTranscript): number {
  if (doc.duration !== null && Number.isFinite(doc.duration)) return doc.duration;
  return doc.segments.reduce((end, segment) => Math.max(end, segment.end), 0);
}

const usageOf = (doc: RenderableTranscript) => ({ type: "duration" as const, seconds: Math.ceil(durationOf(doc)) });

/**
 * `verbose_json`: `task`, `language` (Whisper's name, "english"), `duration`, `text`, `segments` unless only `word`
 * timestamps were asked for, `words` when they were (empty when the provider gave none), `usage`.
 */
export function verboseJson(doc: RenderableTranscript, granularities: readonly TimestampGranularity[]) {
  const segmentsWanted = granularities.length === 0 || granularities.includes("segment");
  const wordsWanted = granularities.includes("word");
  return {
    task: doc.task,
    language: languageName(doc.language) ?? doc.language ?? "unknown",
    duration: durationOf(doc),
    text: doc.text,
    ...(wordsWanted ? { words: (doc.words ?? []).map((w) => ({ word: w.word, start: w.start, end: w.end })) } : {}),
    ...(segmentsWanted ? { segments: verboseSegments(doc) } : {}),
    usage: usageOf(doc),
  };
}

/**
 * `diarized_json` (OpenAI's TranscriptionDiarized): `task`, `duration`, `text`, `segments` of
 * `{ type: "transcript.text.segment", id, start, end, text, speaker }`, `usage`. Segment ids are `seg_<index>`.
 */
export function diarizedJson(doc: RenderableTranscript) {
  return {
    task: "transcribe" as const,
    duration: durationOf(doc),
    text: doc.text,
    segments: doc.segments.map((segment, index) => ({
      type: "transcript.text.segment" as const,
      id: `seg_${index}`,
      start: segment.start,
      end: segment.end,
      text: segment.text,
      speaker: segment.speaker ?? "",
    })),
    usage: usageOf(doc),
  };
}

/** OpenAI's cues are one per segment on one line: no wrapping. `&`, `<`, `>` stay escaped (src/domain/subtitles.ts). */
const ONE_LINE_PER_SEGMENT = { maxLineLength: Number.MAX_SAFE_INTEGER, maxLinesPerCue: 1 };

/** The body and Content-Type of a finished transcript in `format`. */
export function renderTranscript(
  doc: RenderableTranscript,
  format: OpenAIResponseFormat,
  granularities: readonly TimestampGranularity[],
): RenderedBody {
  const json = (value: unknown) => ({ contentType: "application/json", body: JSON.stringify(value) });
  const text = (body: string) => ({ contentType: "text/plain; charset=utf-8", body });
  switch (format) {
    case "verbose_json":
      return json(verboseJson(doc, granularities));
    case "diarized_json":
      return json(diarizedJson(doc));
    case "text":
      return text(`${doc.text}\n`);
    case "srt":
      return text(toSrt(doc.segments, ONE_LINE_PER_SEGMENT));
    case "vtt":
      return text(toVtt(doc.segments, ONE_LINE_PER_SEGMENT));
    default:
      return json({ text: doc.text, usage: usageOf(doc) });
  }
}

export type TranscriptStreamEvent =
  { type: "transcript.text.delta"; delta: string } | { type: "transcript.text.done"; text: string };

/**
 * The `stream=true` events: one `transcript.text.delta` per segment, then `transcript.text.done` with the full text.
 * The deltas are cut from the full text at the segments' ends, so they always concatenate to it exactly (spacing
 * included); a text the segments cannot be found in comes as one delta.
 */
export function streamEvents(doc: RenderableTranscript): TranscriptStreamEvent[] {
  const deltas: string[] = [];
  let cursor = 0;
  for (const segment of doc.segments) {
    const piece = segment.text.trim();
    if (!piece) continue;
    const at = doc.text.indexOf(piece, cursor);
    if (at < 0) {
      deltas.length = 0;
      cursor = 0;
      break;
    }
    deltas.push(doc.text.slice(cursor, at + piece.length));
    cursor = at + piece.length;
  }
  if (cursor < doc.text.length) {
    if (deltas.length) deltas[deltas.length - 1] += doc.text.slice(cursor);
    else deltas.push(doc.text.slice(cursor));
  }
  return [
    ...deltas.map((delta) => ({ type: "transcript.text.delta" as const, delta })),
    { type: "transcript.text.done" as const, text: doc.text },
  ];
}

/** One server-sent event as OpenAI sends them: a `data:` line of JSON and a blank line. */
export function sseData(value: unknown): string {
  return `data: ${JSON.stringify(value)}\n\n`;
}
