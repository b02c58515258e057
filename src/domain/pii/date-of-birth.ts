/**
 * Dates of birth: a real calendar date (day, month and a year from 1900 to today, or day and month alone after
 * "born"/"birthday") in numeric (07/12/1976, 1976-07-12, 12.07.1976) or written form ("July 12th, 1976", "the 12th
 * of July 1976", spoken "july twelfth nineteen seventy six") next to a birth cue: "born", "birth", "birthday",
 * "birthdate", "DOB" within a few words before it in the same sentence, or "… is my birthday" right after it.
 * Any other date (a due date, a meeting) is not personal data here.
 */
import { hasCue, wordsAfter, wordsBefore } from "./context.ts";
import type { DetectorInput, PiiSpan } from "./types.ts";

const MONTHS: Record<string, number> = {
  january: 1,
  jan: 1,
  february: 2,
  feb: 2,
  march: 3,
  mar: 3,
  april: 4,
  apr: 4,
  may: 5,
  june: 6,
  jun: 6,
  july: 7,
  jul: 7,
  august: 8,
  aug: 8,
  september: 9,
  sept: 9,
  sep: 9,
  october: 10,
  oct: 10,
  november: 11,
  nov: 11,
  december: 12,
  dec: 12,
};
const MONTH = Object.keys(MONTHS).join("|");
const ORD = "(?:st|nd|rd|th)?";
const PATTERNS: { re: RegExp; parts: (m: RegExpMatchArray) => { d: number; mo: number; y: number | null }[] }[] = [
  {
    // 1976-07-12
    re: /(?<![\d/.-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\d/-]|\.\d)/g,
    parts: (m) => [{ y: Number(m[1]), mo: Number(m[2]), d: Number(m[3]) }],
  },
  {
    // 07/12/1976 (US month first, or day first when that is the only real date), 12.07.1976, 7-12-76
    re: /(?<![\d/.-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\d/-]|\.\d)/g,
    parts: (m) => {
      const a = Number(m[1]);
      const b = Number(m[3]);
      const y = m[4]!.length === 2 ? twoDigitYear(Number(m[4])) : Number(m[4]);
      return [
        { mo: a, d: b, y },
        { mo: b, d: a, y },
      ];
    },
  },
  {
    // July 12, 1976 · July 12th 1976 · July 12
    re: new RegExp(String.raw`\b(${MONTH})\.?\s+(\d{1,2})${ORD}(?:,?\s+(\d{4}))?(?!\d)`, "gi"),
    parts: (m) => [{ mo: MONTHS[m[1]!.toLowerCase()]!, d: Number(m[2]), y: m[3] ? Number(m[3]) : null }],
  },
  {
    // 12 July 1976 · the 12th of July, 1976
    re: new RegExp(String.raw`(?<![\d/.-])(\d{1,2})${ORD}\s+(?:of\s+)?(${MONTH})\b\.?(?:,?\s+(\d{4}))?(?!\d)`, "gi"),
    parts: (m) => [{ d: Number(m[1]), mo: MONTHS[m[2]!.toLowerCase()]!, y: m[3] ? Number(m[3]) : null }],
  },
];

const BEFORE_CUES: ReadonlySet<string> = new Set(["born", "birth", "birthday", "birthdate", "dob"]);
const DAY_MONTH_CUES: ReadonlySet<string> = new Set(["born", "birthday"]);

function twoDigitYear(y: number): number {
  const century = y > new Date().getUTCFullYear() % 100 ? 1900 : 2000;
  return century + y;
}

/** Whether day, month and year name a real date of birth (a year from 1900 up to the current one). */
export function isPlausibleBirthDate(d: number, mo: number, y: number | null, now = new Date()): boolean {
  if (mo < 1 || mo > 12 || d < 1) return false;
  const year = y ?? 2000; // a leap year: 29 February without a year is a real birthday
  if (y !== null && (y < 1900 || y > now.getUTCFullYear())) return false;
  const days = new Date(Date.UTC(year, mo, 0)).getUTCDate();
  if (d > days) return false;
  return y === null || Date.UTC(y, mo - 1, d) <= now.getTime();
}

function birthCueBefore(text: string, index: number, yearGiven: boolean): boolean {
  const words = wordsBefore(text, index, 4);
  if (!yearGiven) return hasCue(words, DAY_MONTH_CUES);
  if (hasCue(words, BEFORE_CUES)) return true;
  // "D.O.B." reads as the letters d o b
  return words.join(" ").includes("d o b");
}

function birthCueAfter(text: string, end: number): boolean {
  const words = wordsAfter(text, end, 5);
  return words.includes("birthday") || words.join(" ").includes("date of birth") || words.includes("born");
}

export function detectDatesOfBirth(input: DetectorInput): PiiSpan[] {
  const text = input.normalised;
  const spans: PiiSpan[] = [];
  for (const { re, parts } of PATTERNS) {
    for (const m of text.matchAll(re)) {
      const candidates = parts(m);
      const yearGiven = candidates[0]!.y !== null;
      if (!candidates.some((c) => isPlausibleBirthDate(c.d, c.mo, c.y))) continue;
      const end = m.index + m[0].length;
      if (!birthCueBefore(text, m.index, yearGiven) && !(yearGiven && birthCueAfter(text, end))) continue;
      spans.push({ type: "date_of_birth", ...input.toOriginal(m.index, end) });
    }
  }
  return spans;
}
