/**
 * HMAC request signing shared by the edge Worker and the Whisper pool (see docs/pool-contract.md).
 * Pure WebCrypto: runs unchanged in workerd and in Node ≥ 20.
 */

export const SIGNATURE_HEADER = "x-vtt-signature";
export const TIMESTAMP_HEADER = "x-vtt-timestamp";
export const KEY_ID_HEADER = "x-vtt-key-id";
export const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;

/** A named shared secret; the first key of a ring signs, every key verifies. */
export interface SigningKey {
  id: string;
  secret: string;
}

export type VerifyFailure = "missing_signature" | "unknown_key" | "stale_signature" | "invalid_signature";
export type VerifyOutcome = { ok: true; keyId: string } | { ok: false; reason: VerifyFailure };

const encoder = new TextEncoder();

/** Parses `kid:secret,kid2:secret2` (whitespace tolerated). Entries without a colon are rejected. */
export function parseKeyRing(spec: string | undefined): SigningKey[] {
  if (!spec) return [];
  return spec
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const colon = entry.indexOf(":");
      if (colon <= 0 || colon === entry.length - 1) throw new Error("key ring entries must look like kid:secret");
      return { id: entry.slice(0, colon), secret: entry.slice(colon + 1) };
    });
}

async function hmacKey(secret: string | Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  const raw = typeof secret === "string" ? encoder.encode(secret) : secret;
  return crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
}

/** HMAC-SHA256 of `message` as raw bytes. */
export async function hmacSha256(
  secret: string | Uint8Array<ArrayBuffer>,
  message: string | Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  const data = typeof message === "string" ? encoder.encode(message) : message;
  return new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), data));
}

export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** Length-independent comparison so a signature check leaks no timing about where strings differ. */
export function timingSafeEqual(a: string, b: string): boolean {
  const len = Math.max(a.length, b.length);
  let diff = a.length ^ b.length;
  for (let i = 0; i < len; i++) diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  return diff === 0;
}

export async function signPayload(secret: string, timestamp: number, body: string): Promise<string> {
  return `v1=${toHex(await hmacSha256(secret, `${timestamp}.${body}`))}`;
}

/** Headers for a signed request with the first key of the ring. */
export async function signedHeaders(
  ring: SigningKey[],
  body: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<Record<string, string>> {
  const key = ring[0];
  if (!key) throw new Error("no signing key configured");
  return {
    [KEY_ID_HEADER]: key.id,
    [TIMESTAMP_HEADER]: String(nowSeconds),
    [SIGNATURE_HEADER]: await signPayload(key.secret, nowSeconds, body),
  };
}

export interface VerifyOptions {
  nowSeconds?: number;
  toleranceSeconds?: number;
}

/** Verifies a signed request's headers against the raw body and a key ring. */
export async function verifySignedRequest(
  ring: SigningKey[],
  headers: { get(name: string): string | null },
  body: string,
  options: VerifyOptions = {},
): Promise<VerifyOutcome> {
  const keyId = headers.get(KEY_ID_HEADER);
  const timestampText = headers.get(TIMESTAMP_HEADER);
  const signature = headers.get(SIGNATURE_HEADER);
  if (!keyId || !timestampText || !signature) return { ok: false, reason: "missing_signature" };
  const key = ring.find((k) => k.id === keyId);
  if (!key) return { ok: false, reason: "unknown_key" };
  if (!/^\d{1,12}$/.test(timestampText)) return { ok: false, reason: "stale_signature" };
  const timestamp = Number(timestampText);
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const tolerance = options.toleranceSeconds ?? DEFAULT_SIGNATURE_TOLERANCE_SECONDS;
  if (Math.abs(now - timestamp) > tolerance) return { ok: false, reason: "stale_signature" };
  const expected = await signPayload(key.secret, timestamp, body);
  if (!timingSafeEqual(expected, signature)) return { ok: false, reason: "invalid_signature" };
  return { ok: true, keyId };
}

/** Signature for a per-job audio URL: binds the job id and expiry so the URL reads one object until `exp`. */
export async function signAudioUrl(secret: string, jobId: string, exp: number): Promise<string> {
  return toHex(await hmacSha256(secret, `audio.${jobId}.${exp}`));
}

/**
 * Signature for a redaction upload URL (`PUT /internal/redactions/{job_id}/{result_id}`): binds the job, the result
 * the copy belongs to and the expiry, signed with the same `AUDIO_URL_KEYS` as audio URLs but over another prefix,
 * so an audio URL's signature never passes for an upload's.
 */
export async function signRedactionUpload(
  secret: string,
  jobId: string,
  resultId: string,
  exp: number,
): Promise<string> {
  return toHex(await hmacSha256(secret, `redacted.${jobId}.${resultId}.${exp}`));
}
