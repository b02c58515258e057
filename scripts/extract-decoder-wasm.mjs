/**
 * Writes the WebAssembly of the edge's audio decoders (src/domain/audio-decode/wasm/*.wasm) from the npm packages.
 *
 * The packages embed their WASM as a compressed string and compile it at run time, which workerd refuses ("Wasm code
 * generation disallowed by embedder"): a Worker may only instantiate modules it was deployed with. So the bytes are
 * taken out here, in Node, committed, and imported as compiled modules (src/domain/audio-decode/decoders.ts hands
 * each to its library, recognised by the head of its embedded string: manifest.json). `--check` fails when a committed file differs from what the installed package embeds (run
 * after upgrading a decoder package, then run without `--check`).
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { WASMAudioDecoderCommon } from "@wasm-audio-decoders/common";

const root = path.join(import.meta.dirname, "..");
const out = path.join(root, "src/domain/audio-decode/wasm");
/** output file → the package file that embeds it */
const SOURCES = {
  "mpg123.wasm": "node_modules/mpg123-decoder/src/EmscriptenWasm.js",
  "flac.wasm": "node_modules/@wasm-audio-decoders/flac/src/EmscriptenWasm.js",
  "vorbis.wasm": "node_modules/@wasm-audio-decoders/ogg-vorbis/src/EmscriptenWasm.js",
  "opus.wasm": "node_modules/opus-decoder/src/EmscriptenWasm.js",
};

const check = process.argv.includes("--check");
new WASMAudioDecoderCommon(); // defines the static helpers
let stale = 0;
/** file → the first 21 characters of the embedded string ("dynEncode01", offset, CRC-32 of the payload) */
const manifest = {};
for (const [file, source] of Object.entries(SOURCES)) {
  const { default: EmscriptenWASM } = await import(pathToFileURL(path.join(root, source)).href);
  new EmscriptenWASM(WASMAudioDecoderCommon); // its constructor defines the static `wasm` string
  manifest[file] = EmscriptenWASM.wasm.slice(0, 21);
  const bytes = await WASMAudioDecoderCommon.inflateDynEncodeString(EmscriptenWASM.wasm);
  if (!WebAssembly.validate(bytes)) throw new Error(`${source}: the embedded WASM does not validate`);
  const target = path.join(out, file);
  if (check) {
    const committed = await readFile(target).catch(() => null);
    if (!committed || Buffer.compare(committed, Buffer.from(bytes)) !== 0) {
      console.error(`${file}: differs from ${source}`);
      stale += 1;
    }
  } else {
    await writeFile(target, bytes);
    console.log(`${file}: ${bytes.length} bytes`);
  }
}
const manifestPath = path.join(out, "manifest.json");
const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
if (check) {
  if ((await readFile(manifestPath, "utf8").catch(() => "")) !== manifestText) {
    console.error("manifest.json: differs from the installed packages");
    stale += 1;
  }
} else await writeFile(manifestPath, manifestText);
if (stale) process.exit(1);
