/**
 * `keyterms`: vocabulary hints (names, jargon, short phrases) and how each provider takes them. Pure.
 * Deepgram has its own input (`keyterm` on Nova-3, `keywords` on older models); Whisper engines (OpenAI, Workers AI,
 * the pool's whisper.cpp) take them as part of the prompt that conditions decoding.
 */

/** Most keyterms on one job (Deepgram's keyterm prompting takes up to 100). */
export const MAX_KEYTERMS = 100;
/** Longest keyterm, in characters (UTF-16 code units). */
export const MAX_KEYTERM_CHARS = 50;
/** All keyterms together, in characters: keeps Deepgram's 500-token keyterm limit and Whisper's prompt in reach. */
export const MAX_KEYTERMS_TOTAL_CHARS = 1000;

/** The job's stored `keyterms` column (a JSON array of strings, or null) as a list; anything else is no keyterms. */
export function parseStoredKeyterms(stored: string | null): string[] {
  if (!stored) return [];
  try {
    const parsed: unknown = JSON.parse(stored);
    return Array.isArray(parsed) ? parsed.filter((term): term is string => typeof term === "string") : [];
  } catch {
    return [];
  }
}

/**
 * The prompt a Whisper engine gets: the caller's prompt, then the keyterms as a comma-separated list, within
 * `maxChars` (UTF-16 code units). The caller's prompt is never cut; keyterms that no longer fit are left out, in
 * order from the last. Null when there is neither.
 */
export function promptWithKeyterms(
  prompt: string | null,
  keyterms: readonly string[],
  maxChars: number,
): string | null {
  const base = prompt?.trim() ?? "";
  let out = base;
  for (const term of keyterms) {
    const next = out === "" ? term : out === base && base !== "" ? `${out} ${term}` : `${out}, ${term}`;
    if (next.length > maxChars) break;
    out = next;
  }
  return out === "" ? null : out;
}

/**
 * Deepgram's query parameters for the keyterms: `keyterm` (one per term, phrases allowed) on Nova-3 models;
 * `keywords` on older ones, which take single words only (a phrase there has no equivalent and is left out).
 */
export function deepgramKeytermParams(model: string, keyterms: readonly string[]): [string, string][] {
  if (/^nova-3/i.test(model)) return keyterms.map((term) => ["keyterm", term]);
  return keyterms.filter((term) => !/\s/.test(term)).map((term) => ["keywords", term]);
}
