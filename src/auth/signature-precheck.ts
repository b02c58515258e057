/**
 * The cheap half of verifying a signed internal request (docs/pool-contract.md), run before the body is read: the
 * headers must be present, name a key of the ring, carry a fresh timestamp and a well-formed signature. A caller
 * without them is refused without costing a byte of memory; the HMAC over the body is checked afterwards by
 * `verifySignedRequest`.
 */
import {
  DEFAULT_SIGNATURE_TOLERANCE_SECONDS,
  KEY_ID_HEADER,
  SIGNATURE_HEADER,
  type SigningKey,
  TIMESTAMP_HEADER,
  type VerifyFailure,
} from "@vtt/pool-contract";

const SIGNATURE_FORMAT = /^v1=[0-9a-f]{64}$/;

export interface PrecheckOptions {
  nowSeconds?: number;
  toleranceSeconds?: number;
}

/** Checks a signed request's headers without its body; the same failures `verifySignedRequest` reports. */
export function precheckSignatureHeaders(
  ring: SigningKey[],
  headers: { get(name: string): string | null },
  options: PrecheckOptions = {},
): { ok: true } | { ok: false; reason: VerifyFailure } {
  const keyId = headers.get(KEY_ID_HEADER);
  const timestampText = headers.get(TIMESTAMP_HEADER);
  const signature = headers.get(SIGNATURE_HEADER);
  if (!keyId || !timestampText || !signature) return { ok: false, reason: "missing_signature" };
  if (!ring.some((key) => key.id === keyId)) return { ok: false, reason: "unknown_key" };
  if (!/^\d{1,12}$/.test(timestampText)) return { ok: false, reason: "stale_signature" };
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const tolerance = options.toleranceSeconds ?? DEFAULT_SIGNATURE_TOLERANCE_SECONDS;
  if (Math.abs(now - Number(timestampText)) > tolerance) return { ok: false, reason: "stale_signature" };
  if (!SIGNATURE_FORMAT.test(signature)) return { ok: false, reason: "invalid_signature" };
  return { ok: true };
}
