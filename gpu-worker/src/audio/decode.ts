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
import net from "node:net";
import os from "node:os";
import path from "node:path";

import { checkWebhookUrl, parseAllowedHosts } from "@vtt/pool-contract";

import { PoolJobError } from "../errors.ts";
import { SAMPLE_RATE } from "./windows.ts";

const BYTES_PER_SAMPLE = 4;
/** Bytes of ffmpeg's output one read takes (into one reused buffer, {@link PcmReader}). */
const PCM_READ_BYTES = 64 * 1024;
/** The longest Unix socket path the kernel takes is 107 bytes; past this a Linux abstract name is used instead. */
const MAX_SOCKET_PATH_BYTES = 100;
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
  try {
    let sampleCount: number;
    try {
      sampleCount = await decodeStream(body, spoolDir, options, sink);
    } catch (error) {
      if (!(error instanceof NeedsSeekableInput)) throw error;
      // the whole input is on disk now, so decode it again from the (seekable) file
      sampleCount = await decodeFile(spoolDir, options, sink);
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
 * Streams `body` into ffmpeg's stdin and, until ffmpeg has produced its first samples, into the spool file (`input` in `spoolDir`) too; samples
 * go to `sink` as they come. When ffmpeg exits without a sample, feeding continues into the spool file, so the
 * fallback decode sees the whole input. Once samples flow the spool is not needed (a fallback could only repeat
 * them), so a long input is never written to disk twice.
 */
async function decodeStream(
  body: ReadableStream<Uint8Array>,
  spoolDir: string,
  options: DecodeOptions,
  sink: PcmSink,
): Promise<number> {
  const state = { spooling: true };
  const reader = await PcmReader.open(path.join(spoolDir, "pcm-stream.sock"), options, sink, () => {
    state.spooling = false;
  });
  const child = reader.spawn(
    options.ffmpegPath,
    ffmpegArgs("pipe:0", options.maxAudioSeconds, options.channel),
    "pipe",
  );
  // ffmpeg may stop reading early (bad input, duration cap); its exit status tells what happened, not the EPIPE
  child.stdin!.on("error", () => undefined);
  const spool = createWriteStream(path.join(spoolDir, "input"));
  const exited = waitForExit(child, options);
  const pumped = reader.samples(child);
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

async function decodeFile(spoolDir: string, options: DecodeOptions, sink: PcmSink): Promise<number> {
  const file = path.join(spoolDir, "input");
  const reader = await PcmReader.open(path.join(spoolDir, "pcm-file.sock"), options, sink);
  const child = reader.spawn(options.ffmpegPath, ffmpegArgs(file, options.maxAudioSeconds, options.channel), "ignore");
  const exited = waitForExit(child, options);
  const [pump_, exit] = await Promise.allSettled([reader.samples(child), exited]);
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
 * ffmpeg's stdout, read into one reused buffer. A child's stdout pipe in Node allocates a new `ArrayBuffer` for every
 * read (64 KiB), which for a long job is gigabytes of short-lived garbage, twice the encoded WAV's size: more than
 * any other part of the pipeline (docs/pool.md, "What a long job allocates"). So ffmpeg writes to one end of a
 * connected Unix socket (`output`, its stdout) and the other end is read with `net.Socket`'s `onread` option, whose
 * reads all land in one buffer. The socket is made by a listener in the job's temporary directory that accepts one
 * connection from this process and is closed at once.
 *
 * Samples go to `sink` as they come; while its promise is pending the socket is paused, so ffmpeg blocks on its
 * write and stops reading its input: backpressure as with a pipe. Enforces the duration cap as the samples come; any
 * failure kills ffmpeg.
 */
class PcmReader {
  /** ffmpeg's stdout (this process's copy is closed once ffmpeg has been started: {@link spawn}). */
  readonly output: net.Socket;
  readonly #input: net.Socket;
  readonly #options: DecodeOptions;
  readonly #sink: PcmSink;
  readonly #onFirstSamples?: () => void;
  readonly #maxSamples: number;
  /** The 0–3 bytes of a sample split across two reads. */
  readonly #carry = new Uint8Array(BYTES_PER_SAMPLE);
  #carried = 0;
  /** Samples of one read plus the carry, 4-aligned (a read's bytes land at offset 0 of a byte buffer). */
  readonly #scratch = new Float32Array(PCM_READ_BYTES / BYTES_PER_SAMPLE + 1);
  readonly #scratchBytes = new Uint8Array(this.#scratch.buffer);
  #samples = 0;
  #failure: { error: unknown } | null = null;
  #done: ((samples: number) => void) | null = null;
  #fail: ((error: unknown) => void) | null = null;
  #child: ReturnType<typeof spawn> | null = null;

  private constructor(
    input: net.Socket,
    output: net.Socket,
    options: DecodeOptions,
    sink: PcmSink,
    onFirstSamples?: () => void,
  ) {
    this.#input = input;
    this.output = output;
    this.#options = options;
    this.#sink = sink;
    this.#onFirstSamples = onFirstSamples;
    this.#maxSamples = Math.round(options.maxAudioSeconds * SAMPLE_RATE);
  }

  /** A connected socket pair: `output` for ffmpeg's stdout, the other end read into one buffer. */
  static async open(
    socketPath: string,
    options: DecodeOptions,
    sink: PcmSink,
    onFirstSamples?: () => void,
  ): Promise<PcmReader> {
    const address =
      Buffer.byteLength(socketPath) <= MAX_SOCKET_PATH_BYTES
        ? socketPath
        : `\0vtt-pcm-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const server = net.createServer({ pauseOnConnect: true });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(address, () => resolve());
      });
      const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
      const buffer = new Uint8Array(PCM_READ_BYTES);
      // the reader exists only once the connection does; reads before then cannot happen (ffmpeg not yet started)
      const holder: { reader: PcmReader | null } = { reader: null };
      const input = net.connect({
        path: address,
        onread: { buffer, callback: (bytes, data) => holder.reader!.#read(data.subarray(0, bytes)) },
      });
      await new Promise<void>((resolve, reject) => {
        input.once("connect", resolve);
        input.once("error", reject);
      });
      const output = await accepted;
      holder.reader = new PcmReader(input, output, options, sink, onFirstSamples);
      return holder.reader;
    } catch (error) {
      throw new PoolJobError(
        "engine_error",
        `Could not open the socket for ffmpeg's output: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    } finally {
      server.close();
    }
  }

  /**
   * Starts ffmpeg with `output` as its stdout. This process's copy of `output` is closed at once (ffmpeg holds its own),
   * so ffmpeg's exit ends the input; a spawn that throws closes the input too.
   */
  spawn(command: string, args: string[], stdin: "pipe" | "ignore"): ReturnType<typeof spawn> {
    try {
      return spawn(command, args, { stdio: [stdin, this.output, "pipe"] });
    } catch (error) {
      this.#input.destroy();
      throw error;
    } finally {
      this.output.destroy();
    }
  }

  /** Resolves with the sample count once ffmpeg has closed its stdout; rejects with the first failure. */
  samples(child: ReturnType<typeof spawn>): Promise<number> {
    this.#child = child;
    return new Promise<number>((resolve, reject) => {
      this.#done = resolve;
      this.#fail = reject;
      // an error of the socket (a reset) ends it like a close: ffmpeg's exit status tells what happened
      this.#input.on("error", () => undefined);
      this.#input.once("close", () => this.#finish());
      // a child that could not be spawned never connects its end: nothing will come
      child.once("error", () => this.#input.destroy());
    });
  }

  #finish(): void {
    if (this.#failure) this.#fail?.(this.#failure.error);
    else this.#done?.(this.#samples);
  }

  /** One read (in the shared buffer, valid only during this call); false pauses the socket until the sink is done. */
  #read(chunk: Uint8Array): boolean {
    if (this.#failure) return false;
    try {
      const count = Math.floor((this.#carried + chunk.length) / BYTES_PER_SAMPLE);
      if (count === 0) {
        this.#carry.set(chunk, this.#carried);
        this.#carried += chunk.length;
        return true;
      }
      if (this.#samples === 0) this.#onFirstSamples?.();
      this.#samples += count;
      if (this.#samples > this.#maxSamples) {
        throw new PoolJobError(
          "invalid_audio",
          `The audio is longer than the ${this.#options.maxAudioSeconds} s this pool accepts.`,
        );
      }
      const fromChunk = count * BYTES_PER_SAMPLE - this.#carried;
      this.#scratchBytes.set(this.#carry.subarray(0, this.#carried));
      this.#scratchBytes.set(chunk.subarray(0, fromChunk), this.#carried);
      this.#carry.set(chunk.subarray(fromChunk));
      this.#carried = chunk.length - fromChunk;
      const pending = this.#sink(this.#scratch.subarray(0, count));
      if (!pending) return true;
      pending.then(
        () => {
          if (!this.#failure) this.#input.resume();
        },
        (error: unknown) => this.#stop(error),
      );
      return false;
    } catch (error) {
      this.#stop(error);
      return false;
    }
  }

  #stop(error: unknown): void {
    this.#failure ??= { error };
    this.#child?.kill("SIGKILL");
    this.#input.destroy();
  }
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
