/**
 * The body of `POST /v1/transcriptions`: a multipart form (one `file` part plus option fields) or raw audio (options
 * in the query); with `acceptAudioUrl`, also a JSON object or a multipart form naming the audio by `audio_url`
 * instead of a file. The audio streams into storage through an {@link AudioSink}; the fields come back unvalidated
 * (`resolveUploadOptions` and `resolveAudioUrlSource` judge them).
 */
import { MAX_AUDIO_URL_REQUEST_BYTES, MAX_FILE_NAME_CHARS } from "../config.ts";
import { UploadStreamError } from "../http/body-stream.ts";
import { boundaryFromContentType, MultipartError, parseMultipart } from "../http/multipart.ts";
import { ApiError } from "../http/problem.ts";
import { concatBytes } from "../lib/bytes.ts";
import type { StoredAudio } from "../storage/audio-store.ts";

/** Option fields by name, without a prototype: `__proto__` or `constructor` are names like any other. */
export type UploadFields = Record<string, string>;

/** Values of the fields that may repeat (`ReadUploadBodyOptions.listFields`), in the order sent; also prototype-less. */
export type UploadLists = Record<string, string[]>;

/** Where the audio goes: `store` is called at most once; `discard` removes what it stored (and never throws). */
export interface AudioSink {
  store(audio: ReadableStream<Uint8Array>): Promise<StoredAudio>;
  discard(): Promise<void>;
}

export interface UploadBody {
  stored: StoredAudio;
  /** the client's file name as a display label (multipart only), or null */
  fileName: string | null;
  fields: UploadFields;
  /** the repeatable fields that were sent (`timestamp_granularities[]`); empty unless `listFields` names some */
  lists: UploadLists;
}

/** A submission by URL: nothing was stored; `fields` holds `audio_url` (and maybe `audio_url_headers`). */
export interface UrlSubmissionBody {
  stored: null;
  fileName: null;
  fields: UploadFields;
}

/** The field that names the audio by URL instead of sending it. */
export const AUDIO_URL_FIELD = "audio_url";

export interface ReadUploadBodyOptions {
  /** also accept `application/json` and a multipart `audio_url` field in place of the file */
  acceptAudioUrl?: boolean;
  contentType: string;
  body: ReadableStream<Uint8Array> | null;
  query: URLSearchParams;
  sink: AudioSink;
  /** runs on raw uploads before the body is read, so a bad option costs no upload */
  checkFieldsFirst(fields: UploadFields): void;
  /** refuse raw audio bodies (415 `unsupported_media_type`): the OpenAI-compatible routes take multipart only */
  multipartOnly?: boolean;
  /** multipart field names that may be sent several times (OpenAI's `timestamp_granularities[]`) */
  listFields?: readonly string[];
}

/**
 * Reads the body and stores its audio. Throws ApiError: 415 `unsupported_media_type`, 400 for a malformed or
 * interrupted body (`malformed_multipart`, `upload_interrupted`, …), 422 for duplicate or unknown parts, and whatever
 * the sink throws (413, 415 `unsupported_audio`). On any failure nothing stays stored.
 */
export async function readUploadBody(
  options: ReadUploadBodyOptions & { acceptAudioUrl: true },
): Promise<UploadBody | UrlSubmissionBody>;
export async function readUploadBody(options: ReadUploadBodyOptions): Promise<UploadBody>;
export async function readUploadBody(options: ReadUploadBodyOptions): Promise<UploadBody | UrlSubmissionBody> {
  const { contentType, body, sink } = options;
  const acceptAudioUrl = options.acceptAudioUrl ?? false;
  try {
    const type = contentType.split(";")[0]!.trim().toLowerCase();
    if (type === "multipart/form-data") {
      return await readMultipart(contentType, body, sink, acceptAudioUrl, options.listFields ?? []);
    }
    if (acceptAudioUrl && type === "application/json") {
      return { stored: null, fileName: null, fields: await readJsonFields(body) };
    }
    if (!options.multipartOnly && isRawAudioType(contentType)) {
      const fields = queryFields(options.query);
      if (acceptAudioUrl && Object.hasOwn(fields, AUDIO_URL_FIELD)) throw conflictingSources();
      options.checkFieldsFirst(fields);
      if (!body) throw new ApiError(400, "empty_body", "The audio is empty (0 bytes).");
      return { stored: await sink.store(body), fileName: null, fields, lists: Object.create(null) };
    }
  } catch (error) {
    await sink.discard();
    throw asApiError(error);
  }
  throw new ApiError(
    415,
    "unsupported_media_type",
    options.multipartOnly
      ? "Send multipart/form-data with a `file` part."
      : "Send multipart/form-data with a `file` part, or raw audio with an audio/* or application/octet-stream " +
          `Content-Type${acceptAudioUrl ? ", or application/json with an `audio_url`" : ""}.`,
  );
}

function conflictingSources(): ApiError {
  return new ApiError(422, "conflicting_audio_source", "Send either a `file` or an `audio_url`, not both.");
}

/**
 * A JSON object of fields, read whole up to MAX_AUDIO_URL_REQUEST_BYTES. Values become field strings as a form would
 * carry them: numbers and booleans spelled out, objects (`metadata`, `audio_url_headers`) as JSON, null as absent.
 */
async function readJsonFields(body: ReadableStream<Uint8Array> | null): Promise<UploadFields> {
  if (!body) throw new ApiError(400, "empty_body", "The request has no body.");
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_AUDIO_URL_REQUEST_BYTES) {
      await reader.cancel().catch(() => undefined);
      throw new ApiError(413, "payload_too_large", `A JSON body is limited to ${MAX_AUDIO_URL_REQUEST_BYTES} bytes.`);
    }
    chunks.push(value);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(concatBytes(chunks, total)));
  } catch {
    throw new ApiError(400, "malformed_json", "The body is not valid UTF-8 JSON.");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ApiError(400, "malformed_json", "The body must be a JSON object.");
  }
  const fields: UploadFields = Object.create(null);
  for (const [name, value] of Object.entries(parsed)) {
    if (value === null) continue;
    fields[name] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return fields;
}

async function readMultipart(
  contentType: string,
  body: ReadableStream<Uint8Array> | null,
  sink: AudioSink,
  acceptAudioUrl: boolean,
  listFields: readonly string[],
): Promise<UploadBody | UrlSubmissionBody> {
  const boundary = boundaryFromContentType(contentType);
  if (!boundary) throw new ApiError(400, "malformed_multipart", "multipart/form-data needs a boundary parameter.");
  if (!body) throw new ApiError(400, "empty_body", "The request has no body.");
  const fields: UploadFields = Object.create(null);
  const lists: UploadLists = Object.create(null);
  let stored: StoredAudio | null = null;
  let fileName: string | null = null;
  for await (const part of parseMultipart(body, boundary)) {
    if (part.kind === "field") {
      if (acceptAudioUrl && part.name === AUDIO_URL_FIELD && stored) throw conflictingSources();
      if (listFields.includes(part.name)) (lists[part.name] ??= []).push(part.value);
      else addField(fields, part.name, part.value);
      continue;
    }
    if (part.name !== "file") {
      await part.stream.cancel();
      throw new ApiError(422, "unknown_field", `Unexpected file part \`${part.name}\`; send the audio as \`file\`.`);
    }
    if (stored) throw new ApiError(400, "duplicate_file", "Send exactly one `file` part.");
    if (acceptAudioUrl && Object.hasOwn(fields, AUDIO_URL_FIELD)) {
      await part.stream.cancel();
      throw conflictingSources();
    }
    fileName = sanitiseFileName(part.filename);
    stored = await sink.store(part.stream);
  }
  if (!stored) {
    if (acceptAudioUrl && Object.hasOwn(fields, AUDIO_URL_FIELD)) return { stored: null, fileName: null, fields };
    throw new ApiError(400, "missing_file", "The multipart body has no `file` part.");
  }
  return { stored, fileName, fields, lists };
}

/** Query parameters as fields; a name given twice is as ambiguous as a multipart field sent twice. */
function queryFields(query: URLSearchParams): UploadFields {
  const fields: UploadFields = Object.create(null);
  for (const [name, value] of query) addField(fields, name, value);
  return fields;
}

function addField(fields: UploadFields, name: string, value: string): void {
  if (Object.hasOwn(fields, name)) {
    const message = `Field \`${name}\` appears twice.`;
    throw new ApiError(422, "duplicate_field", message, [{ field: name, message: "appears twice" }]);
  }
  fields[name] = value;
}

/** Parser and stream failures as problem+json: both are the client's body, never our fault. */
function asApiError(error: unknown): unknown {
  if (error instanceof MultipartError) return new ApiError(400, error.code, error.message);
  if (error instanceof UploadStreamError) return new ApiError(400, "upload_interrupted", error.message);
  return error;
}

function isRawAudioType(contentType: string): boolean {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  return type.startsWith("audio/") || ["application/octet-stream", "video/webm", "video/mp4"].includes(type);
}

/** Keeps the last path component without control or bidi characters; the name is a display label only. */
function sanitiseFileName(name: string | null): string | null {
  if (!name) return null;
  const base = name.split(/[\\/]/).pop() ?? "";
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/g, "").trim();
  return clean ? clean.slice(0, MAX_FILE_NAME_CHARS) : null;
}
