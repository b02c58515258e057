/**
 * Streaming multipart/form-data parser (RFC 7578 over RFC 2046 framing). Web-standard APIs only.
 *
 * File parts are handed out as streams and never buffered whole: the parser keeps at most one input chunk plus the
 * delimiter length (`\r\n--` + boundary) in memory. Text fields are collected up to `maxFieldBytes`.
 * Errors from parsing are {@link MultipartError}; an error from the body stream itself (client disconnect) is passed
 * through unchanged so the caller can tell an interrupted upload from a malformed one.
 */

export type MultipartErrorCode = "malformed_multipart" | "too_many_fields" | "field_too_large" | "duplicate_file";

/** A client error in the multipart body; `code` is stable and fit for a problem+json response. */
export class MultipartError extends Error {
  constructor(
    readonly code: MultipartErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "MultipartError";
  }
}

/**
 * One part, in body order. A part is a `file` when its Content-Disposition has a `filename` or `filename*` parameter
 * (`filename` is null when that name is empty, as browsers send for an empty file input); otherwise a UTF-8 `field`.
 * `contentType` is the part's Content-Type header as sent, or null.
 */
export type MultipartPart =
  | { kind: "field"; name: string; value: string }
  | {
      kind: "file";
      name: string;
      filename: string | null;
      contentType: string | null;
      stream: ReadableStream<Uint8Array>;
    };

/** Limits that protect the Worker from hostile bodies. */
export interface MultipartOptions {
  /** Largest text field value in bytes; default 64 KiB. */
  maxFieldBytes?: number;
  /** Most parts (fields and files together); default 32. */
  maxFields?: number;
  /** Largest header block of one part, and largest preamble, in bytes; default 8 KiB. */
  maxHeaderBytes?: number;
}

export const DEFAULT_MAX_FIELD_BYTES = 64 * 1024;
export const DEFAULT_MAX_FIELDS = 32;
export const DEFAULT_MAX_HEADER_BYTES = 8 * 1024;

/** RFC 2046 §5.1.1: 1..70 characters from `bchars`, not ending in a space. */
const BOUNDARY_PATTERN = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;
const CR = 0x0d;
const LF = 0x0a;
const DASH = 0x2d;
const SPACE = 0x20;
const TAB = 0x09;
const CRLF = new Uint8Array([CR, LF]);
const HEADER_END = new Uint8Array([CR, LF, CR, LF]);
const EMPTY = new Uint8Array(0);
/** Invalid UTF-8 is an error, not U+FFFD; a leading BOM is dropped as browsers do. */
const STRICT_UTF8 = { fatal: true, ignoreBOM: false };

/**
 * The `boundary` parameter of a `multipart/form-data` Content-Type (quoted or not), or null when the type is something
 * else or the boundary is missing or not a legal RFC 2046 boundary.
 */
export function boundaryFromContentType(contentType: string | null | undefined): string | null {
  if (!contentType) return null;
  const [mediaType, ...rest] = contentType.split(";");
  if (mediaType!.trim().toLowerCase() !== "multipart/form-data") return null;
  let boundary: string | undefined;
  try {
    boundary = parseParameters(rest.join(";")).get("boundary");
  } catch {
    return null;
  }
  return boundary !== undefined && BOUNDARY_PATTERN.test(boundary) ? boundary : null;
}

/**
 * `; key=value; key="quoted \"value\""` → lower-cased keys. In quoted strings only `\"` and `\\` are escapes, so a
 * Windows path sent unescaped by a browser (`C:\new\a.wav`) survives.
 * @throws MultipartError on text that is not a parameter list (unbalanced quotes, a key without a value, a repeat)
 */
function parseParameters(input: string): Map<string, string> {
  const params = new Map<string, string>();
  // a token value may not contain a quote, so `name="a` (unbalanced) fails instead of becoming the value `"a`
  const pattern = /;?\s*([^\s=;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;"]*))\s*/y;
  let rest = input.trim();
  if (rest.startsWith(";")) rest = rest.slice(1);
  pattern.lastIndex = 0;
  while (pattern.lastIndex < rest.length) {
    const match = pattern.exec(rest);
    if (!match) throw new MultipartError("malformed_multipart", `Cannot parse header parameters: ${input.trim()}`);
    const key = match[1]!.toLowerCase();
    if (params.has(key)) throw new MultipartError("malformed_multipart", `Header parameter \`${key}\` appears twice.`);
    const value = match[2] !== undefined ? match[2].replace(/\\(["\\])/g, "$1") : match[3]!.trim();
    params.set(key, value);
  }
  return params;
}

/** RFC 5987 `charset'lang'%XX..`; UTF-8 and ISO-8859-1 are the charsets it requires. */
function decodeExtendedValue(value: string): string | null {
  const match = /^([A-Za-z0-9!#$&+^`{}~-]+)'[A-Za-z0-9-]*'(.*)$/.exec(value);
  if (!match) return null;
  const charset = match[1]!.toLowerCase();
  const bytes: number[] = [];
  const encoded = match[2]!;
  for (let i = 0; i < encoded.length; i++) {
    const char = encoded[i]!;
    if (char === "%") {
      const hex = encoded.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      const code = char.charCodeAt(0);
      if (code > 0x7e || code <= 0x20) return null;
      bytes.push(code);
    }
  }
  try {
    if (charset === "utf-8") return new TextDecoder("utf-8", STRICT_UTF8).decode(new Uint8Array(bytes));
    if (charset === "iso-8859-1") return String.fromCharCode(...bytes);
  } catch {
    return null;
  }
  return null;
}

interface PartHeaders {
  name: string;
  /** undefined: no filename parameter (a text field); null: an empty file name */
  filename: string | null | undefined;
  contentType: string | null;
}

function parsePartHeaders(block: string): PartHeaders {
  let disposition: string | undefined;
  let contentType: string | null = null;
  for (const line of block === "" ? [] : block.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0)
      throw new MultipartError("malformed_multipart", `Bad part header line: ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-disposition") {
      if (disposition !== undefined)
        throw new MultipartError("malformed_multipart", "A part has two Content-Disposition headers.");
      disposition = value;
    } else if (name === "content-type") {
      contentType = value || null;
    }
  }
  if (disposition === undefined)
    throw new MultipartError("malformed_multipart", "A part has no Content-Disposition header.");
  const [type, ...rest] = disposition.split(";");
  if (type!.trim().toLowerCase() !== "form-data") {
    throw new MultipartError("malformed_multipart", "Content-Disposition of a part must be form-data.");
  }
  const params = parseParameters(rest.join(";"));
  const name = params.get("name");
  if (!name) throw new MultipartError("malformed_multipart", "A part's Content-Disposition has no name.");
  let filename: string | null | undefined;
  if (params.has("filename*")) {
    filename = decodeExtendedValue(params.get("filename*")!) ?? params.get("filename");
    if (filename === undefined) throw new MultipartError("malformed_multipart", "A part has an undecodable filename*.");
  } else {
    filename = params.get("filename");
  }
  return { name, filename: filename === "" ? null : filename, contentType };
}

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  const last = haystack.length - needle.length;
  for (let i = haystack.indexOf(needle[0]!, from); i !== -1 && i <= last; i = haystack.indexOf(needle[0]!, i + 1)) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

/** The unconsumed bytes of the body: a small carry-over plus the latest chunk. */
class ByteSource {
  bytes: Uint8Array = EMPTY;
  private ended = false;

  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  /** Appends the next chunk; false at end of body. Errors of the body stream itself propagate unchanged. */
  async fill(): Promise<boolean> {
    while (!this.ended) {
      const { done, value } = await this.reader.read();
      if (done) {
        this.ended = true;
        break;
      }
      if (!(value instanceof Uint8Array))
        throw new MultipartError("malformed_multipart", "The body must be a byte stream.");
      if (value.length === 0) continue;
      if (this.bytes.length === 0) {
        this.bytes = value;
      } else {
        const joined = new Uint8Array(this.bytes.length + value.length);
        joined.set(this.bytes);
        joined.set(value, this.bytes.length);
        this.bytes = joined;
      }
      return true;
    }
    return false;
  }

  /** Makes at least `count` bytes available, or throws `endedMessage` if the body ends first. */
  async require(count: number, endedMessage: string): Promise<void> {
    while (this.bytes.length < count) {
      if (!(await this.fill())) throw new MultipartError("malformed_multipart", endedMessage);
    }
  }

  take(count: number): Uint8Array {
    const head = this.bytes.subarray(0, count);
    this.bytes = this.bytes.subarray(count);
    return head;
  }

  async close(): Promise<void> {
    await this.reader.cancel().catch(() => undefined);
  }
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/**
 * Yields the parts of a multipart/form-data body in order. A file part's stream must be fully consumed (or
 * cancelled, which skips the rest of that part) before the next part is pulled; a part left unread when the next is
 * pulled is skipped and its stream errors. Leaving the loop early cancels the body.
 * Throws {@link MultipartError} for malformed bodies (no boundary, missing closing boundary, bad headers), more than
 * `maxFields` parts, an oversized field, or two file parts with the same name; a file stream cut short by the end of
 * the body errors with `malformed_multipart`.
 */
export async function* parseMultipart(
  body: ReadableStream<Uint8Array>,
  boundary: string,
  options?: MultipartOptions,
): AsyncGenerator<MultipartPart> {
  const maxFieldBytes = positiveInteger(options?.maxFieldBytes, DEFAULT_MAX_FIELD_BYTES, "maxFieldBytes");
  const maxFields = positiveInteger(options?.maxFields, DEFAULT_MAX_FIELDS, "maxFields");
  const maxHeaderBytes = positiveInteger(options?.maxHeaderBytes, DEFAULT_MAX_HEADER_BYTES, "maxHeaderBytes");
  if (!BOUNDARY_PATTERN.test(boundary))
    throw new MultipartError("malformed_multipart", "The multipart boundary is not valid.");

  const delimiter = new TextEncoder().encode(`\r\n--${boundary}`);
  const source = new ByteSource(body.getReader());
  // a body may open with the boundary itself; a virtual CRLF lets one search find both cases
  source.bytes = CRLF;

  /**
   * The next slice of the current part's content, or null once its closing delimiter is consumed. Holds back
   * `delimiter.length - 1` bytes, which might be the start of a delimiter split across chunks.
   */
  async function readPartContent(): Promise<Uint8Array | null> {
    for (;;) {
      const at = indexOfBytes(source.bytes, delimiter);
      if (at === 0) {
        source.take(delimiter.length);
        return null;
      }
      if (at > 0) return source.take(at);
      const safe = source.bytes.length - (delimiter.length - 1);
      if (safe > 0) return source.take(safe);
      if (!(await source.fill())) {
        throw new MultipartError("malformed_multipart", "The body ended inside a part, before its closing boundary.");
      }
    }
  }

  try {
    // preamble: anything before the first delimiter is ignored, but not read forever
    let preambleBytes = 0;
    for (;;) {
      const at = indexOfBytes(source.bytes, delimiter);
      if (at >= 0) {
        source.take(at + delimiter.length);
        break;
      }
      const drop = Math.max(0, source.bytes.length - (delimiter.length - 1));
      preambleBytes += drop;
      source.take(drop);
      if (preambleBytes > maxHeaderBytes || !(await source.fill())) {
        throw new MultipartError("malformed_multipart", "The body does not contain the multipart boundary.");
      }
    }

    const fileNames = new Set<string>();
    let partCount = 0;
    for (;;) {
      // after a delimiter: "--" closes the body, else optional whitespace then CRLF opens a part
      await source.require(2, "The body ended without a closing boundary.");
      if (source.bytes[0] === DASH && source.bytes[1] === DASH) return;
      for (let padding = 0; ; padding++) {
        await source.require(1, "The body ended without a closing boundary.");
        const byte = source.bytes[0];
        if (byte !== SPACE && byte !== TAB) break;
        if (padding >= maxHeaderBytes)
          throw new MultipartError("malformed_multipart", "Too much padding after a boundary.");
        source.take(1);
      }
      await source.require(2, "The body ended without a closing boundary.");
      if (source.bytes[0] !== CR || source.bytes[1] !== LF) {
        throw new MultipartError("malformed_multipart", "A boundary line is followed by unexpected bytes.");
      }
      source.take(2);

      const headers = parsePartHeaders(await readHeaderBlock(source, maxHeaderBytes));
      partCount++;
      if (partCount > maxFields) throw new MultipartError("too_many_fields", `At most ${maxFields} parts are allowed.`);

      if (headers.filename === undefined) {
        const pieces: Uint8Array[] = [];
        let size = 0;
        for (let piece = await readPartContent(); piece; piece = await readPartContent()) {
          size += piece.length;
          if (size > maxFieldBytes) {
            throw new MultipartError(
              "field_too_large",
              `Field \`${headers.name}\` is larger than ${maxFieldBytes} bytes.`,
            );
          }
          pieces.push(piece.slice());
        }
        yield { kind: "field", name: headers.name, value: decodeField(headers.name, pieces, size) };
        continue;
      }

      if (fileNames.has(headers.name))
        throw new MultipartError("duplicate_file", `File part \`${headers.name}\` appears twice.`);
      fileNames.add(headers.name);
      const file = fileStream(readPartContent);
      yield {
        kind: "file",
        name: headers.name,
        filename: headers.filename,
        contentType: headers.contentType,
        stream: file.stream,
      };
      await file.finish();
    }
  } finally {
    await source.close();
  }
}

/** Reads a part's header block up to and including the blank line; returns it without the final CRLF CRLF. */
async function readHeaderBlock(source: ByteSource, maxHeaderBytes: number): Promise<string> {
  let searchFrom = 0;
  for (;;) {
    // a part with no headers at all starts with the blank line
    if (source.bytes.length >= 2 && source.bytes[0] === CR && source.bytes[1] === LF) {
      source.take(2);
      return "";
    }
    const at = indexOfBytes(source.bytes, HEADER_END, searchFrom);
    if (at >= 0) {
      if (at > maxHeaderBytes) break;
      const block = new TextDecoder().decode(source.take(at));
      source.take(HEADER_END.length);
      return block;
    }
    if (source.bytes.length > maxHeaderBytes + HEADER_END.length) break;
    searchFrom = Math.max(0, source.bytes.length - (HEADER_END.length - 1));
    if (!(await source.fill()))
      throw new MultipartError("malformed_multipart", "The body ended inside a part's headers.");
  }
  throw new MultipartError("malformed_multipart", `A part's headers are larger than ${maxHeaderBytes} bytes.`);
}

function decodeField(name: string, pieces: Uint8Array[], size: number): string {
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const piece of pieces) {
    bytes.set(piece, offset);
    offset += piece.length;
  }
  try {
    return new TextDecoder("utf-8", STRICT_UTF8).decode(bytes);
  } catch {
    throw new MultipartError("malformed_multipart", `Field \`${name}\` is not valid UTF-8.`);
  }
}

/**
 * Wraps the current part's content as a pull stream (nothing is read ahead of the consumer). `finish` runs when the
 * generator resumes: it skips whatever the consumer left unread and rethrows a parse error the stream hit.
 */
function fileStream(readPartContent: () => Promise<Uint8Array | null>) {
  let done = false;
  let failure: unknown;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      async pull(c) {
        try {
          const piece = await readPartContent();
          if (piece) {
            // a view, not a copy: the bytes before it are consumed and the source keeps only the bytes after it
            c.enqueue(piece);
          } else {
            done = true;
            c.close();
          }
        } catch (error) {
          done = true;
          failure = error;
          c.error(error);
        }
      },
      cancel() {
        // the rest of the part is skipped by finish() when the next part is requested
      },
    },
    { highWaterMark: 0 },
  );
  return {
    stream,
    async finish(): Promise<void> {
      if (failure !== undefined) throw failure;
      if (done) return;
      done = true;
      try {
        controller.error(
          new MultipartError("malformed_multipart", "This file part was skipped: the next part was requested first."),
        );
      } catch {
        // already cancelled by the consumer
      }
      while ((await readPartContent()) !== null) {
        // discard
      }
    },
  };
}
