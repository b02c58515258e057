import type { TranscriptionRequest } from "../../src/providers/types.ts";

/** Response bodies shaped exactly like the vendors' documented responses (values shortened). */

/** OpenAI `POST /v1/audio/transcriptions`, `response_format=verbose_json`, both timestamp granularities. */
export const OPENAI_VERBOSE_JSON = {
  task: "transcribe",
  language: "english",
  duration: 11.0,
  text: "And so, my fellow Americans, ask not what your country can do for you.",
  words: [
    { word: "And", start: 0.0, end: 0.32 },
    { word: "so", start: 0.32, end: 0.6 },
  ],
  segments: [
    {
      id: 0,
      seek: 0,
      start: 0.0,
      end: 3.5,
      text: " And so, my fellow Americans,",
      tokens: [50364, 400],
      temperature: 0.0,
      avg_logprob: -0.21,
      compression_ratio: 1.2,
      no_speech_prob: 0.01,
    },
    {
      id: 1,
      seek: 0,
      start: 3.5,
      end: 11.0,
      text: " ask not what your country can do for you.",
      tokens: [50539, 1029],
      temperature: 0.0,
      avg_logprob: -0.18,
      compression_ratio: 1.2,
      no_speech_prob: 0.02,
    },
  ],
  usage: { type: "duration", seconds: 11 },
};

/** Deepgram `POST /v1/listen?utterances=true&smart_format=true&detect_language=true`. */
export const DEEPGRAM_RESPONSE = {
  metadata: {
    transaction_key: "deprecated",
    request_id: "5d0e6c1c-3f1a-4a8e-9d3c-2c7d6f7e8a9b",
    sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    created: "2026-11-24T06:00:00.000Z",
    duration: 11.0,
    channels: 1,
    models: ["2187e11a-3532-4498-b076-81fa530bdd49"],
    model_info: {
      "2187e11a-3532-4498-b076-81fa530bdd49": { name: "general-nova-3", version: "2025-01-01.0", arch: "nova-3" },
    },
  },
  results: {
    channels: [
      {
        detected_language: "en",
        language_confidence: 0.99,
        alternatives: [
          {
            transcript: "And so, my fellow Americans, ask not what your country can do for you.",
            confidence: 0.98,
            words: [
              { word: "and", start: 0.08, end: 0.32, confidence: 0.99, punctuated_word: "And" },
              { word: "so", start: 0.32, end: 0.64, confidence: 0.97, punctuated_word: "so," },
            ],
          },
        ],
      },
    ],
    utterances: [
      {
        start: 0.08,
        end: 3.4,
        confidence: 0.97,
        channel: 0,
        transcript: "And so, my fellow Americans,",
        words: [],
        speaker: 0,
        id: "u1",
      },
      {
        start: 3.6,
        end: 10.9,
        confidence: 0.98,
        channel: 0,
        transcript: "ask not what your country can do for you.",
        words: [],
        speaker: 0,
        id: "u2",
      },
    ],
  },
};

/** The same answer without `utterances=true`: `smart_format` still returns paragraphs with sentence timings. */
export const DEEPGRAM_PARAGRAPHS_ONLY_RESPONSE = {
  metadata: DEEPGRAM_RESPONSE.metadata,
  results: {
    channels: [
      {
        ...DEEPGRAM_RESPONSE.results.channels[0]!,
        alternatives: [
          {
            ...DEEPGRAM_RESPONSE.results.channels[0]!.alternatives[0]!,
            paragraphs: {
              transcript: "\nAnd so, my fellow Americans, ask not what your country can do for you.",
              paragraphs: [
                {
                  sentences: [
                    { text: "And so, my fellow Americans,", start: 0.08, end: 3.4 },
                    { text: "ask not what your country can do for you.", start: 3.6, end: 10.9 },
                  ],
                  speaker: 0,
                  num_words: 14,
                  start: 0.08,
                  end: 10.9,
                },
              ],
            },
          },
        ],
      },
    ],
  },
};

/** Workers AI `@cf/openai/whisper-large-v3-turbo` output. */
export const WORKERS_AI_OUTPUT = {
  transcription_info: { language: "en", language_probability: 0.98, duration: 11.0, duration_after_vad: 10.6 },
  text: "And so, my fellow Americans, ask not what your country can do for you.",
  word_count: 14,
  segments: [
    {
      start: 0.0,
      end: 3.5,
      text: "And so, my fellow Americans,",
      temperature: 0,
      avg_logprob: -0.2,
      compression_ratio: 1.1,
      no_speech_prob: 0.01,
      words: [{ word: "And", start: 0.0, end: 0.3 }],
    },
    {
      start: 3.5,
      end: 11.0,
      text: "ask not what your country can do for you.",
      temperature: 0,
      avg_logprob: -0.15,
      compression_ratio: 1.1,
      no_speech_prob: 0.01,
      words: [{ word: "ask", start: 3.5, end: 3.8 }],
    },
  ],
  vtt: "WEBVTT\n\n00:00.000 --> 00:03.500\nAnd so, my fellow Americans,\n",
};

/** `POST /v1/audio/translations` with `response_format=verbose_json`: English text, the source language, no words. */
export const OPENAI_TRANSLATION_VERBOSE_JSON = {
  task: "translate",
  language: "german",
  duration: 4.0,
  text: "Good morning, how are you?",
  segments: [
    {
      id: 0,
      seek: 0,
      start: 0.0,
      end: 4.0,
      text: " Good morning, how are you?",
      tokens: [50364, 2205],
      temperature: 0.3,
      avg_logprob: -0.3,
      compression_ratio: 1.0,
      no_speech_prob: 0.02,
    },
  ],
};

/** A transcription request for an adapter, carrying `wav` as its audio stream. */
export function transcriptionRequest(
  wav: Uint8Array<ArrayBuffer>,
  overrides: Partial<TranscriptionRequest> = {},
): TranscriptionRequest {
  return {
    jobId: "tr_01JD7Y7W8Q3N5X6T2R9M4K1B0C",
    audio: new Response(wav).body!,
    bytes: wav.byteLength,
    format: "wav",
    contentType: "audio/wav",
    language: "en",
    prompt: null,
    keyterms: [],
    task: "transcribe",
    model: null,
    temperature: null,
    wordTimestamps: false,
    ...overrides,
  };
}
