/**
 * PII detection benchmark: precision and recall per entity type over the labelled corpus (bench/pii/corpus.ts).
 * A finding counts as a true positive when it overlaps a labelled entity of the same type. Prints the table and
 * writes it, with the command, into docs/benchmarks.md (between the `pii` markers).
 *
 *   npx tsx bench/pii/run.ts
 */
import { readFileSync, writeFileSync } from "node:fs";

import { detectPii, PII_ENTITY_TYPES, type PiiEntityType } from "../../src/domain/pii/index.ts";
import { CORPUS } from "./corpus.ts";

const stats = new Map<PiiEntityType, { tp: number; fp: number; fn: number; labelled: number }>(
  PII_ENTITY_TYPES.map((t) => [t, { tp: 0, fp: 0, fn: 0, labelled: 0 }]),
);
const misses: string[] = [];
const started = performance.now();
for (const sentence of CORPUS) {
  const found = detectPii(sentence.text, PII_ENTITY_TYPES);
  const labels = sentence.entities.map((e) => {
    const start = sentence.text.indexOf(e.value);
    if (start < 0) throw new Error(`label "${e.value}" is not in "${sentence.text}"`);
    return { ...e, start, end: start + e.value.length, matched: false };
  });
  for (const span of found) {
    const label = labels.find((l) => l.type === span.type && span.start < l.end && span.end > l.start);
    if (label) {
      label.matched = true;
      stats.get(span.type)!.tp += 1;
    } else {
      stats.get(span.type)!.fp += 1;
      misses.push(`FP ${span.type}: ${sentence.text.slice(span.start, span.end)} | ${sentence.text}`);
    }
  }
  for (const label of labels) {
    stats.get(label.type)!.labelled += 1;
    if (!label.matched) {
      stats.get(label.type)!.fn += 1;
      misses.push(`FN ${label.type}: ${label.value} | ${sentence.text}`);
    }
  }
}
const ms = performance.now() - started;
const ratio = (a: number, b: number) => (b === 0 ? "—" : (a / b).toFixed(3));
const rows = [...stats].map(
  ([type, s]) =>
    `| ${type} | ${s.labelled} | ${s.tp} | ${s.fp} | ${s.fn} | ${ratio(s.tp, s.tp + s.fp)} | ${ratio(s.tp, s.tp + s.fn)} |`,
);
const table = [
  `Corpus: ${CORPUS.length} sentences (${CORPUS.filter((s) => !s.entities.length).length} without any entity); detection took ${ms.toFixed(0)} ms in all (${((ms / CORPUS.length) * 1000).toFixed(0)} µs a sentence, Node ${process.version}).`,
  "",
  "| type | labelled | TP | FP | FN | precision | recall |",
  "|---|---|---|---|---|---|---|",
  ...rows,
].join("\n");
console.log(table);
if (misses.length) console.log(`\n${misses.join("\n")}`);

const DOC = "docs/benchmarks.md";
const section = `<!-- pii:start -->\n## PII detection (\`bench/pii\`)\n\nCommand: \`npx tsx bench/pii/run.ts\`\n\n${table}\n<!-- pii:end -->`;
const doc = readFileSync(DOC, "utf8");
const updated = /<!-- pii:start -->[\s\S]*<!-- pii:end -->/.test(doc)
  ? doc.replace(/<!-- pii:start -->[\s\S]*<!-- pii:end -->/, section)
  : `${doc.trimEnd()}\n\n${section}\n`;
writeFileSync(DOC, updated);
