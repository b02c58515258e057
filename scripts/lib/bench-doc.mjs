// Shared by the benchmark scripts: keeps docs/benchmarks.md one section per benchmark.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";

/** Replaces (or appends) one `## ` section of the benchmarks document. */
export function writeSection(path, heading, section) {
  const doc = existsSync(path)
    ? readFileSync(path, "utf8")
    : "# Benchmarks\n\nFigures measured on this project's machines, with the command that produced each.\n\n";
  const start = doc.indexOf(heading);
  let next;
  if (start === -1) next = `${doc.trimEnd()}\n\n${section}`;
  else {
    const end = doc.indexOf("\n## ", start + heading.length);
    next = doc.slice(0, start) + section + (end === -1 ? "" : doc.slice(end + 1));
  }
  mkdirSync("docs", { recursive: true });
  writeFileSync(path, next.trimEnd() + "\n");
}
