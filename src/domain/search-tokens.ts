/**
 * The keyed token index behind transcript search (docs/security.md, "Search index"). Transcripts are encrypted at
 * rest, so no word is stored in clear: each normalised word becomes a per-tenant HMAC, truncated to 52 bits so it fits
 * a D1 integer exactly. Equal words inside one tenant give equal tokens (that is what makes search work, and what the
 * index reveals); across tenants, or without the master key, tokens say nothing.
 *
 * Pure WebCrypto: no bindings.
 */

const encoder = new TextEncoder();

/** words indexed per transcript; beyond this the rest of a very long transcript is not searchable (documented) */
export const MAX_INDEXED_WORDS = 100_000;
export const MAX_QUERY_CHARS = 500;
/** terms (words and quoted phrases) and words in all of them, so a query's tokens fit D1's 100 bound parameters */
export const MAX_QUERY_TERMS = 8;
export const MAX_QUERY_WORDS = 16;

/**
 * Lower-cased, compatibility-normalised words without diacritics or punctuation: "Café," and "cafe" are one word,
 * "don't" is "dont". Indexing and querying use this one function, so they always agree.
 */
export function normaliseWords(text: string): string[] {
  return text
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase()
    .replace(/['’]/g, "")
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);
}

/** A query as terms that must all match: a bare word is a term of one word, a "quoted phrase" a term of its words. */
export type SearchTerms = string[][];

export class SearchQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SearchQueryError";
  }
}

/** `fellow "ask not"` → [["fellow"], ["ask", "not"]]. Throws SearchQueryError on an empty or oversized query. */
export function parseSearchQuery(query: string): SearchTerms {
  if (query.length > MAX_QUERY_CHARS) throw new SearchQueryError(`q is limited to ${MAX_QUERY_CHARS} characters.`);
  const terms: SearchTerms = [];
  const pieces = query.split('"');
  pieces.forEach((piece, i) => {
    const words = normaliseWords(piece);
    if (!words.length) return;
    // odd pieces sat between quotes (an unclosed quote runs to the end of the query)
    if (i % 2 === 1) terms.push(words);
    else terms.push(...words.map((word) => [word]));
  });
  if (!terms.length) throw new SearchQueryError("q holds no words to search for.");
  const unique = [...new Map(terms.map((term) => [term.join(" "), term])).values()];
  if (unique.length > MAX_QUERY_TERMS || unique.flat().length > MAX_QUERY_WORDS) {
    throw new SearchQueryError(`q may hold at most ${MAX_QUERY_TERMS} terms and ${MAX_QUERY_WORDS} words.`);
  }
  return unique;
}

/** The tenant's token key: HKDF-SHA256(master secret, salt, info = tenant id) → HMAC-SHA256, distinct from its KEK. */
export async function tenantSearchKey(masterSecret: string, tenantId: string): Promise<CryptoKey> {
  const ikm = await crypto.subtle.importKey("raw", encoder.encode(masterSecret), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: encoder.encode("vtt/search-index/v1"), info: encoder.encode(tenantId) },
    ikm,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign"],
  );
}

/** The first 52 bits of HMAC(key, word): exact in a JavaScript number and a SQLite integer. */
export async function wordToken(key: CryptoKey, word: string): Promise<number> {
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(word)));
  let token = 0;
  for (let i = 0; i < 6; i++) token = token * 256 + mac[i]!;
  return token * 16 + (mac[6]! >> 4);
}

/** Tokens of each distinct word, computed once per word. */
export async function tokensOf(key: CryptoKey, words: readonly string[]): Promise<Map<string, number>> {
  const distinct = [...new Set(words)];
  const tokens = await Promise.all(distinct.map((word) => wordToken(key, word)));
  return new Map(distinct.map((word, i) => [word, tokens[i]!]));
}
