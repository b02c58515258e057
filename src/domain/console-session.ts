/**
 * Console session tokens (pure WebCrypto). The cookie holds `id.signature`: a random id and its HMAC under a key
 * derived from the first ENCRYPTION_KEYS master secret (HKDF, its own salt), so a forged cookie is refused before any
 * D1 read. D1 stores only the id's SHA-256, so a leaked table holds no usable cookie. The CSRF token is an HMAC of
 * the session's own random secret, so it is tied to one session and worthless after it ends.
 */
import { timingSafeEqual, toHex } from "@vtt/pool-contract";

const encoder = new TextEncoder();
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

function base64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** 32 random bytes, base64url (43 characters): session ids and CSRF secrets. */
export function randomToken(): string {
  return base64Url(crypto.getRandomValues(new Uint8Array(32)));
}

/** The cookie signing key: HKDF-SHA256(master secret, salt "vtt/console-session/v1") → HMAC-SHA256. */
export async function sessionSigningKey(masterSecret: string): Promise<CryptoKey> {
  const ikm = await crypto.subtle.importKey("raw", encoder.encode(masterSecret), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: encoder.encode("vtt/console-session/v1"), info: encoder.encode("cookie") },
    ikm,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign"],
  );
}

async function mac(key: CryptoKey, message: string): Promise<string> {
  return base64Url(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message))));
}

/** The cookie value for session `id`. */
export async function signSessionId(key: CryptoKey, id: string): Promise<string> {
  return `${id}.${await mac(key, `session:${id}`)}`;
}

/** The session id a cookie value carries when its signature is valid; null otherwise. */
export async function verifySessionCookie(key: CryptoKey, value: string | undefined): Promise<string | null> {
  if (!value) return null;
  const [id, signature, ...rest] = value.split(".");
  if (rest.length || !id || !signature || !TOKEN_SHAPE.test(id)) return null;
  return timingSafeEqual(signature, await mac(key, `session:${id}`)) ? id : null;
}

/** Hex SHA-256 of a session id or operator key: what D1 stores instead of the secret itself. */
export async function sha256Hex(text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text))));
}

/** The form token of a session: HMAC of its CSRF secret, so it cannot be derived from the cookie. */
export async function csrfToken(csrfSecret: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(csrfSecret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return mac(key, "console-csrf");
}
