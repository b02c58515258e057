/**
 * One `ResumableUpload` Durable Object per tus upload (`idFromName(uploadId)`): it owns the upload's state (offset,
 * R2 multipart parts, envelope header, expiry, tenant, job options) and is the only writer of its bytes, so requests
 * on one upload are serialised and a PATCH after a network cut or a restart resumes at the stored offset.
 *
 * Bytes are laid out in R2 like a direct upload (src/storage/audio-store.ts): one object `audio/<tenant>/<job>`,
 * sealed with the tenant's envelope, written as a multipart upload of equal `UPLOAD_PART_BYTES` parts (whole 64 KiB
 * segments) and a shorter last part. Nothing is held whole: bytes go from the request to R2 as R2 pulls them, sealed
 * one 64 KiB segment at a time (src/uploads/byte-source.ts).
 *
 * - A PATCH with a Content-Length (what tus clients send) writes every part it fills as it arrives: the stored
 *   remainder first, then the body. What is left after its last whole part is stored as one more remainder piece,
 *   `tus/<tenant>/<upload>/tail-<n>`, sealed under its own data key and streamed too. Pieces are never read back
 *   until the part they belong to is written (then once, as R2 pulls them); more than MAX_TAIL_PIECES are joined.
 *   A cut connection loses the bytes of the part or piece it was in: the client resumes from HEAD's offset.
 * - A PATCH without a Content-Length, or with `Upload-Checksum`, is stored in pieces of at most TAIL_PIECE_BYTES,
 *   each held in memory until it is full (a cut keeps what arrived); with a checksum they count only once the digest
 *   matches, so a mismatch (460) discards them without any segment of the object being sealed twice under one nonce.
 *   Full parts are then written from the pieces.
 */
import { DurableObject } from "cloudflare:workers";

import { UPLOAD_PART_BYTES } from "../config.ts";
import { SNIFF_BYTES, sniffAudio, type SniffedAudio } from "../domain/audio-format.ts";
import {
  createSealer,
  type EnvelopeHeader,
  type ObjectSealer,
  resumeSealer,
  SEGMENT_BYTES,
} from "../domain/envelope.ts";
import type { Env } from "../env.ts";
import { createJob, type ResolvedUploadOptions } from "../jobs/create-job.ts";
import { concatBytes } from "../lib/bytes.ts";
import { log } from "../lib/log.ts";
import { audioKey } from "../storage/audio-store.ts";
import { createDb } from "../storage/db.ts";
import { markResumableUploadCompleted } from "../storage/resumable-uploads.repo.ts";
import { getSealedStream, masterKeys, objectSealer } from "../storage/sealed-objects.ts";
import { placeById } from "../storage/shards.ts";
import {
  arraySource,
  type BodyRefusal,
  type ByteSource,
  concatSources,
  limitedSource,
  PatchBody,
  sealedStream,
  SourceGone,
  streamSource,
} from "./byte-source.ts";

const STATE_KEY = "state";
/** sealed parts hold whole segments; all but the last part of an R2 multipart upload share one size */
export const RESUMABLE_PART_BYTES = Math.ceil(UPLOAD_PART_BYTES / SEGMENT_BYTES) * SEGMENT_BYTES;

export const tusPrefix = (tenantId: string, uploadId: string) => `tus/${tenantId}/${uploadId}/`;
/** the most a remainder piece holds in memory before it is stored (a PATCH of unknown length, or checksummed) */
export const TAIL_PIECE_BYTES = 1024 * 1024;
/** remainder pieces kept before they are joined into one (a client sending many tiny PATCHes) */
export const MAX_TAIL_PIECES = 32;

/** One stored remainder piece: `tus/<tenant>/<upload>/tail-<n>`, sealed under its own data key. */
export interface TailPiece {
  key: string;
  bytes: number;
}

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
  /** the bytes after the last whole part, in the order they arrived: one sealed object per piece */
  tail: TailPiece[];
  tailBytes: number;
  /** the number of the last piece object named (`tail-<n>`) */
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
      tail: [],
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
    const checksummed = request.checksum !== null;
    const patch = new PatchBody(body, {
      start: state.offset,
      length: state.length,
      limit: checksummed ? Math.min(request.maxChunkBytes, RESUMABLE_PART_BYTES) : request.maxChunkBytes,
      digest: checksummed,
    });
    const key = audioKey(state.tenantId, state.jobId);
    const sealer = await resumeSealer(
      masterKeys(this.env),
      state.tenantId,
      key,
      state.envelope,
      (state.parts.length * RESUMABLE_PART_BYTES) / SEGMENT_BYTES,
    );
    const done = (outcome: BodyRefusal | null): AppendOutcome =>
      outcome
        ? { ...outcome, ok: false, bytesRead: patch.received, offset: state.offset }
        : {
            ok: true,
            offset: state.offset,
            transcriptionId: null,
            bytesRead: patch.received,
            expiresAt: state.expiresAt,
          };

    // the container is judged from the first bytes before any of them is stored
    if (!state.audio) {
      const sniffed = await this.#sniff(state, patch);
      if (sniffed === "tail_missing") return done(tailMissing());
      if (sniffed === "not_audio") {
        await patch.cancel();
        await this.#discardBytes(state);
        await this.#save({ ...state, status: "terminated", endedCode: "unsupported_audio" });
        return { ...notAudio(), bytesRead: patch.received };
      }
    }

    let outcome: BodyRefusal | null;
    try {
      outcome =
        checksummed || request.declaredBytes === null
          ? await this.#appendBuffered(state, sealer, patch, request.checksum)
          : await this.#appendStreamed(state, sealer, patch, request.declaredBytes);
    } catch (error) {
      if (error instanceof SourceGone) {
        await patch.cancel();
        return done(tailMissing());
      }
      // R2 failed: the state stands as saved after the last part or remainder kept; the caller resumes from HEAD
      await patch.cancel();
      throw error;
    }
    if (outcome) await patch.cancel();
    if (!outcome && state.stored) return this.#complete(state, patch.received);
    return done(outcome);
  }

  /**
   * Declared length, no checksum: every part this PATCH fills goes to R2 as it arrives (the stored remainder, then the
   * body, sealed as R2 pulls them); what is left after the last whole part is stored as one more remainder piece,
   * streamed too. A cut connection loses the bytes of the part or piece it was in (the client resumes from HEAD).
   */
  async #appendStreamed(
    state: UploadState,
    sealer: ObjectSealer,
    patch: PatchBody,
    declared: number,
  ): Promise<BodyRefusal | null> {
    for (;;) {
      const left = declared - patch.consumed;
      if (left <= 0 || state.stored) return patch.failure;
      const partStart = state.parts.length * RESUMABLE_PART_BYTES;
      const need = Math.min(partStart + RESUMABLE_PART_BYTES, state.length) - partStart - state.tailBytes;
      const wrote =
        left >= need
          ? await this.#writePart(state, sealer, state.tail.length, limitedSource(patch, need), need)
          : await this.#writePiece(state, limitedSource(patch, left), left);
      if (!wrote) return patch.failure ?? interrupted();
    }
  }

  /**
   * Unknown length, or Upload-Checksum: the body is stored in remainder pieces of at most TAIL_PIECE_BYTES, each held
   * in memory until it is full (so a cut keeps what arrived); with a checksum they count only once the digest
   * matches. Full parts are then assembled from the pieces.
   */
  async #appendBuffered(
    state: UploadState,
    sealer: ObjectSealer,
    patch: PatchBody,
    checksum: Uint8Array | null,
  ): Promise<BodyRefusal | null> {
    const staged: TailPiece[] = [];
    let stagedBytes = 0;
    while (!patch.finished) {
      const position = state.parts.length * RESUMABLE_PART_BYTES + state.tailBytes + stagedBytes;
      const room = nextPartEnd(position, state.length) - position;
      const chunks: Uint8Array[] = [];
      let bytes = 0;
      while (bytes < Math.min(room, TAIL_PIECE_BYTES)) {
        const chunk = await patch.read(Math.min(room, TAIL_PIECE_BYTES) - bytes);
        if (!chunk) break;
        chunks.push(chunk);
        bytes += chunk.byteLength;
      }
      if (bytes === 0) break;
      const piece = await this.#putPiece(state, arraySource(chunks), bytes);
      if (!piece) throw new SourceGone("missing", "a held piece ran dry");
      if (checksum) {
        staged.push(piece);
        stagedBytes += bytes;
      } else {
        await this.#keepPieces(state, [piece]);
        await this.#writeFullParts(state, sealer);
      }
    }
    if (!checksum) return patch.failure;
    const matches = !patch.failure && equalBytes(await patch.sha256(), checksum);
    if (!matches) {
      // nothing of this PATCH counts: the state (and the remainder before it) stand as they were
      if (staged.length) await this.env.BUCKET.delete(staged.map((p) => p.key)).catch(() => undefined);
      return patch.failure ?? refused(460, "checksum_mismatch", "The body's SHA-256 does not match Upload-Checksum.");
    }
    await this.#keepPieces(state, staged);
    await this.#writeFullParts(state, sealer);
    return null;
  }

  /** Reads the first bytes (the stored remainder's, then the body's, which stay to be read) and sniffs them. */
  async #sniff(state: UploadState, patch: PatchBody): Promise<"sniffed" | "short" | "not_audio" | "tail_missing"> {
    const want = Math.min(SNIFF_BYTES, state.length);
    // a remainder kept before the container was known is shorter than the sniff (the sniff runs as soon as it can)
    const stored = await this.#readPieces(state, state.tail);
    if (stored === null) return "tail_missing";
    const ahead = await patch.peek(Math.max(0, want - stored.byteLength));
    if (stored.byteLength + ahead.byteLength < want) return "short";
    state.audio = sniffAudio(concatBytes([stored, ahead]).subarray(0, SNIFF_BYTES));
    return state.audio ? "sniffed" : "not_audio";
  }

  /** The plaintext of a few small pieces, whole (only ever below SNIFF_BYTES); null when one is gone. */
  async #readPieces(state: UploadState, pieces: TailPiece[]): Promise<Uint8Array | null> {
    const chunks: Uint8Array[] = [];
    for (const piece of pieces) {
      const opened = await getSealedStream(this.env, state.tenantId, piece.key);
      if (!opened) return null;
      const bytes = new Uint8Array(await new Response(opened.body).arrayBuffer());
      if (bytes.byteLength !== piece.bytes) return null;
      chunks.push(bytes);
    }
    return concatBytes(chunks);
  }

  /**
   * Writes the next part: the first `pieces` stored remainder pieces, opened as R2 pulls them, then `bodyBytes` of
   * `body`, sealed with the object's sealer. The last part completes the object. False when the body ran dry first
   * (the part is not kept; R2 drops a part whose stream failed).
   */
  async #writePart(
    state: UploadState,
    sealer: ObjectSealer,
    pieces: number,
    body: ByteSource | null,
    bodyBytes: number,
  ): Promise<boolean> {
    const used = state.tail.slice(0, pieces);
    const plainBytes = used.reduce((n, p) => n + p.bytes, 0) + bodyBytes;
    const partStart = state.parts.length * RESUMABLE_PART_BYTES;
    const final = partStart + plainBytes === state.length;
    const key = audioKey(state.tenantId, state.jobId);
    const source = concatSources([
      ...used.map((piece) => () => this.#openPiece(state, piece)),
      ...(body ? [async () => body] : []),
    ]);
    const sealed = sealedStream(sealer, source, plainBytes, final);
    const stream = sealed.stream;
    try {
      if (final && state.parts.length === 0) {
        await this.env.BUCKET.put(key, stream, storedMetadata(state));
      } else {
        if (!state.multipartId) {
          const upload = await this.env.BUCKET.createMultipartUpload(key, storedMetadata(state));
          state.multipartId = upload.uploadId;
          await this.#save(state);
        }
        const upload = this.env.BUCKET.resumeMultipartUpload(key, state.multipartId);
        const part = await upload.uploadPart(state.parts.length + 1, stream);
        state.parts.push(part);
        if (final) await upload.complete(state.parts);
      }
    } catch (error) {
      // the body ran dry (a cut connection, a refused chunk): the part is not kept, the state stands as saved
      if (ranDry(sealed.failure()) && body) return false;
      throw sourceFailure(sealed.failure()) ?? error;
    }
    // the part now holds those pieces' bytes: keep the state coherent after every part, then drop them
    state.tail = state.tail.slice(pieces);
    state.tailBytes -= plainBytes - bodyBytes;
    state.offset = state.parts.length * RESUMABLE_PART_BYTES + state.tailBytes;
    if (final) {
      state.stored = true;
      state.offset = state.length;
    }
    await this.#save(state);
    if (used.length) await this.env.BUCKET.delete(used.map((p) => p.key)).catch(() => undefined);
    return true;
  }

  /** Stores `bytes` of `source` as one more remainder piece (streamed); false when the source ran dry first. */
  async #writePiece(state: UploadState, source: ByteSource, bytes: number): Promise<boolean> {
    if (state.tail.length >= MAX_TAIL_PIECES) await this.#compactTail(state);
    const piece = await this.#putPiece(state, source, bytes);
    if (!piece) return false;
    await this.#keepPieces(state, [piece]);
    return true;
  }

  /**
   * Seals `bytes` of `source` into a new piece object under its own data key, as R2 reads it (the layout putSealed
   * writes). Null when the source ran dry first (R2 stores nothing of a failed put).
   */
  async #putPiece(state: UploadState, source: ByteSource, bytes: number): Promise<TailPiece | null> {
    state.tailGeneration += 1;
    const key = `${tusPrefix(state.tenantId, state.uploadId)}tail-${state.tailGeneration}`;
    const pieceSealer = await objectSealer(this.env, state.tenantId, key);
    const sealed = sealedStream(pieceSealer, source, bytes, true);
    try {
      await this.env.BUCKET.put(key, sealed.stream, {
        httpMetadata: { contentType: "application/octet-stream" },
        customMetadata: { ...pieceSealer.header, ct: "application/octet-stream" },
      });
    } catch (error) {
      if (ranDry(sealed.failure())) return null;
      throw sourceFailure(sealed.failure()) ?? error;
    }
    return { key, bytes };
  }

  async #keepPieces(state: UploadState, pieces: TailPiece[]): Promise<void> {
    if (!pieces.length) return;
    state.tail.push(...pieces);
    state.tailBytes += pieces.reduce((n, p) => n + p.bytes, 0);
    state.offset = state.parts.length * RESUMABLE_PART_BYTES + state.tailBytes;
    await this.#save(state);
  }

  /** Writes every part the stored pieces fill (pieces never straddle a part boundary). */
  async #writeFullParts(state: UploadState, sealer: ObjectSealer): Promise<void> {
    for (;;) {
      const partStart = state.parts.length * RESUMABLE_PART_BYTES;
      const partBytes = Math.min(RESUMABLE_PART_BYTES, state.length - partStart);
      let bytes = 0;
      let pieces = 0;
      while (pieces < state.tail.length && bytes < partBytes) bytes += state.tail[pieces++]!.bytes;
      if (bytes < partBytes || state.stored) return;
      await this.#writePart(state, sealer, pieces, null, 0);
    }
  }

  /** Too many small PATCHes since the last part: the pieces are joined into one (streamed, never held whole). */
  async #compactTail(state: UploadState): Promise<void> {
    const old = state.tail;
    const source = concatSources(old.map((piece) => () => this.#openPiece(state, piece)));
    const piece = await this.#putPiece(state, source, state.tailBytes);
    if (!piece) throw new SourceGone("missing", "a stored remainder piece is short");
    state.tail = [piece];
    await this.#save(state);
    await this.env.BUCKET.delete(old.map((p) => p.key)).catch(() => undefined);
  }

  /** A stored piece's plaintext, exactly its recorded length (SourceGone `missing` when it is gone, short or corrupt). */
  async #openPiece(state: UploadState, piece: TailPiece): Promise<ByteSource> {
    const gone = () => {
      log("tus_tail_missing", { upload_id: state.uploadId });
      return new SourceGone("missing", "a stored remainder piece is gone");
    };
    const opened = await getSealedStream(this.env, state.tenantId, piece.key).catch(() => null);
    if (!opened) throw gone();
    const inner = streamSource(opened.body);
    let left = piece.bytes;
    return {
      async read(max) {
        if (left === 0) return null;
        const chunk = await inner.read(Math.min(max, left)).catch(() => null);
        if (!chunk) throw gone();
        left -= chunk.byteLength;
        return chunk;
      },
    };
  }

  /** Every byte is in R2: the job is created (or, when that fails, on the next HEAD). */
  async #complete(state: UploadState, received: number): Promise<AppendOutcome> {
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
    state.tail = [];
    state.tailBytes = 0;
  }

  /** The object works in the shard and region its upload id names: the tenant's bucket, database and queue. */
  #place(uploadId: string): void {
    this.env = placeById(this.env, uploadId) ?? this.env;
  }

  async #state(): Promise<UploadState | undefined> {
    const state = await this.ctx.storage.get<UploadState & { tailKey?: string | null }>(STATE_KEY);
    if (state) this.#place(state.uploadId);
    if (state && !state.tail) {
      // saved before remainders were kept as pieces: one piece, `tailKey`
      const { tailKey, ...rest } = state;
      return { ...rest, tail: tailKey && state.tailBytes > 0 ? [{ key: tailKey, bytes: state.tailBytes }] : [] };
    }
    return state;
  }

  async #save(state: UploadState): Promise<void> {
    await this.ctx.storage.put(STATE_KEY, state);
  }
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

function tailMissing(): Refusal {
  return refused(410, "upload_terminated", "The upload's stored bytes are gone; start a new one.");
}

function interrupted(): Refusal {
  return refused(400, "body_interrupted", "The request body ended before its declared length.");
}

const ranDry = (failure: unknown) => failure instanceof SourceGone && failure.reason === "ran_dry";

/** What a sealed stream's own source failed with, when that is why R2 failed (a stored piece gone: `missing`). */
function sourceFailure(failure: unknown): unknown {
  return failure instanceof SourceGone ? new SourceGone("missing", failure.message) : failure;
}

/** Where the part holding byte `position` ends. */
function nextPartEnd(position: number, length: number): number {
  return Math.min((Math.floor(position / RESUMABLE_PART_BYTES) + 1) * RESUMABLE_PART_BYTES, length);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
}

/** The upload's Durable Object. */
export function resumableUploadFor(env: Env, uploadId: string): DurableObjectStub<ResumableUpload> {
  return env.RESUMABLE_UPLOADS.get(env.RESUMABLE_UPLOADS.idFromName(uploadId));
}
