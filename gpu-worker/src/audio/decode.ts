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

import { checkWebhookUrl, parseAllowedHosts } from "@vtt/pool-contract";

import { PoolJobError } from "../errors.ts";
import { SAMPLE_RATE } from "./windows.ts";

const BYTES_PER_SAMPLE = 4;
/** Encoded bytes read from the audio URL ahead of ffmpeg while backpressure holds ffmpeg back. */
export const READ_AHEAD_BYTES = 16 * 1024 * 1024;
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
  /**
   * Decode only this channel of the input (0-based, ffmpeg's `pan=mono|c0=cN`: that channel's samples unmixed);
   * absent or null: every channel mixed down to mono, as for any job. Multichannel jobs decode once per channel.
   */
  channel?: number | null;
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

/** What a streamed decode reports once ffmpeg is done (the samples went to the sink). */
export interface StreamedAudio {
  sampleCount: number;
  durationSeconds: number;
  /** Time to the audio response's headers. */
  fetchMs: number;
  /** From the headers to ffmpeg's end (includes time the sink held ffmpeg back). */
  decodeMs: number;
}

/**
 * Receives decoded samples in order. While the promise it returns is pending, ffmpeg's stdout is not read, so ffmpeg
 * stops decoding and stops reading its input, and the HTTP body is not read either: backpressure end to end.
 * `samples` is a scratch buffer reused for the next chunk: copy what must outlive the call.
 */
export type PcmSink = (samples: Float32Array) => void | Promise<void>;

/**
 * Fetches the signed audio URL and decodes all of it into one buffer (`DECODE_MODE=whole`, and tests' reference);
 * failures are {@link PoolJobError}s with contract codes.
 */
export async function fetchAndDecode(audioUrl: string, options: DecodeOptions): Promise<DecodedAudio> {
  const chunks: Float32Array[] = [];
  const streamed = await fetchAndDecodeStream(audioUrl, options, (samples) => {
    chunks.push(samples.slice());
  });
  const pcm = new Float32Array(streamed.sampleCount);
  let offset = 0;
  for (const chunk of chunks) {
    pcm.set(chunk, offset);
    offset += chunk.length;
  }
  return { pcm, durationSeconds: streamed.durationSeconds, fetchMs: streamed.fetchMs, decodeMs: streamed.decodeMs };
}

/**
 * Fetches the signed audio URL and streams the decoded samples to `sink` as ffmpeg produces them; nothing here holds
 * more than one stdout chunk. An input that needs seeking (MP4 with its index at the end) is decoded a second time
 * from the spooled file, which only happens when the streamed pass produced no sample at all (so nothing reached the
 * sink twice). Failures are {@link PoolJobError}s with contract codes; an error thrown by the sink stops ffmpeg and
 * is rethrown as is.
 */
export async function fetchAndDecodeStream(
  audioUrl: string,
  options: DecodeOptions,
  sink: PcmSink,
): Promise<StreamedAudio> {
  const started = performance.now();
  const body = await openAudio(audioUrl, options);
  const fetchMs = performance.now() - started;
  const spoolDir = await mkdtemp(path.join(os.tmpdir(), "vtt-audio-"));
  const spoolFile = path.join(spoolDir, "input");
  try {
    let sampleCount: number;
    try {
      sampleCount = await decodeStream(body, spoolFile, options, sink);
    } catch (error) {
      if (!(error instanceof NeedsSeekableInput)) throw error;
      // the whole input is on disk now, so decode it again from the (seekable) file
      sampleCount = await decodeFile(spoolFile, options, sink);
    }
    if (sampleCount === 0) throw new PoolJobError("invalid_audio", "The audio decodes to zero samples.");
    return {
      sampleCount,
      durationSeconds: sampleCount / SAMPLE_RATE,
      fetchMs,
      decodeMs: performance.now() - started - fetchMs,
    };
  } finally {
    await rm(spoolDir, { recursive: true, force: true });
  }
}

/** Fetches the audio URL (after the URL guard) and returns its body; failures are {@link PoolJobError}s. */
export async function openAudio(audioUrl: string, options: DecodeOptions): Promise<ReadableStream<Uint8Array>> {
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

function ffmpegArgs(input: string, maxAudioSeconds: number, channel: number | null | undefined): string[] {
  // one channel as it is (a pure channel mapping, no gain): the pan filter runs before the resampler
  const pick = channel === undefined || channel === null ? [] : ["-af", `pan=mono|c0=c${channel}`];
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
    ...pick,
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
 * Streams `body` into ffmpeg's stdin and, until ffmpeg has produced its first samples, into `spoolFile` too; samples
 * go to `sink` as they come. When ffmpeg exits without a sample, feeding continues into the spool file, so the
 * fallback decode sees the whole input. Once samples flow the spool is not needed (a fallback could only repeat
 * them), so a long input is never written to disk twice.
 */
async function decodeStream(
  body: ReadableStream<Uint8Array>,
  spoolFile: string,
  options: DecodeOptions,
  sink: PcmSink,
): Promise<number> {
  const child = spawn(options.ffmpegPath, ffmpegArgs("pipe:0", options.maxAudioSeconds, options.channel), {
    stdio: ["pipe", "pipe", "pipe"],
  });
  // ffmpeg may stop reading early (bad input, duration cap); its exit status tells what happened, not the EPIPE
  child.stdin!.on("error", () => undefined);
  const spool = createWriteStream(spoolFile);
  const state = { spooling: true };
  const exited = waitForExit(child, options);
  const pumped = pump(child, options, sink, () => {
    state.spooling = false;
  });
  // both are awaited below, after the feeding loop; until then a rejection is not "unhandled"
  exited.catch(() => undefined);
  pumped.catch(() => undefined);
  let bytes = 0;
  let tooBig = false;
  let readError: unknown = null;
  try {
    // read up to READ_AHEAD_BYTES ahead of ffmpeg: a small input is off the connection at once, and a large one
    // stalls the sender mid-body (TCP flow control), never leaving a finished response unread on an idle socket,
    // which servers close after their keep-alive timeout (undici then fails the body with "other side closed")
    for await (const chunk of readAhead(body, READ_AHEAD_BYTES)) {
      bytes += chunk.length;
      if (bytes > options.maxAudioBytes) {
        tooBig = true;
        break;
      }
      const ffmpegGone = child.stdin!.destroyed || child.stdin!.writableEnded || child.exitCode !== null;
      // nobody needs the rest: ffmpeg stopped (duration cap, failure) after producing samples
      if (ffmpegGone && !state.spooling) break;
      await Promise.all([state.spooling ? writeTo(spool, chunk) : undefined, writeTo(child.stdin!, chunk)]);
    }
  } catch (error) {
    readError = error;
  } finally {
    await new Promise<void>((resolve) => spool.end(resolve));
  }
  if (readError !== null || tooBig) child.kill("SIGKILL");
  else child.stdin!.end();
  const [pump_, exit] = await Promise.allSettled([pumped, exited]);
  if (options.signal?.aborted) throw options.signal.reason;
  if (readError !== null) {
    throw new PoolJobError("audio_fetch_failed", `Reading the audio failed: ${(readError as Error).message}`, {
      cause: readError,
    });
  }
  if (tooBig) throw tooLarge(options.maxAudioBytes);
  if (pump_.status === "rejected") throw pump_.reason;
  if (exit.status === "rejected") throw exit.reason;
  const samples = pump_.value;
  const result = exit.value;
  // ffmpeg may exit 0 with no samples when a container could not be read from a pipe
  if (result.code !== 0 || (samples === 0 && result.stderr)) {
    if (samples === 0 && NEEDS_SEEKABLE_INPUT.test(result.stderr)) throw new NeedsSeekableInput(result.stderr);
    throw ffmpegFailure(result, samples);
  }
  return samples;
}

/**
 * Yields `body`'s chunks as they arrived, reading up to `limit` bytes ahead of the consumer. Chunks are never joined:
 * a Node `Readable` with a large `highWaterMark` (what this replaced) hands its async iterator everything buffered as
 * one concatenated Buffer, so a long download held the read-ahead twice, plus the joined copy waiting in ffmpeg's
 * stdin — memory that grew with the input up to several times the read-ahead. Leaving early cancels the body.
 */
export async function* readAhead(body: ReadableStream<Uint8Array>, limit: number): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  const queue: Uint8Array[] = [];
  const state: { queued: number; done: boolean; stopped: boolean; error: { cause: unknown } | null } = {
    queued: 0,
    done: false,
    stopped: false,
    error: null,
  };
  // in an object, so the closures' assignments are not narrowed away at the call sites
  const wake: { consumer: (() => void) | null; filler: (() => void) | null } = { consumer: null, filler: null };
  const filling = (async () => {
    try {
      for (;;) {
        while (state.queued >= limit && !state.stopped) await new Promise<void>((resolve) => (wake.filler = resolve));
        if (state.stopped) return;
        const next = await reader.read();
        if (next.done) return;
        queue.push(next.value);
        state.queued += next.value.length;
        wake.consumer?.();
      }
    } catch (error) {
      state.error = { cause: error };
    } finally {
      state.done = true;
      wake.consumer?.();
    }
  })();
  try {
    for (;;) {
      const chunk = queue.shift();
      if (chunk) {
        state.queued -= chunk.length;
        wake.filler?.();
        yield chunk;
        continue;
      }
      if (state.done) {
        if (state.error) throw state.error.cause;
        return;
      }
      await new Promise<void>((resolve) => (wake.consumer = resolve));
      wake.consumer = null;
    }
  } finally {
    state.stopped = true;
    wake.filler?.();
    await reader.cancel().catch(() => undefined);
    await filling;
  }
}

/** Writes one chunk, resolving on drain, or at once when the stream is already closed (ffmpeg or ffprobe gone). */
export function writeTo(
  stream: NodeJS.WritableStream & { destroyed?: boolean; writableEnded?: boolean },
  chunk: Uint8Array,
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

async function decodeFile(file: string, options: DecodeOptions, sink: PcmSink): Promise<number> {
  const child = spawn(options.ffmpegPath, ffmpegArgs(file, options.maxAudioSeconds, options.channel), {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = waitForExit(child, options);
  const [pump_, exit] = await Promise.allSettled([pump(child, options, sink), exited]);
  if (options.signal?.aborted) throw options.signal.reason;
  if (pump_.status === "rejected") throw pump_.reason;
  if (exit.status === "rejected") throw exit.reason;
  const samples = pump_.value;
  if (exit.value.code !== 0 || (samples === 0 && exit.value.stderr)) throw ffmpegFailure(exit.value, samples);
  return samples;
}

interface FfmpegExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Resolves when ffmpeg has exited and its pipes closed; kills it when `options.signal` aborts. */
function waitForExit(child: ReturnType<typeof spawn>, options: DecodeOptions): Promise<FfmpegExit> {
  return new Promise((resolve, reject) => {
    let stderr = "";
    const onAbort = (): void => {
      child.kill("SIGKILL");
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
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
    child.once("close", (code, signal) => {
      options.signal?.removeEventListener("abort", onAbort);
      resolve({ code, signal, stderr: stderr.trim() });
    });
  });
}

/**
 * Reads ffmpeg's stdout as float samples and awaits `sink` for each chunk (async iteration pauses the pipe meanwhile).
 * Enforces the duration cap as the samples come; any failure kills ffmpeg. Resolves with the sample count.
 */
async function pump(
  child: ReturnType<typeof spawn>,
  options: DecodeOptions,
  sink: PcmSink,
  onFirstSamples?: () => void,
): Promise<number> {
  const maxSamples = Math.round(options.maxAudioSeconds * SAMPLE_RATE);
  let samples = 0;
  // the 0–3 bytes of a sample split across two pipe reads, and one scratch buffer for every chunk: a long decode
  // allocates nothing per chunk beyond the pipe's own buffers (no Buffer.concat, no carry copies)
  const carry = new Uint8Array(BYTES_PER_SAMPLE);
  let carried = 0;
  let scratch = new Float32Array(16_384);
  let scratchBytes = new Uint8Array(scratch.buffer);
  try {
    for await (const data of child.stdout!) {
      const chunk = data as Buffer;
      const count = Math.floor((carried + chunk.length) / BYTES_PER_SAMPLE);
      if (count === 0) {
        carry.set(chunk, carried);
        carried += chunk.length;
        continue;
      }
      if (samples === 0) onFirstSamples?.();
      samples += count;
      if (samples > maxSamples) {
        throw new PoolJobError(
          "invalid_audio",
          `The audio is longer than the ${options.maxAudioSeconds} s this pool accepts.`,
        );
      }
      if (scratch.length < count) {
        scratch = new Float32Array(count);
        scratchBytes = new Uint8Array(scratch.buffer);
      }
      // a copy: Buffer offsets need not be 4-aligned
      const fromChunk = count * BYTES_PER_SAMPLE - carried;
      scratchBytes.set(carry.subarray(0, carried));
      scratchBytes.set(chunk.subarray(0, fromChunk), carried);
      carry.set(chunk.subarray(fromChunk));
      carried = chunk.length - fromChunk;
      await sink(scratch.subarray(0, count));
    }
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return samples;
}

/** Why ffmpeg failed: killed by someone else (this node's problem, retryable) or the input is not decodable. */
function ffmpegFailure(exit: FfmpegExit, samples: number): PoolJobError {
  if (exit.code === null) {
    return new PoolJobError(
      "engine_error",
      `ffmpeg was killed (${exit.signal ?? "unknown signal"}) after ${(samples / SAMPLE_RATE).toFixed(1)} s of audio.`,
    );
  }
  return invalidAudio(exit.stderr, exit.code);
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
