/** zod schemas of the OpenAI-compatible routes, for the OpenAPI document. */
import { z } from "@hono/zod-openapi";

import { OPENAI_RESPONSE_FORMATS, TIMESTAMP_GRANULARITIES } from "../../domain/openai-format.ts";
import { headers } from "../openapi.ts";
import { BooleanField, UploadOptions } from "../schemas.ts";

export const OpenAIErrorSchema = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.enum([
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "rate_limit_error",
        "server_error",
      ]),
      param: z.string().nullable(),
      code: z.string().nullable().openapi({ description: "our stable error code (docs/api.md)" }),
    }),
  })
  .openapi("OpenAIError");

type HeaderRefs = Record<string, { $ref: string }>;

/** An OpenAI-shaped error response entry (src/api/openai/errors.ts renders it). */
export const openAIError = (description: string, extraHeaders?: HeaderRefs) => ({
  description,
  ...(extraHeaders ? { headers: extraHeaders } : {}),
  content: { "application/json": { schema: OpenAIErrorSchema } },
});

/** The answers authentication and the request rate limit give on every OpenAI route, in OpenAI's shape. */
export const OPENAI_SHARED_ERRORS = {
  401: openAIError("Missing, unknown, revoked or expired API key (`authentication_error`)"),
  429: openAIError("The API key's requests per minute, or this address's failed authentications, are spent", {
    ...headers.retryAfter,
    ...headers.rateLimit,
  }),
  503: openAIError("The deployment fails closed (`admin_key_too_weak`, `encryption_not_configured`)"),
};

/** The multipart fields of `POST /v1/audio/transcriptions` and `/v1/audio/translations`. */
export const OpenAIAudioForm = z
  .object({
    file: z.any().openapi({ type: "string", format: "binary" }),
    model: z.string().openapi({ example: "whisper-1", description: "an id from GET /v1/models" }),
    response_format: z.enum(OPENAI_RESPONSE_FORMATS).optional(),
    temperature: z.string().optional().openapi({ description: "0 – 1", example: "0" }),
    "timestamp_granularities[]": z
      .array(z.enum(TIMESTAMP_GRANULARITIES))
      .optional()
      .openapi({ description: "`word` and/or `segment`, for verbose_json" }),
    stream: BooleanField.optional().openapi({ description: "answer with server-sent events" }),
    chunking_strategy: z.literal("auto").optional().openapi({ description: "accepted and ignored" }),
  })
  // our options, by the native rules; the model names the provider and the route is the task
  .merge(UploadOptions.omit({ provider: true, task: true }))
  .extend({
    "keyterms[]": z.array(z.string()).optional().openapi({
      description: "`keyterms` as the SDKs send an array (one field per term); or one `keyterms` field",
    }),
    "redact_pii_policies[]": z.array(z.string()).optional().openapi({
      description: "`redact_pii_policies` as the SDKs send an array; or one `redact_pii_policies` field",
    }),
  })
  .openapi("OpenAIAudioRequest");

const VerboseSegmentSchema = z.object({
  id: z.number().int(),
  seek: z.number().int(),
  start: z.number(),
  end: z.number(),
  text: z.string(),
  tokens: z.array(z.number().int()),
  temperature: z.number(),
  avg_logprob: z.number(),
  compression_ratio: z.number(),
  no_speech_prob: z.number(),
});

const UsageSchema = z.object({ type: z.literal("duration"), seconds: z.number().int() });

export const OpenAITranscriptionSchema = z
  .object({ text: z.string(), usage: UsageSchema })
  .openapi("OpenAITranscription");

export const OpenAIVerboseTranscriptionSchema = z
  .object({
    task: z.enum(["transcribe", "translate"]),
    language: z.string().openapi({ example: "english" }),
    duration: z.number(),
    text: z.string(),
    words: z.array(z.object({ word: z.string(), start: z.number(), end: z.number() })).optional(),
    segments: z.array(VerboseSegmentSchema).optional(),
    usage: UsageSchema,
  })
  .openapi("OpenAIVerboseTranscription");
