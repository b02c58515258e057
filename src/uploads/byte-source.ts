/**
 * Pull-based byte sources for the tus upload path (src/uploads/resumable-upload.ts): a PATCH body read with the tus
 * checks applied chunk by chunk, stored remainders opened as streams, and the sealed stream R2 reads a part from.
 * Nothing here buffers more than the chunk it is handing on and the one 64 KiB segment being sealed: bytes go from
 * the request to R2 as R2 pulls them.
 */
import { type ObjectSealer, sealedSize, SEGMENT_BYTES } from "../domain/envelope.ts";

/** Hands out bytes in order: at most `max` at a time (never an empty chunk), null once it has none left or max ≤ 0. */
export interface ByteSource {
  read(max: number): Promise<Uint8Array | null>;
}

/** Why a PATCH body stopped early (the tus answer it gets). */
export interface BodyRefusal {
  status: number;
  code: string;
  message: string;
}

export interface PatchBodyOptions {
  /** the upload's offset when the PATCH began, and its Upload-Length */
  start: number;
  length: number;
  /** the most bytes this PATCH may carry */
  limit: number;
  /** hash the bytes as they are read (Upload-Checksum) */
  digest: boolean;
}

/**
 * A PATCH body as a ByteSource: refuses at the network chunk that passes `Upload-Length` or the PATCH limit, turns a
 * cut connection into `body_interrupted`, and feeds the digest. `failure` says why it stopped early (null: it ended).
 */
export class PatchBody implements ByteSource {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array> | null;
  readonly #options: PatchBodyOptions;
  readonly #digest: DigestStream | null;
  readonly #digestWriter: WritableStreamDefaultWriter<ArrayBuffer | ArrayBufferView> | null;
  /** bytes read off the network but not handed out yet */
  #carry: Uint8Array | null = null;
  #ended = false;
  /** bytes read off the network */
  received = 0;
  /** bytes handed out */
  consumed = 0;
  failure: BodyRefusal | null = null;

  constructor(body: ReadableStream<Uint8Array> | null, options: PatchBodyOptions) {
    this.#reader = body?.getReader() ?? null;
    this.#options = options;
    this.#digest = options.digest ? new crypto.DigestStream("SHA-256") : null;
    this.#digestWriter = this.#digest?.getWriter() ?? null;
  }

  /** The body ended or was refused: nothing more will come. */
  get finished(): boolean {
    return this.#ended && this.#carry === null;
  }

  async read(max: number): Promise<Uint8Array | null> {
    if (max <= 0) return null;
    if (!this.#carry) this.#carry = await this.#next();
    const chunk = this.#carry;
    if (!chunk) return null;
    const out = chunk.byteLength > max ? chunk.subarray(0, max) : chunk;
    this.#carry = chunk.byteLength > max ? chunk.subarray(max) : null;
    this.consumed += out.byteLength;
    return out;
  }

  /** Reads ahead until `bytes` are waiting (or the body ends) and returns copies of them, still to be read. */
  async peek(bytes: number): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    let have = this.#carry?.byteLength ?? 0;
    if (this.#carry) chunks.push(this.#carry);
    while (have < bytes) {
      const next = await this.#next();
      if (!next) break;
      chunks.push(next);
      have += next.byteLength;
    }
    const joined = new Uint8Array(have);
    let at = 0;
    for (const chunk of chunks) {
      joined.set(chunk, at);
      at += chunk.byteLength;
    }
    this.#carry = have ? joined : null;
    return joined.slice(0, Math.min(bytes, have));
  }

  /** Stops reading (a refusal, or the bytes are not wanted). */
  async cancel(): Promise<void> {
    this.#ended = true;
    this.#carry = null;
    await this.#reader?.cancel().catch(() => undefined);
  }

  /** The SHA-256 of every byte read (Upload-Checksum); only when constructed with `digest`. */
  async sha256(): Promise<Uint8Array> {
    await this.#digestWriter!.close();
    return new Uint8Array(await this.#digest!.digest);
  }

  async #next(): Promise<Uint8Array | null> {
    while (!this.#ended && this.#reader) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await this.#reader.read();
      } catch {
        // the connection was cut (or the body failed): what was handed out so far stands
        return this.#stop({
          status: 400,
          code: "body_interrupted",
          message: "The request body ended before its declared length.",
        });
      }
      if (next.done) {
        this.#ended = true;
        return null;
      }
      const value = next.value;
      if (!value?.byteLength) continue;
      const { start, length, limit } = this.#options;
      if (start + this.received + value.byteLength > length) {
        return this.#stop({
          status: 413,
          code: "exceeds_upload_length",
          message: `The body passes Upload-Length (${length} bytes).`,
        });
      }
      if (this.received + value.byteLength > limit) {
        return this.#stop({
          status: 413,
          code: "chunk_too_large",
          message: `One PATCH may carry at most ${limit} bytes.`,
        });
      }
      this.received += value.byteLength;
      if (this.#digestWriter) await this.#digestWriter.write(value);
      return value;
    }
    return null;
  }

  async #stop(refusal: BodyRefusal): Promise<null> {
    this.failure = refusal;
    await this.cancel();
    return null;
  }
}

/** At most `bytes` of `source`. */
export function limitedSource(source: ByteSource, bytes: number): ByteSource {
  let left = bytes;
  return {
    async read(max) {
      if (left <= 0 || max <= 0) return null;
      const chunk = await source.read(Math.min(max, left));
      if (chunk) left -= chunk.byteLength;
      return chunk;
    },
  };
}

/** The sources one after the other; each is created when the one before it runs dry. */
export function concatSources(sources: (() => Promise<ByteSource>)[]): ByteSource {
  let current: ByteSource | null = null;
  let at = 0;
  return {
    async read(max) {
      for (;;) {
        if (!current) {
          if (at >= sources.length) return null;
          current = await sources[at++]!();
        }
        const chunk = await current.read(max);
        if (chunk) return chunk;
        current = null;
      }
    },
  };
}

/** A stream's bytes as a ByteSource (a stored remainder, opened through its envelope). */
export function streamSource(stream: ReadableStream<Uint8Array>): ByteSource {
  const reader = stream.getReader();
  let carry: Uint8Array | null = null;
  return {
    async read(max) {
      if (max <= 0) return null;
      while (!carry) {
        const next = await reader.read();
        if (next.done) return null;
        if (next.value?.byteLength) carry = next.value;
      }
      const out = carry.byteLength > max ? carry.subarray(0, max) : carry;
      carry = carry.byteLength > max ? carry.subarray(max) : null;
      return out;
    },
  };
}

/** Why a sealed stream stopped: its source ran dry (`ran_dry`) or a stored piece was gone or unreadable (`missing`). */
export class SourceGone extends Error {
  constructor(
    readonly reason: "ran_dry" | "missing",
    message: string,
  ) {
    super(message);
    this.name = "SourceGone";
  }
}

/** A queue of chunks as a ByteSource (a remainder piece held until it is full). */
export function arraySource(chunks: Uint8Array[]): ByteSource {
  let at = 0;
  let carry: Uint8Array | null = null;
  return {
    async read(max) {
      if (max <= 0) return null;
      carry ??= chunks[at++] ?? null;
      if (!carry) return null;
      const out = carry.byteLength > max ? carry.subarray(0, max) : carry;
      carry = carry.byteLength > max ? carry.subarray(max) : null;
      if (!carry) chunks[at - 1] = new Uint8Array(0);
      return out;
    },
  };
}

/** A sealed stream and, once it failed, what its source failed with (R2 may report the failure its own way). */
export interface SealedStream {
  stream: ReadableStream<Uint8Array>;
  failure(): unknown;
}

/**
 * Exactly `plainBytes` of `source`, sealed one 64 KiB segment at a time as the reader pulls (so R2 reading a part
 * pulls the request body through), through a FixedLengthStream so R2 knows the length. `final`: its last segment is
 * the object's last. Errors with SourceGone `ran_dry` if the source ends first.
 */
export function sealedStream(
  sealer: ObjectSealer,
  source: ByteSource,
  plainBytes: number,
  final: boolean,
): SealedStream {
  let left = plainBytes;
  let started = false;
  let failure: unknown = null;
  const segment = new Uint8Array(SEGMENT_BYTES);
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          // an empty final part is still one (empty) sealed segment
          if (left === 0 && started) return controller.close();
          started = true;
          const size = Math.min(SEGMENT_BYTES, left);
          let filled = 0;
          while (filled < size) {
            const chunk = await source.read(size - filled);
            if (!chunk) throw new SourceGone("ran_dry", "the bytes ended before the part was full");
            segment.set(chunk, filled);
            filled += chunk.byteLength;
          }
          left -= size;
          // sealPart copies the segment before its first await, so the buffer is free again when it returns
          controller.enqueue(await sealer.sealPart(segment.subarray(0, size), final && left === 0));
        } catch (error) {
          failure = error;
          throw error;
        }
      },
    },
    { highWaterMark: 0 },
  );
  return { stream: stream.pipeThrough(new FixedLengthStream(sealedSize(plainBytes))), failure: () => failure };
}
