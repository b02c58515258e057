/** Context helpers shared by the detectors: the words just before or after a match. */

/** The last `count` words (lower case) before `index`, not reaching back over a sentence end. */
export function wordsBefore(text: string, index: number, count: number): string[] {
  const before = text.slice(Math.max(0, index - 80), index);
  const sentence = before.split(/[.!?;]\s/).pop() ?? "";
  return (sentence.toLowerCase().match(/[a-z#]+/g) ?? []).slice(-count);
}

/** The first `count` words (lower case) after `index`, within the same sentence. */
export function wordsAfter(text: string, index: number, count: number): string[] {
  const after = text.slice(index, index + 80);
  const sentence = after.split(/[.!?;](?:\s|$)/)[0] ?? "";
  return (sentence.toLowerCase().match(/[a-z#]+/g) ?? []).slice(0, count);
}

/** Whether any of `cues` is among the words. */
export function hasCue(words: readonly string[], cues: ReadonlySet<string>): boolean {
  return words.some((w) => cues.has(w));
}

/** Labels of things that are not personal numbers: a number right after one is a serial, an order or a version. */
export const IDENTIFIER_CUES: ReadonlySet<string> = new Set([
  "serial",
  "sn",
  "order",
  "invoice",
  "tracking",
  "part",
  "model",
  "version",
  "ver",
  "v",
  "build",
  "release",
  "firmware",
  "ticket",
  "reference",
  "ref",
  "confirmation",
  "case",
  "sku",
  "item",
  "batch",
  "lot",
  "shipment",
  "parcel",
  "booking",
  "receipt",
  "transaction",
  "patch",
  "revision",
]);
