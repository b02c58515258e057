/**
 * How many channels a job's audio has: ffprobe reads the start of the audio URL's body from its stdin (what it needs
 * to find the streams, then it exits and the rest of the body is never read). A multichannel job then decodes each
 * channel on its own (`DecodeOptions.channel`). An MP4 whose index is at the end is read through to its index by
 * ffprobe (the body streams through, nothing is held), so it needs no file.
 */
import { spawn } from "node:child_process";

import { PoolJobError } from "../errors.ts";
import { type DecodeOptions, openAudio, writeTo } from "./decode.ts";

/** ffprobe stderr kept for error messages. */
const STDERR_TAIL_BYTES = 2_000;
/** Most of ffprobe's JSON answer read (a handful of streams is well under it). */
const STDOUT_MAX_BYTES = 256 * 1024;

/** Options for {@link probeChannels}: the decode's (URL guard, size cap, fetch timeout, signal) and ffprobe's path. */
export interface ProbeOptions extends DecodeOptions {
  ffprobePath: string;
}

/** What ffprobe found: the channel count of the audio stream ffmpeg decodes, and how long probing took. */
export interface ProbedAudio {
  channels: number;
  probeMs: number;
}

/**
 * Fetches the audio URL and asks ffprobe for its audio streams' channel counts. With several audio streams the
 * largest count is taken: ffmpeg's default stream selection (what the decode reads) picks the audio stream with the
 * most channels. Failures are {@link PoolJobError}s with contract codes: no audio stream → `invalid_audio`, ffprobe
 * missing → `engine_error` (retryable: the node's fault), fetch failures as in the decode.
 */
export async function probeChannels(audioUrl: string, options: ProbeOptions): Promise<ProbedAudio> {
  const started = performance.now();
  const body = await openAudio(audioUrl, options);
  const reader = body.getReader();
  const child = spawn(
    options.ffprobePath,
    ["-hide_banner", "-loglevel", "error", "-show_entries", "stream=codec_type,channels", "-of", "json", "pipe:0"],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  // ffprobe stops reading as soon as it knows the streams: the EPIPE that follows is expected
  child.stdin.on("error", () => undefined);
  const onAbort = (): void => {
    child.kill("SIGKILL");
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    if (stdout.length < STDOUT_MAX_BYTES) stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-STDERR_TAIL_BYTES);
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once("error", (error: NodeJS.ErrnoException) => {
      const message =
        error.code === "ENOENT"
          ? `ffprobe not found at "${options.ffprobePath}" (install ffmpeg's ffprobe or set FFPROBE_PATH)`
          : error.message;
      reject(new PoolJobError("engine_error", message, { cause: error }));
    });
    child.once("close", (code) => resolve(code));
  });
  const state = { done: false };
  // awaited below, after the feeding loop; until then a rejection is not "unhandled"
  exited.then(
    () => (state.done = true),
    () => (state.done = true),
  );
  let bytes = 0;
  let readError: unknown = null;
  let tooBig = false;
  try {
    while (!state.done) {
      const next = await reader.read();
      if (next.done) break;
      bytes += next.value.length;
      if (bytes > options.maxAudioBytes) {
        tooBig = true;
        break;
      }
      await writeTo(child.stdin, next.value);
    }
  } catch (error) {
    readError = error;
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  if (readError !== null || tooBig) child.kill("SIGKILL");
  else child.stdin.end();
  let code: number | null;
  try {
    code = await exited;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  if (options.signal?.aborted) throw options.signal.reason;
  if (tooBig) {
    throw new PoolJobError(
      "invalid_audio",
      `The audio is larger than the ${options.maxAudioBytes} bytes this pool accepts.`,
    );
  }
  if (readError !== null) {
    throw new PoolJobError("audio_fetch_failed", `Reading the audio failed: ${(readError as Error).message}`, {
      cause: readError,
    });
  }
  // ffprobe may complain about the input (an MP4 read from a pipe is a "partial file") and still list its streams
  const channels = audioChannels(stdout);
  if (channels === null) {
    const detail =
      stderr
        .split("\n")
        .filter(Boolean)
        .slice(-2)
        .join(" ")
        .replace(/pipe:0: /g, "") || `ffprobe exited with ${code}`;
    throw new PoolJobError("invalid_audio", `The input has no audio stream ffprobe can read: ${detail}`);
  }
  return { channels, probeMs: performance.now() - started };
}

/** The largest channel count among ffprobe's audio streams (`-of json`), or null without one. */
export function audioChannels(ffprobeJson: string): number | null {
  let parsed: { streams?: { codec_type?: unknown; channels?: unknown }[] };
  try {
    parsed = JSON.parse(ffprobeJson) as typeof parsed;
  } catch {
    return null;
  }
  const counts = (parsed.streams ?? [])
    .filter((s) => s.codec_type === "audio" && Number.isInteger(s.channels) && (s.channels as number) > 0)
    .map((s) => s.channels as number);
  return counts.length ? Math.max(...counts) : null;
}
