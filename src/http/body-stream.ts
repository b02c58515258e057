/**
 * The request body of an upload, guarded: bytes are counted (the rate limiter settles on them), a failure of the body
 * stream itself becomes an {@link UploadStreamError}, and a consumer that stops early (a rejected multipart part, an
 * oversize or non-audio body) drains what the client is still sending instead of cancelling the request body.
 *
 * Why drain: a request body left unconsumed while the client is still sending breaks the connection it came on, and
 * cancelling it does not help (cloudflare/workerd#1741). Under `wrangler dev` the next request on that connection
 * fails with `503 Your worker restarted mid-request` or hangs, so one tenant's rejected uploads broke other tenants'
 * requests (docs/security.md, "Uploads rejected mid-body").
 */

/** The client's body stream failed (disconnect, broken chunked encoding): the upload was interrupted, not malformed. */
export class UploadStreamError extends Error {
  constructor(cause: unknown) {
    super("The upload stream ended unexpectedly.", { cause });
    this.name = "UploadStreamError";
  }
}

export interface GuardedBody {
  /** read this instead of the request body; cancelling it drains the request body */
  stream: ReadableStream<Uint8Array>;
  /** bytes read from the request body so far, drained bytes included */
  bytesRead(): number;
}

export interface GuardBodyOptions {
  /**
   * Drain a cancelled body only while the whole body stays within this many bytes (the largest body a valid upload
   * can have); past it the request body is cancelled after all, since no valid request is that large.
   */
  drainLimitBytes: number;
}

/** Wraps a request body (see the module comment). The request body is not touched until the wrapper is first read. */
export function guardRequestBody(body: ReadableStream<Uint8Array>, options: GuardBodyOptions): GuardedBody {
  let reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  let bytes = 0;
  const source = () => (reader ??= body.getReader());
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await source().read();
        } catch (error) {
          controller.error(new UploadStreamError(error));
          return;
        }
        if (result.done) return controller.close();
        bytes += result.value.byteLength;
        controller.enqueue(result.value);
      },
      async cancel() {
        const input = source();
        try {
          while (bytes <= options.drainLimitBytes) {
            const { done, value } = await input.read();
            if (done) return;
            bytes += value.byteLength;
          }
          await input.cancel();
        } catch {
          // the client went away while we drained: nothing is left to protect
        }
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, bytesRead: () => bytes };
}
