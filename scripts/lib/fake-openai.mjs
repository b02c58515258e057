// A loopback OpenAI-compatible transcription server for the e2e tests and benchmarks: the Worker's OpenAI provider
// (OPENAI_BASE_URL) calls it over real HTTP and gets Whisper-shaped `verbose_json` back. Plain ESM, no dependencies.
import http from "node:http";

/** The transcript every call answers with (Whisper's shape: segment texts start with a space). */
export const FAKE_TRANSCRIPT = {
  language: "english",
  duration: 4.2,
  text: "The quick brown fox jumps over the lazy dog. It was not amused.",
  segments: [
    {
      start: 0,
      end: 2.6,
      text: " The quick brown fox jumps over the lazy dog.",
      avg_logprob: -0.21,
      no_speech_prob: 0.01,
    },
    { start: 2.6, end: 4.2, text: " It was not amused.", avg_logprob: -0.35, no_speech_prob: 0.02 },
  ],
  words: [
    { word: "The", start: 0, end: 0.2 },
    { word: "quick", start: 0.2, end: 0.5 },
  ],
};

/** The text fields of a multipart body (the file part's bytes are skipped). */
function formFields(body, contentType) {
  const boundary = /boundary=([^;]+)/.exec(contentType ?? "")?.[1];
  const fields = {};
  if (!boundary) return fields;
  for (const part of body.toString("latin1").split(`--${boundary}`)) {
    const match = /name="([^"]+)"(?!; filename)[^\r\n]*\r\n\r\n([\s\S]*)\r\n$/.exec(part);
    if (match) fields[match[1]] = Buffer.from(match[2], "latin1").toString("utf8");
  }
  return fields;
}

/**
 * Starts the server on `port` (0: any free one). Every request is recorded in `requests` as
 * `{ path, authorization, fields, bytes }`. `delayMs` holds each answer back, like a real provider's work.
 */
export async function startFakeOpenAI({ port = 0, delayMs = 0 } = {}) {
  const requests = [];
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const path = new URL(req.url ?? "/", "http://x").pathname;
    requests.push({
      path,
      authorization: req.headers.authorization,
      fields: formFields(body, req.headers["content-type"]),
      bytes: body.length,
    });
    const send = (status, value) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    const task = { "/v1/audio/transcriptions": "transcribe", "/v1/audio/translations": "translate" }[path];
    if (req.method !== "POST" || !task) {
      return send(404, { error: { message: "no such route", type: "invalid_request_error", param: null, code: null } });
    }
    if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
    send(200, { task, ...FAKE_TRANSCRIPT, usage: { type: "duration", seconds: Math.ceil(FAKE_TRANSCRIPT.duration) } });
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  const address = server.address();
  return {
    baseURL: `http://127.0.0.1:${address.port}/v1`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve(undefined))),
  };
}
