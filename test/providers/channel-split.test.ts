/**
 * Merging per-channel transcripts (src/providers/channel-split.ts, pure): segments and words tagged with their
 * channel and merged by time, the text in that order, the language of the channel that said the most, the longest
 * duration; and what the stored result then says once speakers.ts relabels it.
 */
import { describe, expect, it } from "vitest";

import { finaliseSpeakers } from "../../src/domain/speakers.ts";
import { mergeChannelTranscripts } from "../../src/providers/channel-split.ts";
import type { NormalisedTranscript } from "../../src/providers/types.ts";

const channel = (overrides: Partial<NormalisedTranscript>): NormalisedTranscript => ({
  text: "",
  segments: [],
  language: "en",
  duration_seconds: 10,
  model: "whisper-1",
  ...overrides,
});

describe("mergeChannelTranscripts", () => {
  it("merges segments and words by start time, each tagged with its channel", () => {
    const merged = mergeChannelTranscripts([
      channel({
        text: "Hello. Sure.",
        segments: [
          { start: 0.1, end: 1, text: "Hello.", avg_logprob: -0.2 },
          { start: 4, end: 4.5, text: "Sure." },
        ],
        words: [
          { start: 0.1, end: 1, word: "Hello." },
          { start: 4, end: 4.5, word: "Sure." },
        ],
      }),
      channel({
        text: "My card.",
        segments: [{ start: 2, end: 3, text: "My card." }],
        words: [
          { start: 2, end: 2.4, word: "My" },
          { start: 2.4, end: 3, word: "card." },
        ],
        duration_seconds: 11,
      }),
    ]);
    expect(merged.segments).toEqual([
      { start: 0.1, end: 1, text: "Hello.", avg_logprob: -0.2, speaker: "ch0" },
      { start: 2, end: 3, text: "My card.", speaker: "ch1" },
      { start: 4, end: 4.5, text: "Sure.", speaker: "ch0" },
    ]);
    expect(merged.words!.map((w) => [w.word, w.speaker])).toEqual([
      ["Hello.", "ch0"],
      ["My", "ch1"],
      ["card.", "ch1"],
      ["Sure.", "ch0"],
    ]);
    expect(merged).toMatchObject({ text: "Hello. My card. Sure.", duration_seconds: 11, model: "whisper-1" });
    // relabelled as every source is: the channel heard first is A
    const labelled = finaliseSpeakers(merged);
    expect(labelled.segments.map((s) => s.speaker)).toEqual(["A", "B", "A"]);
    expect(labelled.speakers).toEqual([
      { label: "A", talk_time_seconds: 1.4 },
      { label: "B", talk_time_seconds: 1 },
    ]);
  });

  it("the channel heard first is A even when it is channel 1", () => {
    const merged = mergeChannelTranscripts([
      channel({ text: "Later.", segments: [{ start: 5, end: 6, text: "Later." }] }),
      channel({ text: "First.", segments: [{ start: 1, end: 2, text: "First." }] }),
    ]);
    expect(finaliseSpeakers(merged).segments.map((s) => [s.text, s.speaker])).toEqual([
      ["First.", "A"],
      ["Later.", "B"],
    ]);
  });

  it("a silent channel adds nothing; the language is the one of the channel that said the most", () => {
    const merged = mergeChannelTranscripts([
      channel({ text: "", segments: [], language: "cy", language_probability: 0.3, duration_seconds: null }),
      channel({
        text: "Guten Tag, wie kann ich helfen?",
        segments: [{ start: 0, end: 2, text: "Guten Tag, wie kann ich helfen?" }],
        language: "de",
        language_probability: 0.97,
      }),
    ]);
    expect(merged).toMatchObject({ language: "de", language_probability: 0.97, duration_seconds: 10 });
    expect(merged.segments.map((s) => s.speaker)).toEqual(["ch1"]);
    expect(merged).not.toHaveProperty("words");
  });

  it("one channel (mono audio) is one speaker; no channel is a programming error", () => {
    const merged = mergeChannelTranscripts([channel({ text: "Hi.", segments: [{ start: 0, end: 1, text: "Hi." }] })]);
    expect(finaliseSpeakers(merged).speakers).toEqual([{ label: "A", talk_time_seconds: 1 }]);
    expect(() => mergeChannelTranscripts([])).toThrow(RangeError);
  });
});
