/**
 * Spoken numbers written as digits, so the detectors see "4111 1111…" where a transcript says "four one one one …".
 * Handles digits ("five", "oh" and "zero" beside other digits), teens and tens ("twenty three"), hundreds and
 * thousands ("eight hundred", "nineteen seventy six", "two thousand and five"), "double"/"triple" repeats,
 * ordinals ("twelfth", "twenty first") and "dot"/"point"/"dash" between numbers. A run of number words becomes one
 * digit string; every character of the result maps back to the span of the words it came from.
 */

const UNITS: Record<string, number> = {
  zero: 0,
  oh: 0,
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
};
const TEENS: Record<string, number> = {
  ten: 10,
  eleven: 11,
  twelve: 12,
  thirteen: 13,
  fourteen: 14,
  fifteen: 15,
  sixteen: 16,
  seventeen: 17,
  eighteen: 18,
  nineteen: 19,
};
const TENS: Record<string, number> = {
  twenty: 20,
  thirty: 30,
  forty: 40,
  fifty: 50,
  sixty: 60,
  seventy: 70,
  eighty: 80,
  ninety: 90,
};
const ORDINAL_UNITS: Record<string, number> = {
  first: 1,
  second: 2,
  third: 3,
  fourth: 4,
  fifth: 5,
  sixth: 6,
  seventh: 7,
  eighth: 8,
  ninth: 9,
};
const ORDINAL_TEENS: Record<string, number> = {
  tenth: 10,
  eleventh: 11,
  twelfth: 12,
  thirteenth: 13,
  fourteenth: 14,
  fifteenth: 15,
  sixteenth: 16,
  seventeenth: 17,
  eighteenth: 18,
  nineteenth: 19,
  twentieth: 20,
  thirtieth: 30,
};
const REPEATS: Record<string, number> = { double: 2, triple: 3 };
/** words that join two numbers into one written form: "one nine two dot one six eight" → "192.168" */
const JOINERS: Record<string, string> = { dot: ".", point: ".", dash: "-", hyphen: "-" };

const has = (table: Record<string, number>, word: string) => Object.hasOwn(table, word);
const isNumberWord = (w: string) =>
  has(UNITS, w) || has(TEENS, w) || has(TENS, w) || has(ORDINAL_UNITS, w) || has(ORDINAL_TEENS, w) || has(REPEATS, w);

interface Token {
  word: string;
  start: number;
  end: number;
}

/** The normalised text and, per character of it, the original span it stands for. */
export interface NormalisedText {
  text: string;
  starts: number[];
  ends: number[];
}

/** Maps a `[start, end)` span of the normalised text back to the original. */
export function toOriginalSpan(n: NormalisedText, start: number, end: number): { start: number; end: number } {
  return { start: n.starts[start] ?? 0, end: n.ends[Math.max(start, end - 1)] ?? 0 };
}

/** One group of a run ("twenty three", "eight hundred and twelve", "double five") → its digits and tokens used. */
function parseGroup(tokens: Token[], i: number): { digits: string; used: number } | null {
  const w = tokens[i]!.word;
  const next = tokens[i + 1]?.word;
  if (has(REPEATS, w)) {
    if (next !== undefined && has(UNITS, next)) return { digits: String(UNITS[next]).repeat(REPEATS[w]!), used: 2 };
    return null;
  }
  if (has(ORDINAL_UNITS, w)) return { digits: String(ORDINAL_UNITS[w]), used: 1 };
  if (has(ORDINAL_TEENS, w)) return { digits: String(ORDINAL_TEENS[w]), used: 1 };
  let value: number;
  let used = 1;
  if (has(TENS, w)) {
    value = TENS[w]!;
    if (next !== undefined && has(UNITS, next) && next !== "oh" && next !== "zero") {
      value += UNITS[next]!;
      used = 2;
    } else if (next !== undefined && has(ORDINAL_UNITS, next)) {
      return { digits: String(value + ORDINAL_UNITS[next]!), used: 2 };
    }
  } else if (has(TEENS, w)) value = TEENS[w]!;
  else if (has(UNITS, w)) value = UNITS[w]!;
  else return null;
  // "eight hundred (and) twelve", "nineteen hundred", "two thousand (and) five"
  const scale = tokens[i + used]?.word;
  if ((scale === "hundred" || scale === "thousand") && value > 0) {
    let total = value * (scale === "hundred" ? 100 : 1000);
    used += 1;
    let j = i + used;
    if (tokens[j]?.word === "and" && tokens[j + 1] && isNumberWord(tokens[j + 1]!.word)) j += 1;
    // "eight hundred five five five …" is a digit sequence after 800, not 805 then 55…
    const unitThenDigits =
      tokens[j] !== undefined &&
      has(UNITS, tokens[j]!.word) &&
      tokens[j + 1] !== undefined &&
      tokens[j + 1]!.word !== "hundred" &&
      isNumberWord(tokens[j + 1]!.word);
    const rest = tokens[j] && !unitThenDigits ? parseSmall(tokens, j, scale === "thousand" ? 999 : 99) : null;
    if (rest) {
      total += rest.value;
      used = j - i + rest.used;
    }
    return { digits: String(total), used };
  }
  return { digits: String(value), used };
}

/** A number below or equal to `max` after a scale word: "twelve", "seventy six", "three hundred four". */
function parseSmall(tokens: Token[], i: number, max: number): { value: number; used: number } | null {
  const w = tokens[i]!.word;
  const next = tokens[i + 1]?.word;
  if (has(TENS, w)) {
    if (next !== undefined && has(UNITS, next) && next !== "oh" && next !== "zero")
      return { value: TENS[w]! + UNITS[next]!, used: 2 };
    return { value: TENS[w]!, used: 1 };
  }
  if (has(TEENS, w)) return { value: TEENS[w]!, used: 1 };
  if (has(UNITS, w) && w !== "oh" && w !== "zero") {
    if (max > 99 && next === "hundred") {
      const rest = tokens[i + 2] ? parseSmall(tokens, i + 2, 99) : null;
      return { value: UNITS[w]! * 100 + (rest?.value ?? 0), used: 2 + (rest?.used ?? 0) };
    }
    return { value: UNITS[w]!, used: 1 };
  }
  return null;
}

/**
 * Writes spoken numbers as digits. Text that is not a number word is kept as it is; so are lone "oh"s ("oh, I see")
 * and a lone joiner word.
 */
export function normaliseSpokenNumbers(original: string): NormalisedText {
  const out: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  const emit = (s: string, start: number, end: number) => {
    for (const ch of s) {
      for (let k = 0; k < ch.length; k++) {
        out.push(ch[k]!);
        starts.push(start);
        ends.push(end);
      }
    }
  };
  const words: Token[] = [];
  for (const m of original.matchAll(/[A-Za-z]+/g)) {
    words.push({ word: m[0].toLowerCase(), start: m.index, end: m.index + m[0].length });
  }
  let cursor = 0;
  let w = 0;
  while (w < words.length) {
    // a run: number words separated only by spaces or hyphens (and "and" inside a hundred/thousand group)
    const run: Token[] = [];
    let k = w;
    while (k < words.length) {
      const token = words[k]!;
      const gap = run.length ? original.slice(run[run.length - 1]!.end, token.start) : "";
      if (run.length && !/^[\s-]*$/.test(gap)) break;
      if (isNumberWord(token.word) || ((token.word === "hundred" || token.word === "thousand") && run.length)) {
        run.push(token);
        // an ordinal ends its number: "july twelfth nineteen seventy six" is "july 12 1976", not "july 121976"
        if (has(ORDINAL_UNITS, token.word) || has(ORDINAL_TEENS, token.word)) {
          k += 1;
          break;
        }
      } else if (token.word === "and" && run.length && words[k + 1] && isNumberWord(words[k + 1]!.word)) {
        const before = run[run.length - 1]!.word;
        if (before !== "hundred" && before !== "thousand") break;
        run.push(token);
      } else break;
      k += 1;
    }
    const onlyOh = run.every((t) => t.word === "oh");
    if (!run.length || onlyOh) {
      w += run.length || 1;
      continue;
    }
    // text before the run, kept as it is
    const first = run[0]!;
    const last = run[run.length - 1]!;
    for (let c = cursor; c < first.start; c++) emit(original[c]!, c, c + 1);
    let i = 0;
    while (i < run.length) {
      const group = parseGroup(run, i);
      if (!group) {
        // "and", "hundred" or a "double" without a digit after it: kept as written
        const t = run[i]!;
        emit(original.slice(t.start, t.end), t.start, t.end);
        i += 1;
        continue;
      }
      const from = run[i]!.start;
      const to = run[i + group.used - 1]!.end;
      emit(group.digits, from, to);
      i += group.used;
    }
    cursor = last.end;
    w = k;
    // a joiner between two runs ("one nine two dot one six eight") becomes its written character
    const joiner = words[w];
    const after = words[w + 1];
    if (
      joiner &&
      after &&
      Object.hasOwn(JOINERS, joiner.word) &&
      /^\s+$/.test(original.slice(last.end, joiner.start)) &&
      /^\s+$/.test(original.slice(joiner.end, after.start)) &&
      isNumberWord(after.word)
    ) {
      emit(JOINERS[joiner.word]!, last.end, after.start);
      cursor = after.start;
      w += 1;
    } else if (joiner && isNumberWord(joiner.word) && /^,\s+$/.test(original.slice(last.end, joiner.start))) {
      // "five five five, one two three, …": the pause comma between digit groups reads as a space
      emit(" ", last.end, joiner.start);
      cursor = joiner.start;
    }
  }
  for (let c = cursor; c < original.length; c++) emit(original[c]!, c, c + 1);
  return { text: out.join(""), starts, ends };
}
