/**
 * A `multipart/form-data` request body whose file part is streamed, never held whole: text fields, then the file's
 * bytes as they come from R2, then the closing boundary. The total length is known from the stored size, so the body
 * runs through a `FixedLengthStream` and the request carries a `Content-Length` (no chunked upload to a vendor).
 *
 * Why not `FormData`/`toFile`: a `File` in workerd is an in-memory blob, so the `openai` SDK's `toFile` reads the
 * whole audio into the isolate's heap (25 MB per OpenAI call); the SDK sends a `ReadableStream` body unchanged.
 */

/** One streamed form: the body, its Content-Type (with the boundary) and its exact length in bytes. */
export interface StreamedForm {
  body: ReadableStream<Uint8Array>;
  contentType: string;
  length: number;
}

export interface StreamedFormFile {
  /** the form field's name (`file`) */
  field: string;
  filename: string;
  contentType: string;
  stream: ReadableStream<Uint8Array>;
  /** exact byte length of `stream`; a stream that ends early or runs long errors the body */
  bytes: number;
}

const encoder = new TextEncoder();

/** Quoted-string per RFC 7578 §4.2 as browsers write it: `"` and CR/LF percent-encoded. */
function quoted(value: string): string {
  return `"${value.replace(/"/g, "%22").replace(/\r/g, "%0D").replace(/\n/g, "%0A")}"`;
}

function randomBoundary(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `vtt-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Builds the form (module comment). Fields keep their order; a field may repeat (`timestamp_granularities[]`). */
export function streamedForm(fields: [string, string][], file: StreamedFormFile): StreamedForm {
  const boundary = randomBoundary();
  const head = encoder.encode(
    fields
      .map(
        ([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(name)}\r\n\r\n${value}\r\n`,
      )
      .join("") +
      `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(file.field)}; filename=${quoted(file.filename)}\r\n` +
      `Content-Type: ${file.contentType}\r\n\r\n`,
  );
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
  const length = head.byteLength + file.bytes + tail.byteLength;
  const reader = file.stream.getReader();
  let stage: "head" | "file" | "tail" | "done" = "head";
  const source = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (stage === "head") {
          stage = "file";
          return controller.enqueue(head);
        }
        if (stage === "file") {
          const { done, value } = await reader.read();
          if (!done) return controller.enqueue(value);
          stage = "tail";
        }
        if (stage === "tail") {
          stage = "done";
          controller.enqueue(tail);
          return;
        }
        controller.close();
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return {
    body: source.pipeThrough(new FixedLengthStream(length)),
    contentType: `multipart/form-data; boundary=${boundary}`,
    length,
  };
}
