/**
 * One `ResumableUpload` Durable Object per tus upload (`idFromName(uploadId)`): it owns the upload's state (offset,
 * R2 multipart parts, envelope header, expiry, tenant, job options) and is the only writer of its bytes, so requests
 * on one upload are serialised and a PATCH after a network cut or a restart resumes at the stored offset.
 *
 * Bytes are laid out in R2 like a direct upload (src/storage/audio-store.ts): one object `audio/<tenant>/<job>`,
 * sealed with the tenant's envelope, written as a multipart upload of equal `UPLOAD_PART_BYTES` parts (whole 64 KiB
 * segments) and a shorter last part. A PATCH whose bytes do not end on a part boundary leaves a remainder: it is kept
 * sealed (its own envelope) in `tus/<tenant>/<upload>/tail-<n>` and put in front of the next PATCH's bytes. A part is
 * written as soon as it is full and bytes after it are due (`Upload-Length` says so), so a PATCH that ends on a part
 * boundary leaves no remainder. The object never holds more than one part of plaintext (plus one network chunk) in
 * memory: parts, the last part and the remainder are sealed one 64 KiB segment at a time as R2 reads them, and the
 * remainder is read back the same way, never joined into one buffer or held both plain and sealed.
 *
 * A PATCH with `Upload-Checksum` keeps its bytes in memory (at most one part) until the digest matches, so a mismatch
 * (460) discards them without any segment ever being sealed twice under the same nonce.
 */
import { DurableObject } from "cloudflare:workers";

import { UPLOAD_PART_BYTES } from "../config.ts";
import { SNIFF_BYTES, sniffAudio, type SniffedAudio } from "../domain/audio-format.ts";
import {
  createSealer,
  type EnvelopeHeader,
  type ObjectSealer,
  resumeSealer,
  sealedSize,
  SEGMENT_BYTES,
} from "../domain/envelope.ts";
import type { Env } from "../env.ts";
import { createJob, type ResolvedUploadOptions } from "../jobs/create-job.ts";
import { concatBytes, takeBytes } from "../lib/bytes.ts";
import { log } from "../lib/log.ts";
import { audioKey } from "../storage/audio-store.ts";
import { createDb } from "../storage/db.ts";
import { markResumableUploadCompleted } from "../storage/resumable-uploads.repo.ts";
import { getSealedStream, masterKeys, objectSealer } from "../storage/sealed-objects.ts";
import { placeById } from "../storage/shards.ts";

const STATE_KEY = "state";
/** sealed parts hold whole segments; all but the last part of an R2 multipart upload share one size */
export const RESUMABLE_PART_BYTES = Math.ceil(UPLOAD_PART_BYTES / SEGMENT_BYTES) * SEGMENT_BYTES;

export const tusPrefix = (tenantId: string, uploadId: string) => `tus/${tenantId}/${uploadId}/`;

export interface NewUploadState {
  uploadId: string;
  tenantId: string;
  jobId: string;
  length: number;
  fileName: string | null;
  options: ResolvedUploadOptions;
  traceparent: string;
  createdAt: number;
  expiresAt: number;
}

export interface UploadState extends NewUploadState {
  status: "active" | "completed" | "terminated";
  /** bytes kept: the parts' and the tail's */
  offset: number;
  parts: R2UploadedPart[];
  /** R2 multipart upload id, once the first part is written */
  multipartId: string | null;
  envelope: EnvelopeHeader;
  audio: SniffedAudio | null;
  tailKey: string | null;
  tailBytes: number;
  tailGeneration: number;
  /** the whole object is in R2 (the multipart upload completed) */
  stored: boolean;
  transcriptionId: string | null;
  /** why the upload was ended by the service (e.g. `unsupported_audio`) */
  endedCode: string | null;
}

/** What the HTTP layer shows of an upload. */
export interface UploadView {
  status: UploadState["status"] | "expired";
  tenantId: string;
  offset: number;
  length: number;
  expiresAt: number;
  transcriptionId: string | null;
  endedCode: string | null;
}

export type AppendOutcome =
  | { ok: true; offset: number; transcriptionId: string | null; bytesRead: number; expiresAt: number }
  | { ok: false; status: number; code: string; message: string; bytesRead: number; offset?: number };

export interface AppendRequest {
  tenantId: string;
  offset: number;
  /** Content-Length of the PATCH, when declared */
  declaredBytes: number | null;
  /** raw SHA-256 of the body (`Upload-Checksum`), or null */
  checksum: Uint8Array | null;
  /** largest body one PATCH may carry */
  maxChunkBytes: number;
}

type Refusal = Extract<AppendOutcome, { ok: false }>;

const refused = (status: number, code: string, message: string, bytesRead = 0, offset?: number): Refusal => ({
  ok: false,
  status,
  code,
  message,
  bytesRead,
  ...(offset === undefined ? {} : { offset }),
});

export class ResumableUpload extends DurableObject<Env> {
  #busy = false;

  /** Creates the upload's state (once; a second call with the same id is a no-op returning the stored view). */
  async create(init: NewUploadState): Promise<UploadView> {
    const existing = await this.#state();
    if (existing) return viewOf(existing);
    this.#place(init.uploadId);
    const key = audioKey(init.tenantId, init.jobId);
    const sealer = await createSealer(masterKeys(this.env), init.tenantId, key);
    const state: UploadState = {
      ...init,
      status: "active",
      offset: 0,
      parts: [],
      multipartId: null,
      envelope: sealer.header,
      audio: null,
      tailKey: null,
      tailBytes: 0,
      tailGeneration: 0,
      stored: false,
      transcriptionId: null,
      endedCode: null,
    };
    await this.#save(state);
    return viewOf(state);
  }

  /** The upload as HEAD shows it; null when this object holds none. Finishes a job creation that failed earlier. */
  async view(): Promise<UploadView | null> {
    const state = await this.#state();
    if (!state) return null;
    if (state.status === "active" && state.stored && !this.#busy) await this.#createJob(state).catch(() => undefined);
    return viewOf(state);
  }

  /**
   * Appends a PATCH body at `request.offset` (module comment). Never throws for the caller's input: every refusal is
   * an outcome with the tus status and a stable code.
   */
  async append(request: AppendRequest, body: ReadableStream<Uint8Array> | null): Promise<AppendOutcome> {
    const state = await this.#state();
    const drop = async () => void (await body?.cancel().catch(() => undefined));
    const early = this.#refuseEarly(state, request);
    if (early || !state) {
      await drop();
      return early ?? refused(404, "upload_not_found", "No upload with that id.");
    }
    this.#busy = true;
    try {
      return await this.#append(state, request, body);
    } finally {
      this.#busy = false;
    }
  }

  /** Ends the upload: aborts the multipart upload and deletes its parts and tails (a finished job's audio stays). */
  async terminate(tenantId: string | null): Promise<boolean> {
    const state = await this.#state();
    if (!state || (tenantId !== null && state.tenantId !== tenantId)) return false;
    await this.#discardBytes(state);
    await this.#save({ ...state, status: state.status === "completed" ? "completed" : "terminated" });
    return true;
  }

  /** Deletes everything this object holds (the cron, once the upload's expiry has passed). */
  async purge(): Promise<void> {
    const state = await this.#state();
    if (state) await this.#discardBytes(state);
    await this.ctx.storage.deleteAll();
  }

  #refuseEarly(state: UploadState | undefined, request: AppendRequest): AppendOutcome | null {
    if (!state || state.tenantId !== request.tenantId)
      return refused(404, "upload_not_found", "No upload with that id.");
    if (state.status === "terminated") {
      return state.endedCode === "unsupported_audio"
        ? refused(
            410,
            "upload_terminated",
            "The upload was ended: its first bytes are not audio in a supported container.",
          )
        : refused(410, "upload_terminated", "The upload was terminated.");
    }
    if (Date.now() >= state.expiresAt && state.status !== "completed") {
      return refused(410, "upload_expired", "The upload expired before its last byte arrived; start a new one.");
    }
    if (this.#busy) {
      return refused(423, "upload_locked", "Another PATCH is writing to this upload; retry after it ends.");
    }
    if (state.status === "completed" || state.stored) {
      return refused(409, "upload_complete", "Every byte of this upload has arrived.", 0, state.offset);
    }
    if (request.offset !== state.offset) {
      return refused(
        409,
        "offset_mismatch",
        `Upload-Offset must be ${state.offset}, the bytes received so far.`,
        0,
        state.offset,
      );
    }
    if (request.declaredBytes !== null && request.declaredBytes > request.maxChunkBytes) {
      return refused(413, "chunk_too_large", `One PATCH may carry at most ${request.maxChunkBytes} bytes.`);
    }
    if (request.declaredBytes !== null && state.offset + request.declaredBytes > state.length) {
      return refused(413, "exceeds_upload_length", `The body would pass Upload-Length (${state.length} bytes).`);
    }
    if (request.checksum && request.declaredBytes !== null && request.declaredBytes > RESUMABLE_PART_BYTES) {
      return refused(
        413,
        "chunk_too_large",
        `A PATCH with Upload-Checksum may carry at most ${RESUMABLE_PART_BYTES} bytes (one part).`,
      );
    }
    return null;
  }

  async #append(
    state: UploadState,
    request: AppendRequest,
    body: ReadableStream<Uint8Array> | null,
  ): Promise<AppendOutcome> {
    const start = state.offset;
    const checksummed = request.checksum !== null;
    const bodyLimit = checksummed ? Math.min(request.maxChunkBytes, RESUMABLE_PART_BYTES) : request.maxChunkBytes;
    const key = audioKey(state.tenantId, state.jobId);
    const sealer = await resumeSealer(
      masterKeys(this.env),
      state.tenantId,
      key,
      state.envelope,
      (state.parts.length * RESUMABLE_PART_BYTES) / SEGMENT_BYTES,
    );
    const pending: Uint8Array[] = [];
    let pendingBytes = 0;
    if (state.tailKey && state.tailBytes > 0) {
      // read back segment by segment: the remainder is held once, as plaintext, like the bytes that follow it
      const tail = await getSealedStream(this.env, state.tenantId, state.tailKey);
      const tailReader = tail?.body.getReader();
      for (;;) {
        const next = await tailReader?.read();
        if (!next || next.done) break;
        pending.push(next.value);
        pendingBytes += next.value.byteLength;
      }
      if (!tail || pendingBytes !== state.tailBytes) {
        log("tus_tail_missing", { upload_id: state.uploadId });
        return refused(410, "upload_terminated", "The upload's stored bytes are gone; start a new one.");
      }
    }
    const digest = checksummed ? new crypto.DigestStream("SHA-256") : null;
    const digestWriter = digest?.getWriter() ?? null;
    let received = 0;
    let failure: Extract<AppendOutcome, { ok: false }> | null = null;
    let storing = false;
    const reader = body?.getReader() ?? null;

    // a full part is written once bytes after it are due (it is then never the last part, which is sealed as last)
    const flushParts = async () => {
      while (pendingBytes >= RESUMABLE_PART_BYTES && (state.parts.length + 1) * RESUMABLE_PART_BYTES < state.length) {
        if (!state.audio) return;
        if (!state.multipartId) {
          const upload = await this.env.BUCKET.createMultipartUpload(key, storedMetadata(state));
          state.multipartId = upload.uploadId;
        }
        const upload = this.env.BUCKET.resumeMultipartUpload(key, state.multipartId);
        const part = sealingStream(sealer, pending, RESUMABLE_PART_BYTES, false);
        pendingBytes -= RESUMABLE_PART_BYTES;
        state.parts.push(await upload.uploadPart(state.parts.length + 1, part));
        // the part now holds the old tail's bytes: keep the state coherent after every part
        const oldTail = state.tailKey;
        state.tailKey = null;
        state.tailBytes = 0;
        state.offset = state.parts.length * RESUMABLE_PART_BYTES;
        await this.#save(state);
        if (oldTail) await this.env.BUCKET.delete(oldTail).catch(() => undefined);
      }
    };

    try {
      while (reader) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!value?.byteLength) continue;
        if (start + received + value.byteLength > state.length) {
          failure = refused(413, "exceeds_upload_length", `The body passes Upload-Length (${state.length} bytes).`);
          break;
        }
        if (received + value.byteLength > bodyLimit) {
          failure = refused(413, "chunk_too_large", `One PATCH may carry at most ${bodyLimit} bytes.`);
          break;
        }
        received += value.byteLength;
        pending.push(value);
        pendingBytes += value.byteLength;
        if (digestWriter) await digestWriter.write(value);
        if (!state.audio && state.parts.length === 0 && pendingBytes >= Math.min(SNIFF_BYTES, state.length)) {
          state.audio = sniffAudio(concatBytes(pending, pendingBytes).subarray(0, SNIFF_BYTES));
          if (!state.audio) {
            failure = notAudio();
            break;
          }
        }
        if (!checksummed) {
          storing = true;
          await flushParts();
          storing = false;
        }
      }
    } catch (error) {
      // R2 failed mid-part: the part's bytes are gone from memory, so no remainder may be kept after the parts
      // already saved (the state stands as saved after the last part); the caller gets an error and resumes from HEAD
      if (storing) throw error;
      // the connection was cut (or the body failed): keep what arrived, so the client resumes from there
      log("tus_body_interrupted", {
        upload_id: state.uploadId,
        error: error instanceof Error ? error.name : "unknown",
      });
      failure = refused(400, "body_interrupted", "The request body ended before its declared length.");
    }
    if (failure) await reader?.cancel().catch(() => undefined);

    if (failure?.code === "unsupported_audio") {
      await this.#discardBytes(state);
      await this.#save({ ...state, status: "terminated", endedCode: "unsupported_audio" });
      return { ...failure, bytesRead: received };
    }
    if (checksummed) {
      await digestWriter!.close();
      const actual = new Uint8Array(await digest!.digest);
      const matches = !failure && equalBytes(actual, request.checksum!);
      if (!matches) {
        // nothing of this PATCH was sealed: the state (and the old tail) stand as they were
        const outcome =
          failure ?? refused(460, "checksum_mismatch", "The body's SHA-256 does not match Upload-Checksum.");
        return { ...outcome, bytesRead: received, offset: state.offset };
      }
      await flushParts();
    }

    const end = start + received;
    if (!failure && end === state.length) return this.#finish(state, sealer, pending, pendingBytes, received);
    await this.#keepTail(state, pending, pendingBytes, end);
    if (failure) return { ...failure, bytesRead: received, offset: state.offset };
    return { ok: true, offset: state.offset, transcriptionId: null, bytesRead: received, expiresAt: state.expiresAt };
  }

  /** Stores what did not fill a part as the new tail, then drops the old one. */
  async #keepTail(state: UploadState, pending: Uint8Array[], pendingBytes: number, end: number): Promise<void> {
    const oldTail = state.tailKey;
    if (pendingBytes === 0 && !oldTail) return;
    if (pendingBytes === state.tailBytes && end === state.offset) return;
    const generation = state.tailGeneration + 1;
    const tailKey = `${tusPrefix(state.tenantId, state.uploadId)}tail-${generation}`;
    if (pendingBytes > 0) {
      // the layout putSealed writes (its own envelope, 64 KiB segments), sealed as R2 reads it
      const tailSealer = await objectSealer(this.env, state.tenantId, tailKey);
      await this.env.BUCKET.put(tailKey, sealingStream(tailSealer, pending, pendingBytes, true), {
        httpMetadata: { contentType: "application/octet-stream" },
        customMetadata: { ...tailSealer.header, ct: "application/octet-stream" },
      });
    }
    state.tailGeneration = generation;
    state.tailKey = pendingBytes > 0 ? tailKey : null;
    state.tailBytes = pendingBytes;
    state.offset = state.parts.length * RESUMABLE_PART_BYTES + pendingBytes;
    await this.#save(state);
    if (oldTail && oldTail !== state.tailKey) await this.env.BUCKET.delete(oldTail).catch(() => undefined);
  }

  async #finish(
    state: UploadState,
    sealer: Awaited<ReturnType<typeof resumeSealer>>,
    pending: Uint8Array[],
    pendingBytes: number,
    received: number,
  ): Promise<AppendOutcome> {
    state.audio ??= sniffAudio(concatBytes(pending, pendingBytes));
    if (!state.audio) {
      await this.#discardBytes(state);
      await this.#save({ ...state, status: "terminated", endedCode: "unsupported_audio" });
      return { ...notAudio(), bytesRead: received };
    }
    const key = audioKey(state.tenantId, state.jobId);
    const last = sealingStream(sealer, pending, pendingBytes, true);
    if (!state.multipartId) {
      await this.env.BUCKET.put(key, last, storedMetadata(state));
    } else {
      const upload = this.env.BUCKET.resumeMultipartUpload(key, state.multipartId);
      state.parts.push(await upload.uploadPart(state.parts.length + 1, last));
      await upload.complete(state.parts);
    }
    const oldTail = state.tailKey;
    state.stored = true;
    state.offset = state.length;
    state.tailKey = null;
    state.tailBytes = 0;
    await this.#save(state);
    if (oldTail) await this.env.BUCKET.delete(oldTail).catch(() => undefined);
    try {
      await this.#createJob(state);
    } catch (error) {
      log("tus_job_create_failed", {
        upload_id: state.uploadId,
        error: error instanceof Error ? error.name : "unknown",
      });
      return refused(503, "job_not_created", "Every byte arrived; the job is created on the next HEAD.", received);
    }
    return {
      ok: true,
      offset: state.offset,
      transcriptionId: state.transcriptionId,
      bytesRead: received,
      expiresAt: state.expiresAt,
    };
  }

  async #createJob(state: UploadState): Promise<void> {
    const db = createDb(this.env);
    const input = {
      jobId: state.jobId,
      tenantId: state.tenantId,
      audioKey: audioKey(state.tenantId, state.jobId),
      fileName: state.fileName,
      options: state.options,
      idempotencyKey: null,
      traceparent: state.traceparent,
      stored: { bytes: state.length, audio: state.audio! },
      uploadId: state.uploadId,
    };
    const created = await createJob(this.env, db, input);
    state.transcriptionId = created.job.id;
    state.status = "completed";
    await this.#save(state);
    await markResumableUploadCompleted(db, state.uploadId, Date.now());
  }

  /** Aborts the unfinished multipart upload (R2 drops its parts) and deletes the tails. */
  async #discardBytes(state: UploadState): Promise<void> {
    if (state.status !== "completed" && !state.stored && state.multipartId) {
      const upload = this.env.BUCKET.resumeMultipartUpload(audioKey(state.tenantId, state.jobId), state.multipartId);
      await upload.abort().catch(() => undefined);
    }
    if (state.status !== "completed" && state.stored && !state.transcriptionId) {
      await this.env.BUCKET.delete(audioKey(state.tenantId, state.jobId)).catch(() => undefined);
    }
    const prefix = tusPrefix(state.tenantId, state.uploadId);
    let cursor: string | undefined;
    do {
      const listed = await this.env.BUCKET.list({ prefix, cursor });
      if (listed.objects.length) await this.env.BUCKET.delete(listed.objects.map((o) => o.key));
      cursor = listed.truncated ? listed.cursor : undefined;
    } while (cursor);
    state.multipartId = null;
    state.tailKey = null;
    state.tailBytes = 0;
  }

  /** The object works in the shard and region its upload id names: the tenant's bucket, database and queue. */
  #place(uploadId: string): void {
    this.env = placeById(this.env, uploadId) ?? this.env;
  }

  async #state(): Promise<UploadState | undefined> {
    const state = await this.ctx.storage.get<UploadState>(STATE_KEY);
    if (state) this.#place(state.uploadId);
    return state;
  }

  async #save(state: UploadState): Promise<void> {
    await this.ctx.storage.put(STATE_KEY, state);
  }
}

/**
 * The next `plainBytes` of `pending` (taken off it), sealed one segment at a time as the reader pulls, through a
 * FixedLengthStream so R2 knows the length. `final`: its last segment is the object's last.
 */
function sealingStream(
  sealer: ObjectSealer,
  pending: Uint8Array[],
  plainBytes: number,
  final: boolean,
): ReadableStream<Uint8Array> {
  let left = plainBytes;
  let started = false;
  const source = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        // an empty final part is still one (empty) sealed segment
        if (left === 0 && started) return controller.close();
        started = true;
        const size = Math.min(SEGMENT_BYTES, left);
        left -= size;
        controller.enqueue(await sealer.sealPart(takeBytes(pending, size), final && left === 0));
      },
    },
    { highWaterMark: 0 },
  );
  return source.pipeThrough(new FixedLengthStream(sealedSize(plainBytes)));
}

function viewOf(state: UploadState): UploadView {
  const expired = state.status === "active" && Date.now() >= state.expiresAt;
  return {
    status: expired ? "expired" : state.status,
    tenantId: state.tenantId,
    offset: state.offset,
    length: state.length,
    expiresAt: state.expiresAt,
    transcriptionId: state.transcriptionId,
    endedCode: state.endedCode,
  };
}

function storedMetadata(state: UploadState): R2MultipartOptions & R2PutOptions {
  return {
    httpMetadata: { contentType: "application/octet-stream" },
    customMetadata: { ...state.envelope, ct: state.audio!.contentType },
  };
}

function notAudio(): Refusal {
  return refused(
    415,
    "unsupported_audio",
    "The upload's first bytes are not audio in a supported container (WAV, MP3, FLAC, OGG/Opus, WebM, MP4/M4A).",
  );
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
}

/** The upload's Durable Object. */
export function resumableUploadFor(env: Env, uploadId: string): DurableObjectStub<ResumableUpload> {
  return env.RESUMABLE_UPLOADS.get(env.RESUMABLE_UPLOADS.idFromName(uploadId));
}
