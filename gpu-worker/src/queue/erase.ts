/**
 * GDPR erasure of one job's data in Redis (`DELETE /v1/jobs/{job_id}`, docs/pool-contract.md §4).
 *
 * Everything the pool keeps per job id: the `transcriptions` job (data incl. `prompt` and `audio_url`, in any state),
 * the `callbacks` job (the result waiting for the edge's acknowledgement, or refused and kept for inspection; it is
 * also the dedupe marker for repeated dispatches), their BullMQ side keys (`:logs`, `:lock`, …) and the entries of
 * both queues' event streams that name the job. The batch scheduler holds windows only in memory.
 *
 * A job that is running (BullMQ holds its lock) cannot be removed. Then the eraser sets an **erasure marker**
 * (`{prefix}:erased:{job_id}`, value = erasure time in ms, TTL {@link ERASURE_MARKER_TTL_SECONDS}), blanks the job's
 * data in Redis at once (`erased_at` set, prompt/audio URL/callback URL/result gone), and the processor and the
 * callback deliverer check the marker before and after their work: the result is discarded, never posted. When
 * the running job finishes, {@link JobEraser.finish} (called from the workers' `completed`/`failed` events) removes
 * what is left and deletes the marker.
 */
import type { ErasedJobState } from "@vtt/pool-contract";
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";

import type { CallbackJobData, TranscriptionJobData } from "./queues.ts";

/** Default life of an erasure marker whose job never finished (the pool sets it from JOB_TIMEOUT_MS, see pool.ts). */
export const ERASURE_MARKER_TTL_SECONDS = 3600;
/** Event stream entries read per XRANGE page while purging a job's events. */
const EVENTS_PAGE_SIZE = 500;

/** What one queue held for the job (the contract's erasure answer reports it). */
export type { ErasedJobState };

/** The outcome of erasing one job id. */
export interface ErasureOutcome {
  /** True when the pool held anything for this id (this call removed it, or blanked it and marked it cancelled). */
  erased: boolean;
  /**
   * What the transcription was: its BullMQ state (`waiting`, `delayed`, `prioritized`, `active`, `failed`, …); when
   * only its result was still held for delivery, the result's status (`completed` or `failed`); else `absent`.
   */
  state: ErasedJobState;
  /** The state of the held callback (the result awaiting acknowledgement), or `absent`. */
  callback: ErasedJobState;
  /** True when part of it was running: its data is blanked now, the rest is removed when it finishes. */
  pending: boolean;
}

/** Options for {@link JobEraser}. */
export interface JobEraserOptions {
  /** A connection that is not used for blocking commands (the queues' connection). */
  redis: Redis;
  transcriptions: Queue<TranscriptionJobData>;
  callbacks: Queue<CallbackJobData>;
  /** QUEUE_PREFIX */
  prefix: string;
  /**
   * How long a marker outlives a running job that never reports back: longer than one attempt of a job or of a
   * callback delivery. Later attempts need no marker: the job's data is blanked (`erased_at`).
   */
  markerTtlSeconds?: number;
}

interface QueueSweep {
  state: ErasedJobState;
  /** Running: BullMQ refused to remove it. */
  locked: boolean;
  /** For a callback job: the status of the result it carries. */
  resultStatus?: "completed" | "failed";
}

/** Erases jobs and answers whether a job was erased while it ran. */
export class JobEraser {
  readonly #redis: Redis;
  readonly #transcriptions: Queue<TranscriptionJobData>;
  readonly #callbacks: Queue<CallbackJobData>;
  readonly #prefix: string;
  readonly #markerTtlSeconds: number;

  constructor(options: JobEraserOptions) {
    this.#redis = options.redis;
    this.#transcriptions = options.transcriptions;
    this.#callbacks = options.callbacks;
    this.#prefix = options.prefix;
    this.#markerTtlSeconds = Math.max(1, Math.ceil(options.markerTtlSeconds ?? ERASURE_MARKER_TTL_SECONDS));
  }

  /** The erasure marker's key for a job id. */
  markerKey(jobId: string): string {
    return `${this.#prefix}:erased:${jobId}`;
  }

  /**
   * Removes every trace of `jobId` from Redis; a running part is blanked and marked cancelled (see the module doc).
   * Idempotent: erasing an id the pool does not hold answers `{ erased: false, state: "absent" }`. Throws when Redis
   * is unreachable.
   */
  async erase(jobId: string): Promise<ErasureOutcome> {
    // the marker goes first: a job that starts (or finishes its inference) from now on sees it
    await this.#redis.set(this.markerKey(jobId), String(Date.now()), "EX", this.#markerTtlSeconds);
    const { transcription, callback } = await this.#sweep(jobId, true);
    const pending = transcription.locked || callback.locked;
    // an active job whose lock had lapsed was removable, but its worker may still be running: keep the marker (TTL)
    const stillRunning = pending || transcription.state === "active" || callback.state === "active";
    if (!stillRunning) await this.#redis.del(this.markerKey(jobId));
    const state =
      transcription.state !== "absent"
        ? transcription.state
        : (callback.resultStatus ?? (callback.state === "absent" ? "absent" : "completed"));
    return {
      erased: transcription.state !== "absent" || callback.state !== "absent",
      state,
      callback: callback.state,
      pending,
    };
  }

  /** True when `jobId` was erased while it ran (its marker is set): its work must be discarded, not delivered. */
  async isErased(jobId: string): Promise<boolean> {
    return (await this.#redis.exists(this.markerKey(jobId))) === 1;
  }

  /**
   * Called whenever a job finished (completed or failed) in either queue: when it had been erased while running
   * (its marker is set, or `discarded` says the worker dropped it), removes what is left of it and, once nothing of
   * it runs any more, the marker. A no-op (one EXISTS) otherwise.
   */
  async finish(jobId: string, discarded = false): Promise<boolean> {
    if (!discarded && !(await this.isErased(jobId))) return false;
    const { transcription, callback } = await this.#sweep(jobId, false);
    if (!transcription.locked && !callback.locked) await this.#redis.del(this.markerKey(jobId));
    return true;
  }

  /** Drops a stale marker before a new dispatch of the same id is queued (nothing of the old job runs then). */
  async clearMarker(jobId: string): Promise<void> {
    await this.#redis.del(this.markerKey(jobId));
  }

  async #sweep(jobId: string, blankRunning: boolean): Promise<{ transcription: QueueSweep; callback: QueueSweep }> {
    const transcription = await this.#eraseFrom(this.#transcriptions, jobId, blankRunning ? blankTranscription : null);
    const callback = await this.#eraseFrom(this.#callbacks, jobId, blankRunning ? blankCallback : null);
    // removal itself writes a `removed` event naming the job: purge the streams last
    await Promise.all([
      this.#purgeEvents(this.#transcriptions.keys.events!, jobId),
      this.#purgeEvents(this.#callbacks.keys.events!, jobId),
    ]);
    return { transcription, callback };
  }

  async #eraseFrom<T>(
    queue: Queue<T>,
    jobId: string,
    blank: ((jobId: string, data: T) => T) | null,
  ): Promise<QueueSweep> {
    const job = await queue.getJob(jobId);
    if (!job) {
      // no job hash: still clear any leftover id in a state list or set (removeJob is a no-op otherwise)
      await queue.remove(jobId);
      return { state: "absent", locked: false };
    }
    const state = (await job.getState()) as ErasedJobState;
    const body = (job.data as Partial<CallbackJobData> | undefined)?.body;
    const resultStatus = body?.status === "completed" || body?.status === "failed" ? body.status : undefined;
    if ((await queue.remove(jobId)) === 1) return { state, locked: false, resultStatus };
    // locked by a worker: running now. Blank its data in Redis (the worker keeps its own copy in memory and checks
    // the marker before delivering anything); it may have finished meanwhile, then it can be removed after all.
    if (blank) await job.updateData(blank(jobId, job.data)).catch(() => undefined);
    if ((await queue.remove(jobId)) === 1) return { state: "active", locked: false, resultStatus };
    return { state: "active", locked: true, resultStatus };
  }

  /** Deletes the entries of a queue's event stream that name the job (its id in any field). */
  async #purgeEvents(key: string, jobId: string): Promise<void> {
    let start = "-";
    for (;;) {
      const page = await this.#redis.xrange(key, start, "+", "COUNT", EVENTS_PAGE_SIZE);
      const doomed = page.filter(([, fields]) => fields.some((value) => value.includes(jobId))).map(([id]) => id);
      if (doomed.length > 0) await this.#redis.xdel(key, ...doomed);
      if (page.length < EVENTS_PAGE_SIZE) return;
      start = `(${page[page.length - 1]![0]}`;
    }
  }
}

/** The data a running transcription job keeps once erased: nothing about the request but its id. */
function blankTranscription(jobId: string, data: TranscriptionJobData): TranscriptionJobData {
  return {
    job_id: jobId,
    language: null,
    prompt: null,
    audio_url: "",
    audio_expires_at: 0,
    callback_url: "",
    traceparent: null,
    task: "transcribe",
    model: null,
    temperature: null,
    word_timestamps: false,
    speakers: null,
    dispatched_at: data.dispatched_at,
    erased_at: Date.now(),
  };
}

/** The data a callback being delivered keeps once erased: no URL, no result. */
function blankCallback(jobId: string): CallbackJobData {
  return {
    callback_url: "",
    traceparent: null,
    body: { job_id: jobId, status: "failed", error: { code: "engine_error", message: "erased", retryable: false } },
    erased_at: Date.now(),
  };
}
