#!/usr/bin/env node
// Reads a V8 heap snapshot (bench/memory/run.mjs --snapshot-after-s) and prints what holds the bytes: the total of
// ArrayBuffer backing stores and typed arrays, the largest ones, and for each the shortest retaining path from the
// GC roots (strong edges only), so "which object keeps the audio alive" is read, not guessed.
// Usage: node bench/memory/retainers.mjs FILE [--top 15] [--min-kib 64]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "15" }, "min-kib": { type: "string", default: "64" } },
});
const snap = JSON.parse(readFileSync(positionals[0], "utf8"));
const { node_fields: nf, edge_fields: ef, node_types: nt, edge_types: et } = snap.snapshot.meta;
const N = nf.length;
const E = ef.length;
const nodes = snap.nodes;
const edges = snap.edges;
const strings = snap.strings;
const typeNames = nt[0];
const edgeTypeNames = et[0];
const [TYPE, NAME, ID, SIZE, EDGES] = ["type", "name", "id", "self_size", "edge_count"].map((f) => nf.indexOf(f));
const [ETYPE, ENAME, ETO] = ["type", "name_or_index", "to_node"].map((f) => ef.indexOf(f));
const count = nodes.length / N;
const firstEdge = new Uint32Array(count + 1);
for (let i = 0, e = 0; i < count; i++) {
  firstEdge[i] = e;
  e += nodes[i * N + EDGES] * E;
  firstEdge[i + 1] = e;
}
const nameOf = (i) => strings[nodes[i * N + NAME]];
const typeOf = (i) => typeNames[nodes[i * N + TYPE]];
const sizeOf = (i) => nodes[i * N + SIZE];
const label = (i) =>
  `${typeOf(i)} ${String(nameOf(i)).slice(0, 60)} @${nodes[i * N + ID]} (${(sizeOf(i) / 1024).toFixed(0)} KiB)`;

// shortest strong path from the root (node 0) to every node
const parent = new Int32Array(count).fill(-1);
const parentEdge = new Int32Array(count).fill(-1);
parent[0] = 0;
const queue = new Uint32Array(count);
let head = 0;
let tail = 0;
queue[tail++] = 0;
while (head < tail) {
  const from = queue[head++];
  for (let e = firstEdge[from]; e < firstEdge[from + 1]; e += E) {
    if (edgeTypeNames[edges[e + ETYPE]] === "weak") continue;
    const to = edges[e + ETO] / N;
    if (parent[to] !== -1) continue;
    parent[to] = from;
    parentEdge[to] = e;
    queue[tail++] = to;
  }
}
const edgeLabel = (e) => {
  const type = edgeTypeNames[edges[e + ETYPE]];
  const n = edges[e + ENAME];
  return type === "element" || type === "hidden" ? `[${n}]` : `.${strings[n]}`;
};

const MIN = Number(values["min-kib"]) * 1024;
const byName = new Map();
const big = [];
for (let i = 0; i < count; i++) {
  const size = sizeOf(i);
  const key = `${typeOf(i)} ${nameOf(i)}`;
  const entry = byName.get(key) ?? { n: 0, bytes: 0 };
  entry.n += 1;
  entry.bytes += size;
  byName.set(key, entry);
  if (size >= MIN) big.push(i);
}
console.log(`${count} nodes; the largest groups by self size:`);
for (const [key, v] of [...byName].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 12)) {
  console.log(`  ${(v.bytes / 1048576).toFixed(2).padStart(8)} MiB  ${String(v.n).padStart(7)} × ${key.slice(0, 90)}`);
}
big.sort((a, b) => sizeOf(b) - sizeOf(a));
const total = big.reduce((n, i) => n + sizeOf(i), 0);
console.log(
  `\n${big.length} nodes of ≥ ${values["min-kib"]} KiB, ${(total / 1048576).toFixed(2)} MiB in all; the largest:`,
);
for (const i of big.slice(0, Number(values.top))) {
  console.log(`\n${label(i)}`);
  if (parent[i] === -1) {
    console.log("  (unreachable from the roots through strong edges: garbage or held natively)");
    continue;
  }
  const path = [];
  for (let at = i; at !== 0 && path.length < 30; at = parent[at])
    path.push(`${edgeLabel(parentEdge[at])} → ${label(at)}`);
  for (const step of path.reverse()) console.log(`  ${step}`);
}
