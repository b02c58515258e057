import { describe, expect, it } from "vitest";

import {
  applySpeakerTurns,
  finaliseSpeakers,
  mergeChannels,
  relabelSpeakers,
  speakerAt,
  speakerLabel,
  talkTimes,
} from "../../src/domain/speakers.ts";
import { toPlainText, toSrt, toVtt } from "../../src/domain/subtitles.ts";

describe("speakerLabel", () => {
  it.each([
    [0, "A"],
    [1, "B"],
    [25, "Z"],
    [26, "AA"],
    [27, "AB"],
    [701, "ZZ"],
    [702, "AAA"],
  ])("%i is %s", (index, label) => expect(speakerLabel(index)).toBe(label));

  it("refuses negative and fractional indices", () => {
    expect(() => speakerLabel(-1)).toThrow(RangeError);
    expect(() => speakerLabel(1.5)).toThrow(RangeError);
  });
});

describe("relabelSpeakers", () => {
  it("renames speakers A, B, … in order of first appearance in time, not in the order given", () => {
    const out = relabelSpeakers({
      text: "x",
      segments: [
        { start: 5, end: 6, text: "late", speaker: "0" },
        { start: 0, end: 1, text: "first", speaker: "3" },
        { start: 2, end: 3, text: "unlabelled" },
        { start: 3, end: 4, text: "again", speaker: "3" },
      ],
      words: [{ start: 4, end: 4.5, word: "between", speaker: "7" }],
    });
    expect(out.segments.map((s) => s.speaker)).toEqual(["C", "A", undefined, "A"]);
    expect(out.words!.map((w) => w.speaker)).toEqual(["B"]);
  });
});

describe("assigning speakers by time overlap", () => {
  const turns = [
    { start: 0, end: 2, speaker: "s1" },
    { start: 2, end: 5, speaker: "s2" },
    { start: 7, end: 9, speaker: "s1" },
  ];

  it("gives a span the speaker with most overlap, summed over that speaker's turns", () => {
    expect(speakerAt({ start: 1.5, end: 2.2 }, turns)).toBe("s1");
    expect(speakerAt({ start: 1.8, end: 3 }, turns)).toBe("s2");
    // s1 overlaps 1 s + 1 s, s2 3 s
    expect(speakerAt({ start: 1, end: 8 }, turns)).toBe("s2");
  });

  it("a span in a pause takes the nearest turn; without turns there is no speaker", () => {
    expect(speakerAt({ start: 5.2, end: 5.4 }, turns)).toBe("s2");
    expect(speakerAt({ start: 6.6, end: 6.8 }, turns)).toBe("s1");
    expect(speakerAt({ start: 0, end: 1 }, [])).toBeUndefined();
  });

  it("words get the turn speakers and segments the speaker of most of their words", () => {
    const out = applySpeakerTurns(
      {
        text: "hello there general kenobi",
        segments: [
          { start: 0, end: 4, text: "hello there general" },
          { start: 7, end: 9, text: "kenobi" },
        ],
        words: [
          { start: 0, end: 1, word: "hello" },
          { start: 2.5, end: 3, word: "there" },
          { start: 3, end: 4, word: "general" },
          { start: 7.5, end: 8.5, word: "kenobi" },
        ],
      },
      turns,
    );
    expect(out.words!.map((w) => w.speaker)).toEqual(["s1", "s2", "s2", "s1"]);
    expect(out.segments.map((s) => s.speaker)).toEqual(["s2", "s1"]);
  });

  it("without words, segments take the turns directly", () => {
    const out = applySpeakerTurns({ text: "a b", segments: [{ start: 0, end: 1.9, text: "a" }] }, turns);
    expect(out.segments[0]!.speaker).toBe("s1");
    expect(out.words).toBeUndefined();
  });
});

describe("mergeChannels", () => {
  it("tags each channel's segments and words with the channel and merges them by time", () => {
    const merged = mergeChannels([
      {
        text: "hello how can I help",
        segments: [
          { start: 0, end: 1.5, text: "Hello," },
          { start: 4, end: 6, text: "how can I help?" },
        ],
        words: [{ start: 0, end: 1.5, word: "Hello," }],
      },
      { text: "hi", segments: [{ start: 2, end: 3, text: "Hi, it's me." }] },
    ]);
    expect(merged.segments.map((s) => [s.start, s.speaker])).toEqual([
      [0, "ch0"],
      [2, "ch1"],
      [4, "ch0"],
    ]);
    expect(merged.text).toBe("Hello, Hi, it's me. how can I help?");
    expect(merged.words).toEqual([{ start: 0, end: 1.5, word: "Hello,", speaker: "ch0" }]);
    const final = finaliseSpeakers(merged);
    expect(final.segments.map((s) => s.speaker)).toEqual(["A", "B", "A"]);
    expect(final.speakers).toEqual([
      { label: "A", talk_time_seconds: 3.5 },
      { label: "B", talk_time_seconds: 1 },
    ]);
  });

  it("one channel (mono audio) is one speaker", () => {
    const final = finaliseSpeakers(mergeChannels([{ text: "x", segments: [{ start: 0, end: 2, text: "x" }] }]));
    expect(final.speakers).toEqual([{ label: "A", talk_time_seconds: 2 }]);
    expect(final.words).toBeUndefined();
  });
});

describe("talkTimes", () => {
  it("counts overlapping segments of one speaker once, skips unlabelled ones, rounds to ms", () => {
    expect(
      talkTimes([
        { start: 0, end: 2, speaker: "A" },
        { start: 1, end: 3, speaker: "A" },
        { start: 1, end: 1.0004, speaker: "B" },
        { start: 5, end: 6.1234, speaker: "A" },
        { start: 9, end: 10 },
      ]),
    ).toEqual([
      { label: "A", talk_time_seconds: 4.123 },
      { label: "B", talk_time_seconds: 0 },
    ]);
  });

  it("an empty transcript has no speakers", () => expect(talkTimes([])).toEqual([]));
});

describe("formats with speakers", () => {
  const segments = [
    { start: 0, end: 1, text: "Hello.", speaker: "A" },
    { start: 1, end: 2, text: "Anyone there?", speaker: "A" },
    { start: 2, end: 3, text: "Yes, <me>.", speaker: "B" },
    { start: 3, end: 4, text: "Good.", speaker: "A" },
  ];

  it("txt shows one `A: …` line per turn, consecutive segments of a speaker joined", () => {
    expect(toPlainText("Hello. Anyone there? Yes, <me>. Good.", segments)).toBe(
      "A: Hello. Anyone there?\nB: Yes, <me>.\nA: Good.\n",
    );
  });

  it("SRT prefixes every cue of a labelled segment with the speaker; markup stays escaped", () => {
    expect(toSrt(segments.slice(1, 3))).toBe(
      "1\n00:00:01,000 --> 00:00:02,000\nA: Anyone there?\n\n2\n00:00:02,000 --> 00:00:03,000\nB: Yes, &lt;me&gt;.\n",
    );
    const long = { start: 0, end: 4, text: "one two three four five six seven eight", speaker: "B" };
    expect(toSrt([long], { maxLineLength: 10, maxLinesPerCue: 1 }).match(/^B: /gm)).toHaveLength(5);
  });

  it("without speakers every format is as before", () => {
    const plain = segments.map(({ speaker: _speaker, ...rest }) => rest);
    expect(toPlainText("Hello. Anyone there? Yes, <me>. Good.", plain)).toBe("Hello. Anyone there? Yes, <me>. Good.\n");
    expect(toSrt(plain)).not.toMatch(/[AB]: /);
    expect(toVtt(plain)).not.toMatch(/[AB]: /);
  });
});
