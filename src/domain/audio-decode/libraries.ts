/**
 * The decoder libraries and their deployed WASM, loaded by decoders.ts on first use.
 *
 * workerd refuses to compile WebAssembly from bytes at run time, which is how these libraries load the WASM they
 * embed. So the modules are deployed with the Worker (`wasm/*.wasm`, written from the packages by
 * scripts/extract-decoder-wasm.mjs) and put in the libraries' shared module cache, recognised by the head of the
 * string each library embeds (`wasm/manifest.json`): a library asks the cache first and compiles only on a miss, so
 * here it never compiles.
 */
import { WASMAudioDecoderCommon } from "@wasm-audio-decoders/common";
import { FLACDecoder } from "@wasm-audio-decoders/flac";
import { OggVorbisDecoder } from "@wasm-audio-decoders/ogg-vorbis";
import CodecParser from "codec-parser";
import { MPEGDecoder } from "mpg123-decoder";
import { OpusDecoder } from "opus-decoder";

import flacWasm from "./wasm/flac.wasm";
import manifest from "./wasm/manifest.json";
import mpg123Wasm from "./wasm/mpg123.wasm";
import opusWasm from "./wasm/opus.wasm";
import vorbisWasm from "./wasm/vorbis.wasm";

export { CodecParser, FLACDecoder, MPEGDecoder, OggVorbisDecoder, OpusDecoder };

/** How long the head of an embedded string is: "dynEncode01", an offset (2 hex), the payload's CRC-32 (8 hex). */
const EMBEDDED_HEAD_CHARS = 21;

const MODULES_BY_HEAD: ReadonlyMap<string, WebAssembly.Module> = new Map([
  [manifest["mpg123.wasm"], mpg123Wasm],
  [manifest["flac.wasm"], flacWasm],
  [manifest["vorbis.wasm"], vorbisWasm],
  [manifest["opus.wasm"], opusWasm],
]);

interface ModuleCache {
  modules: WeakMap<object, Promise<WebAssembly.Module>>;
}

let installed = false;

/** Makes the libraries' module cache answer with the deployed modules (idempotent). */
export function installModules(): void {
  if (installed) return;
  new WASMAudioDecoderCommon(); // defines the static module cache
  const cache = (WASMAudioDecoderCommon as unknown as ModuleCache).modules;
  const lookup = WeakMap.prototype.get.bind(cache);
  cache.get = (ref: object) => {
    const cached = lookup(ref);
    if (cached) return cached;
    const embedded: unknown = (ref as { wasm?: unknown }).wasm;
    const module =
      typeof embedded === "string" ? MODULES_BY_HEAD.get(embedded.slice(0, EMBEDDED_HEAD_CHARS)) : undefined;
    if (!module) return undefined;
    const ready = Promise.resolve(module);
    cache.set(ref, ready);
    return ready;
  };
  installed = true;
}
