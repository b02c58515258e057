/**
 * One zod schema per payload: they validate requests, type the handlers and generate the OpenAPI document.
 */
import { z } from "@hono/zod-openapi";
import { SUPPORTED_LANGUAGES } from "@vtt/pool-contract";

import {
  MAX_AUDIO_URL_HEADER_VALUE_CHARS,
  MAX_AUDIO_URL_HEADERS,
  MAX_METADATA_BYTES,
  MAX_PROMPT_UTF16_UNITS,
  MAX_SUBJECT_ID_CHARS,
} from "../config.ts";
import { PII_ENTITY_TYPES, PII_SUBSTITUTIONS, type PiiEntityType } from "../domain/pii/index.ts";
import { MAX_QUERY_CHARS, MAX_QUERY_TERMS, MAX_QUERY_WORDS } from "../domain/search-tokens.ts";
import { MAX_SPEAKERS } from "../domain/speakers.ts";
import {
  CAPTION_LIMITS,
  DEFAULT_MAX_CUE_SECONDS,
  DEFAULT_MAX_LINE_LENGTH,
  DEFAULT_MAX_LINES_PER_CUE,
} from "../domain/subtitles.ts";
import { MAX_RETENTION_SECONDS } from "../jobs/retention-policy.ts";
import { MAX_KEYTERM_CHARS, MAX_KEYTERMS, MAX_KEYTERMS_TOTAL_CHARS } from "../providers/keyterms.ts";
import { PROVIDER_NAMES } from "../providers/types.ts";
import { JOB_STATUSES, JOB_TASKS } from "../storage/schema.ts";
import type { TranscriptDocument } from "../storage/transcript-store.ts";

// Control characters (C0 except tab/newline, DEL, C1) and bidi overrides never belong in stored text fields.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/;

export const LanguageParam = z
  .string()
  .refine((v) => v.toLowerCase() === "auto" || SUPPORTED_LANGUAGES.has(v.toLowerCase()), {
    message: "must be `auto` or a supported ISO 639-1 code",
  })
  .openapi({ example: "en", description: "ISO 639-1 code, or `auto` to detect" });

const metadataValue = z
  .string()
  .max(1024)
  .refine((v) => !CONTROL_CHARS.test(v), "contains control characters");

/** `metadata` arrives as a JSON string (multipart field or query parameter). */
export const MetadataParam = z
  .string()
  .refine(
    (v) => new TextEncoder().encode(v).byteLength <= MAX_METADATA_BYTES,
    `must be at most ${MAX_METADATA_BYTES} bytes`,
  )
  .transform((v, ctx) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      ctx.addIssue({ code: "custom", message: "must be a JSON object" });
      return z.NEVER;
    }
    // JSON.parse keeps a `__proto__` key as an own property, but copying it into a plain object drops it silently
    if (typeof parsed === "object" && parsed !== null && Object.hasOwn(parsed, "__proto__")) {
      ctx.addIssue({ code: "custom", message: "the key `__proto__` is not allowed" });
      return z.NEVER;
    }
    const result = z
      .record(
        z
          .string()
          .min(1)
          .max(64)
          .regex(/^[A-Za-z0-9_.:-]+$/, "keys use letters, digits and _ . : -"),
        metadataValue,
      )
      .refine((o) => Object.keys(o).length <= 32, "at most 32 keys")
      .safeParse(parsed);
    if (!result.success || typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      ctx.addIssue({ code: "custom", message: "must be a flat JSON object of string values" });
      return z.NEVER;
    }
    return result.data;
  })
  .openapi({ type: "string", example: '{"call_id":"42"}', description: "JSON object of string values, ≤ 4 KB" });

export const SubjectIdParam = z
  .string()
  .min(1)
  .max(MAX_SUBJECT_ID_CHARS)
  .regex(/^[A-Za-z0-9._:@-]+$/, "letters, digits and . _ : @ - only")
  .openapi({ description: "The person the recording is about (for subject deletion)" });

/** Counted in UTF-16 code units (JavaScript string length), as the pool counts it; an emoji is two. */
export const PromptParam = z
  .string()
  .refine((v) => v.length <= MAX_PROMPT_UTF16_UNITS, `must be at most ${MAX_PROMPT_UTF16_UNITS} UTF-16 code units`)
  .refine((v) => !CONTROL_CHARS.test(v), "contains control characters")
  .openapi({ description: `Vocabulary hint, ≤ ${MAX_PROMPT_UTF16_UNITS} UTF-16 code units (an emoji counts 2)` });

/** The keyterm list itself, however it arrived: trimmed, non-empty, within the limits. */
const KeytermList = z
  .array(z.string())
  .transform((terms) => terms.map((term) => term.trim()))
  .superRefine((terms, ctx) => {
    if (terms.length > MAX_KEYTERMS) ctx.addIssue({ code: "custom", message: `at most ${MAX_KEYTERMS} keyterms` });
    const empty = terms.findIndex((term) => term === "");
    if (empty >= 0) ctx.addIssue({ code: "custom", message: `keyterm ${empty + 1} is empty` });
    const long = terms.findIndex((term) => term.length > MAX_KEYTERM_CHARS);
    if (long >= 0)
      ctx.addIssue({ code: "custom", message: `keyterm ${long + 1} is longer than ${MAX_KEYTERM_CHARS} characters` });
    if (terms.some((term) => CONTROL_CHARS.test(term) || /[\n\t]/.test(term)))
      ctx.addIssue({ code: "custom", message: "keyterms must not contain control characters or line breaks" });
    const total = terms.reduce((sum, term) => sum + term.length, 0);
    if (total > MAX_KEYTERMS_TOTAL_CHARS)
      ctx.addIssue({ code: "custom", message: `keyterms are at most ${MAX_KEYTERMS_TOTAL_CHARS} characters together` });
  });

/**
 * `keyterms` as a multipart field or query parameter: a JSON array of strings (`["Acme","Jane Doe"]`), or a
 * comma-separated list (`Acme,Jane Doe`). A JSON body may send the array itself.
 */
export const KeytermsParam = z
  .union([z.string(), z.array(z.unknown())])
  .transform((value, ctx) => {
    // a value that looks like JSON is judged as JSON (a JSON object is refused, never taken as one keyterm)
    if (Array.isArray(value) || /^\s*[[{]/.test(value)) {
      let parsed: unknown = value;
      if (!Array.isArray(value)) {
        try {
          parsed = JSON.parse(value);
        } catch {
          ctx.addIssue({ code: "custom", message: "must be a JSON array of strings or a comma-separated list" });
          return z.NEVER;
        }
      }
      if (!Array.isArray(parsed) || parsed.some((term) => typeof term !== "string")) {
        ctx.addIssue({ code: "custom", message: "must be a JSON array of strings" });
        return z.NEVER;
      }
      return parsed as string[];
    }
    return value.split(",");
  })
  .pipe(KeytermList)
  .openapi({
    type: "string",
    example: '["Acme","Jane Doe","SKU-42"]',
    description:
      `Vocabulary hints: up to ${MAX_KEYTERMS} words or short phrases, each ≤ ${MAX_KEYTERM_CHARS} characters, ` +
      `≤ ${MAX_KEYTERMS_TOTAL_CHARS} together; a JSON array of strings or a comma-separated list. Sent as ` +
      "Deepgram `keyterm` (Nova-3; `keywords` for single words on older models) and appended to the Whisper " +
      "prompt (OpenAI, Workers AI, the pool) within the prompt limit",
  });

// The URL parser drops TAB, CR and LF anywhere and trims spaces and controls at the ends: such a URL is refused,
// never silently cleaned into another one.
// eslint-disable-next-line no-control-regex
const URL_WHITESPACE_OR_CONTROL = /[\u0000-\u0020\u007F]/;

export const WebhookUrlParam = z
  .string()
  .max(2048)
  .refine((v) => !URL_WHITESPACE_OR_CONTROL.test(v), "must not contain spaces, tabs, line breaks or control characters")
  .url()
  .openapi({ format: "uri" });

export const ProviderParam = z.enum(PROVIDER_NAMES);

/** `task`: `transcribe` (the default) or `translate` (into English, through providers that can). */
export const TaskParam = z.enum(JOB_TASKS, { message: "must be `transcribe` or `translate`" }).openapi({
  example: "translate",
  description:
    "`transcribe` (default) keeps the spoken language; `translate` gives English text whatever was spoken. " +
    "Translation runs only on providers that can (OpenAI's translations endpoint with a Whisper model, Workers AI's " +
    "whisper-large-v3-turbo, a pool with a multilingual model); without one enabled the submit is refused " +
    "(422 `translation_unsupported`). `language` then names the spoken language (a hint), the result's is `en`",
});

/** Seconds, as a multipart field / query string (digits only) or a JSON number. */
const RetentionSeconds = z
  .union([z.string().regex(/^\d{1,10}$/, "must be a whole number of seconds"), z.number().int()])
  .transform(Number)
  .pipe(z.number().int().min(0).max(MAX_RETENTION_SECONDS, `must be at most ${MAX_RETENTION_SECONDS} seconds`));

export const DeleteAfterParam = RetentionSeconds.openapi({
  type: "integer",
  example: 86400,
  description: "Delete the job (audio, transcript, webhook log) this many seconds after it finishes",
});

/**
 * The one boolean of every form field, query parameter and JSON value (a JSON boolean arrives spelled out): `true` or
 * `false`, case and surrounding spaces aside (`True` from clients that print booleans that way). The native options
 * and the OpenAI-compatible routes' fields (`stream`) all use it.
 */
export const BooleanField = z
  .string()
  .transform((v) => v.trim().toLowerCase())
  .pipe(z.enum(["true", "false"], { message: "must be `true` or `false`" }))
  .transform((v) => v === "true")
  .openapi({ type: "boolean" });

/** A number of speakers, 1 … MAX_SPEAKERS (digits, or a JSON integer spelled out). */
const SpeakerCountParam = z
  .string()
  .regex(/^\d{1,3}$/, "must be a whole number")
  .transform(Number)
  .pipe(z.number().int().min(1, "must be at least 1").max(MAX_SPEAKERS, `must be at most ${MAX_SPEAKERS}`))
  .openapi({ type: "integer", minimum: 1, maximum: MAX_SPEAKERS });
export const RedactPiiParam = BooleanField.openapi({
  type: "boolean",
  description: "Redact personal data from the transcript (text, segments, words) before anything is stored",
});

/**
 * `redact_pii_policies`: entity types, comma separated (form field, query) or a JSON array (JSON body, or a field
 * holding `["…"]`); each at most once. Unknown types are refused by name.
 */
export const RedactPiiPoliciesParam = z
  .string()
  .max(1000)
  .transform((v, ctx) => {
    let list: unknown;
    if (v.trim().startsWith("[")) {
      try {
        list = JSON.parse(v);
      } catch {
        list = null;
      }
      if (!Array.isArray(list) || !list.every((t) => typeof t === "string")) {
        ctx.addIssue({ code: "custom", message: "must be a JSON array of entity types" });
        return z.NEVER;
      }
    } else list = v.split(",");
    const types = (list as string[]).map((t) => t.trim());
    if (!types.length || types.some((t) => t === "")) {
      ctx.addIssue({ code: "custom", message: "must name at least one entity type, without empty entries" });
      return z.NEVER;
    }
    const unknown = types.find((t) => !(PII_ENTITY_TYPES as readonly string[]).includes(t));
    if (unknown !== undefined) {
      ctx.addIssue({
        code: "custom",
        message: `unknown entity type \`${unknown.slice(0, 64)}\`; one of ${PII_ENTITY_TYPES.join(", ")}`,
      });
      return z.NEVER;
    }
    if (new Set(types).size !== types.length) {
      ctx.addIssue({ code: "custom", message: "names an entity type twice" });
      return z.NEVER;
    }
    return types as PiiEntityType[];
  })
  .openapi({
    type: "string",
    example: "phone_number,credit_card_number",
    description: `Entity types to redact, comma separated (a JSON array in a JSON body); default: all of ${PII_ENTITY_TYPES.join(", ")}`,
  });

export const RedactPiiSubParam = z
  .enum(PII_SUBSTITUTIONS, { message: `must be one of ${PII_SUBSTITUTIONS.join(", ")}` })
  .openapi({
    description:
      "What replaces an entity: `entity_name` (default) → `[PHONE_NUMBER]`, `hash` → `#####`, `mask` → every letter and digit as `*`",
  });

export const RedactPiiAudioParam = BooleanField.openapi({
  type: "boolean",
  description:
    "Also replace the stored audio by a copy with a tone over every redacted word's time span (WAV, MP3, FLAC, Ogg; a compressed file's copy is 16-bit PCM WAV); the original is deleted",
});

/** Options of `POST /v1/transcriptions`, as multipart fields or query parameters. */
export const UploadOptions = z
  .object({
    language: LanguageParam.optional(),
    provider: z
      .string()
      .optional()
      .openapi({ enum: [...PROVIDER_NAMES] }),
    webhook_url: WebhookUrlParam.optional(),
    metadata: MetadataParam.optional(),
    subject_id: SubjectIdParam.optional(),
    prompt: PromptParam.optional(),
    keyterms: KeytermsParam.optional(),
    delete_after_seconds: DeleteAfterParam.optional(),
    task: TaskParam.optional(),
    speaker_labels: BooleanField.optional().openapi({
      description: "label who spoke: segments and words gain `speaker` (`A`, `B`, … in order of first appearance)",
    }),
    speakers_expected: SpeakerCountParam.optional().openapi({
      description: "how many speakers there are, when known (needs `speaker_labels`; not with min/max)",
    }),
    min_speakers: SpeakerCountParam.optional().openapi({
      description: "at least this many speakers (needs `speaker_labels`)",
    }),
    max_speakers: SpeakerCountParam.optional().openapi({
      description: "at most this many speakers (needs `speaker_labels`)",
    }),
    multichannel: BooleanField.optional().openapi({
      description:
        "each channel is transcribed on its own and is one speaker, merged by time (call recordings); mono audio " +
        "gives one speaker. Not with `speaker_labels`",
    }),
    redact_pii: RedactPiiParam.optional(),
    redact_pii_policies: RedactPiiPoliciesParam.optional(),
    redact_pii_sub: RedactPiiSubParam.optional(),
    redact_pii_audio: RedactPiiAudioParam.optional(),
  })
  .strict()
  .openapi("UploadOptions");
export type UploadOptionsInput = z.input<typeof UploadOptions>;
export type UploadOptionsParsed = z.output<typeof UploadOptions>;

export const AudioUrlParam = z
  .string()
  .max(2048)
  .refine((v) => !URL_WHITESPACE_OR_CONTROL.test(v), "must not contain spaces, tabs, line breaks or control characters")
  .url()
  .openapi({
    format: "uri",
    example: "https://media.example.com/calls/42.wav",
    description: "http(s) URL the service fetches the audio from (up to 5 redirects, each re-checked)",
  });

// Headers the fetch itself owns (framing, routing, hop-by-hop) or that would make it something other than a plain GET.
const RESERVED_FETCH_HEADERS: ReadonlySet<string> = new Set([
  "host",
  "content-length",
  "content-type",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-authenticate",
  "proxy-connection",
  "te",
  "trailer",
  "upgrade",
  "expect",
  "range",
  "accept-encoding",
  "cookie",
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
  "x-real-ip",
  "cf-connecting-ip",
]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;
// visible ASCII, space and tab; no CR/LF (header splitting) and no leading/trailing space (a fetch would trim it)
const HEADER_VALUE = /^[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?$/;

/**
 * `audio_url_headers`: string headers sent with the fetch (a bearer for a private bucket). Sealed at rest, never
 * logged, only sent to the URL's own origin (dropped on a redirect to another origin).
 */
export const AudioUrlHeadersParam = z
  .record(z.string(), z.unknown())
  .superRefine((headers, ctx) => {
    const names = Object.keys(headers);
    if (names.length > MAX_AUDIO_URL_HEADERS) {
      ctx.addIssue({ code: "custom", message: `at most ${MAX_AUDIO_URL_HEADERS} headers` });
    }
    const seen = new Set<string>();
    for (const name of names) {
      const value = headers[name];
      const lower = name.toLowerCase();
      if (!HEADER_NAME.test(name))
        ctx.addIssue({ code: "custom", message: "header names are 1–64 token characters (RFC 9110)" });
      else if (RESERVED_FETCH_HEADERS.has(lower) || lower.startsWith("cf-") || lower.startsWith("sec-"))
        ctx.addIssue({ code: "custom", message: `\`${name}\` is set by the fetch itself and cannot be sent` });
      else if (seen.has(lower)) ctx.addIssue({ code: "custom", message: `\`${name}\` is given twice` });
      else if (
        typeof value !== "string" ||
        value.length > MAX_AUDIO_URL_HEADER_VALUE_CHARS ||
        !HEADER_VALUE.test(value)
      )
        ctx.addIssue({
          code: "custom",
          message: `\`${name}\` must be a string of printable ASCII, at most ${MAX_AUDIO_URL_HEADER_VALUE_CHARS} characters`,
        });
      seen.add(lower);
    }
  })
  .transform((headers) => headers as Record<string, string>)
  .openapi({
    type: "object",
    additionalProperties: { type: "string" },
    example: { authorization: "Bearer …" },
    description: `≤ ${MAX_AUDIO_URL_HEADERS} string headers sent with the fetch (e.g. a bearer for a private bucket)`,
  });

/**
 * The audio source of a submission by URL: a JSON body's `audio_url`/`audio_url_headers`, or the same multipart
 * fields (the headers as a JSON string there). The other fields are {@link UploadOptions}.
 */
export const AudioUrlSource = z
  .object({ audio_url: AudioUrlParam, audio_url_headers: AudioUrlHeadersParam.optional() })
  .strict()
  .openapi("AudioUrlSource");
export type AudioUrlSourceParsed = z.output<typeof AudioUrlSource>;

/** A JSON submission (`Content-Type: application/json`), as documented; validated as source + options. */
export const UrlTranscriptionRequest = AudioUrlSource.merge(UploadOptions)
  .extend({
    metadata: z
      .record(z.string(), z.string())
      .optional()
      .openapi({ description: "flat object of string values, ≤ 4 KB (a JSON string is accepted too)" }),
    delete_after_seconds: z.number().int().optional(),
    keyterms: z
      .array(z.string())
      .optional()
      .openapi({ description: "array of strings (a JSON string or comma-separated list is accepted too)" }),
    speaker_labels: z.boolean().optional(),
    speakers_expected: z.number().int().min(1).max(MAX_SPEAKERS).optional(),
    min_speakers: z.number().int().min(1).max(MAX_SPEAKERS).optional(),
    max_speakers: z.number().int().min(1).max(MAX_SPEAKERS).optional(),
    multichannel: z.boolean().optional(),
    redact_pii: z.boolean().optional().openapi({ description: "redact personal data before anything is stored" }),
    redact_pii_policies: z
      .array(z.enum(PII_ENTITY_TYPES))
      .optional()
      .openapi({ description: "entity types to redact; default: all" }),
    redact_pii_audio: z
      .boolean()
      .optional()
      .openapi({ description: "also tone out the redacted spans in the stored audio (PCM WAV)" }),
  })
  .openapi("UrlTranscriptionRequest");

/** Which stable error code a failing field maps to. */
export const FIELD_ERROR_CODES: Record<string, string> = {
  language: "invalid_language",
  metadata: "invalid_metadata",
  webhook_url: "invalid_webhook_url",
  provider: "unknown_provider",
  subject_id: "invalid_subject_id",
  prompt: "invalid_prompt",
  keyterms: "invalid_keyterms",
  delete_after_seconds: "invalid_delete_after_seconds",
  task: "invalid_task",
  audio_url: "invalid_audio_url",
  audio_url_headers: "invalid_audio_url_headers",
  speaker_labels: "invalid_speaker_labels",
  speakers_expected: "invalid_speaker_count",
  min_speakers: "invalid_speaker_count",
  max_speakers: "invalid_speaker_count",
  multichannel: "invalid_multichannel",
  redact_pii: "invalid_redact_pii",
  redact_pii_policies: "invalid_redact_pii_policies",
  redact_pii_sub: "invalid_redact_pii_sub",
  redact_pii_audio: "invalid_redact_pii_audio",
};

export const SegmentSchema = z
  .object({
    start: z.number(),
    end: z.number(),
    text: z.string(),
    /** a probability in [0, 1] (Deepgram) */
    confidence: z.number().optional(),
    /** Whisper engines: mean token log-probability of the segment */
    avg_logprob: z.number().optional(),
    /** Whisper engines: probability that the segment holds no speech */
    no_speech_prob: z.number().min(0).max(1).optional(),
    speaker: z.string().optional().openapi({
      example: "A",
      description: "`A`, `B`, … in order of first appearance (speaker labels, multichannel)",
    }),
  })
  .openapi("Segment");
export const WordSchema = z
  .object({
    start: z.number(),
    end: z.number(),
    word: z.string(),
    confidence: z.number().optional(),
    speaker: SegmentSchema.shape.speaker,
  })
  .openapi("Word");

export const SpeakerSchema = z
  .object({
    label: z.string().openapi({ example: "A" }),
    talk_time_seconds: z
      .number()
      .openapi({ example: 12.34, description: "the union of the speaker's segments' spans, in seconds" }),
  })
  .openapi("Speaker");

/**
 * The stored transcript (src/storage/transcript-store.ts: a provider's NormalisedTranscript), as
 * `GET /v1/transcriptions/{id}/transcript?format=json` answers it with the job id. The job object's `text`,
 * `segments`, `language`, `duration_seconds` and `model` take their shapes from here.
 */
export const TranscriptDocumentSchema = z.object({
  text: z.string(),
  segments: z.array(SegmentSchema),
  words: z.array(WordSchema).optional().openapi({ description: "word timings, when the provider returns them" }),
  language: z.string().nullable().openapi({ example: "en", description: "ISO 639-1 code when known" }),
  language_probability: z
    .number()
    .min(0)
    .max(1)
    .optional()
    .openapi({
      example: 0.97,
      description:
        "with `language=auto`: how sure the provider is of the language it detected (Deepgram, Workers AI, the pool " +
        "when its engine reports it); absent when the language was given, on translations, and from OpenAI",
    }),
  duration_seconds: z.number().nullable(),
  model: z.string().openapi({ example: "whisper-1", description: "the provider's model that actually ran" }),
  speakers: z
    .array(SpeakerSchema)
    .optional()
    .openapi({ description: "only for jobs with `speaker_labels` or `multichannel`: each speaker in label order" }),
});
// one schema, not a copy: these fail to compile when the stored document and the schema drift apart
type TranscriptDocumentOut = z.infer<typeof TranscriptDocumentSchema>;
type Holds<T extends true> = T;
export type TranscriptMatchesStorage = [
  Holds<TranscriptDocument extends TranscriptDocumentOut ? true : false>,
  Holds<TranscriptDocumentOut extends TranscriptDocument ? true : false>,
];

export const TranscriptSchema = TranscriptDocumentSchema.extend({
  id: z.string().openapi({ example: "tr_01JD7Y7W8Q3N5X6T2R9M4K1B0C" }),
}).openapi("Transcript");

export const JobErrorSchema = z.object({ code: z.string(), message: z.string() }).openapi("JobError");

/**
 * Where the audio came from. For `audio_url` jobs only the host is shown: paths and query strings often carry
 * tokens (signed URLs), and the submitted URL is kept sealed.
 */
export const JobSourceSchema = z
  .discriminatedUnion("type", [
    z.object({ type: z.literal("upload") }),
    z.object({
      type: z.literal("url"),
      host: z.string().nullable().openapi({ example: "media.example.com" }),
      fetched_at: z.string().nullable().openapi({ format: "date-time", description: "null until fetched" }),
    }),
  ])
  .openapi("JobSource");

/** The speaker options a job was created with, as the caller sent them. */
export const SpeakerOptionsSchema = z
  .object({
    speaker_labels: z.boolean(),
    speakers_expected: z.number().int().nullable(),
    min_speakers: z.number().int().nullable(),
    max_speakers: z.number().int().nullable(),
    multichannel: z.boolean(),
  })
  .openapi("SpeakerOptions");
/** The PII redaction a job asked for and what it did; null on the job object when `redact_pii` was not set. */
export const JobRedactionSchema = z
  .object({
    policies: z.array(z.enum(PII_ENTITY_TYPES)).openapi({ description: "the entity types redacted" }),
    substitution: z.enum(PII_SUBSTITUTIONS),
    audio: z.boolean().openapi({ description: "`redact_pii_audio`: the stored audio carries a tone over each span" }),
    entities: z
      .partialRecord(z.enum(PII_ENTITY_TYPES), z.number().int())
      .nullable()
      .openapi({
        description: "entities redacted from the text, per type; null until completed",
        example: { phone_number: 2 },
      }),
    audio_spans: z
      .array(z.object({ start: z.number(), end: z.number() }))
      .nullable()
      .openapi({ description: "seconds of the stored audio replaced by the tone; null unless audio was redacted" }),
  })
  .openapi("TranscriptionRedaction");

export const JobSchema = z
  .object({
    id: z.string().openapi({ example: "tr_01JD7Y7W8Q3N5X6T2R9M4K1B0C" }),
    object: z.literal("transcription"),
    status: z.enum(JOB_STATUSES),
    provider: z.string(),
    task: z.enum(JOB_TASKS).openapi({
      description: "`transcribe`, or `translate` (the text is English; `language` is `en` once completed)",
    }),
    model: TranscriptDocumentSchema.shape.model.nullable(),
    language: TranscriptDocumentSchema.shape.language,
    language_probability: z.number().min(0).max(1).nullable().openapi({
      example: 0.97,
      description:
        "how sure the provider is of the detected language (`language=auto`); null when not detected or not reported",
    }),
    duration_seconds: TranscriptDocumentSchema.shape.duration_seconds,
    text: TranscriptDocumentSchema.shape.text.nullable(),
    segments: TranscriptDocumentSchema.shape.segments.nullable(),
    speakers: TranscriptDocumentSchema.shape.speakers,
    speaker_options: SpeakerOptionsSchema.optional().openapi({
      description: "present only when the job asked for `speaker_labels` or `multichannel`",
    }),
    error: JobErrorSchema.nullable(),
    attempts: z.number().int(),
    delayed: z.boolean().openapi({ description: "true while the job waits for its provider to recover" }),
    delay_reason: z.string().nullable().openapi({ example: "provider_unavailable" }),
    notice: z.string().nullable().openapi({ example: "processing delayed" }),
    metadata: z.record(z.string(), z.string()),
    subject_id: z.string().nullable(),
    keyterms: z.array(z.string()).openapi({ description: "the job's vocabulary hints; empty when none were given" }),
    file_name: z.string().nullable(),
    audio_bytes: z.number().int().openapi({ description: "0 until the audio of an `audio_url` job is fetched" }),
    audio_format: z
      .string()
      .openapi({ description: "wav, mp3, flac, ogg, webm or mp4; `pending` until an `audio_url` is fetched" }),
    source: JobSourceSchema,
    upload_id: z.string().nullable().openapi({
      example: "up_01JD7Y7W8Q3N5X6T2R9M4K1B0C",
      description: "the tus upload (`/v1/uploads`) it came through",
    }),
    webhook_url: z.string().nullable(),
    created_at: z.string().openapi({ format: "date-time" }),
    started_at: z.string().nullable().openapi({ format: "date-time" }),
    completed_at: z.string().nullable().openapi({ format: "date-time" }),
    delete_after_seconds: z.number().int().nullable(),
    audio_expires_at: z
      .string()
      .nullable()
      .openapi({ format: "date-time", description: "when the purge deletes the audio (set once the job finishes)" }),
    audio_deleted_at: z.string().nullable().openapi({ format: "date-time" }),
    expires_at: z.string().nullable().openapi({
      format: "date-time",
      description: "when the purge deletes the whole job; null keeps it until deleted",
    }),
    redaction: JobRedactionSchema.nullable(),
  })
  .openapi("Transcription");
export type JobObject = z.infer<typeof JobSchema>;

export const JobListSchema = z
  .object({ data: z.array(JobSchema), next_cursor: z.string().nullable() })
  .openapi("TranscriptionList");

/** A date-time (RFC 3339) or a date (`2026-12-01`, midnight UTC) bounding a listing. */
const ListDate = z
  .string()
  .max(40)
  .transform((v, ctx) => {
    const ms = /^\d{4}-\d{2}-\d{2}$/.test(v) ? Date.parse(`${v}T00:00:00Z`) : Date.parse(v);
    if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(ms)) {
      ctx.addIssue({ code: "custom", message: "must be an RFC 3339 date-time or a YYYY-MM-DD date" });
      return z.NEVER;
    }
    return ms;
  })
  .openapi({ type: "string", example: "2026-12-01" });

export const ListQuery = z.object({
  status: z.enum(JOB_STATUSES).optional(),
  created_after: ListDate.optional().openapi({
    description: "jobs created at or after this instant (a bare date means its midnight UTC)",
  }),
  created_before: ListDate.optional().openapi({ description: "jobs created before this instant" }),
  provider: z.enum(PROVIDER_NAMES).optional().openapi({ description: "jobs assigned to this provider" }),
  subject_id: SubjectIdParam.optional(),
  metadata_key: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_.:-]+$/, "keys use letters, digits and _ . : -")
    .optional()
    .openapi({ description: "jobs whose metadata has this key (with `metadata_value`: this value)" }),
  metadata_value: metadataValue.optional(),
  limit: z.coerce.number().int().min(1).max(100).optional().openapi({ example: 20 }),
  cursor: z.string().max(200).optional(),
  q: z
    .string()
    .max(MAX_QUERY_CHARS)
    .optional()
    .openapi({
      description:
        'Search inside completed transcripts: every bare word must occur, a "quoted phrase" in order. Case, ' +
        `accents and punctuation are ignored; at most ${MAX_QUERY_TERMS} terms and ${MAX_QUERY_WORDS} words.`,
      example: 'refund "account number"',
    }),
});

export const TranscriptFormat = z.enum(["txt", "srt", "vtt", "json"]);

/** A whole number from a query string: digits only, within `[min, max]`. */
const queryInteger = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,6}$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

/** Seconds from a query string: digits with up to 3 decimals (milliseconds), at most `max`. */
const querySeconds = (max: number, positive: boolean) =>
  z
    .string()
    .regex(/^\d{1,6}(\.\d{1,3})?$/, "must be a number of seconds with at most 3 decimals")
    .transform(Number)
    .pipe(
      positive
        ? z.number().positive("must be more than 0").max(max, `must be at most ${max}`)
        : z.number().min(0).max(max, `must be at most ${max}`),
    );

/** The caption controls of {@link TranscriptQuery}, and the stable code of each one's errors (422). */
export const CAPTION_QUERY_FIELDS = ["max_line_chars", "max_lines", "max_cue_seconds", "min_cue_seconds"] as const;
export const CAPTION_FIELD_ERROR_CODES: Record<(typeof CAPTION_QUERY_FIELDS)[number], string> = {
  max_line_chars: "invalid_max_line_chars",
  max_lines: "invalid_max_lines",
  max_cue_seconds: "invalid_max_cue_seconds",
  min_cue_seconds: "invalid_min_cue_seconds",
};

/**
 * Query of `GET /v1/transcriptions/{id}/transcript`. The caption controls apply to `srt` and `vtt`; giving any of
 * them switches to the caption layout (src/domain/subtitles.ts buildCaptionCues), the others taking their defaults.
 */
export const TranscriptQuery = z
  .object({
    format: TranscriptFormat.optional(),
    max_line_chars: queryInteger(CAPTION_LIMITS.maxLineChars.min, CAPTION_LIMITS.maxLineChars.max)
      .optional()
      .openapi({
        type: "integer",
        minimum: CAPTION_LIMITS.maxLineChars.min,
        maximum: CAPTION_LIMITS.maxLineChars.max,
        description: `srt/vtt: longest caption line in characters (code points); default ${DEFAULT_MAX_LINE_LENGTH}`,
      }),
    max_lines: queryInteger(CAPTION_LIMITS.maxLines.min, CAPTION_LIMITS.maxLines.max)
      .optional()
      .openapi({
        type: "integer",
        minimum: CAPTION_LIMITS.maxLines.min,
        maximum: CAPTION_LIMITS.maxLines.max,
        description: `srt/vtt: most lines in one cue; default ${DEFAULT_MAX_LINES_PER_CUE}`,
      }),
    max_cue_seconds: querySeconds(CAPTION_LIMITS.cueSeconds.max, true)
      .optional()
      .openapi({
        type: "number",
        exclusiveMinimum: 0,
        maximum: CAPTION_LIMITS.cueSeconds.max,
        description:
          `srt/vtt: longest cue in seconds; default ${DEFAULT_MAX_CUE_SECONDS} once any caption parameter is given ` +
          "(only a single word that lasts longer makes a longer cue)",
      }),
    min_cue_seconds: querySeconds(CAPTION_LIMITS.cueSeconds.max, false).optional().openapi({
      type: "number",
      minimum: 0,
      maximum: CAPTION_LIMITS.cueSeconds.max,
      description: "srt/vtt: shortest cue in seconds (held on screen, never into the next cue); default 0",
    }),
  })
  .superRefine((query, ctx) => {
    const captions = CAPTION_QUERY_FIELDS.filter((field) => query[field] !== undefined);
    if (captions.length && query.format !== "srt" && query.format !== "vtt")
      ctx.addIssue({
        code: "custom",
        path: [captions[0]!],
        message: "caption parameters apply to format=srt or format=vtt only",
      });
    const max = query.max_cue_seconds ?? DEFAULT_MAX_CUE_SECONDS;
    if (query.min_cue_seconds !== undefined && query.min_cue_seconds > max)
      ctx.addIssue({ code: "custom", path: ["min_cue_seconds"], message: `must not exceed max_cue_seconds (${max})` });
  });
export type TranscriptQueryParsed = z.output<typeof TranscriptQuery>;

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.string(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .openapi("Problem");

const RetentionSettings = z
  .object({
    audio_seconds: RetentionSeconds.nullable().optional().openapi({
      type: "integer",
      description: `seconds audio is kept after its job finishes (≤ 30 days); null = service default`,
    }),
    transcript_seconds: RetentionSeconds.nullable()
      .optional()
      .openapi({ type: "integer", description: "seconds a finished job is kept; null = until deleted" }),
  })
  .strict();

export const TenantCreate = z
  .object({
    name: z
      .string()
      .min(1)
      .max(200)
      .refine((v) => !CONTROL_CHARS.test(v), "contains control characters"),
    retention: RetentionSettings.optional(),
    region: z.string().max(16).optional().openapi({
      description:
        "Where the tenant's audio, transcripts, rows and queue messages live: one of the configured regions (`PLACEMENT`; locally `us` and `eu`). Default: the first region. Fixed after creation (moving a tenant is an operator command).",
      example: "eu",
    }),
  })
  .strict()
  .openapi("TenantCreate");
export const TenantUpdate = z.object({ retention: RetentionSettings }).strict().openapi("TenantUpdate");
export const TenantSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    created_at: z.string(),
    retention: z.object({ audio_seconds: z.number().int(), transcript_seconds: z.number().int().nullable() }),
    region: z.string().openapi({ description: "The region that holds the tenant's data.", example: "us" }),
    shard: z.string().openapi({ description: "The job shard of the region that holds its jobs.", example: "us0" }),
  })
  .openapi("Tenant");

/** `POST /v1/admin/tenants/{tenant}/move`: a shard by code, or a region (its accepting shard with the fewest tenants). */
export const TenantMove = z
  .object({
    shard: z
      .string()
      .max(16)
      .optional()
      .openapi({ description: "The target job shard's code (`PLACEMENT`; locally `us0`, `eu0`).", example: "eu0" }),
    region: z.string().max(16).optional().openapi({
      description: "The target region: its accepting shard with the fewest tenants.",
      example: "eu",
    }),
  })
  .strict()
  .refine((v) => (v.shard === undefined) !== (v.region === undefined), {
    message: "send exactly one of `shard` and `region`",
  })
  .openapi("TenantMove");

const MovePlace = z.object({ region: z.string(), shard: z.string() });

export const TenantMoveResult = z
  .object({
    status: z.literal("completed"),
    moved: z.boolean().openapi({ description: "false when the tenant already was there (a re-run): nothing copied" }),
    from: MovePlace,
    to: MovePlace,
    copied: z.object({
      rows: z.record(z.string(), z.number().int()).openapi({ description: "rows per table in the new shard" }),
      objects: z
        .object({ objects: z.number().int(), bytes: z.number().int() })
        .optional()
        .openapi({ description: "objects copied to the new region's bucket (region moves only)" }),
    }),
    deleted: z.object({ rows: z.number().int(), objects: z.number().int() }).openapi({
      description: "what was deleted from the former shard and bucket",
    }),
    tenant: TenantSchema,
  })
  .openapi("TenantMoveResult");

export const KeyCreate = z
  .object({
    name: z.string().max(200).optional(),
    scopes: z
      .array(z.enum(["transcriptions:write", "transcriptions:read", "admin"]))
      .min(1)
      .optional(),
    expires_at: z.string().datetime().optional(),
  })
  .openapi("ApiKeyCreate");
export const KeyCreated = z
  .object({
    id: z.string(),
    tenant_id: z.string(),
    name: z.string().nullable(),
    key: z.string().openapi({ description: "Shown once; only its hash is stored" }),
    prefix: z.string(),
    scopes: z.array(z.string()),
    created_at: z.string(),
    expires_at: z.string().nullable(),
  })
  .openapi("ApiKeyCreated");

export const ApiKeySchema = z
  .object({
    id: z.string(),
    tenant_id: z.string(),
    name: z.string().nullable(),
    prefix: z.string().openapi({ description: "the key's first characters, to tell keys apart; never the key" }),
    scopes: z.array(z.string()),
    status: z.enum(["active", "revoked", "expired"]),
    created_at: z.string(),
    expires_at: z.string().nullable(),
    revoked_at: z.string().nullable(),
    last_used_at: z.string().nullable(),
  })
  .openapi("ApiKey");

export const TenantListSchema = z
  .object({ data: z.array(TenantSchema), next_cursor: z.string().nullable() })
  .openapi("TenantList");

export const ApiKeyListSchema = z.object({ data: z.array(ApiKeySchema) }).openapi("ApiKeyList");

/** What an erasure removed, kept in the audit log without personal data. */
export const ErasureReceiptSchema = z
  .object({
    receipt_id: z.string(),
    scope: z.enum(["subject", "tenant", "retention"]),
    erased: z.object({
      transcriptions: z.number().int(),
      audio_objects: z.number().int(),
      transcript_objects: z.number().int(),
      webhook_events: z.number().int(),
      webhook_attempts: z.number().int(),
      dead_letters: z.number().int(),
      api_keys: z.number().int(),
      tenants: z.number().int(),
      pool_jobs: z.number().int(),
      pool_jobs_unconfirmed: z.number().int(),
      job_features: z.number().int(),
      feedback: z.number().int(),
      search_tokens: z.number().int().openapi({ description: "word positions of the transcript search index" }),
      resumable_uploads: z.number().int().openapi({ description: "unfinished tus uploads (parts, tails, state)" }),
    }),
    completed_at: z.string(),
  })
  .openapi("ErasureReceipt");

// ---------- operator console forms (src/api/console/operator.tsx): urlencoded, so every field arrives as text ----------

/** An empty form field means "not set" (null); anything else must be a retention window in seconds. */
const RetentionField = z.union([z.literal("").transform(() => null), RetentionSeconds]);

/** `POST /console/operator/tenants`: the name rule of TenantCreate. */
export const ConsoleTenantForm = z.object({ name: TenantCreate.shape.name });

/** `POST /console/operator/tenants/{tenant}/retention`: empty resets audio to the default, transcripts to "kept". */
export const ConsoleRetentionForm = z.object({
  audio_seconds: RetentionField,
  transcript_seconds: RetentionField,
});

/** `POST /console/operator/tenants/{tenant}/keys`: one checkbox per scope; expiry a UTC date (the key ends at its 00:00). */
export const ConsoleKeyForm = z
  .object({
    name: z
      .string()
      .trim()
      .max(200)
      .refine((v) => !CONTROL_CHARS.test(v), "contains control characters")
      .optional(),
    scope_write: z.literal("on").optional(),
    scope_read: z.literal("on").optional(),
    scope_admin: z.literal("on").optional(),
    expires_on: z.union([z.literal(""), z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "a date as YYYY-MM-DD")]).optional(),
  })
  .transform((form): z.input<typeof KeyCreate> => ({
    name: form.name || undefined,
    scopes: [
      ...(form.scope_write ? (["transcriptions:write"] as const) : []),
      ...(form.scope_read ? (["transcriptions:read"] as const) : []),
      ...(form.scope_admin ? (["admin"] as const) : []),
    ],
    expires_at: form.expires_on ? `${form.expires_on}T00:00:00.000Z` : undefined,
  }))
  .refine((form) => (form.scopes?.length ?? 0) > 0, { message: "choose at least one scope", path: ["scopes"] })
  .pipe(KeyCreate);

/**
 * The job shards left out of an operator answer that reads every shard (`/v1/admin/dead-letters`, drift, quality,
 * search reindex): empty when every shard answered. The rest of the answer is still served.
 */
export const ShardFailures = z
  .array(
    z.object({
      shard: z.string().openapi({ example: "eu0" }),
      error: z.enum(["storage_unavailable", "shard_timeout", "internal_error"]),
    }),
  )
  .openapi("ShardFailures", {
    description: "Shards that failed or did not answer in time; their part is missing from this answer.",
  });
