/**
 * `POST /v1/audio/transcriptions` and `POST /v1/audio/translations`, OpenAI-compatible and backed by the normal job
 * pipeline: the upload becomes a job exactly like `POST /v1/transcriptions` (listed, retained, erasable, webhooks,
 * Idempotency-Key), then the request is held until the job is terminal (src/jobs/job-waiter.ts wakes it; no polling
 * here) and answered in the requested `response_format`, or as server-sent events with `stream=true`.
 *
 * A job still running after `SYNC_WAIT_SECONDS` is answered `504 transcription_pending` naming the job id, with
 * `Location: /v1/transcriptions/{id}` and `x-should-retry: false`, so the SDKs (which retry 5xx) do not upload again;
 * the job keeps running and is fetched by the native API. Replaying the request with the same `Idempotency-Key` waits
 * on the same job again instead of creating another.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";

import type { AppEnv } from "../../app.context.ts";
import { requireScope } from "../../auth/middleware.ts";
import { syncWaitSeconds } from "../../config.ts";
import { type RenderableTranscript, renderTranscript, sseData, streamEvents } from "../../domain/openai-format.ts";
import type { Env } from "../../env.ts";
import { ApiError } from "../../http/problem.ts";
import { waitForTerminalJob } from "../../jobs/job-waiter.ts";
import { log } from "../../lib/log.ts";
import type { JobTask, TranscriptionRow } from "../../storage/schema.ts";
import { getTranscript, withOpenedText } from "../../storage/transcript-store.ts";
import { acceptUpload } from "../accept-upload.ts";
import { headers as headerRefs, TAGS } from "../openapi.ts";
import { openAIError } from "./errors.ts";
import { LIST_FIELDS, resolveOpenAIAudioRequest } from "./fields.ts";
import {
  OPENAI_SHARED_ERRORS,
  OpenAIAudioForm,
  openAIError as openAIErrorEntry,
  OpenAITranscriptionSchema,
  OpenAIVerboseTranscriptionSchema,
} from "./schemas.ts";

/** An SSE comment this often while a streamed request waits, so proxies and clients see the connection alive. */
export const SSE_KEEPALIVE_MS = 15_000;

/** Job failures caused by the audio itself: answered 400 like OpenAI's "could not decode"; others are 502. */
const CALLER_FAILURE_CODES = new Set([
  "invalid_audio",
  "empty_audio",
  "audio_too_large",
  "provider_rejected_audio",
  "diarization_unsupported",
  "multichannel_unsupported",
]);

export const audio = new OpenAPIHono<AppEnv>();

const ROUTES: [path: string, task: JobTask, operationId: string, summary: string][] = [
  [
    "/v1/audio/transcriptions",
    "transcribe",
    "createAudioTranscription",
    "OpenAI-compatible: transcribe audio and wait for the text",
  ],
  [
    "/v1/audio/translations",
    "translate",
    "createAudioTranslation",
    "OpenAI-compatible: translate audio into English and wait for the text",
  ],
];

const requestIdHeader = {
  "x-request-id": {
    description: "The job's id (`tr_…`): the SDKs expose it as `_request_id`",
    schema: { type: "string" as const },
  },
};

for (const [path, task, operationId, summary] of ROUTES) {
  audio.openAPIRegistry.registerPath({
    method: "post",
    path,
    operationId,
    tags: [TAGS.openai],
    summary,
    description:
      "OpenAI's multipart fields (`file`, `model`, `language`, `prompt`, `response_format`, `temperature`, " +
      "`timestamp_granularities[]`, `stream`) plus our options as extra fields: `webhook_url`, `metadata`, " +
      "`subject_id`, `delete_after_seconds`, `keyterms` (or `keyterms[]`), the speaker options, `redact_pii`, " +
      "`redact_pii_policies` (or `redact_pii_policies[]`), `redact_pii_sub`, `redact_pii_audio`; not `provider` (the " +
      "model names it) nor `task` (the route is the task). Creates a normal job and holds the request until it finishes (at most " +
      "`SYNC_WAIT_SECONDS`). Errors use OpenAI's body. The key needs `transcriptions:write` and " +
      "`transcriptions:read` (the answer is the transcript).",
    security: [{ bearerAuth: ["transcriptions:write", "transcriptions:read"] }],
    request: {
      headers: z.object({
        "idempotency-key": z.string().min(1).max(255).optional().openapi({
          description: "the same key and request within 24 h waits on the same job again instead of creating one",
        }),
      }),
      body: { content: { "multipart/form-data": { schema: OpenAIAudioForm } } },
    },
    responses: {
      200: {
        description:
          "The transcript in `response_format` (`text`, `srt`, `vtt` as text/plain), or server-sent events with " +
          "`stream=true`",
        headers: { ...requestIdHeader, ...headerRefs.idempotentReplayed, ...headerRefs.rateLimit },
        content: {
          "application/json": { schema: z.union([OpenAITranscriptionSchema, OpenAIVerboseTranscriptionSchema]) },
          "text/plain": { schema: z.string() },
          "text/event-stream": { schema: z.string() },
        },
      },
      400: openAIErrorEntry("Bad field, unknown model, unsupported audio, or the job failed on its audio"),
      403: openAIErrorEntry("The key lacks a scope, or is the operator key (`permission_error`)"),
      404: openAIErrorEntry("The job was deleted while the request waited (`transcription_deleted`)"),
      409: openAIErrorEntry("The Idempotency-Key was used with a different request (`idempotency_key_reused`)"),
      413: openAIErrorEntry("Upload larger than MAX_UPLOAD_BYTES (`payload_too_large`)"),
      ...OPENAI_SHARED_ERRORS,
      429: openAIErrorEntry("The API key's requests, upload bytes per minute or concurrent uploads are spent", {
        ...headerRefs.retryAfter,
        ...headerRefs.rateLimit,
      }),
      502: openAIErrorEntry("The job failed at its provider (`code` is the job's error code)", headerRefs.location),
      504: openAIErrorEntry("Still running after SYNC_WAIT_SECONDS (`transcription_pending`)", headerRefs.location),
    },
  });
  audio.post(path, requireScope("transcriptions:write"), requireScope("transcriptions:read"), (c) =>
    transcribeAndWait(c, task),
  );
}

async function transcribeAndWait(c: Context<AppEnv>, task: JobTask): Promise<Response> {
  const { env } = c;
  const { created, resolved } = await acceptUpload(c, {
    multipartOnly: true,
    listFields: LIST_FIELDS,
    resolve: (fields, lists) => resolveOpenAIAudioRequest(fields, lists, env, task),
  });
  const job = created.job;
  const headers: Record<string, string> = { "x-request-id": job.id };
  if (created.kind === "replayed") headers["idempotent-replayed"] = "true";
  const waitSeconds = syncWaitSeconds(env);
  const wait = () => waitForTerminalJob(env, c.var.db, job.tenantId, job.id, waitSeconds * 1000, c.req.raw.signal);

  if (resolved.stream) {
    return streamWhenDone(c, job.id, headers, async () => finished(env, job.id, await wait(), waitSeconds, true));
  }
  // json and text need only the text and duration, which the row holds (inline up to TEXT_INLINE_LIMIT)
  const needsSegments = resolved.format !== "json" && resolved.format !== "text";
  const doc = await finished(env, job.id, await wait(), waitSeconds, needsSegments);
  const rendered = renderTranscript(doc, resolved.format, resolved.granularities);
  // c.body: keeps the headers set on the context (the upload policies' RateLimit fields)
  return c.body(rendered.body, 200, { ...headers, "content-type": rendered.contentType });
}

/**
 * The finished job's transcript, or the ApiError its state is answered with. Without `needsSegments` the row's
 * inline text and duration do, when it has both (one R2 read and decryption fewer on the default format).
 */
async function finished(
  env: Env,
  jobId: string,
  row: TranscriptionRow | null,
  waitedSeconds: number,
  needsSegments: boolean,
): Promise<RenderableTranscript> {
  if (!row)
    throw new ApiError(404, "transcription_deleted", `The transcription ${jobId} was deleted before it finished.`);
  const location = { location: `/v1/transcriptions/${jobId}`, "x-should-retry": "false" };
  if (row.status === "failed") {
    const code = row.errorCode ?? "transcription_failed";
    const reason = row.errorMessage ?? code;
    const message = `The transcription ${jobId} failed: ${reason}${/[.!?]$/.test(reason) ? "" : "."}`;
    throw new ApiError(CALLER_FAILURE_CODES.has(code) ? 400 : 502, code, message, undefined, location);
  }
  if (row.status !== "completed" || !row.transcriptKey) {
    const message =
      `The transcription ${jobId} is still ${row.status} after ${waitedSeconds} s (SYNC_WAIT_SECONDS). It keeps ` +
      `running: fetch it with GET /v1/transcriptions/${jobId}, or repeat this request with the same ` +
      "Idempotency-Key to wait for the same job again.";
    throw new ApiError(504, "transcription_pending", message, undefined, location);
  }
  const language = row.language ?? row.requestedLanguage;
  const { task, temperature } = row;
  if (!needsSegments && row.text !== null && row.durationSeconds !== null) {
    const { text } = await withOpenedText(env, row);
    return { task, text: text ?? "", segments: [], language, duration: row.durationSeconds, temperature };
  }
  const doc = await getTranscript(env, row.tenantId, row.transcriptKey);
  if (!doc) throw new ApiError(404, "transcript_gone", `The transcript of ${jobId} is no longer stored.`);
  return {
    task,
    text: doc.text,
    segments: doc.segments,
    words: doc.words,
    language: doc.language ?? language,
    duration: doc.duration_seconds ?? row.durationSeconds,
    temperature,
  };
}

/**
 * `stream=true`: answers `text/event-stream` at once, sends an SSE comment every {@link SSE_KEEPALIVE_MS} while the
 * job runs, then one `transcript.text.delta` per segment and `transcript.text.done`. A failure after the stream has
 * begun is sent as `data: {"error": {…}}`, which the SDKs raise as an APIError.
 */
function streamWhenDone(
  c: Context<AppEnv>,
  jobId: string,
  headers: Record<string, string>,
  transcript: () => Promise<RenderableTranscript>,
): Response {
  const encoder = new TextEncoder();
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  // a client that went away makes writes fail; the job itself carries on regardless
  const write = (text: string) => writer.write(encoder.encode(text)).catch(() => undefined);
  const sending = (async () => {
    const keepAlive = setInterval(() => void write(": waiting\n\n"), SSE_KEEPALIVE_MS);
    try {
      await write(`: ${jobId}\n\n`);
      for (const event of streamEvents(await transcript())) await write(sseData(event));
    } catch (error) {
      if (!(error instanceof ApiError)) log("openai_stream_error", { job_id: jobId, error: errorName(error) });
      const failure = error instanceof ApiError ? error : new ApiError(500, "internal_error", "Something went wrong.");
      await write(sseData(openAIError(failure).body));
    } finally {
      clearInterval(keepAlive);
      await writer.close().catch(() => undefined);
    }
  })();
  c.executionCtx.waitUntil(sending);
  return c.body(readable, 200, {
    ...headers,
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
  });
}

const errorName = (error: unknown) => (error instanceof Error ? error.name : "unknown");
