import { describe, expect, it } from "vitest";

import {
  aggregateErrorRates,
  alignTokens,
  alignTokensBounded,
  characterErrorRate,
  normaliseTranscript,
  transcriptCharacters,
  wordErrorRate,
} from "../../src/quality/wer.ts";
import { seededRandom } from "../helpers/random.ts";

/** Textbook full-matrix Levenshtein distance, kept deliberately naive to cross-check the two-row version. */
function naiveDistance(a: readonly string[], b: readonly string[]): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

describe("normaliseTranscript", () => {
  it("lower-cases, strips punctuation and collapses whitespace", () => {
    expect(normaliseTranscript("  Hello,   World!\n\tHow are you?  ")).toBe("hello world how are you");
  });

  it("keeps apostrophes inside words only, typographic ones included", () => {
    expect(normaliseTranscript("Don’t say 'rock'n'roll' isn't 90s' music")).toBe(
      "don't say rock'n'roll isn't 90s music",
    );
  });

  it("turns other punctuation and symbols into word breaks", () => {
    expect(normaliseTranscript("“Well-known” — costs $5 (approx.) & 3.5% more…")).toBe(
      "well known costs 5 approx 3 5 more",
    );
  });

  it("applies NFKC so compatibility forms and decomposed accents compare equal", () => {
    expect(normaliseTranscript("ＡＢＣ ﬁne Cafe\u0301")).toBe("abc fine café");
    expect(normaliseTranscript("Cafe\u0301")).toBe(normaliseTranscript("Caf\u00e9"));
  });

  it("leaves nothing of a punctuation-only text", () => {
    expect(normaliseTranscript(" ... !? ♪ ")).toBe("");
  });
});

describe("wordErrorRate", () => {
  it("counts one substitution and one deletion in the textbook example", () => {
    expect(wordErrorRate("the cat sat on the mat", "the cat sit on mat")).toEqual({
      substitutions: 1,
      deletions: 1,
      insertions: 0,
      hits: 4,
      referenceLength: 6,
      hypothesisLength: 5,
      errors: 2,
      rate: 2 / 6,
    });
  });

  it("counts insertions, and can exceed 1", () => {
    const result = wordErrorRate("yes", "oh yes yes indeed");
    expect(result).toMatchObject({ substitutions: 0, deletions: 0, insertions: 3, hits: 1, rate: 3 });
  });

  it("ignores case and punctuation differences", () => {
    expect(wordErrorRate("Hello, world! It's fine.", "hello world it’s fine").rate).toBe(0);
  });

  it("treats an accent difference as a substitution", () => {
    expect(wordErrorRate("un café noir", "un cafe noir")).toMatchObject({ substitutions: 1, rate: 1 / 3 });
  });

  it("handles empty reference and hypothesis", () => {
    expect(wordErrorRate("", "")).toMatchObject({ errors: 0, referenceLength: 0, rate: 0 });
    expect(wordErrorRate("  ...  ", "")).toMatchObject({ errors: 0, referenceLength: 0, rate: 0 });
    expect(wordErrorRate("", "ghost words")).toMatchObject({ insertions: 2, referenceLength: 0, rate: null });
    expect(wordErrorRate("three words here", "")).toMatchObject({ deletions: 3, hits: 0, rate: 1 });
  });

  it("prefers substitutions over a deletion plus an insertion of equal cost", () => {
    expect(alignTokens(["a", "b"], ["b", "a"])).toMatchObject({ substitutions: 2, deletions: 0, insertions: 0 });
  });

  it("agrees with a naive full-matrix Levenshtein on random sequences, with consistent counts", () => {
    const random = seededRandom(7);
    const vocabulary = ["a", "b", "c", "d"];
    for (let trial = 0; trial < 200; trial++) {
      const draw = () =>
        Array.from({ length: Math.floor(random() * 12) }, () => vocabulary[Math.floor(random() * vocabulary.length)]!);
      const reference = draw();
      const hypothesis = draw();
      const result = alignTokens(reference, hypothesis);
      expect(result.errors).toBe(naiveDistance(reference, hypothesis));
      expect(result.substitutions + result.deletions + result.insertions).toBe(result.errors);
      expect(result.hits + result.substitutions + result.deletions).toBe(reference.length);
      expect(result.hits + result.substitutions + result.insertions).toBe(hypothesis.length);
      expect(Math.min(result.substitutions, result.deletions, result.insertions, result.hits)).toBeGreaterThanOrEqual(
        0,
      );
    }
  });

  it("scores 10 000-word transcripts with planted errors exactly", () => {
    const random = seededRandom(42);
    const vocabulary = Array.from({ length: 1_000 }, (_, i) => `w${i}`);
    const reference = Array.from({ length: 10_000 }, () => vocabulary[Math.floor(random() * vocabulary.length)]!);
    const hypothesis: string[] = [];
    reference.forEach((word, i) => {
      if (i % 1_000 === 0) return; // 10 deletions
      hypothesis.push(i % 100 === 50 ? `sub${i}` : word); // 100 substitutions by out-of-vocabulary words
      if (i % 1_000 === 500) hypothesis.push(`ins${i}`); // 10 insertions
    });
    const result = wordErrorRate(reference.join(" "), hypothesis.join(" "));
    expect(result).toMatchObject({
      substitutions: 100,
      deletions: 10,
      insertions: 10,
      referenceLength: 10_000,
      rate: 120 / 10_000,
    });
  });
});

describe("characterErrorRate", () => {
  it("compares characters of the normalised text without spaces", () => {
    expect(characterErrorRate("The cat", "the bat")).toMatchObject({
      substitutions: 1,
      referenceLength: 6,
      rate: 1 / 6,
    });
    expect(characterErrorRate("ice cream", "icecream").rate).toBe(0);
    expect(wordErrorRate("ice cream", "icecream")).toMatchObject({ substitutions: 1, deletions: 1, rate: 1 });
  });

  it("scores CJK text per character", () => {
    expect(transcriptCharacters("今天天气很好。")).toEqual(["今", "天", "天", "气", "很", "好"]);
    expect(characterErrorRate("今天天气很好。", "今天天气不好")).toMatchObject({ substitutions: 1, rate: 1 / 6 });
    expect(characterErrorRate("今天天气很好", "今天气很好")).toMatchObject({ deletions: 1, rate: 1 / 6 });
    // Without spaces the whole sentence is one "word", which is why CJK is scored by CER.
    expect(wordErrorRate("今天天气很好", "今天天气不好")).toMatchObject({ referenceLength: 1, rate: 1 });
  });

  it("counts a precomposed and a decomposed accent as the same character", () => {
    expect(characterErrorRate("cafe\u0301", "caf\u00e9")).toMatchObject({ referenceLength: 4, rate: 0 });
    expect(characterErrorRate("café", "cafe")).toMatchObject({ substitutions: 1, rate: 1 / 4 });
  });

  it("counts astral-plane characters once each", () => {
    expect(characterErrorRate("𠀋𠀌", "𠀋")).toMatchObject({ referenceLength: 2, deletions: 1 });
  });
});

describe("aggregateErrorRates", () => {
  it("weights by reference length rather than averaging per-item rates", () => {
    const total = aggregateErrorRates([
      wordErrorRate("a b c d e f g h i j", "a b c d e f g h i j"),
      wordErrorRate("yes", "no"),
    ]);
    expect(total).toMatchObject({ substitutions: 1, referenceLength: 11, errors: 1, rate: 1 / 11 });
    expect(aggregateErrorRates([]).rate).toBe(0);
  });
});

describe("alignTokensBounded", () => {
  it("gives the same error total as the full alignment on random pairs sharing a prefix and suffix", () => {
    const random = seededRandom(7);
    const alphabet = ["a", "b", "c", "d"];
    const tokens = (length: number) => Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]!);
    for (let trial = 0; trial < 200; trial++) {
      const head = tokens(Math.floor(random() * 6));
      const tail = tokens(Math.floor(random() * 6));
      const reference = [...head, ...tokens(Math.floor(random() * 8)), ...tail];
      const hypothesis = [...head, ...tokens(Math.floor(random() * 8)), ...tail];
      const bounded = alignTokensBounded(reference, hypothesis)!;
      const full = alignTokens(reference, hypothesis);
      expect(bounded.errors).toBe(naiveDistance(reference, hypothesis));
      expect(bounded.errors).toBe(full.errors);
      expect(bounded.rate).toBe(full.rate);
      expect(bounded.referenceLength).toBe(reference.length);
      expect(bounded.hypothesisLength).toBe(hypothesis.length);
      expect(bounded.hits + bounded.substitutions + bounded.deletions).toBe(reference.length);
      expect(bounded.hits + bounded.substitutions + bounded.insertions).toBe(hypothesis.length);
    }
  });

  it("aligns only the differing middle, and refuses a middle over the cell budget", () => {
    const long = Array.from({ length: 100_000 }, (_, i) => `w${i % 50}`);
    const edited = [...long];
    edited[50_000] = "changed";
    expect(alignTokensBounded(long, edited, 10)).toMatchObject({
      errors: 1,
      substitutions: 1,
      hits: 99_999,
      rate: 1e-5,
    });
    expect(alignTokensBounded(["a", "b", "c"], ["x", "y", "z"], 8)).toBeNull();
    expect(alignTokensBounded(["a", "b", "c"], ["x", "y", "z"], 9)).toMatchObject({ errors: 3 });
    expect(alignTokensBounded([], [])).toMatchObject({ errors: 0, rate: 0 });
    expect(alignTokensBounded([], ["a"])).toMatchObject({ errors: 1, insertions: 1, rate: null });
  });
});
