/**
 * The tus 1.0 resumable upload protocol (https://tus.io/protocols/resumable-upload), the parts of it that need no
 * bindings: header parsing, the extensions we speak, and how a byte range is laid out in R2 multipart parts.
 * Every parse failure is a {@link TusError} naming the HTTP status and stable code the route answers with.
 */

export const TUS_VERSION = "1.0.0";
export const TUS_EXTENSIONS = ["creation", "creation-with-upload", "expiration", "termination", "checksum"] as const;
export const TUS_CHECKSUM_ALGORITHMS = ["sha256"] as const;
/** the Content-Type of every PATCH (and of a creation-with-upload POST body) */
export const OFFSET_OCTET_STREAM = "application/offset+octet-stream";
/** Upload-Metadata of at most this many bytes (the header as sent, base64 included) */
export const MAX_UPLOAD_METADATA_BYTES = 8 * 1024;

export class TusError extends Error {
  constructor(
    readonly status: 400 | 409 | 412 | 413 | 415 | 460,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "TusError";
  }
}

/**
 * `Tus-Resumable` must name the version we speak on every request but OPTIONS.
 * @throws TusError 412 `tus_resumable_missing` / `tus_version_unsupported`
 */
export function checkTusResumable(header: string | undefined): void {
  if (header === undefined || header.trim() === "") {
    throw new TusError(412, "tus_resumable_missing", `Send Tus-Resumable: ${TUS_VERSION} with every tus request.`);
  }
  if (header.trim() !== TUS_VERSION) {
    throw new TusError(412, "tus_version_unsupported", `This server speaks tus ${TUS_VERSION} only.`);
  }
}

/** A non-negative decimal integer header (`Upload-Length`, `Upload-Offset`); digits only, no sign, no exponent. */
function parseByteCount(header: string | undefined, name: string, code: string): number {
  if (header === undefined) throw new TusError(400, `${code}_missing`, `The ${name} header is required.`);
  const text = header.trim();
  if (!/^\d{1,16}$/.test(text)) {
    throw new TusError(400, `invalid_${code}`, `${name} must be a non-negative integer number of bytes.`);
  }
  return Number(text);
}

/**
 * `Upload-Length` at creation: 1 byte to `maxBytes`. Deferred lengths (`Upload-Defer-Length`) are not offered.
 * @throws TusError 400 `upload_length_missing` / `invalid_upload_length` / `empty_upload`, 413 `upload_too_large`
 */
export function parseUploadLength(header: string | undefined, maxBytes: number, deferLength?: string): number {
  if (header === undefined && deferLength !== undefined) {
    throw new TusError(400, "upload_length_missing", "Upload-Defer-Length is not supported: send Upload-Length.");
  }
  const text = header?.trim() ?? "";
  // a number too long to be a byte count is "absurd", not malformed
  if (/^\d{17,}$/.test(text)) throw tooLarge(maxBytes);
  const length = parseByteCount(header, "Upload-Length", "upload_length");
  if (length === 0) throw new TusError(400, "empty_upload", "Upload-Length is 0: there is no audio to transcribe.");
  if (length > maxBytes) throw tooLarge(maxBytes);
  return length;
}

function tooLarge(maxBytes: number): TusError {
  return new TusError(413, "upload_too_large", `Resumable uploads are limited to ${maxBytes} bytes (Tus-Max-Size).`);
}

/** `Upload-Offset` of a PATCH. @throws TusError 400 `upload_offset_missing` / `invalid_upload_offset` */
export function parseUploadOffset(header: string | undefined): number {
  return parseByteCount(header, "Upload-Offset", "upload_offset");
}

/** `Content-Type` of a PATCH. @throws TusError 415 `invalid_content_type` */
export function checkPatchContentType(header: string | undefined): void {
  if ((header ?? "").split(";")[0]!.trim().toLowerCase() !== OFFSET_OCTET_STREAM) {
    throw new TusError(415, "invalid_content_type", `A tus PATCH body must be sent as ${OFFSET_OCTET_STREAM}.`);
  }
}

/**
 * `Upload-Metadata`: comma separated `key base64value` pairs (a key alone has an empty value). Keys are ASCII
 * without spaces or commas and unique; values must be valid base64 of UTF-8 text.
 * @throws TusError 400 `invalid_upload_metadata`
 */
export function parseUploadMetadata(header: string | undefined): Record<string, string> {
  const result: Record<string, string> = Object.create(null);
  if (header === undefined || header.trim() === "") return result;
  if (header.length > MAX_UPLOAD_METADATA_BYTES) {
    throw badMetadata(`Upload-Metadata is limited to ${MAX_UPLOAD_METADATA_BYTES} bytes.`);
  }
  for (const pair of header.split(",")) {
    const parts = pair.trim().split(" ");
    if (parts.length > 2) throw badMetadata("each pair must be a key and one base64 value separated by a space");
    const [key, value = ""] = parts;
    if (!key || !/^[\x21-\x2b\x2d-\x7e]+$/.test(key)) throw badMetadata("keys must be non-empty ASCII without spaces");
    if (Object.hasOwn(result, key)) throw badMetadata(`the key \`${key}\` appears twice`);
    result[key] = decodeBase64Text(value, key);
  }
  return result;
}

function decodeBase64Text(value: string, key: string): string {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(value)) {
    throw badMetadata(`the value of \`${key}\` is not valid base64`);
  }
  const bytes = Uint8Array.from(atob(value), (ch) => ch.charCodeAt(0));
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw badMetadata(`the value of \`${key}\` is not UTF-8 text`);
  }
}

function badMetadata(detail: string): TusError {
  return new TusError(400, "invalid_upload_metadata", `Upload-Metadata: ${detail}.`);
}

/** `Upload-Checksum: sha256 <base64 digest>`. @throws TusError 400 `unsupported_checksum_algorithm` / `invalid_checksum` */
export function parseUploadChecksum(header: string | undefined): Uint8Array | null {
  if (header === undefined) return null;
  const [algorithm, digest, ...rest] = header.trim().split(" ");
  if (algorithm?.toLowerCase() !== "sha256") {
    throw new TusError(400, "unsupported_checksum_algorithm", "Upload-Checksum supports sha256 only.");
  }
  if (rest.length || !digest || !/^[A-Za-z0-9+/]{43}=$/.test(digest)) {
    throw new TusError(400, "invalid_checksum", "Upload-Checksum must be `sha256 <base64 of the 32-byte digest>`.");
  }
  return Uint8Array.from(atob(digest), (ch) => ch.charCodeAt(0));
}

/** The metadata keys that are not job options: the file's name and type. */
export const FILE_METADATA_KEYS = ["filename", "filetype", "name", "type"] as const;

/** Splits Upload-Metadata into the file name and the job option fields (everything else). */
export function splitUploadMetadata(metadata: Record<string, string>): {
  fileName: string | null;
  fields: Record<string, string>;
} {
  const fields: Record<string, string> = Object.create(null);
  for (const [key, value] of Object.entries(metadata)) {
    if (!(FILE_METADATA_KEYS as readonly string[]).includes(key)) fields[key] = value;
  }
  const fileName = metadata.filename ?? metadata.name ?? null;
  return { fileName: fileName === "" ? null : fileName, fields };
}

/** RFC 9110 IMF-fixdate, as `Upload-Expires` is written. */
export const httpDate = (ms: number): string => new Date(ms).toUTCString();
