/** OpenAI's response formats rendered from a stored transcript (pure). */
import { describe, expect, it } from "vitest";

import {
  compressionRatio,
  type RenderableTranscript,
  renderTranscript,
  sseData,
  streamEvents,
  verboseJson,
} from "../../src/domain/openai-format.ts";

const doc: RenderableTranscript = {
  task: "transcribe",
  text: "And so my fellow Americans, ask not what your country can do for you.",
  segments: [
    { start: 0, end: 3.5, text: "And so my fellow Americans,", avg_logprob: -0.25, no_speech_prob: 0.01 },
    { start: 3.504, end: 11, text: "ask not what your country can do for you.", confidence: 0.5 },
  ],
  words: [{ start: 0, end: 0.4, word: "And" }],
  language: "en",
  duration: 10.2,
  temperature: null,
};

describe("compressionRatio", () => {
  it("is Whisper's: UTF-8 bytes over zlib.compress bytes (values from Python's zlib)", () => {
    expect(compressionRatio(" ask not what your country can do for you.")).toBe(0.875);
    expect(compressionRatio(" And so my fellow Americans,")).toBeCloseTo(0.7777777777777778, 12);
    expect(compressionRatio(` ${"la ".repeat(50)}`)).toBeCloseTo(10.785714285714286, 12);
    expect(compressionRatio(" Grüße, 世界")).toBe(0.64);
    expect(compressionRatio("")).toBe(0);
  });
});

describe("verbose_json", () => {
  it("fills the fields we do not store: seek in 10 ms frames, temperature, compression ratio, empty tokens", () => {
    const body = verboseJson(doc, []);
    expect(body).toMatchObject({ task: "transcribe", language: "english", duration: 10.2, text: doc.text });
    expect(body.usage).toEqual({ type: "duration", seconds: 11 });
    expect(body).not.toHaveProperty("words");
    expect(body.segments).toEqual([
      {
        id: 0,
        seek: 0,
        start: 0,
        end: 3.5,
        text: " And so my fellow Americans,",
        tokens: [],
        temperature: 0,
        avg_logprob: -0.25,
        compression_ratio: compressionRatio(" And so my fellow Americans,"),
        no_speech_prob: 0.01,
      },
      {
        id: 1,
        seek: 350,
        start: 3.504,
        end: 11,
        text: " ask not what your country can do for you.",
        tokens: [],
        temperature: 0,
        // a provider's confidence (Deepgram) becomes its log
        avg_logprob: Math.log(0.5),
        compression_ratio: 0.875,
        no_speech_prob: 0,
      },
    ]);
  });

  it("lists words only when asked, and segments unless only words were asked for", () => {
    expect(verboseJson(doc, ["word"])).toMatchObject({ words: [{ word: "And", start: 0, end: 0.4 }] });
    expect(verboseJson(doc, ["word"])).not.toHaveProperty("segments");
    const both = verboseJson({ ...doc, words: undefined, temperature: 0.4 }, ["segment", "word"]);
    expect(both.words).toEqual([]);
    expect(both.segments?.every((s) => s.temperature === 0.4)).toBe(true);
  });

  it("falls back to the last segment's end for the duration and to the code for an unnamed language", () => {
    const body = verboseJson({ ...doc, duration: null, language: "xx" }, []);
    expect(body.duration).toBe(11);
    expect(body.language).toBe("xx");
    expect(verboseJson({ ...doc, language: null }, []).language).toBe("unknown");
  });
});

describe("renderTranscript", () => {
  it("json is {text, usage}; text ends with a newline; srt and vtt have one unwrapped cue per segment", () => {
    expect(renderTranscript(doc, "json", [])).toEqual({
      contentType: "application/json",
      body: JSON.stringify({ text: doc.text, usage: { type: "duration", seconds: 11 } }),
    });
    expect(renderTranscript(doc, "text", [])).toEqual({
      contentType: "text/plain; charset=utf-8",
      body: `${doc.text}\n`,
    });
    const long = { ...doc, segments: [{ start: 0, end: 9, text: "word ".repeat(30).trim() }] };
    expect(renderTranscript(long, "srt", []).body).toBe(
      `1\n00:00:00,000 --> 00:00:09,000\n${long.segments[0]!.text}\n`,
    );
    expect(renderTranscript(long, "vtt", []).body).toBe(
      `WEBVTT\n\n00:00:00.000 --> 00:00:09.000\n${long.segments[0]!.text}\n`,
    );
  });
});

describe("stream events", () => {
  it("deltas are cut from the full text at segment ends, so they concatenate to it exactly", () => {
    const events = streamEvents({
      ...doc,
      text: "And so my fellow Americans,  ask not what your country can do for you. ",
    });
    expect(events).toEqual([
      { type: "transcript.text.delta", delta: "And so my fellow Americans," },
      { type: "transcript.text.delta", delta: "  ask not what your country can do for you. " },
      { type: "transcript.text.done", text: "And so my fellow Americans,  ask not what your country can do for you. " },
    ]);
  });

  it("a text the segments are not found in is one delta; an empty transcript is only the done event", () => {
    expect(streamEvents({ ...doc, text: "something else entirely" })).toEqual([
      { type: "transcript.text.delta", delta: "something else entirely" },
      { type: "transcript.text.done", text: "something else entirely" },
    ]);
    expect(streamEvents({ ...doc, text: "", segments: [] })).toEqual([{ type: "transcript.text.done", text: "" }]);
  });

  it("each event is one `data:` line and a blank line", () => {
    expect(sseData({ type: "transcript.text.done", text: "a\nb" })).toBe(
      'data: {"type":"transcript.text.done","text":"a\\nb"}\n\n',
    );
  });
});
