import { describe, expect, it } from "vitest";

import {
  type DispatchBody,
  DispatchSchema,
  ErasureResponseSchema,
  erasureSigningString,
  fieldErrors,
  MAX_MEDIA_SECONDS,
  MAX_REDACTION_SPANS,
  type PoolCallbackBody,
  PoolCallbackSchema,
  RedactionRequestSchema,
  RedactionResponseSchema,
  RedactionUploadResponseSchema,
} from "../src/payloads.ts";
import { signAudioUrl, signRedactionUpload } from "../src/signing.ts";

const dispatch: DispatchBody = {
  job_id: "tr_01JD7Y7W8Q3N5X6T2R9M4K1B0C",
  language: "en",
  prompt: "Kennedy",
  audio_url: "https://edge.example/internal/audio/tr_1?exp=1&kid=a&sig=b",
  audio_expires_at: 1_900_000_000,
  callback_url: "https://edge.example/internal/pool/callback",
};

const completed: PoolCallbackBody = {
  job_id: "tr_1",
  status: "completed",
  result: {
    text: "hello there",
    segments: [{ start: 0, end: 1.5, text: "hello there", avg_logprob: -0.2, no_speech_prob: 0.01 }],
    words: [{ start: 0, end: 0.4, word: "hello" }],
    language: "en",
    duration_seconds: 2,
    model: "ggml-tiny.en",
    timings: { queue_ms: 3, total_ms: 900 },
  },
};

describe("DispatchSchema", () => {
  it("fills left-out optional fields with null and drops unknown ones", () => {
    const parsed = DispatchSchema.parse({ ...dispatch, language: undefined, prompt: "", future_field: 1 });
    expect(parsed).toEqual({
      ...dispatch,
      language: null,
      prompt: null,
      traceparent: null,
      task: "transcribe",
      model: null,
      temperature: null,
      word_timestamps: false,
      speakers: null,
    });
  });

  it("takes the job options, bounded, and defaults them for an edge that predates them", () => {
    const options = { task: "translate", model: "large-v3-turbo", temperature: 0.4, word_timestamps: true } as const;
    expect(DispatchSchema.parse({ ...dispatch, ...options })).toMatchObject(options);
    expect(DispatchSchema.parse({ ...dispatch, task: null, model: null, temperature: null })).toMatchObject({
      task: "transcribe",
      model: null,
      temperature: null,
      word_timestamps: false,
    });
    const bad = DispatchSchema.safeParse({
      ...dispatch,
      task: "summarise",
      model: "../etc/passwd x",
      temperature: 1.5,
      word_timestamps: "yes",
    });
    expect(bad.success).toBe(false);
    if (!bad.success)
      expect(fieldErrors(bad.error).map((e) => e.field)).toEqual(["task", "model", "temperature", "word_timestamps"]);
    expect(DispatchSchema.safeParse({ ...dispatch, model: "m".repeat(201) }).success).toBe(false);
    expect(DispatchSchema.safeParse({ ...dispatch, temperature: -0.1 }).success).toBe(false);
  });

  it("takes languages from the language list only", () => {
    expect(DispatchSchema.safeParse({ ...dispatch, language: "de" }).success).toBe(true);
    expect(DispatchSchema.safeParse({ ...dispatch, language: "xx" }).success).toBe(false);
  });

  it("lists one error per bad field, and the body itself when it is not an object", () => {
    const bad = DispatchSchema.safeParse({ ...dispatch, job_id: "12345", audio_url: "ftp://x", audio_expires_at: 1.5 });
    expect(bad.success).toBe(false);
    if (!bad.success)
      expect(fieldErrors(bad.error).map((e) => e.field)).toEqual(["job_id", "audio_url", "audio_expires_at"]);
    const notObject = DispatchSchema.safeParse([dispatch]);
    if (!notObject.success)
      expect(fieldErrors(notObject.error)).toEqual([{ field: "", message: "the body must be a JSON object" }]);
  });
});

describe("PoolCallbackSchema", () => {
  it("carries the task the pool ran, optionally", () => {
    expect(
      PoolCallbackSchema.parse({ ...completed, result: { ...completed.result, task: "translate" } }),
    ).toMatchObject({
      result: { task: "translate" },
    });
    expect(PoolCallbackSchema.safeParse({ ...completed, result: { ...completed.result, task: "x" } }).success).toBe(
      false,
    );
  });

  it("accepts a completed and a failed callback", () => {
    expect(PoolCallbackSchema.parse(completed)).toEqual(completed);
    const failed = {
      job_id: "tr_1",
      status: "failed",
      error: { code: "invalid_audio", message: "no audio", retryable: false },
    };
    expect(PoolCallbackSchema.parse(failed)).toEqual(failed);
  });

  it("bounds times to 0 … 7 days and refuses non-finite numbers", () => {
    const withSegmentStart = (start: number) => ({
      ...completed,
      result: { ...completed.result, segments: [{ start, end: 1, text: "x" }] },
    });
    expect(PoolCallbackSchema.safeParse(withSegmentStart(MAX_MEDIA_SECONDS)).success).toBe(true);
    for (const start of [1e300, MAX_MEDIA_SECONDS + 1, -0.5, Number.POSITIVE_INFINITY, Number.NaN]) {
      expect([start, PoolCallbackSchema.safeParse(withSegmentStart(start)).success]).toEqual([start, false]);
    }
  });

  it("refuses languages outside the list and oversized text", () => {
    const withResult = (result: object) => ({ ...completed, result: { ...completed.result, ...result } });
    expect(PoolCallbackSchema.safeParse(withResult({ language: null })).success).toBe(true);
    expect(PoolCallbackSchema.safeParse(withResult({ language: "haw" })).success).toBe(false);
    expect(PoolCallbackSchema.safeParse(withResult({ text: "a".repeat(2_000_001) })).success).toBe(false);
  });
});

describe("erasure", () => {
  it("signs the method and the decoded job path, and reads the pool's answer", () => {
    expect(erasureSigningString("tr_1")).toBe("DELETE /v1/jobs/tr_1");
    const answer = { job_id: "tr_1", erased: true, state: "waiting", callback: "absent" };
    expect(ErasureResponseSchema.parse(answer)).toEqual(answer);
    expect(ErasureResponseSchema.safeParse({ ...answer, state: "gone" }).success).toBe(false);
  });
});

describe("RedactionRequestSchema", () => {
  const request = {
    job_id: "tr_01JD7Y7W8Q3N5X6T2R9M4K1B0C",
    audio_url: "https://edge.example/internal/audio/tr_1?exp=1&kid=a&sig=b",
    audio_expires_at: 1_900_000_000,
    upload_url: "https://edge.example/internal/redactions/tr_1/01JD7Y7W8Q3N5X6T2R9M4K1B0C?exp=1&kid=a&sig=c",
    spans: [{ start: 0.95, end: 1.65 }],
  };

  it("accepts a request and drops unknown fields; no spans is a plain re-encode", () => {
    const parsed = RedactionRequestSchema.parse({ ...request, extra: 1 });
    expect(parsed).toEqual(request);
    expect(RedactionRequestSchema.safeParse({ ...request, spans: [] }).success).toBe(true);
  });

  it.each([
    [
      "too many spans",
      { spans: Array.from({ length: MAX_REDACTION_SPANS + 1 }, () => ({ start: 0, end: 1 })) },
      "spans",
    ],
    ["a span that ends before it starts", { spans: [{ start: 2, end: 1 }] }, "spans.0"],
    ["a negative start", { spans: [{ start: -1, end: 1 }] }, "spans.0.start"],
    ["a span past the media cap", { spans: [{ start: 0, end: MAX_MEDIA_SECONDS + 1 }] }, "spans.0.end"],
    ["a non-http upload URL", { upload_url: "file:///etc/passwd" }, "upload_url"],
    ["a bad job id", { job_id: "12345" }, "job_id"],
  ])("refuses %s", (_name, patch, field) => {
    const parsed = RedactionRequestSchema.safeParse({ ...request, ...patch });
    expect(parsed.success).toBe(false);
    expect(fieldErrors(parsed.error!).map((e) => e.field)).toContain(field);
  });

  it("an upload signature binds job, result and expiry, and never equals the audio URL's", async () => {
    const sig = await signRedactionUpload("s", "tr_1", "R1", 100);
    expect(sig).toMatch(/^[0-9a-f]{64}$/);
    expect(await signRedactionUpload("s", "tr_2", "R1", 100)).not.toBe(sig);
    expect(await signRedactionUpload("s", "tr_1", "R2", 100)).not.toBe(sig);
    expect(await signRedactionUpload("s", "tr_1", "R1", 101)).not.toBe(sig);
    expect(await signAudioUrl("s", "tr_1", 100)).not.toBe(sig);
  });

  it("the answers validate", () => {
    const answer = { job_id: "tr_1", bytes: 96_044, sample_rate: 16_000, channels: 1, duration_seconds: 3 };
    expect(RedactionResponseSchema.parse(answer)).toEqual(answer);
    expect(RedactionUploadResponseSchema.safeParse({ stored: false, bytes: 1 }).success).toBe(false);
  });
});
