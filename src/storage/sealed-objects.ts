/**
 * R2 reads and writes through the tenant's envelope (src/domain/envelope.ts). Objects written before encryption
 * existed carry no envelope header and are read as they are, so enabling encryption needs no migration.
 */
import type { ByteRange } from "../domain/byte-range.ts";
import {
  createOpener,
  createSealer,
  EnvelopeError,
  isEnvelopeHeader,
  type MasterKey,
  type ObjectSealer,
  openBytes,
  openRangeStream,
  openStream,
  parseMasterKeys,
  plainSizeOf,
  sealBytes,
  sealedSpanOf,
  segmentCountOf,
} from "../domain/envelope.ts";
import type { Env } from "../env.ts";
import { StorageError } from "./errors.ts";

let parsedSpec: string | undefined;
let parsedRing: MasterKey[] = [];

/** The master key ring; an upload or read without one fails closed rather than storing plaintext. */
export function masterKeys(env: Env): MasterKey[] {
  if (env.ENCRYPTION_KEYS !== parsedSpec) {
    parsedRing = parseMasterKeys(env.ENCRYPTION_KEYS);
    parsedSpec = env.ENCRYPTION_KEYS;
  }
  if (!parsedRing.length) {
    throw new StorageError(
      "unavailable",
      "encryption_not_configured",
      "Storage encryption is not configured on this deployment.",
    );
  }
  return parsedRing;
}

export function objectSealer(env: Env, tenantId: string, key: string): Promise<ObjectSealer> {
  return createSealer(masterKeys(env), tenantId, key);
}

export async function putSealed(
  env: Env,
  tenantId: string,
  key: string,
  plain: Uint8Array,
  contentType: string,
): Promise<void> {
  const { header, sealed } = await sealBytes(masterKeys(env), tenantId, key, plain);
  await env.BUCKET.put(key, sealed, {
    httpMetadata: { contentType: "application/octet-stream" },
    customMetadata: { ...header, ct: contentType },
  });
}

export async function getSealedBytes(env: Env, tenantId: string, key: string): Promise<Uint8Array | null> {
  const object = await env.BUCKET.get(key);
  if (!object) return null;
  const bytes = new Uint8Array(await object.arrayBuffer());
  if (!isEnvelopeHeader(object.customMetadata)) return bytes;
  return openBytes(masterKeys(env), tenantId, key, object.customMetadata, bytes);
}

export interface OpenedObject {
  /** plaintext stream; errors if the stored bytes were tampered with */
  body: ReadableStream<Uint8Array>;
  contentType: string;
}

export async function getSealedStream(env: Env, tenantId: string, key: string): Promise<OpenedObject | null> {
  const object = await env.BUCKET.get(key);
  if (!object) return null;
  const meta = object.customMetadata;
  if (!isEnvelopeHeader(meta)) {
    return { body: object.body, contentType: object.httpMetadata?.contentType ?? "application/octet-stream" };
  }
  const opener = await createOpener(masterKeys(env), tenantId, key, meta).catch(async (error: unknown) => {
    await object.body.cancel().catch(() => undefined);
    throw error;
  });
  return { body: openStream(opener, object.body), contentType: meta.ct ?? "application/octet-stream" };
}

/** An object's plaintext size and type, read from its metadata alone (nothing is fetched or opened). */
export interface SealedObjectInfo {
  size: number;
  contentType: string;
}

export async function headSealed(env: Env, key: string): Promise<SealedObjectInfo | null> {
  const head = await env.BUCKET.head(key);
  if (!head) return null;
  const meta = head.customMetadata;
  if (!isEnvelopeHeader(meta)) {
    return { size: head.size, contentType: head.httpMetadata?.contentType ?? "application/octet-stream" };
  }
  return { size: plainSizeOf(head.size), contentType: meta.ct ?? "application/octet-stream" };
}

/**
 * Plaintext bytes [range.start, range.end] of an object: only the sealed segments holding them are fetched from R2
 * (a ranged get), and they are opened one at a time as the stream is read. Null when the object is gone.
 */
export async function getSealedRange(
  env: Env,
  tenantId: string,
  key: string,
  range: ByteRange,
): Promise<ReadableStream<Uint8Array> | null> {
  const head = await env.BUCKET.head(key);
  if (!head) return null;
  const meta = head.customMetadata;
  const wanted = range.end - range.start + 1;
  if (!isEnvelopeHeader(meta)) {
    const object = await env.BUCKET.get(key, { range: { offset: range.start, length: wanted } });
    return object?.body ?? null;
  }
  const span = sealedSpanOf(range.start, range.end, head.size);
  const opener = await createOpener(masterKeys(env), tenantId, key, meta);
  // the same version of the object the header came from (a key rotation rewrites the header)
  const object = await env.BUCKET.get(key, {
    range: { offset: span.offset, length: span.length },
    onlyIf: { etagMatches: head.etag },
  });
  if (!object || !("body" in object)) return null;
  return openRangeStream(opener, object.body, span, wanted, segmentCountOf(head.size));
}

/** The first `length` plaintext bytes (at most one segment is fetched and opened), or null when the object is gone. */
export async function getSealedPrefix(
  env: Env,
  tenantId: string,
  key: string,
  length: number,
): Promise<Uint8Array | null> {
  const opened = await getSealedStream(env, tenantId, key);
  if (!opened) return null;
  const reader = opened.body.getReader();
  const chunks: Uint8Array[] = [];
  let have = 0;
  try {
    while (have < length) {
      const next = await reader.read();
      if (next.done) break;
      chunks.push(next.value);
      have += next.value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const out = new Uint8Array(Math.min(have, length));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk.subarray(0, out.byteLength - at), at);
    at += Math.min(chunk.byteLength, out.byteLength - at);
    if (at >= out.byteLength) break;
  }
  return out;
}

export { EnvelopeError };
