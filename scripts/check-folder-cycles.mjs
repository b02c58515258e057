// Fails when the Worker's top-level folders (src/<folder>) import each other in a cycle, type-only imports aside.
// Reads dependency-cruiser's JSON report on stdin: `depcruise src --output-type json | node scripts/check-folder-cycles.mjs`.
import { readFileSync } from "node:fs";

const report = JSON.parse(readFileSync(0, "utf8"));
const folderOf = (path) => /^src\/([^/]+)\//.exec(path)?.[1] ?? null;
const edges = new Map();
for (const module of report.modules) {
  const from = folderOf(module.source);
  if (!from) continue;
  for (const dependency of module.dependencies) {
    const to = folderOf(dependency.resolved);
    if (!to || to === from || dependency.dependencyTypes.includes("type-only")) continue;
    if (!edges.has(from)) edges.set(from, new Map());
    const targets = edges.get(from);
    targets.set(to, [...(targets.get(to) ?? []), `${module.source} → ${dependency.resolved}`]);
  }
}

// Tarjan's strongly connected components: any component of two or more folders is a cycle.
let index = 0;
const stack = [];
const state = new Map();
const cycles = [];
function visit(node) {
  state.set(node, { index, low: index, onStack: true });
  index++;
  stack.push(node);
  for (const next of edges.get(node)?.keys() ?? []) {
    if (!state.has(next)) {
      visit(next);
      state.get(node).low = Math.min(state.get(node).low, state.get(next).low);
    } else if (state.get(next).onStack) {
      state.get(node).low = Math.min(state.get(node).low, state.get(next).index);
    }
  }
  if (state.get(node).low === state.get(node).index) {
    const component = [];
    let member;
    do {
      member = stack.pop();
      state.get(member).onStack = false;
      component.push(member);
    } while (member !== node);
    if (component.length > 1) cycles.push(component);
  }
}
for (const node of edges.keys()) if (!state.has(node)) visit(node);

if (cycles.length) {
  for (const cycle of cycles) {
    console.error(`folder cycle: ${cycle.join(" ⇄ ")}`);
    for (const from of cycle)
      for (const [to, via] of edges.get(from) ?? [])
        if (cycle.includes(to)) console.error(`  ${from} → ${to}: ${via.slice(0, 3).join(", ")}`);
  }
  process.exit(1);
}
console.log(`no folder cycles among ${edges.size} folders`);
