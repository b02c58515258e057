/**
 * Verifying the service's webhooks (Standard Webhooks, https://www.standardwebhooks.com, scheme `v1`): the signed
 * content is `${webhook-id}.${webhook-timestamp}.${body}`, each signature `v1,` + base64(HMAC-SHA256), the key the
 * base64 bytes after `whsec_`. Web Crypto only, so it runs in Node, browsers and Workers.
 */
import type { components } from "./schema.d.ts";

/** How far a delivery's timestamp may be from now, either way (replayed or clock-skewed deliveries are refused). */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;
const SECRET_PREFIX = "whsec_";

/** The event body the service sends (`transcription.completed` / `transcription.failed`). */
export interface WebhookEvent {
  type: string;
  timestamp: string;
  data: Pick<components["schemas"]["Transcription"], "id" | "object" | "status"> & {
    links?: { self: string; transcript: string };
    [field: string]: unknown;
  };
}

export interface VerifyWebhookOptions {
  toleranceSeconds?: number;
  /** seconds since the epoch; defaults to the clock */
  nowSeconds?: number;
}

/** Why a delivery was refused: `code` is `missing_headers`, `invalid_timestamp`, `stale_timestamp`, `invalid_signature` or `invalid_secret`. */
export class WebhookVerificationError extends Error {
  override readonly name = "WebhookVerificationError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A Fetch `Headers`, Node's `req.headers`, or a plain object; names in any case. */
export type WebhookHeaders =
  | Headers
  | Record<string, string | string[] | undefined>
  | { "webhook-id"?: string; "webhook-timestamp"?: string; "webhook-signature"?: string };

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const entry = Object.entries(headers).find(([key]) => key.toLowerCase() === name);
  const value: unknown = entry?.[1];
  if (Array.isArray(value)) return value.join(" ");
  return typeof value === "string" ? value : undefined;
}

function base64ToBytes(base64: string): Uint8Array<ArrayBuffer> {
  const binary = atob(base64);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Compares without stopping at the first difference, so timing does not tell how much of a guess was right. */
function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/**
 * Checks a delivery's signature and age and returns its parsed event; throws WebhookVerificationError otherwise.
 * `body` must be the raw request body, exactly as received (not re-serialised JSON). `secret` is the `whsec_…`
 * secret from `GET /v1/webhooks/secret`; during a rotation any one of the listed signatures matching is enough.
 */
export async function verifyWebhook(
  body: string | Uint8Array,
  headers: WebhookHeaders,
  secret: string,
  options: VerifyWebhookOptions = {},
): Promise<WebhookEvent> {
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!id || !timestamp || !signatures) {
    throw new WebhookVerificationError(
      "missing_headers",
      "webhook-id, webhook-timestamp and webhook-signature are required",
    );
  }
  if (!/^\d+$/.test(timestamp))
    throw new WebhookVerificationError("invalid_timestamp", "webhook-timestamp is not a number");
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(timestamp)) > (options.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS)) {
    throw new WebhookVerificationError("stale_timestamp", "webhook-timestamp is too far from now");
  }
  let keyBytes: Uint8Array<ArrayBuffer>;
  try {
    keyBytes = base64ToBytes(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret);
  } catch {
    throw new WebhookVerificationError("invalid_secret", "the secret is not whsec_ + base64");
  }
  const text = typeof body === "string" ? body : new TextDecoder().decode(body);
  const key = await crypto.subtle.importKey("raw", keyBytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${id}.${timestamp}.${text}`));
  const expected = bytesToBase64(new Uint8Array(mac));
  const matches = signatures
    .split(" ")
    .filter((entry) => entry.startsWith("v1,"))
    .some((entry) => constantTimeEqual(entry.slice(3), expected));
  if (!matches) throw new WebhookVerificationError("invalid_signature", "no webhook-signature matches the secret");
  return JSON.parse(text) as WebhookEvent;
}
