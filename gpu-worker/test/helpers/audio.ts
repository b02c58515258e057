/**
 * Test audio made with the real ffmpeg: slices of fixtures/jfk.wav, tones, noise, and joins of them,
 * cached under .cache/test-audio so a run generates each clip once.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
export const FIXTURES_DIR = path.resolve(import.meta.dirname, "../../fixtures");
export const JFK_WAV = path.join(FIXTURES_DIR, "jfk.wav");
export const CACHE_DIR = path.resolve(import.meta.dirname, "../../.cache");
const AUDIO_DIR = path.join(CACHE_DIR, "test-audio");

/** An ffmpeg recipe for a clip: its input arguments and filter. */
export interface ClipRecipe {
  name: string;
  /** Arguments before the output options, e.g. `["-ss", "1", "-t", "4", "-i", JFK_WAV]`. */
  input: string[];
  /** Output container; the default is 16 kHz mono WAV. */
  format?: "wav" | "mp3" | "ogg" | "m4a" | "flac";
}

/** Builds (once) and returns the path of a clip. */
export async function makeClip(recipe: ClipRecipe): Promise<string> {
  await mkdir(AUDIO_DIR, { recursive: true });
  const format = recipe.format ?? "wav";
  const file = path.join(AUDIO_DIR, `${recipe.name}.${format}`);
  if (existsSync(file)) return file;
  const partial = `${file}.${process.pid}.partial.${format}`;
  const output =
    format === "wav"
      ? ["-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le"]
      : format === "m4a"
        ? ["-c:a", "aac", "-b:a", "64k"]
        : [];
  await run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", ...recipe.input, ...output, partial]);
  await rename(partial, file);
  return file;
}

/** A slice of jfk.wav. */
export function jfkSlice(
  startSeconds: number,
  durationSeconds: number,
  format: ClipRecipe["format"] = "wav",
): Promise<string> {
  return makeClip({
    name: `jfk-${startSeconds}-${durationSeconds}`,
    input: ["-ss", String(startSeconds), "-t", String(durationSeconds), "-i", JFK_WAV],
    format,
  });
}

/** jfk.wav repeated `times` times with `gapSeconds` of silence between (long audio with quiet points). */
export function jfkRepeated(times: number, gapSeconds: number): Promise<string> {
  const inputs: string[] = [];
  const labels: string[] = [];
  for (let i = 0; i < times; i++) {
    inputs.push("-i", JFK_WAV);
    labels.push(`[${i}:a]apad=pad_dur=${gapSeconds}[a${i}]`);
  }
  const concat = `${labels.join(";")};${Array.from({ length: times }, (_, i) => `[a${i}]`).join("")}concat=n=${times}:v=0:a=1`;
  return makeClip({ name: `jfk-x${times}-gap${gapSeconds}`, input: [...inputs, "-filter_complex", concat] });
}

/** A sine tone mixed with a little noise. */
export function tone(frequency: number, durationSeconds: number): Promise<string> {
  return makeClip({
    name: `tone-${frequency}-${durationSeconds}`,
    input: ["-f", "lavfi", "-i", `sine=frequency=${frequency}:duration=${durationSeconds}:sample_rate=16000`],
  });
}

/** Reads a file's bytes. */
export function bytesOf(file: string): Promise<Buffer> {
  return readFile(file);
}

/** Decodes any clip to float PCM with ffmpeg (the reference the tests compare against). */
export async function decodeReference(file: string): Promise<Float32Array> {
  const { stdout } = await run(
    "ffmpeg",
    ["-hide_banner", "-loglevel", "error", "-i", file, "-ac", "1", "-ar", "16000", "-f", "f32le", "pipe:1"],
    {
      encoding: "buffer",
      maxBuffer: 512 * 1024 * 1024,
    },
  );
  const pcm = new Float32Array(stdout.length / 4);
  new Uint8Array(pcm.buffer).set(stdout.subarray(0, pcm.length * 4));
  return pcm;
}
