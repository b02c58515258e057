/**
 * One speaker-label job's part of the diarization stage: its decoded samples are spooled to disk as the windows go
 * to the engine (pcm-spool.ts), and once the transcript is stitched the whole signal is diarized and the turns are
 * assigned to its segments and words (assign.ts). Audio past `MAX_DIARIZATION_SECONDS` fails the job as soon as the
 * cap is crossed (`diarization_too_long`, terminal): the host holds the whole signal in memory.
 */
import type { Dispatch } from "@vtt/pool-contract";

import { SAMPLE_RATE } from "../audio/windows.ts";
import { PoolJobError } from "../errors.ts";
import { assignSpeakers } from "./assign.ts";
import type { Diarizer } from "./diarizer.ts";
import { PcmSpool } from "./pcm-spool.ts";

interface Timed {
  start: number;
  end: number;
}

/** What the stage reports about one job (logs, `timings.diarization_ms`). */
export interface JobDiarizationReport {
  ms: number;
  clusters: number;
  turns: number;
}

/** A speaker-label job's diarization. */
export class JobDiarization {
  readonly #spool: PcmSpool;
  readonly #diarizer: Diarizer;
  readonly #speakers: NonNullable<Dispatch["speakers"]>;
  readonly #maxSamples: number;
  readonly #maxSeconds: number;

  private constructor(
    spool: PcmSpool,
    diarizer: Diarizer,
    speakers: NonNullable<Dispatch["speakers"]>,
    maxSeconds: number,
  ) {
    this.#spool = spool;
    this.#diarizer = diarizer;
    this.#speakers = speakers;
    this.#maxSeconds = maxSeconds;
    this.#maxSamples = Math.floor(maxSeconds * SAMPLE_RATE);
  }

  static async start(
    diarizer: Diarizer,
    speakers: NonNullable<Dispatch["speakers"]>,
    maxSeconds: number,
  ): Promise<JobDiarization> {
    return new JobDiarization(await PcmSpool.create(), diarizer, speakers, maxSeconds);
  }

  /**
   * Keeps a window's samples (call in window order, before the engine gets the window: it may reuse the buffer);
   * returns the job's failure once the audio is longer than the cap.
   */
  append(samples: Float32Array): PoolJobError | null {
    if (this.#spool.sampleCount + samples.length > this.#maxSamples) {
      return new PoolJobError(
        "diarization_too_long",
        `Speaker labels are available for audio up to ${this.#maxSeconds} s (MAX_DIARIZATION_SECONDS); this audio is longer.`,
        { retryable: false },
      );
    }
    this.#spool.append(samples);
    return null;
  }

  /** Diarizes the spooled audio and labels the transcript's segments and words. */
  async label<T extends { segments: Timed[]; words?: Timed[] }>(
    transcript: T,
    signal: AbortSignal,
  ): Promise<{ transcript: T; report: JobDiarizationReport }> {
    await this.#spool.finish();
    const result = await this.#diarizer.diarize(
      this.#spool.file,
      this.#spool.sampleCount,
      { expected: this.#speakers.expected, min: this.#speakers.min, max: this.#speakers.max },
      signal,
    );
    const labelled = assignSpeakers(transcript, result.turns);
    return {
      transcript: { ...transcript, ...labelled },
      report: { ms: Math.round(result.ms), clusters: result.clusters, turns: result.turns.length },
    };
  }

  /** Deletes the spooled audio. */
  dispose(): Promise<void> {
    return this.#spool.remove();
  }
}
