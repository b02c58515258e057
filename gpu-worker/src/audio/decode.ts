/**
 * Fetching a job's audio from its signed URL and decoding it with ffmpeg to 16 kHz mono float PCM.
 *
 * The HTTP body streams straight into ffmpeg's stdin (no full download first). It is also spooled to a temporary
 * file so that containers that need a seekable input (MP4/M4A with the index at the end) get a second, file-based
 * decode instead of a false `invalid_audio`.
 */
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";

import { checkWebhookUrl, parseAllowedHosts } from "@vtt/pool-contract";

import { PoolJobError } from "../errors.ts";
import { SAMPLE_RATE } from "./windows.ts";

const BYTES_PER_SAMPLE = 4;
/** ffmpeg stderr kept for error messages. */
const STDERR_TAIL_BYTES = 2_000;
/** ffmpeg messages that mean "the input needs seeking", not "the input is not audio". */
const NEEDS_SEEKABLE_INPUT =
  /moov atom not found|partial file|Invalid data found when processing input|could not find codec parameters/i;

/** Options for {@link fetchAndDecode}. */
export interface DecodeOptions {
  ffmpegPath: string;
  /** Largest accepted encoded input. */
  maxAudioBytes: number;
  /** Longest accepted decoded audio. */
  maxAudioSeconds: number;
  /** Time allowed for the response headers of the audio URL. */
  fetchTimeoutMs: number;
  /** Which audio URLs may be fetched: the shared outbound URL guard's rules ({@link checkAudioUrl}). */
  urlPolicy: AudioUrlPolicy;
  signal?: AbortSignal;
  fetchImpl?: typeof fetch;
}

/** `local`: http and loopback hosts allowed (npm start, tests); `allowedHosts`: `host` / `host:port` trusted. */
export interface AudioUrlPolicy {
  local: boolean;
  allowedHosts: string;
}

/**
 * Vets an audio URL with the same SSRF guard the edge applies to webhooks. The URL comes from a signed dispatch, so
 * a refusal means a misconfigured or compromised edge key: the job fails at once with `audio_url_refused`.
 */
export function checkAudioUrl(audioUrl: string, policy: AudioUrlPolicy): URL {
  const check = checkWebhookUrl(audioUrl, {
    development: policy.local,
    allowedHosts: parseAllowedHosts(policy.allowedHosts, policy.local),
  });
  if (!check.ok) throw new PoolJobError("audio_url_refused", `The audio URL was refused: ${check.reason}.`);
  return check.url;
}

/** Decoded audio plus how long the two steps took. */
export interface DecodedAudio {
  pcm: Float32Array;
  durationSeconds: number;
  fetchMs: number;
  decodeMs: number;
}

/** Fetches the signed audio URL and decodes it; failures are {@link PoolJobError}s with contract codes. */
export async function fetchAndDecode(audioUrl: string, options: DecodeOptions): Promise<DecodedAudio> {
  const started = performance.now();
  const body = await openAudio(audioUrl, options);
  const fetchMs = performance.now() - started;
  const spoolDir = await mkdtemp(path.join(os.tmpdir(), "vtt-audio-"));
  const spoolFile = path.join(spoolDir, "input");
  try {
    let pcm: Float32Array;
    try {
      pcm = await decodeStream(body, spoolFile, options);
    } catch (error) {
      if (!(error instanceof NeedsSeekableInput)) throw error;
      // the whole input is on disk now, so decode it again from the (seekable) file
      pcm = await decodeFile(spoolFile, options);
    }
    if (pcm.length === 0) throw new PoolJobError("invalid_audio", "The audio decodes to zero samples.");
    return { pcm, durationSeconds: pcm.length / SAMPLE_RATE, fetchMs, decodeMs: performance.now() - started - fetchMs };
  } finally {
    await rm(spoolDir, { recursive: true, force: true });
  }
}

async function openAudio(audioUrl: string, options: DecodeOptions): Promise<ReadableStream<Uint8Array>> {
  const url = checkAudioUrl(audioUrl, options.urlPolicy);
  const timeout = AbortSignal.timeout(options.fetchTimeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let response: Response;
  try {
    // no redirects: the edge serves audio itself, and a redirect could lead past the URL check
    response = await (options.fetchImpl ?? fetch)(url, { signal, redirect: "error" });
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw new PoolJobError("audio_fetch_failed", `Fetching the audio failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (response.status === 403 || response.status === 404 || response.status === 410) {
    await response.body?.cancel();
    throw new PoolJobError("audio_gone", `The audio URL answered ${response.status} (expired or deleted).`);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
    throw new PoolJobError(
      retryable ? "audio_fetch_failed" : "audio_gone",
      `The audio URL answered ${response.status}.`,
      { retryable },
    );
  }
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (declared > options.maxAudioBytes) {
    await response.body.cancel();
    throw tooLarge(options.maxAudioBytes);
  }
  return response.body;
}

class NeedsSeekableInput extends Error {}

function ffmpegArgs(input: string, maxAudioSeconds: number): string[] {
  return [
    "-hide_banner",
    "-nostats",
    "-loglevel",
    "error",
    "-i",
    input,
    "-vn",
    "-sn",
    "-dn",
    "-ac",
    "1",
    "-ar",
    String(SAMPLE_RATE),
    // one sample past the cap tells "exactly at the cap" from "longer"
    "-t",
    String(maxAudioSeconds + 1 / SAMPLE_RATE),
    "-f",
    "f32le",
    "-acodec",
    "pcm_f32le",
    "pipe:1",
  ];
}

/**
 * Streams `body` into ffmpeg's stdin and, in step, into `spoolFile`, collecting float samples from stdout.
 * Feeding continues into the spool file after ffmpeg exits, so a fallback decode sees the whole input.
 */
async function decodeStream(
  body: ReadableStream<Uint8Array>,
  spoolFile: string,
  options: DecodeOptions,
): Promise<Float32Array> {
  const child = spawn(options.ffmpegPath, ffmpegArgs("pipe:0", options.maxAudioSeconds), {
    stdio: ["pipe", "pipe", "pipe"],
  });
  // ffmpeg may stop reading early (bad input, duration cap); its exit status tells what happened, not the EPIPE
  child.stdin!.on("error", () => undefined);
  const spool = createWriteStream(spoolFile);
  const decoding = collect(child, options);
  let bytes = 0;
  let tooBig = false;
  try {
    for await (const chunk of Readable.fromWeb(body as import("node:stream/web").ReadableStream<Uint8Array>)) {
      bytes += (chunk as Buffer).length;
      if (bytes > options.maxAudioBytes) {
        tooBig = true;
        break;
      }
      await Promise.all([writeTo(spool, chunk as Buffer), writeTo(child.stdin!, chunk as Buffer)]);
    }
  } catch (error) {
    child.kill("SIGKILL");
    await decoding.catch(() => undefined);
    if (options.signal?.aborted) throw options.signal.reason;
    throw new PoolJobError("audio_fetch_failed", `Reading the audio failed: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    await new Promise<void>((resolve) => spool.end(resolve));
  }
  if (tooBig) {
    child.kill("SIGKILL");
    await decoding.catch(() => undefined);
    throw tooLarge(options.maxAudioBytes);
  }
  child.stdin!.end();
  const result = await decoding;
  // ffmpeg may exit 0 with no samples when a container could not be read from a pipe
  if (result.code !== 0 || (result.pcm.length === 0 && result.stderr)) {
    if (NEEDS_SEEKABLE_INPUT.test(result.stderr)) throw new NeedsSeekableInput(result.stderr);
    throw invalidAudio(result.stderr, result.code);
  }
  return checkDuration(result.pcm, options.maxAudioSeconds);
}

/** Writes one chunk, resolving on drain, or at once when the stream is already closed (ffmpeg gone). */
function writeTo(
  stream: NodeJS.WritableStream & { destroyed?: boolean; writableEnded?: boolean },
  chunk: Buffer,
): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableEnded) return resolve();
    if (stream.write(chunk)) return resolve();
    const finish = (): void => {
      stream.off("drain", finish);
      stream.off("close", finish);
      stream.off("error", finish);
      resolve();
    };
    stream.on("drain", finish);
    stream.on("close", finish);
    stream.on("error", finish);
  });
}

async function decodeFile(file: string, options: DecodeOptions): Promise<Float32Array> {
  const child = spawn(options.ffmpegPath, ffmpegArgs(file, options.maxAudioSeconds), {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const result = await collect(child, options);
  if (result.code !== 0 || (result.pcm.length === 0 && result.stderr)) throw invalidAudio(result.stderr, result.code);
  return checkDuration(result.pcm, options.maxAudioSeconds);
}

interface FfmpegResult {
  code: number | null;
  stderr: string;
  pcm: Float32Array;
}

function collect(child: ReturnType<typeof spawn>, options: DecodeOptions): Promise<FfmpegResult> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let stderr = "";
    const onAbort = (): void => {
      child.kill("SIGKILL");
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    child.stdout!.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      bytes += chunk.length;
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-STDERR_TAIL_BYTES);
    });
    child.once("error", (error: NodeJS.ErrnoException) => {
      options.signal?.removeEventListener("abort", onAbort);
      const message =
        error.code === "ENOENT"
          ? `ffmpeg not found at "${options.ffmpegPath}" (install ffmpeg or set FFMPEG_PATH)`
          : error.message;
      // a missing ffmpeg is this node's fault, not the audio's: retryable
      reject(new PoolJobError("engine_error", message, { cause: error }));
    });
    child.once("close", (code) => {
      options.signal?.removeEventListener("abort", onAbort);
      if (options.signal?.aborted) return reject(options.signal.reason);
      const pcm = new Float32Array(Math.floor(bytes / BYTES_PER_SAMPLE));
      const view = new Uint8Array(pcm.buffer);
      let offset = 0;
      for (const chunk of chunks) {
        const take = Math.min(chunk.length, view.length - offset);
        view.set(chunk.subarray(0, take), offset);
        offset += take;
      }
      resolve({ code, stderr: stderr.trim(), pcm });
    });
  });
}

function checkDuration(pcm: Float32Array, maxAudioSeconds: number): Float32Array {
  if (pcm.length > Math.round(maxAudioSeconds * SAMPLE_RATE)) {
    throw new PoolJobError("invalid_audio", `The audio is longer than the ${maxAudioSeconds} s this pool accepts.`);
  }
  return pcm;
}

function invalidAudio(stderr: string, code: number | null): PoolJobError {
  const detail =
    stderr
      .split("\n")
      .filter(Boolean)
      .slice(-2)
      .join(" ")
      .replace(/pipe:0: /g, "") || `ffmpeg exited with ${code}`;
  return new PoolJobError("invalid_audio", `The input could not be decoded as audio: ${detail}`);
}

function tooLarge(maxBytes: number): PoolJobError {
  return new PoolJobError("invalid_audio", `The audio is larger than the ${maxBytes} bytes this pool accepts.`);
}
