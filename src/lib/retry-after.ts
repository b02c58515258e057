/** `Retry-After` (RFC 9110: delay-seconds or an HTTP-date), shared by provider and webhook retries (pure). */

/**
 * Reads a `Retry-After` header (delta-seconds or HTTP-date) as seconds from `now`; `null` when absent or invalid.
 * Past dates give 0.
 */
export function parseRetryAfter(header: string | null | undefined, now: number = Date.now()): number | null {
  if (header == null) return null;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date) || !/[a-z]/i.test(trimmed)) return null;
  return Math.max(0, Math.ceil((date - now) / 1000));
}
