/**
 * A job's decoded audio kept on disk for the diarization stage: diarization needs the whole 16 kHz mono signal,
 * while the streamed transcription path holds only a few windows. Each window's samples are appended (in the
 * order they are cut, which is their order in the audio) to a temporary file of raw float32 little-endian samples,
 * so the pool process stays flat in memory; the diarization host reads the file once the decode has ended.
 */
import type { FileHandle } from "node:fs/promises";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

/** An append-only float32 PCM file in its own temporary directory. */
export class PcmSpool {
  readonly file: string;
  #handle: FileHandle;
  #samples = 0;
  #writing: Promise<void> = Promise.resolve();
  #failed: unknown = null;
  readonly #dir: string;

  private constructor(dir: string, handle: FileHandle) {
    this.#dir = dir;
    this.file = path.join(dir, "audio.f32");
    this.#handle = handle;
  }

  /** Creates the spool under `parent` (default: the OS temporary directory). */
  static async create(parent = tmpdir()): Promise<PcmSpool> {
    const dir = await mkdtemp(path.join(parent, "vtt-diarize-"));
    const handle = await open(path.join(dir, "audio.f32"), "w");
    return new PcmSpool(dir, handle);
  }

  /** Samples appended so far. */
  get sampleCount(): number {
    return this.#samples;
  }

  /**
   * Appends a copy of `samples` (the caller may reuse its buffer at once); writes run one after another in call
   * order. A write failure is reported by {@link finish}.
   */
  append(samples: Float32Array): void {
    const copy = Buffer.from(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength));
    const position = this.#samples * 4;
    this.#samples += samples.length;
    this.#writing = this.#writing.then(async () => {
      if (this.#failed) return;
      try {
        await this.#handle.write(copy, 0, copy.length, position);
      } catch (error) {
        this.#failed = error;
      }
    });
  }

  /** Waits for every write and closes the file; throws the first write failure. */
  async finish(): Promise<void> {
    await this.#writing;
    await this.#handle.close().catch(() => undefined);
    if (this.#failed) throw this.#failed;
  }

  /** Deletes the file and its directory (after {@link finish}, or instead of it on failure). */
  async remove(): Promise<void> {
    await this.#writing.catch(() => undefined);
    await this.#handle.close().catch(() => undefined);
    await rm(this.#dir, { recursive: true, force: true });
  }
}
