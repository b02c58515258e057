/**
 * Word and character error rates of a transcript (hypothesis) against a reference. Pure TypeScript.
 *
 * Both texts go through {@link normaliseTranscript} first, so casing and punctuation never count as errors:
 *   1. Unicode NFKC (full-width letters, ligatures and composed accents compare equal to their plain forms);
 *   2. lower-case (locale-independent `toLowerCase`);
 *   3. typographic apostrophes (’ ‘ ʼ ＇) become `'`; an apostrophe is kept only between two letters or digits
 *      ("don't", "o'clock"), otherwise it is dropped like other punctuation ("'quoted'" → "quoted");
 *   4. every other punctuation or symbol character (Unicode P* and S*) becomes a space ("well-known" → "well known");
 *   5. whitespace runs collapse to one space and the ends are trimmed.
 *
 * WER compares whitespace-separated words. CER compares Unicode code points of the normalised text with spaces
 * EXCLUDED: CER is what scripts written without spaces (Chinese, Japanese, Thai) are scored by, and there spacing
 * is not meaningful; word-boundary mistakes in spaced scripts are what WER already counts.
 *
 * Alignment is Levenshtein with unit costs, computed in O(n·m) time and O(m) memory (two rows of integers).
 */

/** Edit counts and rate of one alignment. `referenceLength = hits + substitutions + deletions`. */
export interface ErrorRate {
  substitutions: number;
  deletions: number;
  insertions: number;
  hits: number;
  /** words (WER) or characters (CER) in the normalised reference */
  referenceLength: number;
  hypothesisLength: number;
  /** substitutions + deletions + insertions */
  errors: number;
  /** errors / referenceLength; 0 when both are empty; null when the reference is empty and the hypothesis is not */
  rate: number | null;
}

const APOSTROPHE_VARIANTS = /[\u2018\u2019\u02bc\uff07]/g;
const APOSTROPHE_OUTSIDE_WORD = /(?<![\p{L}\p{M}\p{N}])'|'(?![\p{L}\p{M}\p{N}])/gu;
const PUNCTUATION_OR_SYMBOL_EXCEPT_APOSTROPHE = /(?!')[\p{P}\p{S}]/gu;
const WHITESPACE_RUN = /\s+/gu;

/** The normalisation described in the module comment; stable, so stored scores stay comparable. */
export function normaliseTranscript(text: string): string {
  return text
    .normalize("NFKC")
    .toLowerCase()
    .replace(APOSTROPHE_VARIANTS, "'")
    .replace(APOSTROPHE_OUTSIDE_WORD, " ")
    .replace(PUNCTUATION_OR_SYMBOL_EXCEPT_APOSTROPHE, " ")
    .replace(WHITESPACE_RUN, " ")
    .trim();
}

/** Words of the normalised text; an empty or punctuation-only text has none. */
export function transcriptWords(text: string): string[] {
  const normalised = normaliseTranscript(text);
  return normalised === "" ? [] : normalised.split(" ");
}

/** Code points of the normalised text without spaces (see the module comment for why spaces are excluded). */
export function transcriptCharacters(text: string): string[] {
  return Array.from(normaliseTranscript(text).replaceAll(" ", ""));
}

/** Word error rate of `hypothesis` against `reference`, after normalisation. */
export function wordErrorRate(reference: string, hypothesis: string): ErrorRate {
  return alignTokens(transcriptWords(reference), transcriptWords(hypothesis));
}

/** Character error rate of `hypothesis` against `reference`, after normalisation, spaces excluded. */
export function characterErrorRate(reference: string, hypothesis: string): ErrorRate {
  return alignTokens(transcriptCharacters(reference), transcriptCharacters(hypothesis));
}

/**
 * Minimum-edit alignment of two token sequences (tokens compared with `===`). Among alignments of equal cost, a
 * substitution or match is preferred over a deletion, and a deletion over an insertion, so the counts are
 * deterministic. Memory is two rows of the length of `hypothesis`.
 */
export function alignTokens(reference: readonly string[], hypothesis: readonly string[]): ErrorRate {
  const n = reference.length;
  const m = hypothesis.length;
  // Integer ids make the inner loop compare numbers instead of strings.
  const ids = new Map<string, number>();
  const intern = (token: string) => {
    let id = ids.get(token);
    if (id === undefined) ids.set(token, (id = ids.size));
    return id;
  };
  const ref = Int32Array.from(reference, intern);
  const hyp = Int32Array.from(hypothesis, intern);

  // At cell (i, j): insertions − deletions = j − i and substitutions = distance − deletions − insertions, so
  // tracking the distance and the deletions is enough to recover all three counts.
  let prevDistance = new Int32Array(m + 1);
  let prevDeletions = new Int32Array(m + 1);
  let distance = new Int32Array(m + 1);
  let deletions = new Int32Array(m + 1);
  for (let j = 0; j <= m; j++) prevDistance[j] = j; // j insertions, no deletions
  for (let i = 1; i <= n; i++) {
    const refToken = ref[i - 1]!;
    // The diagonal and left neighbours live in locals, so each cell reads two array slots and writes two.
    let diagonalDistance = prevDistance[0]!;
    let diagonalDeletions = prevDeletions[0]!;
    let leftDistance = i;
    let leftDeletions = i;
    distance[0] = i;
    deletions[0] = i;
    for (let j = 1; j <= m; j++) {
      const upDistance = prevDistance[j]!;
      const upDeletions = prevDeletions[j]!;
      const substitute = diagonalDistance + (refToken === hyp[j - 1]! ? 0 : 1);
      const remove = upDistance + 1; // delete ref[i-1]
      const insert = leftDistance + 1; // insert hyp[j-1]
      if (substitute <= remove && substitute <= insert) {
        leftDistance = substitute;
        leftDeletions = diagonalDeletions;
      } else if (remove <= insert) {
        leftDistance = remove;
        leftDeletions = upDeletions + 1;
      } else {
        leftDistance = insert;
      }
      distance[j] = leftDistance;
      deletions[j] = leftDeletions;
      diagonalDistance = upDistance;
      diagonalDeletions = upDeletions;
    }
    const swapDistance = prevDistance;
    prevDistance = distance;
    distance = swapDistance;
    const swapDeletions = prevDeletions;
    prevDeletions = deletions;
    deletions = swapDeletions;
  }
  const errors = prevDistance[m]!;
  const deleted = prevDeletions[m]!;
  const inserted = deleted + m - n;
  const substituted = errors - deleted - inserted;
  return {
    substitutions: substituted,
    deletions: deleted,
    insertions: inserted,
    hits: n - substituted - deleted,
    referenceLength: n,
    hypothesisLength: m,
    errors,
    rate: rateOf(errors, n),
  };
}

/** Alignment cells {@link alignTokensBounded} allows by default: a few hundred milliseconds of CPU at most. */
export const DEFAULT_MAX_ALIGNMENT_CELLS = 25_000_000;

/**
 * {@link alignTokens} for long texts: the common prefix and suffix are matched first (they are hits in some optimal
 * alignment, so the error total and the rate are unchanged; only how equal-cost errors split between substitutions,
 * deletions and insertions may differ), then only the differing middle is aligned. Returns null when that middle
 * still needs more than `maxCells` (n·m) cells, so a caller can refuse instead of burning seconds of CPU.
 */
export function alignTokensBounded(
  reference: readonly string[],
  hypothesis: readonly string[],
  maxCells = DEFAULT_MAX_ALIGNMENT_CELLS,
): ErrorRate | null {
  let prefix = 0;
  const shorter = Math.min(reference.length, hypothesis.length);
  while (prefix < shorter && reference[prefix] === hypothesis[prefix]) prefix += 1;
  let suffix = 0;
  while (
    suffix < shorter - prefix &&
    reference[reference.length - 1 - suffix] === hypothesis[hypothesis.length - 1 - suffix]
  ) {
    suffix += 1;
  }
  const refMiddle = reference.slice(prefix, reference.length - suffix);
  const hypMiddle = hypothesis.slice(prefix, hypothesis.length - suffix);
  if (refMiddle.length * hypMiddle.length > maxCells) return null;
  const middle = alignTokens(refMiddle, hypMiddle);
  return {
    ...middle,
    hits: middle.hits + prefix + suffix,
    referenceLength: reference.length,
    hypothesisLength: hypothesis.length,
    rate: rateOf(middle.errors, reference.length),
  };
}

/**
 * Corpus-level rate: total errors over total reference length (not the mean of per-item rates, which would let a
 * two-word clip weigh as much as an hour-long one).
 */
export function aggregateErrorRates(results: Iterable<ErrorRate>): ErrorRate {
  const total: ErrorRate = {
    substitutions: 0,
    deletions: 0,
    insertions: 0,
    hits: 0,
    referenceLength: 0,
    hypothesisLength: 0,
    errors: 0,
    rate: 0,
  };
  for (const result of results) {
    total.substitutions += result.substitutions;
    total.deletions += result.deletions;
    total.insertions += result.insertions;
    total.hits += result.hits;
    total.referenceLength += result.referenceLength;
    total.hypothesisLength += result.hypothesisLength;
    total.errors += result.errors;
  }
  total.rate = rateOf(total.errors, total.referenceLength);
  return total;
}

function rateOf(errors: number, referenceLength: number): number | null {
  if (referenceLength > 0) return errors / referenceLength;
  return errors === 0 ? 0 : null;
}
