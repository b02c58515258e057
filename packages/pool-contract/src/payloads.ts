/**
 * The payloads of the edge ⇄ pool contract (docs/pool-contract.md) as zod schemas with their types: the dispatch
 * (`POST /v1/jobs`, edge → pool), the result callback (`POST {callback_url}`, pool → edge) and the erasure
 * (`DELETE /v1/jobs/{job_id}`, edge → pool). The receiver of each payload validates it with the schema here; the
 * sender builds it typed by the same schema. Every number is finite and bounded, every string and list has a
 * maximum length, so a hostile or broken peer cannot make the other side store nonsense.
 */
import { z } from "zod";

import { SUPPORTED_LANGUAGES } from "./languages.ts";

/** Longest media the contract describes: a segment or word time, or a duration, lies within 0 … 7 days. */
export const MAX_MEDIA_SECONDS = 7 * 86_400;
/** Longest transcript text in a callback (about 4 hours of speech fit in a tenth of it). */
export const MAX_TRANSCRIPT_CHARS = 2_000_000;
/** Most segments in one callback. */
export const MAX_SEGMENTS = 100_000;
/** Most word timings in one callback. */
export const MAX_WORDS = 1_000_000;
/** Longest text of one segment. */
export const MAX_SEGMENT_TEXT_CHARS = 10_000;
/** Longest text of one word timing. */
export const MAX_WORD_CHARS = 1_000;
/** Longest model name, speaker label, error code. */
export const MAX_LABEL_CHARS = 200;
/** Longest failure message in a callback. */
export const MAX_ERROR_MESSAGE_CHARS = 2_000;
/** Most entries in a callback's `timings`. */
export const MAX_TIMING_ENTRIES = 32;
/** Longest prompt in a dispatch. */
export const MAX_DISPATCH_PROMPT_CHARS = 2_000;
/** Longest audio or callback URL in a dispatch. */
export const MAX_URL_CHARS = 4_096;
/** Longest traceparent in a dispatch (a W3C traceparent is 55 characters). */
export const MAX_TRACEPARENT_CHARS = 256;
/** Longest job id; BullMQ custom ids may not contain ':' nor be plain integers (the edge's look like `tr_01J…`). */
export const JOB_ID_PATTERN = /^(?!\d+$)[A-Za-z0-9_-]{1,64}$/;
/** Bound on log-probabilities (mean token log-probability per segment): far beyond anything a model reports. */
const MAX_ABS_LOGPROB = 1_000;

/** What a dispatch asks the pool to do: transcribe in the spoken language, or translate into English. */
export const POOL_TASKS = ["transcribe", "translate"] as const;
export type PoolTask = (typeof POOL_TASKS)[number];
/** A model name the pool may be asked for: a catalog name (`base.en`), `synthetic:mini`, a server's model id. */
export const POOL_MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/;
/** Sampling temperature bounds (OpenAI's transcription API takes 0 … 1). */
export const MAX_TEMPERATURE = 1;
/** Most speakers a dispatch may name (`speakers.expected`, `.min`, `.max`). */
export const MAX_DISPATCH_SPEAKERS = 32;

const JOB_ID_MESSAGE = "must be 1-64 characters of A-Z a-z 0-9 _ - (not only digits)";

/** True for a string the pool accepts as a job id (also the id in `DELETE /v1/jobs/{job_id}`). */
export function isValidJobId(value: unknown): value is string {
  return typeof value === "string" && JOB_ID_PATTERN.test(value);
}

/** True for a code in the language list ({@link SUPPORTED_LANGUAGES}). */
export function isSupportedLanguage(value: unknown): value is string {
  return typeof value === "string" && SUPPORTED_LANGUAGES.has(value);
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}

const JobId = z.string({ error: JOB_ID_MESSAGE }).regex(JOB_ID_PATTERN, { error: JOB_ID_MESSAGE });
const HttpUrl = z
  .string({ error: "must be an http(s) URL" })
  .max(MAX_URL_CHARS, { error: "must be an http(s) URL" })
  .refine(isHttpUrl, { error: "must be an http(s) URL" });
const MediaSeconds = z.number().min(0).max(MAX_MEDIA_SECONDS);
const Probability = z.number().min(0).max(1);
const SpeakerCount = z
  .number({ error: `must be null or a whole number 1-${MAX_DISPATCH_SPEAKERS}` })
  .int({ error: `must be null or a whole number 1-${MAX_DISPATCH_SPEAKERS}` })
  .min(1, { error: `must be null or a whole number 1-${MAX_DISPATCH_SPEAKERS}` })
  .max(MAX_DISPATCH_SPEAKERS, { error: `must be null or a whole number 1-${MAX_DISPATCH_SPEAKERS}` })
  .nullish()
  .transform((value) => value ?? null);

// ---------------------------------------------------------------------------------------------------------------
// 1. Dispatch: POST {POOL_URL}/v1/jobs

/** The dispatch body. Unknown fields are dropped, so the edge can add a field before the pool knows it. */
export const DispatchSchema = z.object({
  job_id: JobId,
  language: z
    .string({ error: "must be null or a supported ISO 639-1 code" })
    .refine(isSupportedLanguage, { error: "must be null or a supported ISO 639-1 code" })
    .nullish()
    .transform((value) => value ?? null),
  prompt: z
    .string({ error: `must be null or a string of at most ${MAX_DISPATCH_PROMPT_CHARS} characters` })
    .max(MAX_DISPATCH_PROMPT_CHARS, {
      error: `must be null or a string of at most ${MAX_DISPATCH_PROMPT_CHARS} characters`,
    })
    .nullish()
    .transform((value) => value || null),
  audio_url: HttpUrl,
  /** Unix seconds after which the audio URL stops working. */
  audio_expires_at: z
    .number({ error: "must be unix seconds" })
    .int({ error: "must be unix seconds" })
    .positive({ error: "must be unix seconds" }),
  callback_url: HttpUrl,
  traceparent: z
    .string({ error: "must be null or a W3C traceparent string" })
    .max(MAX_TRACEPARENT_CHARS, { error: "must be null or a W3C traceparent string" })
    .nullish()
    .transform((value) => value ?? null),
  // the fields below came after v1's first release: an edge that leaves them out gets the old behaviour
  /** `translate` = into English; the pool refuses it (400 `translation_unsupported`) when its model is English-only. */
  task: z
    .enum(POOL_TASKS, { error: "must be transcribe or translate" })
    .nullish()
    .transform((value) => value ?? "transcribe"),
  /** A model the pool serves, or null for its own; another name is refused (400 `model_unavailable`). */
  model: z
    .string({ error: "must be null or a model name" })
    .regex(POOL_MODEL_NAME_PATTERN, { error: "must be null or a model name" })
    .nullish()
    .transform((value) => value ?? null),
  /** Initial sampling temperature, or null for the pool's default (0: greedy). */
  temperature: z
    .number({ error: `must be null or a number between 0 and ${MAX_TEMPERATURE}` })
    .min(0, { error: `must be null or a number between 0 and ${MAX_TEMPERATURE}` })
    .max(MAX_TEMPERATURE, { error: `must be null or a number between 0 and ${MAX_TEMPERATURE}` })
    .nullish()
    .transform((value) => value ?? null),
  /** Ask for word timings (`result.words`). */
  word_timestamps: z
    .boolean({ error: "must be a boolean" })
    .nullish()
    .transform((value) => value ?? false),
  /**
   * Speaker labels: `labels` runs the diarization stage (a pool without its models refuses: 400
   * `diarization_unavailable`), `multichannel` transcribes each channel on its own as one speaker. Null: neither.
   */
  speakers: z
    .object({
      labels: z.boolean({ error: "must be a boolean" }),
      expected: SpeakerCount,
      min: SpeakerCount,
      max: SpeakerCount,
      multichannel: z.boolean({ error: "must be a boolean" }),
    })
    .refine((s) => !(s.labels && s.multichannel), { error: "labels and multichannel exclude each other" })
    .refine((s) => s.min === null || s.max === null || s.min <= s.max, { error: "min must not exceed max" })
    .nullish()
    .transform((value) => value ?? null),
});
/** A dispatch as the edge sends it (optional fields may be left out). */
export type DispatchBody = z.input<typeof DispatchSchema>;
/** A validated dispatch, every field present. */
export type Dispatch = z.output<typeof DispatchSchema>;

/** The pool's answer to an accepted dispatch (`202`). */
export interface DispatchAccepted {
  job_id: string;
  status: "queued";
  /** True when the pool already held this job id and changed nothing. */
  duplicate: boolean;
}

/** A field-level validation error, as listed in a 400 problem's `errors`. */
export interface FieldError {
  field: string;
  message: string;
}

/** One error per field (the first zod reports), in the order of the payload's fields; `""` is the body itself. */
export function fieldErrors(error: z.ZodError): FieldError[] {
  const seen = new Set<string>();
  const errors: FieldError[] = [];
  for (const issue of error.issues) {
    const field = issue.path.map(String).join(".");
    if (seen.has(field)) continue;
    seen.add(field);
    errors.push({ field, message: field === "" ? "the body must be a JSON object" : issue.message });
  }
  return errors;
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Result: POST {callback_url}

/** One transcript segment, times in seconds from the start of the audio. */
export const CallbackSegmentSchema = z.object({
  start: MediaSeconds,
  end: MediaSeconds,
  text: z.string().max(MAX_SEGMENT_TEXT_CHARS),
  /** a probability in [0, 1] */
  confidence: Probability.optional(),
  /** mean natural-log token probability of the segment */
  avg_logprob: z.number().min(-MAX_ABS_LOGPROB).max(MAX_ABS_LOGPROB).optional(),
  /** probability that the segment holds no speech */
  no_speech_prob: Probability.optional(),
  speaker: z.string().max(MAX_LABEL_CHARS).optional(),
});
export type CallbackSegment = z.infer<typeof CallbackSegmentSchema>;

/** One word timing, times in seconds. */
export const CallbackWordSchema = z.object({
  start: MediaSeconds,
  end: MediaSeconds,
  word: z.string().max(MAX_WORD_CHARS),
  confidence: Probability.optional(),
  speaker: z.string().max(MAX_LABEL_CHARS).optional(),
});
export type CallbackWord = z.infer<typeof CallbackWordSchema>;

/** The completed callback's `result`. */
export const CallbackResultSchema = z.object({
  text: z.string().max(MAX_TRANSCRIPT_CHARS),
  segments: z.array(CallbackSegmentSchema).max(MAX_SEGMENTS),
  words: z.array(CallbackWordSchema).max(MAX_WORDS).optional(),
  /** the detected or requested language, a code from the language list */
  language: z
    .string()
    .refine(isSupportedLanguage, { error: "language must be a supported ISO 639-1 code" })
    .nullable()
    .optional(),
  /** how sure the engine is of the language it detected (dispatch without a language), in [0, 1] */
  language_probability: Probability.optional(),
  duration_seconds: MediaSeconds.nullable().optional(),
  model: z.string().max(MAX_LABEL_CHARS),
  /** The task the pool ran; a pool older than the field leaves it out (the edge then knows it did not translate). */
  task: z.enum(POOL_TASKS).optional(),
  /** milliseconds per stage (`queue_ms`, `fetch_ms`, …) */
  timings: z
    .record(
      z.string().max(64),
      z
        .number()
        .min(0)
        .max(MAX_MEDIA_SECONDS * 1000),
    )
    .refine((timings) => Object.keys(timings).length <= MAX_TIMING_ENTRIES, {
      error: `timings has at most ${MAX_TIMING_ENTRIES} entries`,
    })
    .optional(),
});
export type CallbackResult = z.infer<typeof CallbackResultSchema>;

/** The failed callback's `error`. */
export const CallbackErrorSchema = z.object({
  code: z.string().max(64),
  message: z.string().max(MAX_ERROR_MESSAGE_CHARS),
  retryable: z.boolean().optional(),
});

/** The result callback body: `completed` with a result, or `failed` with an error. */
export const PoolCallbackSchema = z.discriminatedUnion("status", [
  z.object({ job_id: z.string().max(64), status: z.literal("completed"), result: CallbackResultSchema }),
  z.object({ job_id: z.string().max(64), status: z.literal("failed"), error: CallbackErrorSchema }),
]);
export type PoolCallbackBody = z.infer<typeof PoolCallbackSchema>;

// ---------------------------------------------------------------------------------------------------------------
// 4. Erasure: DELETE {POOL_URL}/v1/jobs/{job_id}

/**
 * What an erasure request signs in place of a body: the method and the job's path, so a signature cannot be replayed
 * against another job. `jobId` is the decoded path segment.
 */
export function erasureSigningString(jobId: string): string {
  return `DELETE /v1/jobs/${jobId}`;
}

/** What an erased job was, as the erasure answer reports it. */
export const ERASED_JOB_STATES = [
  "waiting",
  "active",
  "delayed",
  "prioritized",
  "completed",
  "failed",
  "waiting-children",
  "unknown",
  "absent",
] as const;
export type ErasedJobState = (typeof ERASED_JOB_STATES)[number];

/** The pool's `200` answer to an erasure. */
export const ErasureResponseSchema = z.object({
  job_id: z.string().max(64),
  /** true when the pool held anything for this id */
  erased: z.boolean(),
  state: z.enum(ERASED_JOB_STATES),
  callback: z.enum(ERASED_JOB_STATES),
});
export type ErasureResponse = z.infer<typeof ErasureResponseSchema>;

// ---------------------------------------------------------------------------------------------------------------
// 5. Audio redaction: POST {POOL_URL}/v1/redactions

/** Most spans one redaction request carries (one per redacted word, merged where they touch). */
export const MAX_REDACTION_SPANS = 10_000;

/** One stretch of audio to replace by the tone, in seconds from the start. */
export const RedactionSpanSchema = z
  .object({ start: MediaSeconds, end: MediaSeconds })
  .refine((span) => span.end > span.start, { error: "end must be after start" });
export type RedactionSpan = z.infer<typeof RedactionSpanSchema>;

/**
 * The redaction request: the pool fetches `audio_url`, decodes it with ffmpeg, replaces every span by a 1 kHz tone,
 * encodes 16-bit PCM WAV and PUTs it to `upload_url` (an edge URL signed with {@link signRedactionUpload}).
 * Unknown fields are dropped, as for dispatches.
 */
export const RedactionRequestSchema = z.object({
  job_id: JobId,
  audio_url: HttpUrl,
  audio_expires_at: z.number().int().positive(),
  upload_url: HttpUrl,
  /** may be empty: nothing to tone still turns the audio into the 16-bit WAV copy the job then keeps */
  spans: z.array(RedactionSpanSchema).max(MAX_REDACTION_SPANS, { error: `at most ${MAX_REDACTION_SPANS} spans` }),
});
export type RedactionRequestBody = z.input<typeof RedactionRequestSchema>;
export type RedactionRequest = z.output<typeof RedactionRequestSchema>;

/** The pool's `200` answer once the edge acknowledged the upload: what it sent. */
export const RedactionResponseSchema = z.object({
  job_id: z.string().max(64),
  /** bytes of the WAV the pool uploaded (header included) */
  bytes: z.number().int().nonnegative(),
  sample_rate: z.number().int().positive(),
  channels: z.number().int().positive(),
  duration_seconds: MediaSeconds,
});
export type RedactionResponse = z.infer<typeof RedactionResponseSchema>;

/** The edge's answer to the upload PUT: the plaintext bytes it sealed and stored. */
export const RedactionUploadResponseSchema = z.object({ stored: z.literal(true), bytes: z.number().int() });
export type RedactionUploadResponse = z.infer<typeof RedactionUploadResponseSchema>;
