/**
 * Transcript renderers for `GET /v1/transcriptions/{id}/transcript?format=srt|vtt|txt`. Pure string code.
 *
 * Output uses LF line endings throughout (SRT players and browsers accept LF; one style keeps diffs and tests simple)
 * and ends with a single newline. Cues keep the order of the segments given (Whisper emits them in time order).
 */

import { speakerTurnsText } from "./speakers.ts";

/** One transcript segment; times in seconds from the start of the audio. */
export interface CueSegment {
  start: number;
  end: number;
  text: string;
  /** the speaker label (`A`, `B`, …) when the job asked for speaker labels */
  speaker?: string;
}

/** Line layout of subtitle cues. */
export interface SubtitleOptions {
  /** Longest line in characters (Unicode code points); default 42, the common broadcast limit. */
  maxLineLength?: number;
  /** Most lines in one cue; default 2. Longer segments become several consecutive cues. */
  maxLinesPerCue?: number;
}

export const DEFAULT_MAX_LINE_LENGTH = 42;
export const DEFAULT_MAX_LINES_PER_CUE = 2;

const MS_PER_SECOND = 1000;
const MS_PER_MINUTE = 60 * MS_PER_SECOND;
const MS_PER_HOUR = 60 * MS_PER_MINUTE;

/** C0 and C1 control characters; the whitespace ones become spaces, the rest vanish. */
const WHITESPACE_CONTROLS = /[\t\n\v\f\r\u0085]/g;
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const OTHER_CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;
const CUE_ARROW = /-->/g;

interface Cue {
  startMs: number;
  endMs: number;
  lines: string[];
  speaker?: string;
}

/**
 * `HH:MM:SS,mmm` (SRT) or `HH:MM:SS.mmm` (WebVTT). Negative and non-finite input counts as 0; hours keep at least
 * two digits and grow past 99 rather than wrap. Rounds to whole milliseconds, so 1.9996 s is `00:00:02,000`.
 */
export function formatTimestamp(seconds: number, style: "srt" | "vtt"): string {
  return formatMs(toMs(seconds), style);
}

function toMs(seconds: number): number {
  return Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * MS_PER_SECOND) : 0;
}

function formatMs(totalMs: number, style: "srt" | "vtt"): string {
  const hours = Math.floor(totalMs / MS_PER_HOUR);
  const minutes = Math.floor((totalMs % MS_PER_HOUR) / MS_PER_MINUTE);
  const secs = Math.floor((totalMs % MS_PER_MINUTE) / MS_PER_SECOND);
  const ms = totalMs % MS_PER_SECOND;
  const pad = (value: number, width: number) => String(value).padStart(width, "0");
  return `${pad(hours, 2)}:${pad(minutes, 2)}:${pad(secs, 2)}${style === "srt" ? "," : "."}${pad(ms, 3)}`;
}

/** Removes control characters, collapses whitespace and defuses `-->` (a cue-timing line marker in both formats). */
function cleanCueText(text: string): string {
  return text
    .replace(WHITESPACE_CONTROLS, " ")
    .replace(OTHER_CONTROLS, "")
    .replace(CUE_ARROW, "->")
    .replace(/\s+/g, " ")
    .trim();
}

/** Greedy word wrap to at most `maxLength` code points per line; a longer word is cut into `maxLength` pieces. */
function wrapWords(text: string, maxLength: number): string[] {
  const lines: string[] = [];
  let line: string[] = [];
  for (const word of text.split(" ")) {
    const chars = Array.from(word);
    for (let i = 0; i < chars.length; i += maxLength) {
      const piece = chars.slice(i, i + maxLength);
      const needed = line.length === 0 ? piece.length : line.length + 1 + piece.length;
      if (needed > maxLength) {
        lines.push(line.join(""));
        line = piece;
      } else {
        line = line.length === 0 ? piece : [...line, " ", ...piece];
      }
    }
  }
  if (line.length > 0) lines.push(line.join(""));
  return lines;
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** Splits segments into cues of at most `maxLinesPerCue` wrapped lines; time is shared out by character count. */
function buildCues(segments: CueSegment[], options: SubtitleOptions | undefined): Cue[] {
  const maxLineLength = positiveInteger(options?.maxLineLength, DEFAULT_MAX_LINE_LENGTH, "maxLineLength");
  const maxLinesPerCue = positiveInteger(options?.maxLinesPerCue, DEFAULT_MAX_LINES_PER_CUE, "maxLinesPerCue");
  const cues: Cue[] = [];
  for (const segment of segments) {
    const text = cleanCueText(segment.text);
    if (text === "") continue;
    const startMs = toMs(segment.start);
    const endMs = Math.max(startMs, toMs(segment.end));
    const lines = wrapWords(text, maxLineLength);
    const groups: string[][] = [];
    for (let i = 0; i < lines.length; i += maxLinesPerCue) groups.push(lines.slice(i, i + maxLinesPerCue));
    const weights = groups.map((group) => group.reduce((sum, line) => sum + Array.from(line).length, 0));
    const totalWeight = weights.reduce((sum, weight) => sum + weight, 0);
    let consumed = 0;
    let cueStart = startMs;
    groups.forEach((group, index) => {
      consumed += weights[index]!;
      // the last cue ends exactly at the segment end, so rounding never drifts
      const cueEnd =
        index === groups.length - 1 ? endMs : startMs + Math.round(((endMs - startMs) * consumed) / totalWeight);
      cues.push({
        startMs: cueStart,
        endMs: cueEnd,
        lines: group,
        ...(segment.speaker !== undefined ? { speaker: segment.speaker } : {}),
      });
      cueStart = cueEnd;
    });
  }
  return cues;
}

/**
 * Escapes `&`, `<` and `>`. WebVTT requires it; SubRip has no standard for markup, but common players (VLC, mpv,
 * browsers' SRT shims) render `<b>`, `<i>`, `<font>` and some even links, so transcript text that contains markup is
 * escaped the same way there: a transcript must never style, hide or link text in a viewer.
 */
function escapeCueText(line: string): string {
  return line.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** SubRip has no speaker markup: a cue of a labelled segment starts with `A: ` (every cue of the segment). */
function srtLines(cue: Cue): string[] {
  const lines = cue.lines.map(escapeCueText);
  if (cue.speaker !== undefined && lines.length > 0)
    lines[0] = `${escapeCueText(cleanCueText(cue.speaker))}: ${lines[0]}`;
  return lines;
}

/**
 * SubRip: 1-based index, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, wrapped text with `&`, `<`, `>` escaped as in WebVTT, a
 * blank line between cues, LF endings; a speaker's cues start with `A: `.
 * Empty-text segments are dropped; no cues gives an empty string.
 * @throws RangeError when an option is not a positive integer
 */
export function toSrt(segments: CueSegment[], options?: SubtitleOptions): string {
  const blocks = buildCues(segments, options).map(
    (cue, index) =>
      `${index + 1}\n${formatMs(cue.startMs, "srt")} --> ${formatMs(cue.endMs, "srt")}\n${srtLines(cue).join("\n")}\n`,
  );
  return blocks.join("\n");
}

/**
 * WebVTT: `WEBVTT` header, `HH:MM:SS.mmm --> HH:MM:SS.mmm` cues separated by blank lines, text with `&`, `<`, `>`
 * escaped, LF endings. Empty-text segments are dropped.
 * @throws RangeError when an option is not a positive integer
 */
export function toVtt(segments: CueSegment[], options?: SubtitleOptions): string {
  const blocks = buildCues(segments, options).map(
    (cue) =>
      `${formatMs(cue.startMs, "vtt")} --> ${formatMs(cue.endMs, "vtt")}\n${cue.lines.map(escapeCueText).join("\n")}\n`,
  );
  return ["WEBVTT\n", ...blocks].join("\n");
}

/**
 * The transcript as plain text with a trailing newline: the provider's full `text` when it has any, else the segment
 * texts joined by spaces. Line breaks inside the text are kept; an empty transcript gives an empty string.
 * With speaker labels (any segment has a speaker): one line per turn, `A: …`, consecutive segments of one speaker
 * joined.
 */
export function toPlainText(text: string, segments: CueSegment[]): string {
  if (segments.some((segment) => segment.speaker !== undefined)) {
    const lines = speakerTurnsText(segments).map((turn) =>
      turn.speaker === undefined ? turn.text : `${turn.speaker}: ${turn.text}`,
    );
    return lines.length ? `${lines.join("\n")}\n` : "";
  }
  const body =
    text.trim() ||
    segments
      .map((segment) => segment.text.trim())
      .filter(Boolean)
      .join(" ");
  return body === "" ? "" : `${body}\n`;
}
