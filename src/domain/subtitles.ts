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
  /** speaker label ("A", "B", …) when the transcript has speaker labels; WebVTT renders it as a voice tag */
  speaker?: string;
}

/** One timed word of the transcript (the provider's word timestamps). */
export interface CueWord {
  start: number;
  end: number;
  word: string;
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

/** One rendered cue: whole milliseconds, wrapped lines, the speaker when known. */
export interface Cue {
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
      cues.push({ startMs: cueStart, endMs: cueEnd, lines: group, ...speakerOf(segment.speaker) });
      cueStart = cueEnd;
    });
  }
  return cues;
}

function speakerOf(speaker: string | undefined): { speaker?: string } {
  const cleaned = speaker === undefined ? "" : cleanCueText(speaker);
  return cleaned === "" ? {} : { speaker: cleaned };
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

function renderSrt(cues: Cue[]): string {
  return cues
    .map(
      (cue, index) =>
        `${index + 1}\n${formatMs(cue.startMs, "srt")} --> ${formatMs(cue.endMs, "srt")}\n${srtLines(cue).join("\n")}\n`,
    )
    .join("\n");
}

/** A cue with a speaker opens with a WebVTT voice span, `<v A>`; the annotation is escaped like cue text. */
function renderVtt(cues: Cue[]): string {
  const blocks = cues.map((cue) => {
    const lines = cue.lines.map(escapeCueText);
    if (cue.speaker !== undefined) lines[0] = `<v ${escapeCueText(cue.speaker)}>${lines[0] ?? ""}`;
    return `${formatMs(cue.startMs, "vtt")} --> ${formatMs(cue.endMs, "vtt")}\n${lines.join("\n")}\n`;
  });
  return ["WEBVTT\n", ...blocks].join("\n");
}

/**
 * SubRip: 1-based index, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, wrapped text with `&`, `<`, `>` escaped as in WebVTT, a
 * blank line between cues, LF endings; a speaker's cues start with `A: `.
 * Empty-text segments are dropped; no cues gives an empty string.
 * @throws RangeError when an option is not a positive integer
 */
export function toSrt(segments: CueSegment[], options?: SubtitleOptions): string {
  return renderSrt(buildCues(segments, options));
}

/**
 * WebVTT: `WEBVTT` header, `HH:MM:SS.mmm --> HH:MM:SS.mmm` cues separated by blank lines, text with `&`, `<`, `>`
 * escaped, LF endings, and a voice tag (`<v A>`) on cues of a segment with a speaker. Empty-text segments are dropped.
 * @throws RangeError when an option is not a positive integer
 */
export function toVtt(segments: CueSegment[], options?: SubtitleOptions): string {
  return renderVtt(buildCues(segments, options));
}

// ---------- caption layout: limits on line length, lines, cue duration; word-boundary splits ----------

/** Caption controls of `GET /v1/transcriptions/{id}/transcript` (srt, vtt). */
export interface CaptionOptions {
  /** longest line in code points (default 42) */
  maxLineChars?: number;
  /** most lines in one cue (default 2) */
  maxLines?: number;
  /** longest cue in seconds (default 7); only a single word that lasts longer makes a longer cue */
  maxCueSeconds?: number;
  /** shortest cue in seconds (default 0): shorter cues are held on screen longer, never into the next cue */
  minCueSeconds?: number;
}

/** What the caption layout reads: the segments and, when the provider returned them, the word timings. */
export interface CaptionSource {
  segments: CueSegment[];
  words?: CueWord[];
}

export const DEFAULT_MAX_CUE_SECONDS = 7;
export const DEFAULT_MIN_CUE_SECONDS = 0;
/** Ranges the API accepts for the caption controls (the layout itself takes any positive value). */
export const CAPTION_LIMITS = {
  maxLineChars: { min: 1, max: 500 },
  maxLines: { min: 1, max: 10 },
  /** seconds, with up to millisecond precision */
  cueSeconds: { max: 3600 },
} as const;

/** One unit the layout never splits (a word, or a piece of a word longer than a line), with its time span. */
interface Token {
  chars: number;
  text: string;
  startMs: number;
  endMs: number;
  speaker?: string;
  /** a new segment (or speaker) starts here: a cue never spans two segments */
  breakBefore: boolean;
}

function positiveSeconds(value: number | undefined, fallback: number, name: string, allowZero: boolean): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0))
    throw new RangeError(
      `${name} must be a ${allowZero ? "non-negative" : "positive"} number of seconds, got ${value}`,
    );
  return value;
}

/**
 * Cuts `text` (already cleaned) spanning `[startMs, endMs]` into tokens at spaces, each timed by its character
 * position within the text; a token runs until the next one starts, the last until `endMs`. Words longer than
 * `maxChars` are cut into `maxChars` pieces.
 */
function proportionalTokens(
  text: string,
  startMs: number,
  endMs: number,
  maxChars: number,
  speaker: { speaker?: string },
  breakBefore: boolean,
): Token[] {
  const total = Array.from(text).length;
  const pieces: { offset: number; text: string; chars: number }[] = [];
  let offset = 0;
  for (const word of text.split(" ")) {
    const chars = Array.from(word);
    for (let i = 0; i < chars.length; i += maxChars) {
      const piece = chars.slice(i, i + maxChars);
      pieces.push({ offset: offset + i, text: piece.join(""), chars: piece.length });
    }
    offset += chars.length + 1;
  }
  const at = (charOffset: number) => startMs + Math.round(((endMs - startMs) * charOffset) / total);
  return pieces.map((piece, index) => ({
    chars: piece.chars,
    text: piece.text,
    startMs: at(piece.offset),
    endMs: index === pieces.length - 1 ? endMs : at(pieces[index + 1]!.offset),
    ...speaker,
    breakBefore: breakBefore && index === 0,
  }));
}

/**
 * Tokens of the transcript, segment by segment in time order. The segment's text is always what is shown; word
 * timings only time it: when the words that fall in a segment (by their midpoint) are as many as the segment's
 * words, each word is timed by its own timestamps, else the segment's time is shared out by character position.
 * A word takes its own speaker, else its segment's.
 */
function transcriptTokens(source: CaptionSource, maxChars: number): Token[] {
  const segments = source.segments
    .map((segment) => {
      const startMs = toMs(segment.start);
      return { segment, text: cleanCueText(segment.text), startMs, endMs: Math.max(startMs, toMs(segment.end)) };
    })
    .filter((entry) => entry.text !== "")
    .sort((a, b) => a.startMs - b.startMs);
  const words = (source.words ?? [])
    .map((word) => {
      const startMs = toMs(word.start);
      return { word, startMs, endMs: Math.max(startMs, toMs(word.end)) };
    })
    .sort((a, b) => a.startMs - b.startMs);
  const wordsOf: (typeof words)[] = segments.map(() => []);
  let at = 0;
  for (const word of words) {
    const middle = (word.startMs + word.endMs) / 2;
    while (at < segments.length && segments[at]!.endMs < middle) at += 1;
    if (at < segments.length && segments[at]!.startMs <= middle) wordsOf[at]!.push(word);
  }
  const tokens: Token[] = [];
  segments.forEach(({ segment, text, startMs, endMs }, index) => {
    const texts = text.split(" ");
    const timed = wordsOf[index]!;
    if (timed.length !== texts.length) {
      tokens.push(...proportionalTokens(text, startMs, endMs, maxChars, speakerOf(segment.speaker), true));
      return;
    }
    timed.forEach((word, i) => {
      const speaker = speakerOf(word.word.speaker ?? segment.speaker);
      tokens.push(...proportionalTokens(texts[i]!, word.startMs, word.endMs, maxChars, speaker, i === 0));
    });
  });
  return tokens;
}

/**
 * Lays tokens out greedily: a token joins the current line if it fits, else opens a new line, else a new cue; a
 * new cue also starts where a segment or speaker changes, and before a token that would make the cue longer than
 * `maxCueMs`.
 */
function packCues(tokens: Token[], maxLineChars: number, maxLines: number, maxCueMs: number): Cue[] {
  const cues: Cue[] = [];
  let cue: (Cue & { lineChars: number }) | null = null;
  for (const token of tokens) {
    if (cue) {
      const sameSpeaker = cue.speaker === token.speaker;
      const tooLong = token.endMs - cue.startMs > maxCueMs;
      const fitsLine = cue.lineChars + 1 + token.chars <= maxLineChars;
      const startsCue = token.breakBefore || !sameSpeaker || tooLong || (!fitsLine && cue.lines.length >= maxLines);
      if (!startsCue) {
        if (fitsLine) {
          cue.lines[cue.lines.length - 1] += ` ${token.text}`;
          cue.lineChars += 1 + token.chars;
        } else {
          cue.lines.push(token.text);
          cue.lineChars = token.chars;
        }
        cue.endMs = Math.max(cue.endMs, token.endMs);
        continue;
      }
      cues.push(cue);
    }
    cue = {
      startMs: token.startMs,
      endMs: token.endMs,
      lines: [token.text],
      lineChars: token.chars,
      ...(token.speaker === undefined ? {} : { speaker: token.speaker }),
    };
  }
  if (cue) cues.push(cue);
  return cues.map(({ startMs, endMs, lines, speaker }) => ({
    startMs,
    endMs,
    lines,
    ...(speaker === undefined ? {} : { speaker }),
  }));
}

/** Cues never overlap (a cue ends at the latest where the next starts); short cues are held up to `minCueMs`. */
function settleTimes(cues: Cue[], minCueMs: number): Cue[] {
  return cues.map((cue, index) => {
    const nextStart = cues[index + 1]?.startMs ?? Number.POSITIVE_INFINITY;
    // a cue lasts at least 1 ms where there is room: WebVTT wants an end after the start
    const held = Math.max(cue.endMs, Math.min(cue.startMs + Math.max(minCueMs, 1), nextStart));
    return { ...cue, endMs: Math.max(cue.startMs, Math.min(held, nextStart)) };
  });
}

/**
 * The caption layout: cues of at most `maxLines` lines of at most `maxLineChars` code points, at most
 * `maxCueSeconds` long, split at word boundaries. The segments' text is what is shown. Where the word timings match
 * a segment's words one for one, a cue starts at its first word and ends at its last; otherwise the segment's time
 * is shared out by character position (a word's span is where its characters fall in the segment's text). A cue
 * never spans two segments or two speakers and never overlaps the next; only a single word longer than
 * `maxCueSeconds` makes a longer cue, and only a word longer than a line is cut (into line-long pieces). Segments
 * and words are taken in time order.
 * @throws RangeError when an option is out of range (the API validates them first)
 */
export function buildCaptionCues(source: CaptionSource, options: CaptionOptions = {}): Cue[] {
  const maxLineChars = positiveInteger(options.maxLineChars, DEFAULT_MAX_LINE_LENGTH, "maxLineChars");
  const maxLines = positiveInteger(options.maxLines, DEFAULT_MAX_LINES_PER_CUE, "maxLines");
  const maxCueSeconds = positiveSeconds(options.maxCueSeconds, DEFAULT_MAX_CUE_SECONDS, "maxCueSeconds", false);
  const minCueSeconds = positiveSeconds(options.minCueSeconds, DEFAULT_MIN_CUE_SECONDS, "minCueSeconds", true);
  if (minCueSeconds > maxCueSeconds) throw new RangeError("minCueSeconds must not exceed maxCueSeconds");
  const cues = packCues(
    transcriptTokens(source, maxLineChars),
    maxLineChars,
    maxLines,
    Math.round(maxCueSeconds * MS_PER_SECOND),
  );
  return settleTimes(cues, Math.round(minCueSeconds * MS_PER_SECOND));
}

/** SubRip with the caption layout ({@link buildCaptionCues}). */
export function captionsToSrt(source: CaptionSource, options?: CaptionOptions): string {
  return renderSrt(buildCaptionCues(source, options));
}

/** WebVTT with the caption layout ({@link buildCaptionCues}) and voice tags for speakers. */
export function captionsToVtt(source: CaptionSource, options?: CaptionOptions): string {
  return renderVtt(buildCaptionCues(source, options));
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
