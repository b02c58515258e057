/** WAV encoding is shared with the edge (pure code in src/domain). */
export { encodeWav16 } from "../../../src/domain/wav.ts";
