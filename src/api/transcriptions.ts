/** `/v1/transcriptions`: upload, read, list, export and delete jobs, always within the caller's tenant. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../app.context.ts";
import { grantsScope } from "../auth/api-keys.ts";
import { requireScope, tenantOf } from "../auth/middleware.ts";
import { isProviderDown } from "../breaker/availability.ts";
import { DEFAULT_LIST_LIMIT, MAX_PREFER_WAIT_SECONDS } from "../config.ts";
import { parseSearchQuery, SearchQueryError } from "../domain/search-tokens.ts";
import { type CaptionOptions, captionsToSrt, captionsToVtt, toPlainText, toSrt, toVtt } from "../domain/subtitles.ts";
import type { Env } from "../env.ts";
import { preferredWaitSeconds } from "../http/prefer.ts";
import { ApiError } from "../http/problem.ts";
import { isBacklogLarge } from "../jobs/backlog.ts";
import { deleteTenantTranscription } from "../jobs/delete-job.ts";
import { waitForTerminalJob } from "../jobs/job-waiter.ts";
import { isTerminal } from "../jobs/state.ts";
import { isWellFormedId } from "../lib/ids.ts";
import type { ProviderName } from "../providers/types.ts";
import { withAudioUrlHost } from "../storage/audio-source.ts";
import type { Db } from "../storage/db.ts";
import { type JobListFilter, listJobsPage } from "../storage/job-listing.ts";
import { getTenantJob } from "../storage/jobs.repo.ts";
import { DELAY_BACKLOG, DELAY_PROVIDER_UNAVAILABLE } from "../storage/schema.ts";
import { searchJobsPage } from "../storage/transcript-index.ts";
import { getTranscript, withOpenedText } from "../storage/transcript-store.ts";
import { acceptUpload } from "./accept-upload.ts";
import { resolveAudioUrlSource } from "./audio-url-source.ts";
import { toJobObject } from "./job-object.ts";
import { headers, IdParam, problem, TAGS, tooManyRequests } from "./openapi.ts";
import {
  AudioUrlSource,
  CAPTION_FIELD_ERROR_CODES,
  CAPTION_QUERY_FIELDS,
  JobListSchema,
  JobSchema,
  ListQuery,
  TranscriptQuery,
  type TranscriptQueryParsed,
  TranscriptSchema,
  UploadOptions,
  UrlTranscriptionRequest,
} from "./schemas.ts";
import { resolveUploadOptions } from "./upload-options.ts";
import { validationHook } from "./validation.ts";

export const transcriptions = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

// ---------- upload ----------

transcriptions.openAPIRegistry.registerPath({
  method: "post",
  path: "/v1/transcriptions",
  operationId: "createTranscription",
  tags: [TAGS.transcriptions],
  summary: "Submit audio for transcription",
  description:
    "Either `multipart/form-data` with a `file` part and optional option fields, or a raw body with an `audio/*` or " +
    "`application/octet-stream` Content-Type and the options as query parameters. The audio is streamed to storage; " +
    "the container is identified from its bytes (WAV, MP3, FLAC, OGG/Opus, WebM, MP4/M4A).\n\n" +
    "Or name the audio by URL: `application/json` with `audio_url` (and optional `audio_url_headers`) beside the " +
    "same options, or a multipart `audio_url` field instead of the `file` part. The service fetches it after " +
    "answering (up to `MAX_URL_AUDIO_BYTES`, 5 redirects, each re-checked against the SSRF rules); until then the " +
    'job shows `audio_bytes: 0` and `audio_format: "pending"`, and a failed fetch fails the job with an ' +
    "`audio_url_*` code.",
  security: [{ bearerAuth: ["transcriptions:write"] }],
  request: {
    headers: z.object({
      "idempotency-key": z.string().min(1).max(255).optional().openapi({
        description: "1–255 printable ASCII characters; the same key and request within 24 h replays the job",
      }),
    }),
    query: UploadOptions,
    body: {
      content: {
        "multipart/form-data": {
          schema: z
            .object({
              file: z.any().optional().openapi({ type: "string", format: "binary", description: "or `audio_url`" }),
              audio_url: AudioUrlSource.shape.audio_url.optional(),
              audio_url_headers: z.string().optional().openapi({ description: "JSON object of string headers" }),
            })
            .merge(UploadOptions),
        },
        "application/json": { schema: UrlTranscriptionRequest },
        "audio/*": { schema: z.any().openapi({ type: "string", format: "binary" }) },
        "application/octet-stream": { schema: z.any().openapi({ type: "string", format: "binary" }) },
      },
    },
  },
  responses: {
    202: {
      description: "Accepted; poll the Location",
      headers: { ...headers.location, ...headers.rateLimit },
      content: { "application/json": { schema: JobSchema } },
    },
    200: {
      description: "Replayed: an earlier request with the same Idempotency-Key created this job",
      headers: { ...headers.location, ...headers.idempotentReplayed, ...headers.rateLimit },
      content: { "application/json": { schema: JobSchema } },
    },
    400: problem("Malformed or empty body, or a bad Idempotency-Key"),
    401: problem("Missing or bad API key"),
    409: problem("The Idempotency-Key was used with a different request (`idempotency_key_reused`)"),
    413: problem("Upload larger than MAX_UPLOAD_BYTES"),
    415: problem("Not audio in a supported container"),
    422: problem(
      "Invalid option fields; `invalid_audio_url`, `audio_url_forbidden` (SSRF rules), `invalid_audio_url_headers`, " +
        "`conflicting_audio_source` (both `file` and `audio_url`)",
    ),
    429: tooManyRequests("The API key's requests, upload bytes per minute or concurrent uploads are spent"),
  },
});

/** Why a new job will wait: its provider's breaker is open, or the backlog is large. */
async function newJobDelay(env: Env, db: Db, provider: ProviderName): Promise<string | null> {
  if (await isProviderDown(env, provider)) return DELAY_PROVIDER_UNAVAILABLE;
  return (await isBacklogLarge(env, db)) ? DELAY_BACKLOG : null;
}

// parse the body → validate the options → createJob() → respond (src/api/accept-upload.ts holds the shared steps)
transcriptions.post("/v1/transcriptions", requireScope("transcriptions:write"), async (c) => {
  const { env } = c;
  const { created, resolved } = await acceptUpload(c, {
    acceptAudioUrl: true,
    resolve: (fields, _lists, byUrl, audio) => {
      // a submission by URL is judged whole before anything is stored: a refused one leaves no row
      const source = byUrl ? resolveAudioUrlSource(fields, env) : null;
      return { options: resolveUploadOptions(source?.options ?? fields, env, audio), audioUrl: source?.source };
    },
  });
  if (created.kind === "replayed") {
    c.header("Location", `/v1/transcriptions/${created.job.id}`);
    c.header("Idempotent-Replayed", "true");
    // the replayed job may have finished: its transcript goes only to a key that may read transcripts
    const readable = grantsScope(c.var.principal.scopes, "transcriptions:read");
    const replayed = readable ? await withOpenedText(env, created.job) : { ...created.job, text: null };
    return c.json(toJobObject(await withAudioUrlHost(env, replayed), null), 200);
  }
  c.header("Location", `/v1/transcriptions/${created.job.id}`);
  const job = { ...created.job, audioUrlHost: resolved.audioUrl ? new URL(resolved.audioUrl.url).hostname : null };
  return c.json(toJobObject(job, null, await newJobDelay(env, c.var.db, resolved.options.provider)), 202);
});

// ---------- read ----------

const getJobRoute = createRoute({
  method: "get",
  path: "/v1/transcriptions/{id}",
  operationId: "getTranscription",
  tags: [TAGS.transcriptions],
  summary: "Get a transcription job",
  description:
    "With `Prefer: wait=N` (RFC 7240, N ≤ 60 seconds) the answer is held until the job is terminal or N seconds " +
    "have passed, whichever comes first; `Preference-Applied: wait=N` says the wait was honoured. A long poll " +
    "without a polling loop: the request is woken when the job finishes.",
  security: [{ bearerAuth: ["transcriptions:read"] }],
  middleware: [requireScope("transcriptions:read")] as const,
  request: {
    params: IdParam,
    headers: z.object({
      prefer: z
        .string()
        .optional()
        .openapi({ description: "`wait=N`: hold the answer up to N ≤ 60 s", example: "wait=30" }),
    }),
  },
  responses: {
    200: {
      description: "The job",
      headers: {
        "Preference-Applied": {
          description: "`wait=N` when a `Prefer: wait` was honoured (N as capped)",
          schema: { type: "string" },
        },
      },
      content: { "application/json": { schema: JobSchema } },
    },
    404: problem("No such job in your tenant"),
  },
});

async function loadTenantJob(c: { var: AppEnv["Variables"] }, id: string) {
  const tenantId = tenantOf(c.var.principal);
  const row = isWellFormedId(id, "transcription") ? await getTenantJob(c.var.db, tenantId, id) : null;
  if (!row) throw new ApiError(404, "not_found", "No transcription with that id.");
  return row;
}

transcriptions.openapi(getJobRoute, async (c) => {
  let row = await loadTenantJob(c, c.req.valid("param").id);
  const waitSeconds = preferredWaitSeconds(c.req.header("prefer"), MAX_PREFER_WAIT_SECONDS);
  if (waitSeconds !== null) {
    c.header("Preference-Applied", `wait=${waitSeconds}`);
    c.header("Vary", "Prefer");
    if (!isTerminal(row.status) && waitSeconds > 0) {
      const signal = c.req.raw.signal;
      const settled = await waitForTerminalJob(c.env, c.var.db, row.tenantId, row.id, waitSeconds * 1000, signal);
      if (!settled) throw new ApiError(404, "not_found", "No transcription with that id.");
      row = settled;
    }
  }
  const doc =
    row.status === "completed" && row.transcriptKey
      ? await getTranscript(c.env, row.tenantId, row.transcriptKey)
      : null;
  const backlogged = row.status === "queued" && !row.delayedReason && (await isBacklogLarge(c.env, c.var.db));
  return c.json(
    toJobObject(
      await withAudioUrlHost(c.env, doc ? row : await withOpenedText(c.env, row)),
      doc,
      backlogged ? DELAY_BACKLOG : undefined,
    ),
    200,
  );
});

const listRoute = createRoute({
  method: "get",
  path: "/v1/transcriptions",
  operationId: "listTranscriptions",
  tags: [TAGS.transcriptions],
  summary: "List transcription jobs, newest first; search inside transcripts with `q`",
  description:
    "Keyset pagination: pass `next_cursor` back as `cursor`. List items carry `text` but `segments: null`. With `q`, " +
    "only completed jobs whose transcript holds every word (and every quoted phrase, in order) are listed; the " +
    "search runs on a keyed token index, never on plaintext (docs/security.md).",
  security: [{ bearerAuth: ["transcriptions:read"] }],
  middleware: [requireScope("transcriptions:read")] as const,
  request: { query: ListQuery },
  responses: {
    200: { description: "A page of jobs", content: { "application/json": { schema: JobListSchema } } },
    400: problem("Bad cursor, or a search query with no words or too many"),
  },
});

/** The listing filters of a validated query (shared with the console's list). */
export function listFilterOf(query: z.infer<typeof ListQuery>): JobListFilter {
  if (query.metadata_value !== undefined && query.metadata_key === undefined) {
    throw new ApiError(400, "invalid_parameters", "metadata_value: needs metadata_key", [
      { field: "metadata_value", message: "needs metadata_key" },
    ]);
  }
  return {
    status: query.status,
    createdFrom: query.created_after,
    createdUntil: query.created_before,
    provider: query.provider,
    subjectId: query.subject_id,
    metadata: query.metadata_key ? { key: query.metadata_key, value: query.metadata_value } : undefined,
  };
}

export const encodeCursor = (id: string) => btoa(JSON.stringify({ before: id })).replace(/=+$/, "");
export function decodeCursor(cursor: string): string {
  try {
    const parsed = JSON.parse(atob(cursor)) as { before?: unknown };
    if (typeof parsed.before === "string" && isWellFormedId(parsed.before, "transcription")) return parsed.before;
  } catch {
    // fall through
  }
  throw new ApiError(400, "invalid_cursor", "The cursor is malformed.");
}

export function parseQuery(q: string) {
  try {
    return parseSearchQuery(q);
  } catch (error) {
    if (error instanceof SearchQueryError) {
      throw new ApiError(400, "invalid_query", error.message, [{ field: "q", message: error.message }]);
    }
    throw error;
  }
}

transcriptions.openapi(listRoute, async (c) => {
  const tenantId = tenantOf(c.var.principal);
  const query = c.req.valid("query");
  const limit = query.limit ?? DEFAULT_LIST_LIMIT;
  const beforeId = query.cursor ? decodeCursor(query.cursor) : undefined;
  const filter = listFilterOf(query);
  const { rows: page, nextBeforeId } =
    query.q === undefined
      ? await listJobsPage(c.var.db, tenantId, filter, { limit, beforeId })
      : await searchJobsPage(c.env, c.var.db, tenantId, { terms: parseQuery(query.q), filter, beforeId, limit });
  const nextCursor = nextBeforeId ? encodeCursor(nextBeforeId) : null;
  return c.json(
    {
      data: await Promise.all(
        page.map(async (row) => toJobObject(await withAudioUrlHost(c.env, await withOpenedText(c.env, row)), null)),
      ),
      next_cursor: nextCursor,
    },
    200,
  );
});

// ---------- export ----------

const transcriptRoute = createRoute({
  method: "get",
  path: "/v1/transcriptions/{id}/transcript",
  operationId: "getTranscript",
  tags: [TAGS.transcriptions],
  summary: "Download the transcript as text, SubRip, WebVTT or JSON",
  description:
    "`srt` and `vtt` take caption controls: `max_line_chars`, `max_lines`, `max_cue_seconds`, `min_cue_seconds`. " +
    "Without any of them the cues are the default layout (one cue per segment, wrapped at 42 characters, 2 lines " +
    "per cue, as before these controls existed); with any of them the caption layout applies, the others taking " +
    "their defaults (42, 2, 7 s, 0 s): cues split at word boundaries, timed by the word timestamps where the " +
    "transcript has them (else by character position within the segment), never overlapping, never longer than " +
    "the limits unless a single word is. WebVTT cues of a speaker open with a voice tag (`<v A>`).",
  security: [{ bearerAuth: ["transcriptions:read"] }],
  middleware: [requireScope("transcriptions:read")] as const,
  request: { params: IdParam, query: TranscriptQuery },
  responses: {
    200: {
      description: "The transcript",
      content: {
        "text/plain": { schema: z.string() },
        "application/x-subrip": { schema: z.string() },
        "text/vtt": { schema: z.string() },
        "application/json": { schema: TranscriptSchema },
      },
    },
    400: problem("Unknown `format` (`invalid_parameters`)"),
    404: problem("No such job in your tenant, or its transcript is no longer stored"),
    409: problem("The job has not completed (`transcript_not_ready`)"),
    422: problem(
      "A caption parameter out of range or not a number, `min_cue_seconds` over `max_cue_seconds`, or caption " +
        "parameters with a format other than srt/vtt: `invalid_max_line_chars`, `invalid_max_lines`, " +
        "`invalid_max_cue_seconds`, `invalid_min_cue_seconds`",
    ),
  },
});

/**
 * A failing caption parameter is a 422 with its own code; anything else in the query keeps the 400 every route gives
 * (validationHook).
 */
function throwCaptionQueryError(issues: readonly { path: readonly PropertyKey[]; message: string }[]): void {
  const errors = issues.map((issue) => ({
    field: issue.path.map(String).join(".") || "query",
    message: issue.message,
  }));
  const caption = errors.find((e) => (CAPTION_QUERY_FIELDS as readonly string[]).includes(e.field));
  if (!caption) return;
  const code = CAPTION_FIELD_ERROR_CODES[caption.field as (typeof CAPTION_QUERY_FIELDS)[number]];
  throw new ApiError(422, code, `${caption.field}: ${caption.message}`, errors);
}

/** The caption layout's options, or null when the query names none (the default layout). */
function captionOptions(query: TranscriptQueryParsed): CaptionOptions | null {
  if (CAPTION_QUERY_FIELDS.every((field) => query[field] === undefined)) return null;
  return {
    ...(query.max_line_chars !== undefined ? { maxLineChars: query.max_line_chars } : {}),
    ...(query.max_lines !== undefined ? { maxLines: query.max_lines } : {}),
    ...(query.max_cue_seconds !== undefined ? { maxCueSeconds: query.max_cue_seconds } : {}),
    ...(query.min_cue_seconds !== undefined ? { minCueSeconds: query.min_cue_seconds } : {}),
  };
}

transcriptions.openapi(
  transcriptRoute,
  async (c) => {
    const row = await loadTenantJob(c, c.req.valid("param").id);
    const query = c.req.valid("query");
    const format = query.format ?? "txt";
    const captions = captionOptions(query);
    if (row.status !== "completed" || !row.transcriptKey) {
      throw new ApiError(
        409,
        "transcript_not_ready",
        `The job is ${row.status}; transcripts exist once it is completed.`,
      );
    }
    const doc = await getTranscript(c.env, row.tenantId, row.transcriptKey);
    if (!doc) throw new ApiError(404, "transcript_gone", "The transcript is no longer stored.");
    const name = row.id;
    // speakers show in the text formats only for jobs that asked for them (`speakers` is set then): a provider's
    // own speaker field on another job's segments changes nothing there
    const cues = doc.speakers ? doc.segments : doc.segments.map(({ speaker: _speaker, ...segment }) => segment);
    const source = { ...doc, segments: cues };
    switch (format) {
      case "json":
        return c.json({ id: row.id, ...doc }, 200);
      case "srt":
        return c.body(captions ? captionsToSrt(source, captions) : toSrt(cues), 200, {
          "content-type": "application/x-subrip; charset=utf-8",
          "content-disposition": `attachment; filename="${name}.srt"`,
        });
      case "vtt":
        return c.body(captions ? captionsToVtt(source, captions) : toVtt(cues), 200, {
          "content-type": "text/vtt; charset=utf-8",
          "content-disposition": `attachment; filename="${name}.vtt"`,
        });
      default:
        return c.body(toPlainText(doc.text, cues), 200, { "content-type": "text/plain; charset=utf-8" });
    }
  },
  (result, c) => {
    if (!result.success && result.target === "query") throwCaptionQueryError(result.error.issues);
    return validationHook(result, c);
  },
);

// ---------- delete ----------

const deleteRoute = createRoute({
  method: "delete",
  path: "/v1/transcriptions/{id}",
  operationId: "deleteTranscription",
  tags: [TAGS.transcriptions],
  summary: "Delete a job, its transcript and its audio",
  security: [{ bearerAuth: ["transcriptions:write"] }],
  middleware: [requireScope("transcriptions:write")] as const,
  request: { params: IdParam },
  responses: { 204: { description: "Deleted" }, 404: problem("No such job in your tenant") },
});

transcriptions.openapi(deleteRoute, async (c) => {
  const deleted = await deleteTenantTranscription(c.env, c.var.db, tenantOf(c.var.principal), c.req.valid("param").id);
  if (!deleted) throw new ApiError(404, "not_found", "No transcription with that id.");
  return c.body(null, 204);
});
