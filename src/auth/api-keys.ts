/** API key format, hashing and scope checks (pure WebCrypto). */
import { timingSafeEqual, toHex } from "@vtt/pool-contract";

export const API_KEY_PREFIX = "vtt_live_";
export const SCOPES = ["transcriptions:write", "transcriptions:read", "admin"] as const;
export type Scope = (typeof SCOPES)[number];
export const DEFAULT_TENANT_SCOPES: Scope[] = ["transcriptions:write", "transcriptions:read"];
/** How many leading characters of a key are kept for display */
export const KEY_DISPLAY_PREFIX_LENGTH = 16;

function base64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A new random key: 32 bytes of entropy after the prefix. */
export function generateApiKey(): string {
  return API_KEY_PREFIX + base64Url(crypto.getRandomValues(new Uint8Array(32)));
}

/** Keys carry 256 bits of entropy, so a fast unsalted hash is enough to make a leaked table useless. */
export async function hashApiKey(key: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key))));
}

export function parseScopes(text: string): Scope[] {
  return text.split(/\s+/).filter((s): s is Scope => (SCOPES as readonly string[]).includes(s));
}

/** Whether `scopes` grant `needed`; `admin` grants the tenant scopes too (as `requireScope` does). */
export function grantsScope(scopes: readonly Scope[], needed: Scope): boolean {
  return scopes.includes(needed) || (needed !== "admin" && scopes.includes("admin"));
}

/** The bootstrap admin key from the `ADMIN_API_KEY` secret; constant-time compare. */
export function isBootstrapAdminKey(presented: string, configured: string | undefined): boolean {
  return !!configured && configured.length >= 16 && timingSafeEqual(presented, configured);
}

/** Extracts the token of an `Authorization: Bearer <token>` header; null when absent or malformed. */
export function bearerToken(header: string | null | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+([A-Za-z0-9._~+/=-]{8,512})\s*$/i.exec(header);
  return match ? match[1]! : null;
}
