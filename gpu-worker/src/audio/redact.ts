/**
 * Audio redaction for the formats the edge cannot decode (MP4/M4A/AAC, WebM, anything ffmpeg reads):
 * `POST /v1/redactions` (docs/pool-contract.md §5). The signed audio URL's body is written to a temporary file (an MP4
 * with its index at the end needs a seekable input); ffmpeg decodes it, replaces every span by a 1 kHz tone at
 * −12 dBFS on every channel (`aeval`, the same tone as the edge's rewrite, src/domain/wav-tone.ts) and writes 16-bit
 * PCM WAV to a second temporary file (seekable, so the header carries the real sizes); that file is streamed to the
 * edge's signed upload URL. Nothing is held in memory beyond a stream chunk; the disk holds the input and the output
 * of one request while it runs, and both are removed afterwards.
 */
import { spawn } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, open, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";

import { type RedactionRequest, type RedactionResponse, RedactionUploadResponseSchema } from "@vtt/pool-contract";

import { PoolJobError } from "../errors.ts";
import { checkAudioUrl, type DecodeOptions, openAudio, READ_AHEAD_BYTES, readAhead } from "./decode.ts";

/** The tone: 1000 Hz at a quarter of full scale, as the edge writes it. */
export const REDACTION_TONE_HZ = 1000;
export const REDACTION_TONE_AMPLITUDE = 0.25;
/** ffmpeg stderr kept for error messages. */
const STDERR_TAIL_BYTES = 2_000;
/** The canonical PCM WAV header ffmpeg writes with `-bitexact` and no metadata. */
const WAV_HEADER_BYTES = 44;

/** Options for {@link redactAudio}: the decode's (URL guard, caps, fetch timeout, signal) and the upload's limit. */
export interface RedactOptions extends DecodeOptions {
  /** Time allowed for the whole upload PUT to the edge. */
  uploadTimeoutMs: number;
}

/** What ffmpeg produced. */
export interface RedactedWav {
  bytes: number;
  sampleRate: number;
  channels: number;
  durationSeconds: number;
}

/**
 * The ffmpeg filter graph: inside any span every channel's sample is the tone, outside it is the decoded sample
 * unchanged; time counts from the first decoded sample. Written to a `-filter_script` file, so thousands of spans never meet the argument length limit.
 */
export function redactionFilter(spans: readonly { start: number; end: number }[]): string {
  if (spans.length === 0) return "anull";
  // time as n/s (sample index over rate), not the frame timestamps `t`: a WebM/Opus stream may start before 0, and
  // spans are in the transcript's time, which counts from the first decoded sample
  const inside = spans.map((s) => `between(n/s\\,${s.start.toFixed(6)}\\,${s.end.toFixed(6)})`).join("+");
  const tone = `${REDACTION_TONE_AMPLITUDE}*sin(2*PI*${REDACTION_TONE_HZ}*n/s)`;
  return `aeval=exprs=if(${inside}\\,${tone}\\,val(ch)):channel_layout=same`;
}

/**
 * Fetches `request.audio_url`, writes the toned WAV and PUTs it to `request.upload_url`; resolves once the edge
 * acknowledged it. Failures are {@link PoolJobError}s: `invalid_audio` (ffmpeg cannot decode it, no samples, over the
 * caps), `audio_gone`, `audio_url_refused` (either URL fails the outbound guard), `audio_fetch_failed`, `upload_failed`
 * (the edge did not take the copy; retryable unless it answered a 4xx), `engine_error` (ffmpeg missing or killed).
 */
export async function redactAudio(request: RedactionRequest, options: RedactOptions): Promise<RedactionResponse> {
  const uploadUrl = checkAudioUrl(request.upload_url, options.urlPolicy);
  const dir = await mkdtemp(path.join(os.tmpdir(), "vtt-redact-"));
  try {
    const input = path.join(dir, "input");
    await spoolAudio(await openAudio(request.audio_url, options), input, options.maxAudioBytes);
    const output = path.join(dir, "redacted.wav");
    const wav = await redactFile(input, output, request.spans, options);
    await upload(uploadUrl, output, wav.bytes, options);
    return {
      job_id: request.job_id,
      bytes: wav.bytes,
      sample_rate: wav.sampleRate,
      channels: wav.channels,
      duration_seconds: wav.durationSeconds,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes the body to `file` through the read-ahead (bounded), refusing more than `maxBytes`. */
async function spoolAudio(body: ReadableStream<Uint8Array>, file: string, maxBytes: number): Promise<void> {
  const out = createWriteStream(file);
  let bytes = 0;
  try {
    for await (const chunk of readAhead(body, READ_AHEAD_BYTES)) {
      bytes += chunk.length;
      if (bytes > maxBytes)
        throw new PoolJobError("invalid_audio", `The audio is larger than the ${maxBytes} bytes this pool accepts.`);
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once("drain", resolve));
    }
  } catch (error) {
    if (error instanceof PoolJobError) throw error;
    throw new PoolJobError("audio_fetch_failed", `Reading the audio failed: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    await new Promise<void>((resolve) => out.end(resolve));
  }
  if (bytes === 0) throw new PoolJobError("invalid_audio", "The audio is empty.");
}

/** Runs ffmpeg over a local file: decode, tone over `spans`, 16-bit PCM WAV into `output`. */
export async function redactFile(
  input: string,
  output: string,
  spans: readonly { start: number; end: number }[],
  options: Pick<DecodeOptions, "ffmpegPath" | "maxAudioSeconds" | "signal">,
): Promise<RedactedWav> {
  const script = `${output}.filter`;
  await writeFile(script, redactionFilter(spans));
  const args = [
    "-hide_banner",
    "-nostats",
    "-loglevel",
    "error",
    "-nostdin",
    "-y",
    "-i",
    input,
    "-vn",
    "-sn",
    "-dn",
    "-map",
    "0:a:0",
    "-map_metadata",
    "-1",
    "-fflags",
    "+bitexact",
    "-flags:a",
    "+bitexact",
    "-filter_script:a",
    script,
    // a little past the cap tells "exactly at the cap" from "longer"
    "-t",
    String(options.maxAudioSeconds + 0.001),
    "-c:a",
    "pcm_s16le",
    "-f",
    "wav",
    output,
  ];
  const exit = await runFfmpeg(options.ffmpegPath, args, options.signal);
  if (options.signal?.aborted) throw options.signal.reason;
  if (exit.code === null)
    throw new PoolJobError("engine_error", `ffmpeg was killed (${exit.signal ?? "unknown signal"}).`);
  if (exit.code !== 0) {
    const detail = exit.stderr.split("\n").filter(Boolean).slice(-2).join(" ") || `ffmpeg exited with ${exit.code}`;
    throw new PoolJobError("invalid_audio", `The input could not be decoded as audio: ${detail}`);
  }
  const wav = await readWavLayout(output);
  if (wav.durationSeconds === 0) throw new PoolJobError("invalid_audio", "The audio decodes to zero samples.");
  if (wav.durationSeconds > options.maxAudioSeconds)
    throw new PoolJobError(
      "invalid_audio",
      `The audio is longer than the ${options.maxAudioSeconds} s this pool accepts.`,
    );
  return wav;
}

/** Reads the canonical header ffmpeg wrote (RIFF, `fmt ` of 16 bytes, `data`) and checks it against the file size. */
async function readWavLayout(file: string): Promise<RedactedWav> {
  const size = (await stat(file)).size;
  const handle = await open(file, "r");
  const header = Buffer.alloc(WAV_HEADER_BYTES);
  try {
    await handle.read(header, 0, WAV_HEADER_BYTES, 0);
  } finally {
    await handle.close();
  }
  const canonical =
    size >= WAV_HEADER_BYTES &&
    header.toString("latin1", 0, 4) === "RIFF" &&
    header.toString("latin1", 8, 16) === "WAVEfmt " &&
    header.readUInt32LE(16) === 16 &&
    header.readUInt16LE(34) === 16 &&
    header.toString("latin1", 36, 40) === "data" &&
    header.readUInt32LE(40) === size - WAV_HEADER_BYTES;
  if (!canonical) throw new PoolJobError("engine_error", "ffmpeg wrote an unexpected WAV layout.");
  const channels = header.readUInt16LE(22);
  const sampleRate = header.readUInt32LE(24);
  const frames = (size - WAV_HEADER_BYTES) / (channels * 2);
  return { bytes: size, sampleRate, channels, durationSeconds: frames / sampleRate };
}

/** Streams the file to the edge's signed upload URL (no redirects: the edge answers itself). */
async function upload(url: URL, file: string, bytes: number, options: RedactOptions): Promise<void> {
  const timeout = AbortSignal.timeout(options.uploadTimeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let response: Response;
  try {
    response = await (options.fetchImpl ?? fetch)(url, {
      method: "PUT",
      headers: { "content-type": "audio/wav", "content-length": String(bytes) },
      body: Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>,
      duplex: "half",
      redirect: "error",
      signal,
    } as RequestInit);
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw new PoolJobError("upload_failed", `Uploading the redacted audio failed: ${(error as Error).message}`, {
      cause: error,
      retryable: true,
    });
  }
  const text = await response.text().catch(() => "");
  if (!response.ok) {
    const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
    throw new PoolJobError("upload_failed", `The edge answered ${response.status} to the redacted audio.`, {
      retryable,
    });
  }
  let answer: unknown = null;
  try {
    answer = JSON.parse(text);
  } catch {
    // checked below
  }
  const parsed = RedactionUploadResponseSchema.safeParse(answer);
  if (!parsed.success || parsed.data.bytes !== bytes)
    throw new PoolJobError("upload_failed", "The edge did not confirm the redacted audio it stored.", {
      retryable: true,
    });
}

interface FfmpegExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function runFfmpeg(ffmpegPath: string, args: string[], signal: AbortSignal | undefined): Promise<FfmpegExit> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpegPath, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    const onAbort = (): void => {
      child.kill("SIGKILL");
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
    child.stderr.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-STDERR_TAIL_BYTES);
    });
    child.once("error", (error: NodeJS.ErrnoException) => {
      signal?.removeEventListener("abort", onAbort);
      const message =
        error.code === "ENOENT"
          ? `ffmpeg not found at "${ffmpegPath}" (install ffmpeg or set FFMPEG_PATH)`
          : error.message;
      reject(new PoolJobError("engine_error", message, { cause: error }));
    });
    child.once("close", (code, exitSignal) => {
      signal?.removeEventListener("abort", onAbort);
      resolve({ code, signal: exitSignal, stderr: stderr.trim() });
    });
  });
}
