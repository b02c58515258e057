/** RFC 7240 `Prefer` header: the `wait` preference of a long-poll, capped by the server. */

/**
 * Seconds from a `Prefer: wait=N` preference (among others, e.g. `respond-async, wait=10`), capped at `maxSeconds`;
 * null when absent or malformed (RFC 7240 §2: a preference the server does not understand is ignored).
 */
export function preferredWaitSeconds(header: string | undefined, maxSeconds: number): number | null {
  if (!header) return null;
  for (const preference of header.split(",")) {
    const [token, ...rest] = preference.split(";")[0]!.split("=");
    if (token?.trim().toLowerCase() !== "wait" || rest.length !== 1) continue;
    const value = rest[0]!.trim().replace(/^"(.*)"$/, "$1");
    if (!/^\d{1,6}$/.test(value)) return null;
    return Math.min(Number(value), maxSeconds);
  }
  return null;
}
