/**
 * The caption layout (src/domain/subtitles.ts buildCaptionCues), judged by what real parsers read back: the W3C's
 * WebVTT parser and validator (webvtt-parser) and srt-parser-2. Example cases pin the behaviour; seeded generated
 * transcripts check the limits hold for every input.
 */
import SrtParser from "srt-parser-2";
import { describe, expect, it } from "vitest";
import { WebVTTParser } from "webvtt-parser";

import {
  type CaptionOptions,
  type CaptionSource,
  captionsToSrt,
  captionsToVtt,
  type CueSegment,
  type CueWord,
  toSrt,
  toVtt,
} from "../../src/domain/subtitles.ts";
import { seededRandom } from "../helpers/random.ts";

interface ParsedCue {
  start: number;
  end: number;
  lines: string[];
  speaker?: string;
}

/** Parsers compute seconds in floating point differently; compare whole milliseconds. */
const ms = (seconds: number) => Math.round(seconds * 1000) / 1000;
const unescape = (text: string) => text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");

function parseVtt(vtt: string): ParsedCue[] {
  const result = new WebVTTParser().parse(vtt, "metadata");
  expect(result.errors).toEqual([]);
  return result.cues.map((cue) => {
    const voice = cue.tree.children.find((node) => node.type === "object" && node.name === "v");
    const text = cue.text.replace(/^<v [^>]*>/, "");
    return {
      start: ms(cue.startTime),
      end: ms(cue.endTime),
      lines: text.split("\n").map(unescape),
      ...(voice ? { speaker: String(voice.value) } : {}),
    };
  });
}

function parseSrt(srt: string): ParsedCue[] {
  const cues = new SrtParser().fromSrt(srt);
  // srt-parser-2 is lenient: the count of blocks we wrote must be the count it read
  expect(cues).toHaveLength(srt === "" ? 0 : srt.trimEnd().split("\n\n").length);
  cues.forEach((cue, index) => expect(cue.id).toBe(String(index + 1)));
  return cues.map((cue) => ({
    start: cue.startSeconds,
    end: cue.endSeconds,
    lines: cue.text.split("\n").map(unescape),
  }));
}

const chars = (line: string) => Array.from(line).length;
const JFK =
  "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";

/** The JFK sentence with evenly spread word timings over 11 s. */
function jfkWords(): CueWord[] {
  const words = JFK.split(" ");
  return words.map((word, i) => ({ word, start: (11 * i) / words.length, end: (11 * (i + 0.8)) / words.length }));
}

describe("caption layout: examples", () => {
  it("splits an 11 s segment into cues of at most 7 s, 2 lines of 42, at word boundaries", () => {
    const source = { segments: [{ start: 0, end: 11, text: JFK }] };
    const cues = parseSrt(captionsToSrt(source));
    expect(cues.length).toBeGreaterThan(1);
    for (const cue of cues) {
      expect(cue.end - cue.start).toBeLessThanOrEqual(7);
      expect(cue.lines.length).toBeLessThanOrEqual(2);
      for (const line of cue.lines) expect(chars(line)).toBeLessThanOrEqual(42);
    }
    expect(cues.flatMap((cue) => cue.lines).join(" ")).toBe(JFK);
    expect(cues[0]!.start).toBe(0);
    expect(cues.at(-1)!.end).toBe(11);
    // without word timings, a cue ends where its last word's characters end in the segment: contiguous cues
    for (let i = 1; i < cues.length; i++) expect(cues[i]!.start).toBe(cues[i - 1]!.end);
  });

  it("times cues by the words when word timings exist: first word's start to last word's end", () => {
    const words = jfkWords();
    const cues = parseVtt(captionsToVtt({ segments: [{ start: 0, end: 11, text: JFK }], words }, { maxLines: 1 }));
    let w = 0;
    for (const cue of cues) {
      const count = cue.lines.join(" ").split(" ").length;
      expect(cue.start).toBeCloseTo(words[w]!.start, 3);
      expect(cue.end).toBeCloseTo(words[w + count - 1]!.end, 3);
      w += count;
    }
    expect(w).toBe(words.length);
  });

  it("honours max_line_chars, max_lines and max_cue_seconds together", () => {
    const source = { segments: [{ start: 0, end: 11, text: JFK }], words: jfkWords() };
    const options = { maxLineChars: 16, maxLines: 1, maxCueSeconds: 1.5 };
    const cues = parseSrt(captionsToSrt(source, options));
    for (const cue of cues) {
      expect(cue.lines).toHaveLength(1);
      expect(chars(cue.lines[0]!)).toBeLessThanOrEqual(16);
      expect(cue.end - cue.start).toBeLessThanOrEqual(1.5);
    }
    expect(cues.map((cue) => cue.lines[0]).join(" ")).toBe(JFK);
  });

  it("lets only a single word run past max_cue_seconds, and cuts only a word longer than a line", () => {
    const words: CueWord[] = [
      { word: "short", start: 0, end: 0.5 },
      { word: "loooooooong", start: 0.5, end: 9 },
      { word: "Supercalifragilistic", start: 9, end: 10 },
    ];
    const source = { segments: [{ start: 0, end: 10, text: "short loooooooong Supercalifragilistic" }], words };
    const cues = parseSrt(captionsToSrt(source, { maxLineChars: 12, maxCueSeconds: 3 }));
    expect(cues.map((cue) => cue.lines)).toEqual([["short"], ["loooooooong"], ["Supercalifra", "gilistic"]]);
    expect(cues[1]).toMatchObject({ start: 0.5, end: 9 });
  });

  it("never lets cues overlap, even when the provider's words do", () => {
    const words: CueWord[] = [
      { word: "one", start: 0, end: 2 },
      { word: "two", start: 1, end: 3 },
      { word: "three", start: 1.5, end: 4 },
    ];
    const segments = [{ start: 0, end: 4, text: "one two three" }];
    const cues = parseVtt(captionsToVtt({ segments, words }, { maxLineChars: 5, maxLines: 1 }));
    expect(cues.map((cue) => [cue.start, cue.end])).toEqual([
      [0, 1],
      [1, 1.5],
      [1.5, 4],
    ]);
  });

  it("shows the segment's text, punctuation included, timed by words that lack it (OpenAI's words)", () => {
    const segments = [{ start: 0, end: 3, text: "Hello, world. Again!" }];
    const words: CueWord[] = [
      { word: "Hello", start: 0.2, end: 0.6 },
      { word: "world", start: 0.7, end: 1.1 },
      { word: "Again", start: 2.5, end: 2.9 },
    ];
    expect(captionsToSrt({ segments, words }, { maxLineChars: 13 })).toBe(
      "1\n00:00:00,200 --> 00:00:02,900\nHello, world.\nAgain!\n",
    );
    expect(captionsToSrt({ segments, words }, { maxLineChars: 13, maxCueSeconds: 2 })).toBe(
      "1\n00:00:00,200 --> 00:00:01,100\nHello, world.\n\n2\n00:00:02,500 --> 00:00:02,900\nAgain!\n",
    );
  });

  it("falls back to character positions for a segment whose words do not match it one for one", () => {
    // the pool fixture's shape: a single word timing for a two-segment transcript
    const segments = [
      { start: 0, end: 3.5, text: "And so my fellow Americans," },
      { start: 3.5, end: 11, text: "ask not what your country can do for you." },
    ];
    const cues = parseSrt(captionsToSrt({ segments, words: [{ start: 0, end: 0.4, word: "And" }] }));
    expect(cues.map((cue) => cue.lines.join(" ")).join(" ")).toBe(segments.map((s) => s.text).join(" "));
    expect(cues[0]).toMatchObject({ start: 0, end: 3.5 });
    expect(cues.at(-1)!.end).toBe(11);
  });

  it("holds short cues on screen for min_cue_seconds, but never into the next cue", () => {
    const segments: CueSegment[] = [
      { start: 0, end: 0.3, text: "Hi." },
      { start: 0.5, end: 0.8, text: "Yes?" },
      { start: 5, end: 5.2, text: "Bye." },
    ];
    const cues = parseSrt(captionsToSrt({ segments }, { minCueSeconds: 1.2 }));
    expect(cues.map((cue) => [cue.start, cue.end])).toEqual([
      [0, 0.5],
      [0.5, 1.7],
      [5, 6.2],
    ]);
  });

  it("starts a new cue at every segment and every speaker change, with WebVTT voice tags", () => {
    const segments: CueSegment[] = [
      { start: 0, end: 2, text: "Good morning.", speaker: "A" },
      { start: 2, end: 4, text: "Morning! <sigh> & hello", speaker: "B" },
    ];
    const words: CueWord[] = [
      { word: "Good", start: 0, end: 0.5 },
      { word: "morning.", start: 0.5, end: 1.5 },
      { word: "Morning!", start: 2, end: 2.5 },
      { word: "<sigh>", start: 2.5, end: 3, speaker: "A" },
      { word: "&", start: 3, end: 3.2 },
      { word: "hello", start: 3.2, end: 4 },
    ];
    const vtt = captionsToVtt({ segments, words });
    expect(vtt).toBe(
      "WEBVTT\n\n" +
        "00:00:00.000 --> 00:00:01.500\n<v A>Good morning.\n\n" +
        "00:00:02.000 --> 00:00:02.500\n<v B>Morning!\n\n" +
        "00:00:02.500 --> 00:00:03.000\n<v A>&lt;sigh&gt;\n\n" +
        "00:00:03.000 --> 00:00:04.000\n<v B>&amp; hello\n",
    );
    expect(parseVtt(vtt).map((cue) => cue.speaker)).toEqual(["A", "B", "A", "B"]);
    // SubRip gets the same cues, each starting with its speaker (SubRip has no voice markup)
    expect(parseSrt(captionsToSrt({ segments, words })).map((cue) => cue.lines.join(" "))).toEqual([
      "A: Good morning.",
      "B: Morning!",
      "A: <sigh>",
      "B: & hello",
    ]);
  });

  it("renders voice tags in the default layout too, and escapes a hostile speaker label", () => {
    const segments = [{ start: 0, end: 1, text: "hi", speaker: "B>x<v C" }];
    const vtt = toVtt(segments);
    expect(vtt).toBe("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n<v B&gt;x&lt;v C>hi\n");
    expect(new WebVTTParser().parse(vtt, "metadata").errors).toEqual([]);
    expect(toSrt(segments)).toBe("1\n00:00:00,000 --> 00:00:01,000\nB&gt;x&lt;v C: hi\n");
  });

  it("rejects out-of-range options (the API validates them before)", () => {
    const source = { segments: [{ start: 0, end: 1, text: "x" }] };
    expect(() => captionsToSrt(source, { maxLineChars: 0 })).toThrow(RangeError);
    expect(() => captionsToSrt(source, { maxLines: 1.5 })).toThrow(RangeError);
    expect(() => captionsToSrt(source, { maxCueSeconds: 0 })).toThrow(RangeError);
    expect(() => captionsToSrt(source, { minCueSeconds: -1 })).toThrow(RangeError);
    expect(() => captionsToSrt(source, { maxCueSeconds: 2, minCueSeconds: 3 })).toThrow(RangeError);
  });

  it("gives the header alone (WebVTT) or nothing (SRT) for an empty transcript", () => {
    expect(captionsToVtt({ segments: [] })).toBe("WEBVTT\n");
    expect(captionsToSrt({ segments: [{ start: 0, end: 1, text: "  " }], words: [] })).toBe("");
  });
});

// ---------- generated transcripts ----------

const VOCABULARY = [
  "a",
  "I",
  "the",
  "country",
  "Americans,",
  "ask",
  "what",
  "you",
  "can",
  "do.",
  "señor",
  "😀",
  "Ωmega",
];

function generate(seed: number): { source: CaptionSource; options: CaptionOptions; words: string[] } {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  const withWords = random() < 0.6;
  const withSpeakers = random() < 0.4;
  const segments: CueSegment[] = [];
  const words: CueWord[] = [];
  let t = random() * 3;
  for (let s = 0, count = 1 + Math.floor(random() * 12); s < count; s++) {
    const segmentWords: CueWord[] = [];
    const start = t;
    for (let w = 0, n = 1 + Math.floor(random() * 40); w < n; w++) {
      // now and then a word longer than any line, or a long pause inside a word
      const word = random() < 0.03 ? "x".repeat(30 + Math.floor(random() * 40)) : pick(VOCABULARY);
      const duration = random() < 0.05 ? 4 + random() * 10 : 0.05 + random() * 0.6;
      segmentWords.push({
        word,
        start: t,
        end: t + duration,
        ...(withSpeakers && random() < 0.1 ? { speaker: "C" } : {}),
      });
      t += duration + (random() < 0.2 ? random() * 2 : 0);
    }
    segments.push({
      start,
      end: t,
      text: segmentWords.map((w) => w.word).join(" "),
      ...(withSpeakers ? { speaker: pick(["A", "B"]) } : {}),
    });
    words.push(...segmentWords);
    t += random() * 1.5;
  }
  const maxCueSeconds = 0.5 + random() * 9;
  const options: CaptionOptions = {
    maxLineChars: 8 + Math.floor(random() * 60),
    maxLines: 1 + Math.floor(random() * 3),
    maxCueSeconds,
    ...(random() < 0.5 ? { minCueSeconds: random() * maxCueSeconds } : {}),
  };
  // sometimes the word timings are incomplete: those segments fall back to character positions
  const timings = random() < 0.25 ? words.filter(() => random() < 0.9) : words;
  return {
    source: { segments, ...(withWords ? { words: timings } : {}) },
    options,
    words: words.map((w) => w.word),
  };
}

describe("caption layout: generated transcripts", () => {
  const SEEDS = Array.from({ length: 150 }, (_, i) => 1000 + i);

  it.each(SEEDS)("seed %i: parsers read every cue; limits, order, no overlap, no lost or altered words", (seed) => {
    const { source, options, words } = generate(seed);
    const maxLineChars = options.maxLineChars!;
    const vttCues = parseVtt(captionsToVtt(source, options));
    const srtCues = parseSrt(captionsToSrt(source, options));
    // both formats carry the same cues; a SubRip cue starts with its speaker where WebVTT has a voice tag
    const withoutSpeaker = (lines: string[], speaker: string | undefined) =>
      speaker === undefined || !lines.length ? lines : [lines[0]!.replace(`${speaker}: `, ""), ...lines.slice(1)];
    expect(srtCues.map((cue, i) => [cue.start, cue.end, withoutSpeaker(cue.lines, vttCues[i]?.speaker)])).toEqual(
      vttCues.map((cue) => [cue.start, cue.end, cue.lines]),
    );
    for (const [index, cue] of vttCues.entries()) {
      expect(cue.lines.length).toBeLessThanOrEqual(options.maxLines!);
      for (const line of cue.lines) expect(chars(line)).toBeLessThanOrEqual(maxLineChars);
      const text = cue.lines.join(" ");
      const singleWord = !text.includes(" ");
      if (!singleWord) expect(cue.end - cue.start).toBeLessThanOrEqual(options.maxCueSeconds! + 0.0005);
      expect(cue.end).toBeGreaterThanOrEqual(cue.start);
      const next = vttCues[index + 1];
      if (next) {
        expect(next.start).toBeGreaterThanOrEqual(cue.start);
        expect(cue.end).toBeLessThanOrEqual(next.start);
      }
      if (options.minCueSeconds !== undefined && (!next || cue.end < next.start)) {
        expect(cue.end - cue.start).toBeGreaterThanOrEqual(options.minCueSeconds - 0.0005);
      }
      if (source.segments.some((segment) => segment.speaker)) expect(cue.speaker).toMatch(/^[ABC]$/);
      else expect(cue.speaker).toBeUndefined();
    }
    // every word, in order; a word longer than a line comes back in line-long pieces
    const squash = (parts: string[]) => parts.join("").replace(/\s+/g, "");
    expect(squash(vttCues.flatMap((cue) => cue.lines))).toBe(squash(words));
  });

  it("without any caption option the default export is unchanged (byte for byte what toSrt/toVtt give)", () => {
    // a pin of today's layout: 11 s in one cue pair, no 7 s limit (docs/api.md: the limits apply once a caption
    // parameter is given)
    const segments = [{ start: 0, end: 11, text: JFK }];
    expect(toSrt(segments)).toBe(
      "1\n00:00:00,000 --> 00:00:08,509\nAnd so, my fellow Americans, ask not what\nyour country can do for you, ask what you\n\n" +
        "2\n00:00:08,509 --> 00:00:11,000\ncan do for your country.\n",
    );
  });
});
