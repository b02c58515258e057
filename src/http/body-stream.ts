/**
 * The request body of an upload, guarded: bytes are counted (the rate limiter settles on them) and a failure of the
 * body stream itself becomes an {@link UploadStreamError}, so an interrupted upload is told apart by its type.
 */

/** The client's body stream failed (disconnect, broken chunked encoding): the upload was interrupted, not malformed. */
export class UploadStreamError extends Error {
  constructor(cause: unknown) {
    super("The upload stream ended unexpectedly.", { cause });
    this.name = "UploadStreamError";
  }
}

export interface GuardedBody {
  /** read this instead of the request body */
  stream: ReadableStream<Uint8Array>;
  /** bytes read from the request body so far */
  bytesRead(): number;
}

/** Wraps a request body (see the module comment). The request body is not touched until the wrapper is first read. */
export function guardRequestBody(body: ReadableStream<Uint8Array>): GuardedBody {
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
      async cancel(reason) {
        await source().cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, bytesRead: () => bytes };
}
