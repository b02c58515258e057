/**
 * Email addresses, written ("jane.doe@example.com") or spoken ("jane dot doe at example dot com"). A candidate is
 * kept only when it is a well-formed address: a local part of ≤ 64 characters without leading, trailing or doubled
 * dots, and a domain of ≤ 253 characters whose labels are 1–63 letters, digits or inner hyphens, ending in an
 * alphabetic top-level label of 2–24 letters.
 */
import type { DetectorInput, PiiSpan } from "./types.ts";

const WRITTEN = /[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;
/** "report@2024.pdf" names a file: these endings are not top-level domains anyone mails to */
const FILE_EXTENSIONS: ReadonlySet<string> = new Set([
  "pdf",
  "doc",
  "docx",
  "txt",
  "png",
  "jpg",
  "jpeg",
  "gif",
  "wav",
  "mp3",
  "zip",
  "csv",
  "xlsx",
  "json",
]);
const DOMAIN_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;

/** Whether `address` is a well-formed email address (syntax only; nothing is looked up). */
export function isValidEmailAddress(address: string): boolean {
  if (address.length > 254) return false;
  const at = address.lastIndexOf("@");
  if (at <= 0) return false;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length > 64 || !LOCAL_PART.test(local)) return false;
  if (domain.length > 253) return false;
  const labels = domain.split(".");
  if (labels.length < 2 || !labels.every((l) => DOMAIN_LABEL.test(l))) return false;
  const tld = labels[labels.length - 1]!;
  return /^[A-Za-z]{2,24}$/.test(tld) && !FILE_EXTENSIONS.has(tld.toLowerCase());
}

// spoken: words joined by "dot", "underscore", "dash", "hyphen", "plus"; then "at"; then a domain ending "dot tld"
const SPOKEN_JOIN = "(?:dot|underscore|dash|hyphen|plus)";
const SPOKEN = new RegExp(
  String.raw`\b([a-z0-9]+(?:\s+${SPOKEN_JOIN}\s+[a-z0-9]+)*)\s+at\s+([a-z0-9]+(?:(?:\s+dot\s+|\.)[a-z0-9]+)*(?:\s+dot\s+|\.)(com|org|net|edu|gov|io|co|uk|us|de|fr|es|it|nl|ca|au|info|biz|me|ai|app|dev))\b`,
  "gi",
);
const SPOKEN_CHARS: Record<string, string> = { dot: ".", underscore: "_", dash: "-", hyphen: "-", plus: "+" };

function spokenToAddress(local: string, domain: string): string {
  const join = (s: string) =>
    s.replace(/\s+(dot|underscore|dash|hyphen|plus)\s+/gi, (_, w: string) => SPOKEN_CHARS[w.toLowerCase()]!);
  return `${join(local)}@${join(domain)}`.toLowerCase();
}

export function detectEmailAddresses(input: DetectorInput): PiiSpan[] {
  const spans: PiiSpan[] = [];
  for (const m of input.original.matchAll(WRITTEN)) {
    const value = m[0].replace(/[.-]+$/, "");
    if (isValidEmailAddress(value)) spans.push({ type: "email_address", start: m.index, end: m.index + value.length });
  }
  for (const m of input.original.matchAll(SPOKEN)) {
    // the local part's first word may be the sentence's verb ("is"): keep the words after the last one of those
    if (isValidEmailAddress(spokenToAddress(m[1]!, m[2]!)))
      spans.push({ type: "email_address", start: m.index, end: m.index + m[0].length });
  }
  return spans;
}
