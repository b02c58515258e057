/** Vendors' speaker-labelled answers, shaped exactly like their documented responses (values shortened). */

/** Deepgram `POST /v1/listen?diarize=true&utterances=true&smart_format=true`: words and utterances carry `speaker`. */
export const DEEPGRAM_DIARIZED_RESPONSE = {
  metadata: {
    request_id: "5d0e6c1c-3f1a-4a8e-9d3c-2c7d6f7e8a9c",
    created: "2026-11-24T06:00:00.000Z",
    duration: 6.0,
    channels: 1,
    models: ["2187e11a-3532-4498-b076-81fa530bdd49"],
    model_info: { "2187e11a-3532-4498-b076-81fa530bdd49": { name: "general-nova-3", version: "2025", arch: "nova-3" } },
  },
  results: {
    channels: [
      {
        detected_language: "en",
        alternatives: [
          {
            transcript: "Hello, how can I help? My card was charged twice.",
            confidence: 0.98,
            words: [
              {
                word: "hello",
                punctuated_word: "Hello,",
                start: 0.1,
                end: 0.5,
                confidence: 0.99,
                speaker: 1,
                speaker_confidence: 0.8,
              },
              {
                word: "how",
                punctuated_word: "how",
                start: 0.6,
                end: 0.8,
                confidence: 0.99,
                speaker: 1,
                speaker_confidence: 0.8,
              },
              { word: "can", start: 0.8, end: 1.0, confidence: 0.99, speaker: 1, speaker_confidence: 0.8 },
              {
                word: "i",
                punctuated_word: "I",
                start: 1.0,
                end: 1.1,
                confidence: 0.99,
                speaker: 1,
                speaker_confidence: 0.8,
              },
              {
                word: "help",
                punctuated_word: "help?",
                start: 1.1,
                end: 1.5,
                confidence: 0.99,
                speaker: 1,
                speaker_confidence: 0.8,
              },
              {
                word: "my",
                punctuated_word: "My",
                start: 2.0,
                end: 2.2,
                confidence: 0.97,
                speaker: 0,
                speaker_confidence: 0.7,
              },
              { word: "card", start: 2.2, end: 2.6, confidence: 0.97, speaker: 0, speaker_confidence: 0.7 },
              { word: "was", start: 2.6, end: 2.8, confidence: 0.97, speaker: 0, speaker_confidence: 0.7 },
              { word: "charged", start: 2.8, end: 3.3, confidence: 0.97, speaker: 0, speaker_confidence: 0.7 },
              {
                word: "twice",
                punctuated_word: "twice.",
                start: 3.3,
                end: 3.8,
                confidence: 0.97,
                speaker: 0,
                speaker_confidence: 0.7,
              },
            ],
          },
        ],
      },
    ],
    utterances: [
      {
        start: 0.1,
        end: 1.5,
        confidence: 0.99,
        channel: 0,
        transcript: "Hello, how can I help?",
        words: [],
        speaker: 1,
        id: "u1",
      },
      {
        start: 2.0,
        end: 3.8,
        confidence: 0.97,
        channel: 0,
        transcript: "My card was charged twice.",
        words: [],
        speaker: 0,
        id: "u2",
      },
    ],
  },
};

/** Deepgram with `multichannel=true`: one entry per channel in `results.channels`, utterances name their channel. */
export const DEEPGRAM_MULTICHANNEL_RESPONSE = {
  metadata: { ...DEEPGRAM_DIARIZED_RESPONSE.metadata, channels: 2 },
  results: {
    channels: [
      {
        detected_language: "en",
        alternatives: [
          {
            transcript: "Hello, how can I help? Sure.",
            confidence: 0.98,
            words: [
              { word: "hello", punctuated_word: "Hello,", start: 0.1, end: 0.5, confidence: 0.99 },
              { word: "help", punctuated_word: "help?", start: 1.1, end: 1.5, confidence: 0.99 },
              { word: "sure", punctuated_word: "Sure.", start: 4.0, end: 4.4, confidence: 0.99 },
            ],
          },
        ],
      },
      {
        detected_language: "en",
        alternatives: [
          {
            transcript: "My card was charged twice.",
            confidence: 0.97,
            words: [
              { word: "my", punctuated_word: "My", start: 2.0, end: 2.2, confidence: 0.97 },
              { word: "twice", punctuated_word: "twice.", start: 3.3, end: 3.8, confidence: 0.97 },
            ],
          },
        ],
      },
    ],
    utterances: [
      { start: 0.1, end: 1.5, confidence: 0.99, channel: 0, transcript: "Hello, how can I help?", words: [], id: "u1" },
      {
        start: 2.0,
        end: 3.8,
        confidence: 0.97,
        channel: 1,
        transcript: "My card was charged twice.",
        words: [],
        id: "u2",
      },
      { start: 4.0, end: 4.4, confidence: 0.99, channel: 0, transcript: "Sure.", words: [], id: "u3" },
    ],
  },
};

/** OpenAI `gpt-4o-transcribe-diarize`, `response_format=diarized_json` (TranscriptionDiarized). */
export const OPENAI_DIARIZED_JSON = {
  task: "transcribe",
  duration: 6.0,
  text: "Hello, how can I help? My card was charged twice. I see.",
  segments: [
    {
      type: "transcript.text.segment",
      id: "seg_0",
      start: 0.1,
      end: 1.5,
      text: " Hello, how can I help?",
      speaker: "A",
    },
    {
      type: "transcript.text.segment",
      id: "seg_1",
      start: 2.0,
      end: 3.8,
      text: " My card was charged twice.",
      speaker: "B",
    },
    { type: "transcript.text.segment", id: "seg_2", start: 4.0, end: 4.6, text: " I see.", speaker: "A" },
  ],
  usage: { type: "duration", seconds: 6 },
};
