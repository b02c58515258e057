/** Transcript redaction: text, segments and words agree, words keep their timing, substitution styles. */
import { describe, expect, it } from "vitest";

import { redactText, redactTranscript } from "../../../src/domain/pii/redact.ts";
import { PII_ENTITY_TYPES } from "../../../src/domain/pii/types.ts";

const ALL = { policies: PII_ENTITY_TYPES, substitution: "entity_name" } as const;

const words = (list: [string, number, number][]) => list.map(([word, start, end]) => ({ word, start, end }));

describe("redactTranscript", () => {
  const transcript = {
    text: "Call me on four one five, five five five, two six seven one. Thanks.",
    segments: [
      { start: 0, end: 2.5, text: "Call me on four one five, five five five," },
      { start: 2.5, end: 5, text: "two six seven one. Thanks." },
    ],
    words: words([
      ["Call", 0, 0.3],
      ["me", 0.3, 0.5],
      ["on", 0.5, 0.7],
      ["four", 0.7, 1],
      ["one", 1, 1.2],
      ["five,", 1.2, 1.5],
      ["five", 1.5, 1.8],
      ["five", 1.8, 2],
      ["five,", 2, 2.5],
      ["two", 2.5, 2.8],
      ["six", 2.8, 3.1],
      ["seven", 3.1, 3.5],
      ["one.", 3.5, 3.9],
      ["Thanks.", 4.2, 4.8],
    ]),
    language: "en",
    model: "whisper-1",
  };

  it("redacts an entity spoken across two segments and many words, and keeps every word's timing", () => {
    const { transcript: out, entities, audioSpans } = redactTranscript(transcript, ALL);
    expect(out.text).toBe("Call me on [PHONE_NUMBER]. Thanks.");
    // the pause commas inside the number are part of it; the full stop after it is not
    expect(out.segments.map((s) => s.text)).toEqual(["Call me on [PHONE_NUMBER]", "[PHONE_NUMBER]. Thanks."]);
    expect(out.words!.map((w) => w.word)).toEqual([
      "Call",
      "me",
      "on",
      ...Array<string>(9).fill("[PHONE_NUMBER]"),
      "[PHONE_NUMBER].",
      "Thanks.",
    ]);
    expect(out.words!.map((w) => [w.start, w.end])).toEqual(transcript.words.map((w) => [w.start, w.end]));
    expect(entities).toEqual({ phone_number: 1 });
    expect(audioSpans).toEqual([{ start: 0.7, end: 3.9 }]);
    expect(out).toMatchObject({ language: "en", model: "whisper-1" });
  });

  it("falls back to segment times for audio spans when there are no words", () => {
    const { words: _w, ...noWords } = transcript;
    const { transcript: out, audioSpans } = redactTranscript(noWords, ALL);
    expect(out).not.toHaveProperty("words");
    expect(audioSpans).toEqual([{ start: 0, end: 5 }]);
  });

  it("changes nothing without an entity", () => {
    const clean = { text: "Nothing here.", segments: [{ start: 0, end: 1, text: "Nothing here." }] };
    expect(redactTranscript(clean, ALL)).toEqual({ transcript: clean, entities: {}, audioSpans: [] });
  });
});

describe("substitution styles", () => {
  const text = "mail jane.doe@example.com now";
  it.each([
    ["entity_name", "mail [EMAIL_ADDRESS] now"],
    ["hash", "mail ##### now"],
    ["mask", "mail ****.***@*******.*** now"],
  ] as const)("%s", (substitution, expected) => {
    expect(redactText(text, { policies: ["email_address"], substitution }).text).toBe(expected);
  });
});
