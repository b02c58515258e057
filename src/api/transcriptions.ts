/** `/v1/transcriptions`: upload, read, list, export and delete jobs, always within the caller's tenant. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import type { AppEnv } from "../app.context.ts";
import { requireScope, tenantOf } from "../auth/middleware.ts";
import { grantsScope } from "../auth/api-keys.ts";
import { DEFAULT_LIST_LIMIT, MAX_FILE_NAME_CHARS, maxUploadBytes, UPLOAD_PART_BYTES } from "../config.ts";
import { toPlainText, toSrt, toVtt } from "../domain/subtitles.ts";
import type { JobMessage } from "../env.ts";
import { boundaryFromContentType, MultipartError, parseMultipart } from "../http/multipart.ts";
import { ApiError } from "../http/problem.ts";
import { isWellFormedId, newId } from "../lib/ids.ts";
import { log } from "../lib/log.ts";
import { chargeUploadedBytes } from "../ratelimit/rate-limiter.ts";
import { deleteTenantJob, getTenantJob, insertJob, listTenantJobs, markEnqueueFailed } from "../storage/jobs.repo.ts";
import { audioKey, storeAudioStream, type StoredAudio } from "../storage/audio-store.ts";
import { getTranscript, withOpenedText } from "../storage/transcript-store.ts";
import { objectSealer } from "../storage/sealed-objects.ts";
import { isProviderDown } from "../breaker/availability.ts";
import { claimIdempotencyKey, requestFingerprint } from "../storage/idempotency.ts";
import { toJobObject } from "./job-object.ts";
import { deleteJobQualityRows } from "../quality/feedback.ts";
import { isBacklogLarge } from "../jobs/backlog.ts";
import { DELAY_BACKLOG, DELAY_PROVIDER_UNAVAILABLE } from "../jobs/state.ts";
import { resolveRetention } from "../jobs/retention-policy.ts";
import { tenants } from "../storage/schema.ts";
import { resolveUploadOptions, UPLOAD_OPTION_NAMES } from "./upload-options.ts";
import { JobListSchema, JobSchema, ListQuery, ProblemSchema, TranscriptFormat, UploadOptions } from "./schemas.ts";
import { validationHook } from "./validation.ts";

const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: ProblemSchema } },
});
const IdParam = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" }, example: "tr_01JD7Y7W8Q3N5X6T2R9M4K1B0C" }) });

export const transcriptions = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

// ---------- upload ----------

transcriptions.openAPIRegistry.registerPath({
  method: "post",
  path: "/v1/transcriptions",
  summary: "Submit audio for transcription",
  description:
    "Either `multipart/form-data` with a `file` part and optional option fields, or a raw body with an `audio/*` or " +
    "`application/octet-stream` Content-Type and the options as query parameters. The audio is streamed to storage; " +
    "the container is identified from its bytes (WAV, MP3, FLAC, OGG/Opus, WebM, MP4/M4A).",
  security: [{ bearerAuth: ["transcriptions:write"] }],
  request: {
    query: UploadOptions,
    body: {
      content: {
        "multipart/form-data": {
          schema: z.object({ file: z.any().openapi({ type: "string", format: "binary" }) }).merge(UploadOptions),
        },
        "audio/*": { schema: z.any().openapi({ type: "string", format: "binary" }) },
        "application/octet-stream": { schema: z.any().openapi({ type: "string", format: "binary" }) },
      },
    },
  },
  responses: {
    202: { description: "Accepted; poll the Location", content: { "application/json": { schema: JobSchema } } },
    400: problem("Malformed or empty body"),
    401: problem("Missing or bad API key"),
    413: problem("Upload larger than MAX_UPLOAD_BYTES"),
    415: problem("Not audio in a supported container"),
    422: problem("Invalid option fields"),
  },
});

function sanitiseFileName(name: string | null): string | null {
  if (!name) return null;
  // keep the last path component, drop control and bidi characters; the name is display-only
  const base = name.split(/[\\/]/).pop() ?? "";
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/g, "").trim();
  return clean ? clean.slice(0, MAX_FILE_NAME_CHARS) : null;
}

function isRawAudioType(contentType: string): boolean {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  return type.startsWith("audio/") || type === "application/octet-stream" || type === "video/webm" || type === "video/mp4";
}

transcriptions.post("/v1/transcriptions", requireScope("transcriptions:write"), async (c) => {
  const tenantId = tenantOf(c.var.principal);
  const env = c.env;
  const maxBytes = maxUploadBytes(env);
  const declared = c.req.header("content-length");
  if (declared !== undefined && Number(declared) > maxBytes + 64 * 1024) {
    throw new ApiError(413, "payload_too_large", `Uploads are limited to ${maxBytes} bytes.`);
  }
  const idempotencyKey = c.req.header("idempotency-key") ?? null;
  if (idempotencyKey !== null && !/^[\x21-\x7e]{1,255}$/.test(idempotencyKey)) {
    throw new ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 1–255 printable ASCII characters.");
  }
  const contentType = c.req.header("content-type") ?? "";
  const body = c.req.raw.body;
  const jobId = newId("transcription");
  const key = audioKey(tenantId, jobId);
  const storeOptions = { maxBytes, partBytes: UPLOAD_PART_BYTES, digest: idempotencyKey !== null, sealer: await objectSealer(env, tenantId, key) };
  let stored: StoredAudio | null = null;
  let fileName: string | null = null;
  const fields: Record<string, string> = {};

  try {
    if (contentType.toLowerCase().startsWith("multipart/form-data")) {
      const boundary = boundaryFromContentType(contentType);
      if (!boundary) throw new ApiError(400, "malformed_multipart", "multipart/form-data needs a boundary parameter.");
      if (!body) throw new ApiError(400, "empty_body", "The request has no body.");
      for await (const part of parseMultipart(body, boundary)) {
        if (part.kind === "field") {
          if (part.name in fields) throw new ApiError(422, "duplicate_field", `Field \`${part.name}\` appears twice.`);
          fields[part.name] = part.value;
          continue;
        }
        if (part.name !== "file") {
          await part.stream.cancel();
          throw new ApiError(422, "unknown_field", `Unexpected file part \`${part.name}\`; send the audio as \`file\`.`);
        }
        if (stored) throw new ApiError(400, "duplicate_file", "Send exactly one `file` part.");
        fileName = sanitiseFileName(part.filename);
        stored = await storeAudioStream(env.BUCKET, key, part.stream, storeOptions);
      }
      if (!stored) throw new ApiError(400, "missing_file", "The multipart body has no `file` part.");
    } else if (isRawAudioType(contentType)) {
      for (const [name, value] of Object.entries(c.req.query())) fields[name] = value;
      // validate before reading the body so a bad option costs no upload
      resolveUploadOptions(fields, env);
      if (!body) throw new ApiError(400, "empty_body", "The audio is empty (0 bytes).");
      stored = await storeAudioStream(env.BUCKET, key, body, storeOptions);
    } else {
      throw new ApiError(
        415,
        "unsupported_media_type",
        "Send multipart/form-data with a `file` part, or raw audio with an audio/* or application/octet-stream Content-Type.",
      );
    }

    // a chunked upload declared no length, so the rate limiter could not charge its bytes up front: charge them now
    if (declared === undefined && c.var.principal.keyId) await chargeUploadedBytes(env, c.var.principal.keyId, stored.bytes);
    const options = resolveUploadOptions(fields, env);
    const [tenant] = await c.var.db
      .select({ audioRetentionSeconds: tenants.audioRetentionSeconds, transcriptRetentionSeconds: tenants.transcriptRetentionSeconds })
      .from(tenants)
      .where(eq(tenants.id, tenantId))
      .limit(1);
    const retention = resolveRetention(options.deleteAfterSeconds, tenant ?? { audioRetentionSeconds: null, transcriptRetentionSeconds: null });
    const now = Date.now();
    const row = {
      id: jobId,
      tenantId,
      status: "queued" as const,
      provider: options.provider,
      model: null,
      requestedLanguage: options.language,
      metadata: JSON.stringify(options.metadata),
      subjectId: options.subjectId,
      prompt: options.prompt,
      webhookUrl: options.webhookUrl,
      audioKey: key,
      audioBytes: stored.bytes,
      audioFormat: stored.audio.format,
      fileName,
      createdAt: now,
      enqueuedAt: now,
      updatedAt: now,
      deleteAfterSeconds: options.deleteAfterSeconds,
      retainAudioSeconds: retention.retainAudioSeconds,
      retainSeconds: retention.retainSeconds,
      traceparent: c.var.traceparent,
    };
    if (idempotencyKey !== null) {
      const fingerprint = await requestFingerprint(options, stored.sha256 ?? "");
      const replay = await claimIdempotencyKey(c.var.db, tenantId, idempotencyKey, fingerprint, { ...row, idempotencyKey, requestFingerprint: fingerprint });
      if (replay) {
        // the original request already stored this audio: drop the copy we just wrote
        await env.BUCKET.delete(key).catch(() => undefined);
        stored = null;
        c.header("Location", `/v1/transcriptions/${replay.id}`);
        c.header("Idempotent-Replayed", "true");
        // the replayed job may have finished: its transcript goes only to a key that may read transcripts
        const readable = grantsScope(c.var.principal.scopes, "transcriptions:read");
        return c.json(toJobObject(readable ? await withOpenedText(env, replay) : { ...replay, text: null }, null), 200);
      }
    } else {
      await insertJob(c.var.db, row);
    }
    try {
      await env.JOBS.send({ v: 1, job_id: jobId, tenant_id: tenantId, traceparent: c.var.traceparent } satisfies JobMessage, { contentType: "json" });
    } catch (error) {
      // the job is stored; the cron sweeper re-sends messages for queued jobs without an enqueue time
      // the error's name only: a binding's message may echo request data
      log("enqueue_failed", { job_id: jobId, error: error instanceof Error ? error.name : "unknown" });
      await markEnqueueFailed(c.var.db, jobId, now);
    }
    const delayReason = (await isProviderDown(env, options.provider))
      ? DELAY_PROVIDER_UNAVAILABLE
      : (await isBacklogLarge(env, c.var.db))
        ? DELAY_BACKLOG
        : null;
    c.header("Location", `/v1/transcriptions/${jobId}`);
    return c.json(
      toJobObject(
        { ...row, language: null, durationSeconds: null, text: null, transcriptKey: null, segmentCount: null, errorCode: null, errorMessage: null, attempts: 0, startedAt: null, dispatchedAt: null, completedAt: null, delayedReason: null, idempotencyKey: null, requestFingerprint: null, audioDeleteAt: null, deleteAt: null, audioPurgedAt: null },
        null,
        delayReason,
      ),
      202,
    );
  } catch (error) {
    if (stored) await env.BUCKET.delete(key).catch(() => undefined);
    if (error instanceof MultipartError) {
      throw new ApiError(400, error.code, error.message);
    }
    if (error instanceof ApiError) throw error;
    if (error instanceof TypeError || (error instanceof Error && /stream|body|network|disconnect/i.test(error.message))) {
      throw new ApiError(400, "upload_interrupted", "The upload stream ended unexpectedly.");
    }
    throw error;
  }
});

// ---------- read ----------

const getJobRoute = createRoute({
  method: "get",
  path: "/v1/transcriptions/{id}",
  summary: "Get a transcription job",
  security: [{ bearerAuth: ["transcriptions:read"] }],
  middleware: [requireScope("transcriptions:read")] as const,
  request: { params: IdParam },
  responses: {
    200: { description: "The job", content: { "application/json": { schema: JobSchema } } },
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
  const row = await loadTenantJob(c, c.req.valid("param").id);
  const doc = row.status === "completed" && row.transcriptKey ? await getTranscript(c.env, row.tenantId, row.transcriptKey) : null;
  const backlogged = row.status === "queued" && !row.delayedReason && (await isBacklogLarge(c.env, c.var.db));
  return c.json(toJobObject(doc ? row : await withOpenedText(c.env, row), doc, backlogged ? DELAY_BACKLOG : undefined), 200);
});

const listRoute = createRoute({
  method: "get",
  path: "/v1/transcriptions",
  summary: "List transcription jobs, newest first",
  description: "Keyset pagination: pass `next_cursor` back as `cursor`. List items carry `text` but `segments: null`.",
  security: [{ bearerAuth: ["transcriptions:read"] }],
  middleware: [requireScope("transcriptions:read")] as const,
  request: { query: ListQuery },
  responses: {
    200: { description: "A page of jobs", content: { "application/json": { schema: JobListSchema } } },
    400: problem("Bad cursor"),
  },
});

const encodeCursor = (id: string) => btoa(JSON.stringify({ before: id })).replace(/=+$/, "");
function decodeCursor(cursor: string): string {
  try {
    const parsed = JSON.parse(atob(cursor)) as { before?: unknown };
    if (typeof parsed.before === "string" && isWellFormedId(parsed.before, "transcription")) return parsed.before;
  } catch {
    // fall through
  }
  throw new ApiError(400, "invalid_cursor", "The cursor is malformed.");
}

transcriptions.openapi(listRoute, async (c) => {
  const tenantId = tenantOf(c.var.principal);
  const query = c.req.valid("query");
  const limit = query.limit ?? DEFAULT_LIST_LIMIT;
  const rows = await listTenantJobs(c.var.db, tenantId, {
    status: query.status,
    limit: limit + 1,
    beforeId: query.cursor ? decodeCursor(query.cursor) : undefined,
  });
  const page = rows.slice(0, limit);
  const nextCursor = rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null;
  return c.json({ data: await Promise.all(page.map(async (row) => toJobObject(await withOpenedText(c.env, row), null))), next_cursor: nextCursor }, 200);
});

// ---------- export ----------

const transcriptRoute = createRoute({
  method: "get",
  path: "/v1/transcriptions/{id}/transcript",
  summary: "Download the transcript as text, SubRip, WebVTT or JSON",
  security: [{ bearerAuth: ["transcriptions:read"] }],
  middleware: [requireScope("transcriptions:read")] as const,
  request: { params: IdParam, query: z.object({ format: TranscriptFormat.optional() }) },
  responses: {
    200: {
      description: "The transcript",
      content: {
        "text/plain": { schema: z.string() },
        "application/x-subrip": { schema: z.string() },
        "text/vtt": { schema: z.string() },
        "application/json": { schema: z.object({}).passthrough() },
      },
    },
    404: problem("No such job in your tenant"),
    409: problem("The job has not completed"),
  },
});

transcriptions.openapi(transcriptRoute, async (c) => {
  const row = await loadTenantJob(c, c.req.valid("param").id);
  const format = c.req.valid("query").format ?? "txt";
  if (row.status !== "completed" || !row.transcriptKey) {
    throw new ApiError(409, "transcript_not_ready", `The job is ${row.status}; transcripts exist once it is completed.`);
  }
  const doc = await getTranscript(c.env, row.tenantId, row.transcriptKey);
  if (!doc) throw new ApiError(404, "transcript_gone", "The transcript is no longer stored.");
  const name = row.id;
  switch (format) {
    case "json":
      return c.json({ id: row.id, ...doc }, 200);
    case "srt":
      return c.body(toSrt(doc.segments), 200, {
        "content-type": "application/x-subrip; charset=utf-8",
        "content-disposition": `attachment; filename="${name}.srt"`,
      });
    case "vtt":
      return c.body(toVtt(doc.segments), 200, {
        "content-type": "text/vtt; charset=utf-8",
        "content-disposition": `attachment; filename="${name}.vtt"`,
      });
    default:
      return c.body(toPlainText(doc.text, doc.segments), 200, { "content-type": "text/plain; charset=utf-8" });
  }
});

// ---------- delete ----------

const deleteRoute = createRoute({
  method: "delete",
  path: "/v1/transcriptions/{id}",
  summary: "Delete a job, its transcript and its audio",
  security: [{ bearerAuth: ["transcriptions:write"] }],
  middleware: [requireScope("transcriptions:write")] as const,
  request: { params: IdParam },
  responses: { 204: { description: "Deleted" }, 404: problem("No such job in your tenant") },
});

transcriptions.openapi(deleteRoute, async (c) => {
  const tenantId = tenantOf(c.var.principal);
  const id = c.req.valid("param").id;
  const keys = isWellFormedId(id, "transcription") ? await deleteTenantJob(c.var.db, tenantId, id) : null;
  if (!keys) throw new ApiError(404, "not_found", "No transcription with that id.");
  // drift features and reviews are about this recording too
  await deleteJobQualityRows(c.var.db, tenantId, [id]);
  // transcripts of losing duplicate results are already gone; list the job's prefix to catch any stragglers
  const listed = await c.env.BUCKET.list({ prefix: `transcripts/${tenantId}/${id}/` });
  const objectKeys = [keys.audioKey, keys.transcriptKey, ...listed.objects.map((o) => o.key)].filter(
    (k): k is string => !!k,
  );
  if (objectKeys.length) await c.env.BUCKET.delete([...new Set(objectKeys)]);
  return c.body(null, 204);
});
