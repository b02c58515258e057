#!/usr/bin/env node
// Stages the publishable package in dist/: compiled ESM and declarations, its own package.json and bin, the OpenAPI
// snapshot. Publish with `npm publish packages/client/dist`; try it with `npm install -g ./packages/client/dist`.
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const root = new URL("../", import.meta.url);
const dist = new URL("dist/", root);
/** @type {(path: string, base?: URL) => URL} */
const at = (path, base = root) => new URL(path, base);

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
execFileSync(process.execPath, [tsc, "-p", at("tsconfig.build.json").pathname], { stdio: "inherit" });
// tsc does not copy declaration files it only reads
copyFileSync(at("src/schema.d.ts"), at("schema.d.ts", dist));
copyFileSync(at("openapi.json"), at("openapi.json", dist));
copyFileSync(at("README.md"), at("README.md", dist));

const source = JSON.parse(readFileSync(at("package.json"), "utf8"));
const manifest = {
  name: source.name,
  version: source.version,
  type: "module",
  description: source.description,
  license: source.license,
  engines: source.engines,
  exports: {
    ".": { types: "./index.d.ts", default: "./index.js" },
    "./schema": { types: "./schema.d.ts" },
    "./openapi.json": "./openapi.json",
  },
  bin: { vtt: "./bin/vtt.js" },
  dependencies: source.dependencies,
};
writeFileSync(at("package.json", dist), JSON.stringify(manifest, null, 2) + "\n");
mkdirSync(at("bin/", dist));
writeFileSync(at("bin/vtt.js", dist), '#!/usr/bin/env node\nimport "../cli/entry.js";\n');
chmodSync(at("bin/vtt.js", dist), 0o755);
console.log("staged the package in packages/client/dist");
