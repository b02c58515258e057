/**
 * `/v1/uploads`: resumable uploads over tus 1.0 (Creation, Creation-With-Upload, Expiration, Termination, Checksum
 * with sha256). The job options travel in `Upload-Metadata` and are judged at creation by the same schema as a direct
 * upload's; when the last byte lands a job is created as for `POST /v1/transcriptions` and named by
 * `Transcription-Id`. Each upload's state and bytes are handled by its Durable Object (src/uploads/resumable-upload.ts).
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

import type { AppEnv } from "../app.context.ts";
import { requireScope, tenantOf } from "../auth/middleware.ts";
import { maxResumableBytes, maxUploadBytes, resumableUploadTtlMs } from "../config.ts";
import {
  checkPatchContentType,
  checkTusResumable,
  httpDate,
  OFFSET_OCTET_STREAM,
  parseUploadChecksum,
  parseUploadLength,
  parseUploadMetadata,
  parseUploadOffset,
  splitUploadMetadata,
  TUS_CHECKSUM_ALGORITHMS,
  TUS_EXTENSIONS,
  TUS_VERSION,
  TusError,
} from "../domain/tus.ts";
import { ApiError } from "../http/problem.ts";
import { isWellFormedId, newId } from "../lib/ids.ts";
import { requestFingerprint } from "../storage/idempotency.ts";
import { claimUploadIdempotencyKey, insertResumableUpload } from "../storage/resumable-uploads.repo.ts";
import type { ResumableUploadRow } from "../storage/schema.ts";
import { idShardCode } from "../storage/shards.ts";
import { type AppendOutcome, resumableUploadFor, type UploadView } from "../uploads/resumable-upload.ts";
import { parseIdempotencyKey } from "./accept-upload.ts";
import { headers as sharedHeaders, problem, TAGS, tooManyRequests } from "./openapi.ts";
import { reserveUploadBudget } from "./upload-budget.ts";
import { resolveUploadOptions } from "./upload-options.ts";
import { validationHook } from "./validation.ts";

export const uploads = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

/** Every tus response names the protocol version (the spec asks it of all but OPTIONS; it harms none). */
uploads.use("/v1/uploads", tusResponseHeaders);
uploads.use("/v1/uploads/*", tusResponseHeaders);

async function tusResponseHeaders(c: Context<AppEnv>, next: () => Promise<void>) {
  await next();
  c.res.headers.set("Tus-Resumable", TUS_VERSION);
  c.res.headers.set("Cache-Control", "no-store");
}

function asApiError(error: TusError): ApiError {
  const extra: Record<string, string> = error.status === 412 ? { "Tus-Version": TUS_VERSION } : {};
  return new ApiError(error.status as ContentfulStatusCode, error.code, error.message, undefined, extra);
}

/** Runs the pure header checks, turning a TusError into the problem+json the route answers with. */
function tus<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof TusError) throw asApiError(error);
    throw error;
  }
}

const discoveryHeaders = (maxBytes: number) => ({
  "Tus-Version": TUS_VERSION,
  "Tus-Extension": TUS_EXTENSIONS.join(","),
  "Tus-Max-Size": String(maxBytes),
  "Tus-Checksum-Algorithm": TUS_CHECKSUM_ALGORITHMS.join(","),
});

// ---------- discovery ----------

uploads.options("/v1/uploads", requireScope("transcriptions:write"), (c) => {
  for (const [name, value] of Object.entries(discoveryHeaders(maxResumableBytes(c.env)))) c.header(name, value);
  return c.body(null, 204);
});

// ---------- creation (and creation-with-upload) ----------

uploads.post("/v1/uploads", requireScope("transcriptions:write"), async (c) => {
  const { env } = c;
  const tenantId = tenantOf(c.var.principal);
  tus(() => checkTusResumable(c.req.header("tus-resumable")));
  const length = tus(() =>
    parseUploadLength(c.req.header("upload-length"), maxResumableBytes(env), c.req.header("upload-defer-length")),
  );
  const metadata = tus(() => parseUploadMetadata(c.req.header("upload-metadata")));
  const { fileName, fields } = splitUploadMetadata(metadata);
  const options = resolveUploadOptions(fields, env);
  const idempotencyKey = parseIdempotencyKey(c.req.header("idempotency-key"));
  const withBody = hasBody(c.req.raw);
  if (withBody) tus(() => checkPatchContentType(c.req.header("content-type")));

  const now = Date.now();
  const row: ResumableUploadRow = {
    id: newId("upload", idShardCode(env)),
    tenantId,
    subjectId: options.subjectId,
    jobId: newId("transcription", idShardCode(env)),
    uploadLength: length,
    idempotencyKey,
    requestFingerprint: null,
    createdAt: now,
    expiresAt: now + resumableUploadTtlMs(env),
    completedAt: null,
  };
  if (idempotencyKey !== null) {
    row.requestFingerprint = await requestFingerprint({ options, fileName, length }, "tus");
    const held = await claimUploadIdempotencyKey(c.var.db, { ...row, idempotencyKey }, now);
    if (held) {
      if (held.requestFingerprint !== row.requestFingerprint) {
        throw new ApiError(409, "idempotency_key_reused", "This Idempotency-Key was used with a different upload.");
      }
      const view = await resumableUploadFor(env, held.id).view();
      c.header("Idempotent-Replayed", "true");
      c.header("Location", `/v1/uploads/${held.id}`);
      if (view) setStateHeaders(c, view);
      return c.body(null, 201);
    }
  } else {
    await insertResumableUpload(c.var.db, row);
  }
  const stub = resumableUploadFor(env, row.id);
  const created = await stub.create({
    uploadId: row.id,
    tenantId,
    jobId: row.jobId,
    length,
    fileName: fileName === null ? null : baseName(fileName),
    options,
    traceparent: c.var.traceparent,
    createdAt: now,
    expiresAt: row.expiresAt,
  });
  c.header("Location", `/v1/uploads/${row.id}`);
  c.header("Upload-Expires", httpDate(created.expiresAt));
  if (!withBody) return c.body(null, 201);
  // creation-with-upload: the body is the first chunk; a refused chunk still leaves the upload created
  const outcome = await appendBody(c, row.id, tenantId, 0);
  if (!outcome.ok) throw outcomeError(outcome);
  setAppendHeaders(c, outcome);
  return c.body(null, 201);
});

// ---------- offset (HEAD) ----------

// Hono answers HEAD with the GET handler (and drops the body); a plain GET is not part of tus
uploads.get("/v1/uploads/:id", requireScope("transcriptions:write"), async (c) => {
  if (c.req.raw.method !== "HEAD") {
    throw new ApiError(405, "method_not_allowed", "Use HEAD for an upload's offset (tus), PATCH to append.");
  }
  tus(() => checkTusResumable(c.req.header("tus-resumable")));
  const view = await loadUpload(c, c.req.param("id"));
  setStateHeaders(c, view);
  return c.body(null, 200);
});

// ---------- append (PATCH) ----------

uploads.patch("/v1/uploads/:id", requireScope("transcriptions:write"), async (c) => {
  const tenantId = tenantOf(c.var.principal);
  tus(() => checkTusResumable(c.req.header("tus-resumable")));
  const id = c.req.param("id");
  if (!isWellFormedId(id, "upload")) throw notFound();
  tus(() => checkPatchContentType(c.req.header("content-type")));
  const offset = tus(() => parseUploadOffset(c.req.header("upload-offset")));
  const outcome = await appendBody(c, id, tenantId, offset);
  if (!outcome.ok) throw outcomeError(outcome);
  setAppendHeaders(c, outcome);
  return c.body(null, 204);
});

// ---------- termination ----------

uploads.delete("/v1/uploads/:id", requireScope("transcriptions:write"), async (c) => {
  const tenantId = tenantOf(c.var.principal);
  tus(() => checkTusResumable(c.req.header("tus-resumable")));
  const id = c.req.param("id");
  if (!isWellFormedId(id, "upload")) throw notFound();
  const ended = await resumableUploadFor(c.env, id).terminate(tenantId);
  if (!ended) throw notFound();
  return c.body(null, 204);
});

// ---------- helpers ----------

function hasBody(request: Request): boolean {
  const declared = request.headers.get("content-length");
  if (declared !== null) return Number(declared) > 0;
  return request.body !== null;
}

const notFound = () => new ApiError(404, "upload_not_found", "No upload with that id.");

async function loadUpload(c: Context<AppEnv>, id: string): Promise<UploadView> {
  const tenantId = tenantOf(c.var.principal);
  const view = isWellFormedId(id, "upload") ? await resumableUploadFor(c.env, id).view() : null;
  if (!view || view.tenantId !== tenantId) throw notFound();
  if (view.status === "terminated") {
    const detail =
      view.endedCode === "unsupported_audio"
        ? "The upload was ended: its first bytes are not audio in a supported container."
        : "The upload was terminated.";
    throw new ApiError(410 as ContentfulStatusCode, "upload_terminated", detail);
  }
  if (view.status === "expired") {
    throw new ApiError(
      410 as ContentfulStatusCode,
      "upload_expired",
      "The upload expired before its last byte arrived.",
    );
  }
  return view;
}

function setStateHeaders(c: Context<AppEnv>, view: UploadView): void {
  c.header("Upload-Offset", String(view.offset));
  c.header("Upload-Length", String(view.length));
  if (view.status !== "completed") c.header("Upload-Expires", httpDate(view.expiresAt));
  if (view.transcriptionId) c.header("Transcription-Id", view.transcriptionId);
}

function setAppendHeaders(c: Context<AppEnv>, outcome: Extract<AppendOutcome, { ok: true }>): void {
  c.header("Upload-Offset", String(outcome.offset));
  if (outcome.transcriptionId) {
    c.header("Transcription-Id", outcome.transcriptionId);
    c.header("Location", `/v1/transcriptions/${outcome.transcriptionId}`);
  } else {
    c.header("Upload-Expires", httpDate(outcome.expiresAt));
  }
}

/** Streams the request body to the upload's object under the key's upload byte budget. */
async function appendBody(c: Context<AppEnv>, id: string, tenantId: string, offset: number): Promise<AppendOutcome> {
  const { env } = c;
  const maxChunkBytes = maxUploadBytes(env);
  const declared = c.req.header("content-length");
  const declaredBytes = declared === undefined || !/^\d{1,16}$/.test(declared) ? null : Number(declared);
  if (declaredBytes !== null && declaredBytes > maxChunkBytes) {
    await c.req.raw.body?.cancel().catch(() => undefined);
    throw new ApiError(413, "chunk_too_large", `One PATCH may carry at most ${maxChunkBytes} bytes.`);
  }
  const checksum = tus(() => parseUploadChecksum(c.req.header("upload-checksum")));
  const budget = await reserveUploadBudget(env, c.var.principal.keyId, declaredBytes ?? maxChunkBytes);
  for (const [name, value] of Object.entries(budget.fields)) c.header(name, value, { append: true });
  let bytesRead = 0;
  try {
    const outcome = await resumableUploadFor(env, id).append(
      { tenantId, offset, declaredBytes, checksum, maxChunkBytes },
      c.req.raw.body,
    );
    bytesRead = outcome.bytesRead;
    return outcome;
  } finally {
    await budget.end(bytesRead);
  }
}

function outcomeError(outcome: Extract<AppendOutcome, { ok: false }>): ApiError {
  const extra: Record<string, string> = outcome.offset === undefined ? {} : { "Upload-Offset": String(outcome.offset) };
  return new ApiError(outcome.status as ContentfulStatusCode, outcome.code, outcome.message, undefined, extra);
}

/** The last path segment of a client's file name (as direct uploads store it), at most 255 characters. */
function baseName(name: string): string | null {
  const base = name.split(/[\\/]/).pop()?.trim().slice(0, 255) ?? "";
  return base === "" ? null : base;
}

// ---------- OpenAPI ----------

const tusHeader = { description: `\`${TUS_VERSION}\``, schema: { type: "string" as const } };
const stateHeaders = {
  "Tus-Resumable": tusHeader,
  "Upload-Offset": { description: "bytes received and kept", schema: { type: "integer" as const } },
  "Upload-Expires": {
    description: "RFC 9110 date after which the upload is gone",
    schema: { type: "string" as const },
  },
  "Transcription-Id": {
    description: "the job (`tr_…`) created when the last byte landed",
    schema: { type: "string" as const },
  },
};
const tusRequestHeaders = z.object({
  "tus-resumable": z.literal(TUS_VERSION).openapi({ description: "required on every tus request but OPTIONS" }),
});
const idParam = z.object({ id: z.string().openapi({ example: "up_01JD7Y7W8Q3N5X6T2R9M4K1B0C" }) });
const tusErrors = {
  400: problem(
    "Missing or malformed tus header (`upload_length_missing`, `invalid_upload_length`, `invalid_upload_offset`, " +
      "`invalid_upload_metadata`, `invalid_checksum`, `empty_upload`, `body_interrupted`)",
  ),
  401: problem("Missing or bad API key"),
  412: problem("`Tus-Resumable` missing or a version other than 1.0.0 (`Tus-Version` lists ours)"),
};
const security = [{ bearerAuth: ["transcriptions:write"] }];
const metadataDescription =
  "Comma separated `key base64(value)` pairs: `filename`, `filetype`, and the job options of " +
  "`POST /v1/transcriptions` (`language`, `provider`, `webhook_url`, `metadata`, `subject_id`, `prompt`, " +
  "`delete_after_seconds`, …), judged at creation";

uploads.openAPIRegistry.registerPath({
  method: "options",
  path: "/v1/uploads",
  operationId: "discoverUploads",
  tags: [TAGS.transcriptions],
  summary: "tus discovery: version, extensions, maximum size",
  security,
  responses: {
    204: {
      description: "What this tus server speaks",
      headers: {
        "Tus-Version": tusHeader,
        "Tus-Extension": { description: TUS_EXTENSIONS.join(","), schema: { type: "string" } },
        "Tus-Max-Size": { description: "`MAX_RESUMABLE_BYTES`", schema: { type: "integer" } },
        "Tus-Checksum-Algorithm": { description: "sha256", schema: { type: "string" } },
      },
    },
    401: problem("Missing or bad API key"),
  },
});

uploads.openAPIRegistry.registerPath({
  method: "post",
  path: "/v1/uploads",
  operationId: "createUpload",
  tags: [TAGS.transcriptions],
  summary: "Start a resumable (tus 1.0) upload",
  description:
    "tus Creation (and Creation-With-Upload: a body sent as `application/offset+octet-stream` is the first chunk). " +
    "Up to `MAX_RESUMABLE_BYTES` (5 GiB). Options go in `Upload-Metadata`; a bad one is a 422 before any byte is " +
    "sent. The `Location` is the upload's URL for HEAD, PATCH and DELETE.",
  security,
  request: {
    headers: tusRequestHeaders.extend({
      "upload-length": z.string().openapi({ description: "total bytes, 1 to `MAX_RESUMABLE_BYTES`" }),
      "upload-metadata": z.string().optional().openapi({ description: metadataDescription }),
      "idempotency-key": z.string().min(1).max(255).optional().openapi({
        description: "the same key and request within the upload's lifetime answers with the same upload",
      }),
    }),
    body: {
      required: false,
      content: { [OFFSET_OCTET_STREAM]: { schema: z.any().openapi({ type: "string", format: "binary" }) } },
    },
  },
  responses: {
    201: {
      description: "Created; PATCH the bytes to the Location",
      headers: { ...sharedHeaders.location, ...stateHeaders, ...sharedHeaders.idempotentReplayed },
    },
    ...tusErrors,
    409: problem("The Idempotency-Key was used with a different upload (`idempotency_key_reused`)"),
    413: problem("`Upload-Length` over `MAX_RESUMABLE_BYTES` (`upload_too_large`), or a first chunk too large"),
    415: problem("A body not sent as `application/offset+octet-stream`, or its first bytes not audio"),
    422: problem("Invalid job options in `Upload-Metadata` (the codes of `POST /v1/transcriptions`)"),
    429: tooManyRequests("The API key's requests or upload bytes per minute are spent"),
  },
});

uploads.openAPIRegistry.registerPath({
  method: "head",
  path: "/v1/uploads/{id}",
  operationId: "getUploadOffset",
  tags: [TAGS.transcriptions],
  summary: "An upload's offset (where to resume)",
  security,
  request: { params: idParam, headers: tusRequestHeaders },
  responses: {
    200: { description: "Offset, length, expiry; `Transcription-Id` once complete", headers: stateHeaders },
    ...tusErrors,
    404: problem("No such upload in your tenant"),
    410: problem("Terminated (`upload_terminated`) or expired (`upload_expired`)"),
  },
});

uploads.openAPIRegistry.registerPath({
  method: "patch",
  path: "/v1/uploads/{id}",
  operationId: "appendUpload",
  tags: [TAGS.transcriptions],
  summary: "Append bytes at Upload-Offset",
  description:
    "The body (at most `MAX_UPLOAD_BYTES` per PATCH) is written at `Upload-Offset`. With `Upload-Checksum: sha256 " +
    "<base64>` (at most one 8 MiB part per PATCH) a mismatch keeps none of the bytes. The PATCH that delivers the " +
    "last byte creates the job and names it in `Transcription-Id`.",
  security,
  request: {
    params: idParam,
    headers: tusRequestHeaders.extend({
      "upload-offset": z.string().openapi({ description: "must equal the upload's current offset" }),
      "upload-checksum": z.string().optional().openapi({ description: "`sha256 <base64 digest of this body>`" }),
    }),
    body: {
      required: true,
      content: { [OFFSET_OCTET_STREAM]: { schema: z.any().openapi({ type: "string", format: "binary" }) } },
    },
  },
  responses: {
    204: { description: "Stored; the new offset", headers: { ...stateHeaders, ...sharedHeaders.rateLimit } },
    ...tusErrors,
    404: problem("No such upload in your tenant"),
    409: problem("`Upload-Offset` is not the upload's offset (`offset_mismatch`), or it is complete"),
    410: problem("Terminated (`upload_terminated`) or expired (`upload_expired`)"),
    413: problem("Bytes beyond `Upload-Length` (`exceeds_upload_length`) or a PATCH too large (`chunk_too_large`)"),
    415: problem("Not `application/offset+octet-stream`, or the first bytes are not audio (`unsupported_audio`)"),
    423: problem("Another PATCH is writing to this upload (`upload_locked`); tus clients retry"),
    429: tooManyRequests("The API key's upload bytes per minute or concurrent uploads are spent"),
    460: problem("`Upload-Checksum` does not match the body (`checksum_mismatch`)"),
  },
});

uploads.openAPIRegistry.registerPath({
  method: "delete",
  path: "/v1/uploads/{id}",
  operationId: "terminateUpload",
  tags: [TAGS.transcriptions],
  summary: "Terminate an upload (tus Termination)",
  description: "Its stored bytes are deleted at once; a job already created from it is not touched.",
  security,
  request: { params: idParam, headers: tusRequestHeaders },
  responses: {
    204: { description: "Terminated", headers: { "Tus-Resumable": tusHeader } },
    ...tusErrors,
    404: problem("No such upload in your tenant"),
  },
});
