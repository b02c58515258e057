/**
 * Bounded request-body reading. `c.req.text()`/`json()` read a body of any size into memory before anything can look
 * at it, and a chunked request declares no length to refuse up front; a production isolate has 128 MB. Every route
 * that reads a body whole goes through `readBodyLimited` (directly, or through `limitRequestBodies` in front of the
 * zod-validated JSON routes), which stops reading and answers 413 the moment the limit is passed.
 */
import { createMiddleware } from "hono/factory";

import type { AppEnv } from "../app.context.ts";
import { ApiError } from "./problem.ts";

/**
 * Largest body of a JSON API request (admin, feedback, subject erasure). The largest valid one is a review's
 * `corrected_text`: 100 000 UTF-16 units, at most 6 bytes each when `\u`-escaped, so 600 KB plus the envelope.
 */
export const MAX_JSON_BODY_BYTES = 1024 * 1024;

/**
 * Routes that stream their body with limits of their own and must not be buffered here: `METHOD path`, exact.
 * The uploads stream into R2 under `MAX_UPLOAD_BYTES`.
 */
export const STREAMED_BODY_ROUTES: readonly string[] = Object.freeze([
  "POST /v1/transcriptions",
  "POST /v1/audio/transcriptions",
  "POST /v1/audio/translations",
  "POST /v1/uploads",
]);

/** Streamed routes with an id in the path (tus PATCH: the chunk streams to R2 under the upload's own limits). */
const STREAMED_BODY_PATTERNS: readonly RegExp[] = Object.freeze([/^PATCH \/v1\/uploads\/[^/]+$/]);

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, "payload_too_large", `The request body is limited to ${maxBytes} bytes on this route.`);
}

/**
 * Reads `request`'s body into memory, refusing a declared `Content-Length` over `maxBytes` before reading and
 * otherwise counting bytes as they arrive: past `maxBytes` the stream is cancelled and nothing more is read.
 * @throws ApiError 413 `payload_too_large`
 */
export async function readBodyLimited(request: Request, maxBytes: number): Promise<Uint8Array<ArrayBuffer>> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge(maxBytes);
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/** `readBodyLimited` decoded as UTF-8 (invalid sequences become U+FFFD, as `Request.text()` does). */
export async function readTextLimited(request: Request, maxBytes: number): Promise<string> {
  return new TextDecoder().decode(await readBodyLimited(request, maxBytes));
}

/**
 * Middleware for routers whose handlers or validators read the body whole (zod-openapi's JSON validator calls
 * `c.req.json()`): reads it once through `readBodyLimited` and puts the bytes back as the request's body, so the
 * validator parses what was counted. GET/HEAD and `STREAMED_BODY_ROUTES` pass through untouched. Mounted after
 * authentication, so an unauthenticated caller's body is never read at all.
 */
export function limitRequestBodies(maxBytes = MAX_JSON_BODY_BYTES) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const method = c.req.method;
    const route = `${method} ${c.req.path}`;
    const streamed = STREAMED_BODY_ROUTES.includes(route) || STREAMED_BODY_PATTERNS.some((p) => p.test(route));
    if (method === "GET" || method === "HEAD" || !c.req.raw.body || streamed) return next();
    const body = await readBodyLimited(c.req.raw, maxBytes);
    c.req.raw = new Request(c.req.raw, { body });
    return next();
  });
}
