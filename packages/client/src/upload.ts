/** Audio for `transcribe`: what may be passed, and the request body that counts its bytes as fetch pulls them. */

/** Bytes in memory, a Blob or File (`fs.openAsBlob` in Node), a stream, or the http(s) URL of the audio. */
export type AudioInput = Blob | ArrayBuffer | ArrayBufferView | ReadableStream<Uint8Array> | string | URL;

export interface UploadProgress {
  sentBytes: number;
  /** null for a stream of unknown length */
  totalBytes: number | null;
}

/** True for an http(s) URL, which `transcribe` submits as `audio_url` instead of uploading. */
export function isAudioUrl(input: AudioInput): input is string | URL {
  if (input instanceof URL) return input.protocol === "https:" || input.protocol === "http:";
  return typeof input === "string" && /^https?:\/\//i.test(input);
}

/** The audio as a Blob when it can be read more than once (so an upload can be retried), else the stream. */
export function toReplayableAudio(input: Exclude<AudioInput, string | URL>): Blob | ReadableStream<Uint8Array> {
  if (input instanceof Blob) return input;
  if (input instanceof ReadableStream) return input;
  if (input instanceof ArrayBuffer) return new Blob([input]);
  return new Blob([new Uint8Array(input.buffer, input.byteOffset, input.byteLength) as Uint8Array<ArrayBuffer>]);
}

/**
 * `source` re-emitted chunk by chunk as the consumer pulls (no read-ahead), so `onProgress` reports what the request
 * has actually taken, not what was buffered.
 */
export function countingStream(
  source: ReadableStream<Uint8Array>,
  totalBytes: number | null,
  onProgress: (progress: UploadProgress) => void,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let sentBytes = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        sentBytes += value.byteLength;
        controller.enqueue(value);
        onProgress({ sentBytes, totalBytes });
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

let requestStreams: boolean | undefined;
/**
 * Whether this runtime's fetch can send a ReadableStream body (Node, Chromium; not Firefox or Safari yet). The
 * standard probe: a runtime that supports it reads `duplex` and does not turn the stream into text.
 */
export function supportsRequestStreams(): boolean {
  if (requestStreams !== undefined) return requestStreams;
  try {
    let duplexRead = false;
    const init = {
      method: "POST",
      body: new ReadableStream(),
      get duplex() {
        duplexRead = true;
        return "half";
      },
    };
    const hasContentType = new Request("http://localhost/", init as RequestInit).headers.has("content-type");
    requestStreams = duplexRead && !hasContentType;
  } catch {
    requestStreams = false;
  }
  return requestStreams;
}
