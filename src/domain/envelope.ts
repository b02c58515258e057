/**
 * Envelope encryption for everything the service keeps at rest (docs/security.md).
 *
 * - A master key ring (`ENCRYPTION_KEYS`, `version:secret,…`, the first encrypts, all decrypt) never touches data.
 * - Each tenant gets a key-encryption key: HKDF-SHA256(master secret, salt, info = tenant id) → AES-256-GCM.
 * - Each object gets a random 256-bit data key, wrapped with the tenant key (AAD = the object's storage key, so a
 *   wrapped key copied onto another object or tenant does not open). The wrapped key, the master version and a
 *   nonce prefix travel in the object's metadata; rotating the master only means adding a version in front.
 * - Objects are sealed in 64 KiB segments (the STREAM construction): nonce = prefix ‖ segment index ‖ last flag,
 *   so a stream can be encrypted and decrypted without holding it whole, and reordered, dropped or truncated
 *   segments fail authentication.
 *
 * Pure WebCrypto: no bindings, runs in workerd and Node.
 */
import { parseKeyRing } from "@vtt/pool-contract";

import { concatBytes, takeBytes } from "../lib/bytes.ts";

export const ENVELOPE_SCHEME = "a256gcm-stream-1";
export const SEGMENT_BYTES = 64 * 1024;
const TAG_BYTES = 16;
const SEALED_SEGMENT_BYTES = SEGMENT_BYTES + TAG_BYTES;
const NONCE_PREFIX_BYTES = 7;
const MIN_MASTER_SECRET_CHARS = 32;
const FIELD_PREFIX = "enc1";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class EnvelopeError extends Error {
  constructor(
    readonly reason: "no_master_key" | "unknown_key_version" | "corrupt" | "malformed_key_ring",
    message: string,
  ) {
    super(message);
    this.name = "EnvelopeError";
  }
}

export interface MasterKey {
  version: string;
  secret: string;
}

/** `version:secret,…`; versions are `[A-Za-z0-9_-]`, secrets at least 32 characters (e.g. `openssl rand -base64 32`). */
export function parseMasterKeys(spec: string | undefined): MasterKey[] {
  let ring;
  try {
    ring = parseKeyRing(spec);
  } catch {
    throw new EnvelopeError("malformed_key_ring", "ENCRYPTION_KEYS entries must look like version:secret.");
  }
  for (const key of ring) {
    if (!/^[A-Za-z0-9_-]{1,16}$/.test(key.id) || key.secret.length < MIN_MASTER_SECRET_CHARS) {
      throw new EnvelopeError(
        "malformed_key_ring",
        `ENCRYPTION_KEYS entry "${key.id.slice(0, 16)}" needs a short version and a secret of ≥ ${MIN_MASTER_SECRET_CHARS} characters.`,
      );
    }
  }
  return ring.map((k) => ({ version: k.id, secret: k.secret }));
}

/** The metadata stored beside a sealed object (R2 customMetadata). */
export interface EnvelopeHeader {
  enc: typeof ENVELOPE_SCHEME;
  /** master key version the data key was wrapped under */
  kv: string;
  /** base64(nonce ‖ AES-GCM(tenant key, data key)) */
  dek: string;
  /** base64 nonce prefix of the segments */
  np: string;
}

export function isEnvelopeHeader(
  meta: Record<string, string> | undefined,
): meta is Record<string, string> & EnvelopeHeader {
  return (
    !!meta &&
    meta.enc === ENVELOPE_SCHEME &&
    typeof meta.kv === "string" &&
    typeof meta.dek === "string" &&
    typeof meta.np === "string"
  );
}

const kekCache = new Map<string, Promise<CryptoKey>>();

function tenantKey(master: MasterKey, tenantId: string): Promise<CryptoKey> {
  const cacheKey = `${master.version}\u0000${master.secret}\u0000${tenantId}`;
  let key = kekCache.get(cacheKey);
  if (!key) {
    key = (async () => {
      const ikm = await crypto.subtle.importKey("raw", encoder.encode(master.secret), "HKDF", false, ["deriveKey"]);
      return crypto.subtle.deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: encoder.encode("vtt/tenant-key/v1"), info: encoder.encode(tenantId) },
        ikm,
        { name: "AES-GCM", length: 256 },
        false,
        ["encrypt", "decrypt"],
      );
    })();
    if (kekCache.size > 1000) kekCache.clear();
    kekCache.set(cacheKey, key);
  }
  return key;
}

function masterFor(ring: MasterKey[], version?: string): MasterKey {
  if (!ring.length) throw new EnvelopeError("no_master_key", "ENCRYPTION_KEYS is not configured.");
  if (version === undefined) return ring[0]!;
  const key = ring.find((k) => k.version === version);
  if (!key) throw new EnvelopeError("unknown_key_version", `No master key of version "${version}" is configured.`);
  return key;
}

const b64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes));
function unb64(text: string): Uint8Array<ArrayBuffer> {
  try {
    return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
  } catch {
    throw new EnvelopeError("corrupt", "The envelope is not valid base64.");
  }
}

async function gcm(
  op: "encrypt" | "decrypt",
  key: CryptoKey,
  iv: Uint8Array,
  data: Uint8Array,
  aad?: Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
  const params = {
    name: "AES-GCM",
    iv: iv as Uint8Array<ArrayBuffer>,
    ...(aad ? { additionalData: aad as Uint8Array<ArrayBuffer> } : {}),
  };
  const bytes = data as Uint8Array<ArrayBuffer>;
  try {
    return new Uint8Array(
      op === "encrypt"
        ? await crypto.subtle.encrypt(params, key, bytes)
        : await crypto.subtle.decrypt(params, key, bytes),
    );
  } catch {
    throw new EnvelopeError("corrupt", "Decryption failed: wrong key or tampered data.");
  }
}

function segmentNonce(prefix: Uint8Array, index: number, last: boolean): Uint8Array<ArrayBuffer> {
  const nonce = new Uint8Array(12);
  nonce.set(prefix, 0);
  new DataView(nonce.buffer).setUint32(NONCE_PREFIX_BYTES, index);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/** Seals one object. Feed it the plaintext in order; every part but the last must be a multiple of SEGMENT_BYTES. */
export interface ObjectSealer {
  header: EnvelopeHeader;
  sealPart(plain: Uint8Array, final: boolean): Promise<Uint8Array<ArrayBuffer>>;
}

export async function createSealer(ring: MasterKey[], tenantId: string, objectKey: string): Promise<ObjectSealer> {
  const master = masterFor(ring);
  const rawDataKey = crypto.getRandomValues(new Uint8Array(32));
  const wrapNonce = crypto.getRandomValues(new Uint8Array(12));
  const wrapped = await gcm(
    "encrypt",
    await tenantKey(master, tenantId),
    wrapNonce,
    rawDataKey,
    encoder.encode(objectKey),
  );
  const dataKey = await crypto.subtle.importKey("raw", rawDataKey, "AES-GCM", false, ["encrypt"]);
  const prefix = crypto.getRandomValues(new Uint8Array(NONCE_PREFIX_BYTES));
  const header: EnvelopeHeader = {
    enc: ENVELOPE_SCHEME,
    kv: master.version,
    dek: b64(new Uint8Array([...wrapNonce, ...wrapped])),
    np: b64(prefix),
  };
  return sealerOf(header, dataKey, prefix, 0);
}

/**
 * Continues sealing an object begun by {@link createSealer} in an earlier request (a resumable upload): the data key
 * is unwrapped from `header` and sealing goes on at segment `nextSegment`. The caller must never seal the same
 * segment index twice with different bytes (AES-GCM nonce reuse): it resumes only after the last part it kept.
 */
export async function resumeSealer(
  ring: MasterKey[],
  tenantId: string,
  objectKey: string,
  header: EnvelopeHeader,
  nextSegment: number,
): Promise<ObjectSealer> {
  const { rawDataKey, prefix } = await unwrapDataKey(ring, tenantId, objectKey, header);
  const dataKey = await crypto.subtle.importKey("raw", rawDataKey, "AES-GCM", false, ["encrypt"]);
  return sealerOf(header, dataKey, prefix, nextSegment);
}

function sealerOf(header: EnvelopeHeader, dataKey: CryptoKey, prefix: Uint8Array, firstSegment: number): ObjectSealer {
  let index = firstSegment;
  let finished = false;
  return {
    header,
    async sealPart(plain, final) {
      if (finished) throw new Error("the object is already sealed");
      if (!final && (plain.byteLength === 0 || plain.byteLength % SEGMENT_BYTES !== 0)) {
        throw new Error("non-final parts must be a positive multiple of SEGMENT_BYTES");
      }
      const segments = Math.max(1, Math.ceil(plain.byteLength / SEGMENT_BYTES));
      // one segment (what the upload and fetch paths seal): WebCrypto's output is the sealed part, no further copy
      if (segments === 1) {
        const sealed = await gcm("encrypt", dataKey, segmentNonce(prefix, index++, final), plain);
        finished = final;
        return sealed;
      }
      const out = new Uint8Array(plain.byteLength + segments * TAG_BYTES);
      for (let s = 0; s < segments; s++) {
        // a view: WebCrypto copies its input anyway
        const chunk = plain.subarray(s * SEGMENT_BYTES, (s + 1) * SEGMENT_BYTES);
        const sealed = await gcm("encrypt", dataKey, segmentNonce(prefix, index++, final && s === segments - 1), chunk);
        out.set(sealed, s * SEALED_SEGMENT_BYTES);
      }
      finished = final;
      return out;
    },
  };
}

async function unwrapDataKey(
  ring: MasterKey[],
  tenantId: string,
  objectKey: string,
  header: EnvelopeHeader,
): Promise<{ rawDataKey: Uint8Array<ArrayBuffer>; prefix: Uint8Array<ArrayBuffer> }> {
  const master = masterFor(ring, header.kv);
  const wrapped = unb64(header.dek);
  const prefix = unb64(header.np);
  if (wrapped.byteLength !== 12 + 32 + TAG_BYTES || prefix.byteLength !== NONCE_PREFIX_BYTES) {
    throw new EnvelopeError("corrupt", "The envelope header is malformed.");
  }
  const rawDataKey = await gcm(
    "decrypt",
    await tenantKey(master, tenantId),
    wrapped.slice(0, 12),
    wrapped.slice(12),
    encoder.encode(objectKey),
  );
  return { rawDataKey, prefix };
}

/**
 * Re-wraps an object's data key under the newest master version (after a rotation). The segments are untouched:
 * only the header changes, so the object's body can be copied as it is.
 */
export async function rewrapHeader(
  ring: MasterKey[],
  tenantId: string,
  objectKey: string,
  header: EnvelopeHeader,
): Promise<EnvelopeHeader> {
  const current = masterFor(ring);
  if (header.kv === current.version) return header;
  const wrapped = unb64(header.dek);
  if (wrapped.byteLength !== 12 + 32 + TAG_BYTES)
    throw new EnvelopeError("corrupt", "The envelope header is malformed.");
  const aad = encoder.encode(objectKey);
  const rawDataKey = await gcm(
    "decrypt",
    await tenantKey(masterFor(ring, header.kv), tenantId),
    wrapped.slice(0, 12),
    wrapped.slice(12),
    aad,
  );
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const rewrapped = await gcm("encrypt", await tenantKey(current, tenantId), nonce, rawDataKey, aad);
  return { ...header, kv: current.version, dek: b64(new Uint8Array([...nonce, ...rewrapped])) };
}

/** The master version a sealed field was written under, or null for a plain (pre-encryption) value. */
export function sealedFieldVersion(value: string): string | null {
  return isSealedField(value) ? (value.split(".")[1] ?? null) : null;
}

/** Size of the sealed form of `plainBytes` bytes. */
export function sealedSize(plainBytes: number): number {
  return plainBytes + Math.max(1, Math.ceil(plainBytes / SEGMENT_BYTES)) * TAG_BYTES;
}

/** Opens a sealed object's segments; `openSegment` needs to know which one is last (truncation defence). */
export interface ObjectOpener {
  openSegment(sealed: Uint8Array, index: number, last: boolean): Promise<Uint8Array<ArrayBuffer>>;
}

export async function createOpener(
  ring: MasterKey[],
  tenantId: string,
  objectKey: string,
  header: EnvelopeHeader,
): Promise<ObjectOpener> {
  const { rawDataKey, prefix } = await unwrapDataKey(ring, tenantId, objectKey, header);
  const dataKey = await crypto.subtle.importKey("raw", rawDataKey, "AES-GCM", false, ["decrypt"]);
  return {
    openSegment: (sealed, index, last) => gcm("decrypt", dataKey, segmentNonce(prefix, index, last), sealed),
  };
}

/**
 * Decrypts a sealed byte stream segment by segment. Holds at most two segments; a stream that ends early or was
 * tampered with errors instead of yielding unauthenticated bytes.
 */
export function openStream(opener: ObjectOpener, sealed: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = sealed.getReader();
  const chunks: Uint8Array[] = [];
  let buffered = 0;
  let index = 0;
  let done = false;
  const take = (size: number): Uint8Array => {
    buffered -= size;
    return takeBytes(chunks, size);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        // wait for more than one segment, so the one emitted is known not to be the last
        while (!done && buffered <= SEALED_SEGMENT_BYTES) {
          const next = await reader.read();
          if (next.done) done = true;
          else if (next.value?.byteLength) {
            chunks.push(next.value);
            buffered += next.value.byteLength;
          }
        }
        if (buffered > SEALED_SEGMENT_BYTES) {
          controller.enqueue(await opener.openSegment(take(SEALED_SEGMENT_BYTES), index++, false));
          return;
        }
        if (buffered < TAG_BYTES) throw new EnvelopeError("corrupt", "The sealed object is truncated.");
        const plain = await opener.openSegment(take(buffered), index++, true);
        if (plain.byteLength) controller.enqueue(plain);
        controller.close();
      } catch (error) {
        await reader.cancel().catch(() => undefined);
        controller.error(error);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** Seals a whole small value (a transcript document) as a single-part object. */
export async function sealBytes(
  ring: MasterKey[],
  tenantId: string,
  objectKey: string,
  plain: Uint8Array,
): Promise<{ header: EnvelopeHeader; sealed: Uint8Array<ArrayBuffer> }> {
  const sealer = await createSealer(ring, tenantId, objectKey);
  const parts: Uint8Array[] = [];
  let offset = 0;
  // every non-final part is a whole number of segments
  while (plain.byteLength - offset > SEGMENT_BYTES) {
    parts.push(await sealer.sealPart(plain.subarray(offset, offset + SEGMENT_BYTES), false));
    offset += SEGMENT_BYTES;
  }
  parts.push(await sealer.sealPart(plain.subarray(offset), true));
  return { header: sealer.header, sealed: concatBytes(parts) };
}

export async function openBytes(
  ring: MasterKey[],
  tenantId: string,
  objectKey: string,
  header: EnvelopeHeader,
  sealed: Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
  const opener = await createOpener(ring, tenantId, objectKey, header);
  const segments = Math.max(1, Math.ceil(sealed.byteLength / SEALED_SEGMENT_BYTES));
  const out: Uint8Array[] = [];
  for (let s = 0; s < segments; s++) {
    out.push(
      await opener.openSegment(
        sealed.slice(s * SEALED_SEGMENT_BYTES, (s + 1) * SEALED_SEGMENT_BYTES),
        s,
        s === segments - 1,
      ),
    );
  }
  return concatBytes(out);
}

/**
 * Seals a short text field (a D1 column) with the tenant key directly: `enc1.<version>.<base64(nonce ‖ ciphertext)>`.
 * `context` (e.g. the job id) is bound as AAD so a value copied into another row does not open.
 */
export async function sealField(ring: MasterKey[], tenantId: string, context: string, text: string): Promise<string> {
  const master = masterFor(ring);
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await gcm(
    "encrypt",
    await tenantKey(master, tenantId),
    nonce,
    encoder.encode(text),
    encoder.encode(context),
  );
  return `${FIELD_PREFIX}.${master.version}.${b64(new Uint8Array([...nonce, ...sealed]))}`;
}

export const isSealedField = (value: string): boolean => value.startsWith(`${FIELD_PREFIX}.`);

/** Opens a sealed field; a value written before encryption existed is returned as it is. */
export async function openField(ring: MasterKey[], tenantId: string, context: string, value: string): Promise<string> {
  if (!isSealedField(value)) return value;
  const [, version, payload] = value.split(".");
  if (!version || !payload) throw new EnvelopeError("corrupt", "The sealed field is malformed.");
  const bytes = unb64(payload);
  if (bytes.byteLength < 12 + TAG_BYTES) throw new EnvelopeError("corrupt", "The sealed field is truncated.");
  const plain = await gcm(
    "decrypt",
    await tenantKey(masterFor(ring, version), tenantId),
    bytes.slice(0, 12),
    bytes.slice(12),
    encoder.encode(context),
  );
  return decoder.decode(plain);
}

/** How many segments a sealed object of `sealedBytes` bytes holds. */
export const segmentCountOf = (sealedBytes: number): number =>
  Math.max(1, Math.ceil(sealedBytes / SEALED_SEGMENT_BYTES));

/** Plaintext size of a sealed object of `sealedBytes` bytes (the inverse of sealedSize). */
export function plainSizeOf(sealedBytes: number): number {
  return Math.max(0, sealedBytes - segmentCountOf(sealedBytes) * TAG_BYTES);
}

/** The sealed segments that hold plaintext bytes [start, end] (inclusive), as a byte span of the sealed object. */
export interface SealedSpan {
  firstSegment: number;
  lastSegment: number;
  /** offset and length of those segments in the sealed object */
  offset: number;
  length: number;
  /** plaintext bytes to skip at the start of the first segment */
  skip: number;
}

export function sealedSpanOf(start: number, end: number, sealedBytes: number): SealedSpan {
  const firstSegment = Math.floor(start / SEGMENT_BYTES);
  const lastSegment = Math.floor(end / SEGMENT_BYTES);
  const offset = firstSegment * SEALED_SEGMENT_BYTES;
  const length = Math.min(sealedBytes, (lastSegment + 1) * SEALED_SEGMENT_BYTES) - offset;
  return { firstSegment, lastSegment, offset, length, skip: start - firstSegment * SEGMENT_BYTES };
}

/**
 * Decrypts plaintext bytes [start, end] (inclusive) from `sealed`, the span `sealedSpanOf` named, segment by
 * segment: holds one segment at a time, so a range of a large recording is served without decrypting the object
 * whole. `totalSegments` tells which segment is the object's last (sealed with the last flag).
 */
export function openRangeStream(
  opener: ObjectOpener,
  sealed: ReadableStream<Uint8Array>,
  span: SealedSpan,
  wanted: number,
  totalSegments: number,
): ReadableStream<Uint8Array> {
  const reader = sealed.getReader();
  const chunks: Uint8Array[] = [];
  let buffered = 0;
  let index = span.firstSegment;
  let skip = span.skip;
  let left = wanted;
  let done = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const last = index === totalSegments - 1;
        while (!done && buffered < SEALED_SEGMENT_BYTES) {
          const next = await reader.read();
          if (next.done) done = true;
          else if (next.value?.byteLength) {
            chunks.push(next.value);
            buffered += next.value.byteLength;
          }
        }
        const size = Math.min(buffered, SEALED_SEGMENT_BYTES);
        if (size < TAG_BYTES || (!last && size < SEALED_SEGMENT_BYTES)) {
          throw new EnvelopeError("corrupt", "The sealed object is truncated.");
        }
        buffered -= size;
        const plain = await opener.openSegment(takeBytes(chunks, size), index++, last);
        const piece = plain.subarray(skip, Math.min(plain.byteLength, skip + left));
        skip = 0;
        left -= piece.byteLength;
        if (piece.byteLength) controller.enqueue(piece);
        if (left <= 0 || last || index > span.lastSegment) {
          await reader.cancel().catch(() => undefined);
          controller.close();
        }
      } catch (error) {
        await reader.cancel().catch(() => undefined);
        controller.error(error);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
