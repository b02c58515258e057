import { describe, expect, it } from "vitest";

import { type CueSegment, formatTimestamp, toPlainText, toSrt, toVtt } from "../../src/domain/subtitles.ts";

const JFK =
  "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";

describe("formatTimestamp", () => {
  it.each([
    [0, "00:00:00,000", "00:00:00.000"],
    [3723.456, "01:02:03,456", "01:02:03.456"],
    [59.9999, "00:01:00,000", "00:01:00.000"], // rounds up into the next minute, never ",1000"
    [1.9996, "00:00:02,000", "00:00:02.000"],
    [0.0004, "00:00:00,000", "00:00:00.000"],
    [360_000.25, "100:00:00,250", "100:00:00.250"], // hours grow past 99
    [-5, "00:00:00,000", "00:00:00.000"],
    [Number.NaN, "00:00:00,000", "00:00:00.000"],
  ])("%s s is %s / %s", (seconds, srt, vtt) => {
    expect(formatTimestamp(seconds, "srt")).toBe(srt);
    expect(formatTimestamp(seconds, "vtt")).toBe(vtt);
  });
});

describe("toSrt / toVtt", () => {
  const twoSegments: CueSegment[] = [
    { start: 0, end: 2.5, text: " Hello world. " },
    { start: 2.5, end: 5.0004, text: "Second line" },
  ];

  it("renders SRT with 1-based indices, comma milliseconds, blank lines between cues and LF endings", () => {
    expect(toSrt(twoSegments)).toBe(
      "1\n00:00:00,000 --> 00:00:02,500\nHello world.\n\n2\n00:00:02,500 --> 00:00:05,000\nSecond line\n",
    );
  });

  it("renders WebVTT with the header and dot milliseconds", () => {
    expect(toVtt(twoSegments)).toBe(
      "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello world.\n\n00:00:02.500 --> 00:00:05.000\nSecond line\n",
    );
  });

  it("renders nothing but the header for no cues", () => {
    expect(toSrt([])).toBe("");
    expect(toVtt([])).toBe("WEBVTT\n");
    expect(toVtt([{ start: 0, end: 1, text: " \t " }])).toBe("WEBVTT\n");
  });

  it("wraps at 42 characters, two lines per cue, and splits the rest into a cue timed by character share", () => {
    // lines: 41 + 41 characters in cue 1, 24 in cue 2 → cue 1 ends at 11 000 ms × 82/106 = 8509.4 ≈ 8509 ms
    expect(toSrt([{ start: 0, end: 11, text: JFK }])).toBe(
      "1\n00:00:00,000 --> 00:00:08,509\nAnd so, my fellow Americans, ask not what\nyour country can do for you, ask what you\n\n" +
        "2\n00:00:08,509 --> 00:00:11,000\ncan do for your country.\n",
    );
  });

  it("honours maxLineLength and maxLinesPerCue, sharing the time out proportionally", () => {
    // lines "the quick"(9) "brown fox"(9) | "jumps over"(10) "the lazy"(8) | "dog"(3) → weights 18, 18, 3 of 39 over 3.9 s
    const segments = [{ start: 10, end: 13.9, text: "the quick brown fox jumps over the lazy dog" }];
    expect(toVtt(segments, { maxLineLength: 10, maxLinesPerCue: 2 })).toBe(
      "WEBVTT\n\n" +
        "00:00:10.000 --> 00:00:11.800\nthe quick\nbrown fox\n\n" +
        "00:00:11.800 --> 00:00:13.600\njumps over\nthe lazy\n\n" +
        "00:00:13.600 --> 00:00:13.900\ndog\n",
    );
  });

  it("hard-splits a word longer than a line, and counts code points, not UTF-16 units", () => {
    expect(toSrt([{ start: 0, end: 1, text: "a abcdefghijkl b" }], { maxLineLength: 5, maxLinesPerCue: 4 })).toBe(
      "1\n00:00:00,000 --> 00:00:01,000\na\nabcde\nfghij\nkl b\n",
    );
    expect(toSrt([{ start: 0, end: 1, text: "😀😀😀😀" }], { maxLineLength: 3, maxLinesPerCue: 2 })).toBe(
      "1\n00:00:00,000 --> 00:00:01,000\n😀😀😀\n😀\n",
    );
  });

  it("escapes &, < and > in WebVTT and SRT alike, and never lets --> into cue text", () => {
    const segments = [{ start: 1, end: 2, text: "<b>Tom & Jerry</b> --> end" }];
    expect(toVtt(segments)).toBe(
      "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n&lt;b&gt;Tom &amp; Jerry&lt;/b&gt; -&gt; end\n",
    );
    // SRT players render <b>, <i>, <font> (some even links): transcript markup must stay text there too
    expect(toSrt(segments)).toBe("1\n00:00:01,000 --> 00:00:02,000\n&lt;b&gt;Tom &amp; Jerry&lt;/b&gt; -&gt; end\n");
    const font = [
      { start: 0, end: 1, text: '<font color="#000000">hidden</font> <a href="https://evil.example">x</a>' },
    ];
    const textLine = toSrt(font, { maxLineLength: 200 }).split("\n")[2]!;
    expect(textLine).not.toMatch(/<|>/);
    expect(textLine).toContain("&lt;font color=");
  });

  it("strips control characters, turning line breaks and tabs into single spaces", () => {
    const segments = [{ start: 0, end: 1, text: "tab\there\r\n\nnew\u0000line\u007f\u009fend\u0007" }];
    expect(toSrt(segments)).toBe("1\n00:00:00,000 --> 00:00:01,000\ntab here newlineend\n");
  });

  it("drops empty segments and renumbers, clamps negative times and ends before starts", () => {
    const segments: CueSegment[] = [
      { start: -1, end: -0.5, text: "before zero" },
      { start: 1, end: 2, text: "   " },
      { start: 2, end: 3, text: "\u0001\u0002" },
      { start: 5, end: 3, text: "backwards" },
    ];
    expect(toSrt(segments)).toBe(
      "1\n00:00:00,000 --> 00:00:00,000\nbefore zero\n\n2\n00:00:05,000 --> 00:00:05,000\nbackwards\n",
    );
  });

  it("rejects layout options that are not positive integers", () => {
    expect(() => toSrt([{ start: 0, end: 1, text: "x" }], { maxLineLength: 0 })).toThrow(RangeError);
    expect(() => toVtt([{ start: 0, end: 1, text: "x" }], { maxLinesPerCue: 1.5 })).toThrow(RangeError);
  });
});

describe("toPlainText", () => {
  it("prefers the provider's full text, trimmed, with a trailing newline", () => {
    expect(toPlainText(`  ${JFK}  `, [{ start: 0, end: 1, text: "ignored" }])).toBe(`${JFK}\n`);
  });

  it("falls back to the segment texts joined by single spaces", () => {
    const segments = [
      { start: 0, end: 1, text: " And so, " },
      { start: 1, end: 2, text: "" },
      { start: 2, end: 3, text: "my fellow Americans" },
    ];
    expect(toPlainText("  ", segments)).toBe("And so, my fellow Americans\n");
  });

  it("is empty for an empty transcript", () => {
    expect(toPlainText("", [])).toBe("");
  });
});
