/**
 * Standard Webhooks signing (https://www.standardwebhooks.com, symmetric scheme `v1`).
 *
 * Signed content is `${id}.${timestamp}.${body}`; each signature is `v1,` + base64(HMAC-SHA256(key, content)) and the
 * `webhook-signature` header lists one per active secret, space-separated, so receivers keep verifying while a
 * secret is rotated. Secrets are `whsec_` + base64 of 24–64 random bytes; the HMAC key is the decoded bytes.
 * WebCrypto only: runs unchanged in workerd and Node.
 */
import { ulid } from "../lib/ids.ts";

export const WEBHOOK_SECRET_PREFIX = "whsec_";
/** Bytes of randomness in a generated secret (the spec asks for 24–64). */
export const WEBHOOK_SECRET_BYTES = 32;
export const WEBHOOK_SECRET_MIN_BYTES = 24;
export const WEBHOOK_SECRET_MAX_BYTES = 64;
export const WEBHOOK_EVENT_ID_PREFIX = "msg_";
export const WEBHOOK_ID_HEADER = "webhook-id";
export const WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp";
export const WEBHOOK_SIGNATURE_HEADER = "webhook-signature";

/** The three Standard Webhooks headers for one delivery attempt. */
export interface WebhookSignatureHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/** What `signWebhook` signs. */
export interface SignWebhookInput {
  /** Event id; stays the same across retries so receivers can de-duplicate. Must not contain `.`, space or `,`. */
  id: string;
  /** Attempt time in whole seconds since the epoch (a retry gets a fresh timestamp). */
  timestamp: number;
  /** The exact bytes that will be sent as the request body. */
  body: string | Uint8Array;
  /** `whsec_…` secrets, newest first; two during rotation. */
  secrets: readonly string[];
}

const encoder = new TextEncoder();
const BASE64_PATTERN = /^[A-Za-z0-9+/]+={0,2}$/;
// Dots would make the signed content ambiguous (`a.b` + `.1.` vs `a` + `.b.1`), per the spec's advice.
const EVENT_ID_PATTERN = /^[^.\s,]{1,256}$/;

/** A new signing secret: `whsec_` + base64 of 32 bytes from the platform CSPRNG. */
export function generateWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + bytesToBase64(crypto.getRandomValues(new Uint8Array(WEBHOOK_SECRET_BYTES)));
}

/** A new event id, `msg_` + a ULID (time-ordered, 80 random bits). */
export function newWebhookEventId(nowMs?: number): string {
  return WEBHOOK_EVENT_ID_PREFIX + ulid(nowMs);
}

/** True when `secret` is `whsec_` + canonical base64 of 24–64 bytes. */
export function isValidWebhookSecret(secret: string): boolean {
  try {
    decodeWebhookSecret(secret);
    return true;
  } catch {
    return false;
  }
}

/**
 * The raw HMAC key inside a `whsec_` secret.
 * @throws TypeError when the prefix is missing, the base64 is malformed, or the key is outside 24–64 bytes.
 */
export function decodeWebhookSecret(secret: string): Uint8Array<ArrayBuffer> {
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) {
    throw new TypeError(`webhook secret must start with ${WEBHOOK_SECRET_PREFIX}`);
  }
  const encoded = secret.slice(WEBHOOK_SECRET_PREFIX.length);
  if (encoded.length % 4 !== 0 || !BASE64_PATTERN.test(encoded)) {
    throw new TypeError("webhook secret is not valid padded base64");
  }
  const key = base64ToBytes(encoded);
  if (key.length < WEBHOOK_SECRET_MIN_BYTES || key.length > WEBHOOK_SECRET_MAX_BYTES) {
    throw new TypeError(
      `webhook secret must decode to ${WEBHOOK_SECRET_MIN_BYTES}–${WEBHOOK_SECRET_MAX_BYTES} bytes, got ${key.length}`,
    );
  }
  return key;
}

/**
 * Signs one delivery attempt with every given secret.
 * @throws TypeError for an empty secret list, a malformed secret, an id with `.`/space/`,`, or a non-integer timestamp.
 */
export async function signWebhook(input: SignWebhookInput): Promise<WebhookSignatureHeaders> {
  const { id, timestamp, body, secrets } = input;
  if (!EVENT_ID_PATTERN.test(id)) {
    throw new TypeError("webhook id must be 1–256 characters without '.', ',' or whitespace");
  }
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new TypeError("webhook timestamp must be a non-negative integer number of seconds");
  }
  if (secrets.length === 0) throw new TypeError("at least one webhook secret is required");

  const keys = secrets.map(decodeWebhookSecret);
  const prefix = encoder.encode(`${id}.${timestamp}.`);
  const bodyBytes = typeof body === "string" ? encoder.encode(body) : body;
  const content = new Uint8Array(prefix.length + bodyBytes.length);
  content.set(prefix, 0);
  content.set(bodyBytes, prefix.length);

  const signatures = await Promise.all(
    keys.map(async (key) => {
      const cryptoKey = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const mac = new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, content));
      return `v1,${bytesToBase64(mac)}`;
    }),
  );

  return {
    [WEBHOOK_ID_HEADER]: id,
    [WEBHOOK_TIMESTAMP_HEADER]: String(timestamp),
    [WEBHOOK_SIGNATURE_HEADER]: signatures.join(" "),
  };
}

function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function base64ToBytes(encoded: string): Uint8Array<ArrayBuffer> {
  const binary = atob(encoded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
