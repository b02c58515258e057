/**
 * RIFF/WAVE header parsing (pure): walks the chunks after `RIFF....WAVE`, returns the `fmt ` fields and where the
 * `data` chunk lies. It judges nothing beyond the structure; the upload sniffer (`audio-format.ts`) and the drift
 * features (`drift/features.ts`) each apply their own rules to the fields.
 *
 * Usually given only the leading bytes of a file, so a chunk whose header lies beyond them ends the walk quietly.
 */

export const WAV_FORMAT_PCM = 0x0001;
export const WAV_FORMAT_FLOAT = 0x0003;
export const WAV_FORMAT_EXTENSIBLE = 0xfffe;
/** A `fmt ` chunk holds at least the six PCM fields (16 bytes); float and extensible formats add more after them. */
export const WAV_FMT_MIN_BYTES = 16;

/** `RIFF`, the 4-byte size of the rest, `WAVE`. */
const RIFF_HEADER_BYTES = 12;
/** Each chunk: 4-byte id + 4-byte little-endian size, then the body. */
const RIFF_CHUNK_HEADER_BYTES = 8;

/** One chunk of a RIFF file. */
export interface RiffChunk {
  /** four-character code, e.g. `fmt `, `data`, `LIST` */
  id: string;
  /** byte offset of the chunk's body (just after its 8-byte header) */
  bodyOffset: number;
  /** body size the header declares; the body may run past the bytes given */
  size: number;
}

/** The six fields every `fmt ` chunk starts with. */
export interface WavFmt {
  formatTag: number;
  channels: number;
  sampleRate: number;
  /** bytes per second, as declared */
  byteRate: number;
  /** bytes per sample frame (all channels), as declared */
  blockAlign: number;
  bitsPerSample: number;
}

/** What a RIFF/WAVE header says, before anyone judges it. */
export interface WavHeader {
  fmt: WavFmt;
  /** declared size of the `fmt ` chunk (16, 18 or 40 in practice) */
  fmtBytes: number;
  /**
   * The `data` chunk: offset of its first audio byte and its declared size (which streaming writers leave as 0 or
   * 0xFFFFFFFF); null when its header lies beyond the bytes given.
   */
  data: { offset: number; size: number } | null;
}

/** True when `bytes` starts with a RIFF header of form type `WAVE`. */
export function isRiffWave(bytes: Uint8Array): boolean {
  return bytes.length >= RIFF_HEADER_BYTES && fourCC(bytes, 0) === "RIFF" && fourCC(bytes, 8) === "WAVE";
}

/**
 * The chunks after the RIFF/WAVE header, in file order, for as long as each chunk's 8-byte header lies inside
 * `bytes`. Odd-sized chunks are followed by the pad byte RIFF requires, which is skipped. Yields nothing when `bytes`
 * is not RIFF/WAVE.
 */
export function* riffChunks(bytes: Uint8Array): Generator<RiffChunk> {
  if (!isRiffWave(bytes)) return;
  let offset = RIFF_HEADER_BYTES;
  while (offset + RIFF_CHUNK_HEADER_BYTES <= bytes.length) {
    const size = u32le(bytes, offset + 4);
    const bodyOffset = offset + RIFF_CHUNK_HEADER_BYTES;
    yield { id: fourCC(bytes, offset), bodyOffset, size };
    offset = bodyOffset + size + (size % 2);
  }
}

/**
 * Reads the `fmt ` chunk and locates the `data` chunk of a RIFF/WAVE file from its leading bytes; chunks before
 * either (`bext`, `JUNK`, `LIST`) are skipped while their headers fit.
 *
 * Returns null when the bytes are not RIFF/WAVE, when no `fmt ` chunk is found in them, when that chunk declares
 * fewer than 16 bytes or its first 16 bytes lie beyond `bytes`, or when a `data` chunk comes before it (audio before
 * its format description is no valid WAV). Only the first `fmt ` and `data` chunks count.
 */
export function parseWavHeader(bytes: Uint8Array): WavHeader | null {
  let fmt: WavFmt | null = null;
  let fmtBytes = 0;
  for (const chunk of riffChunks(bytes)) {
    if (chunk.id === "fmt " && !fmt) {
      if (chunk.size < WAV_FMT_MIN_BYTES || chunk.bodyOffset + WAV_FMT_MIN_BYTES > bytes.length) return null;
      fmt = readFmt(bytes, chunk.bodyOffset);
      fmtBytes = chunk.size;
    } else if (chunk.id === "data") {
      if (!fmt) return null;
      return { fmt, fmtBytes, data: { offset: chunk.bodyOffset, size: chunk.size } };
    }
  }
  return fmt ? { fmt, fmtBytes, data: null } : null;
}

function readFmt(bytes: Uint8Array, body: number): WavFmt {
  return {
    formatTag: u16le(bytes, body),
    channels: u16le(bytes, body + 2),
    sampleRate: u32le(bytes, body + 4),
    byteRate: u32le(bytes, body + 8),
    blockAlign: u16le(bytes, body + 12),
    bitsPerSample: u16le(bytes, body + 14),
  };
}

function fourCC(bytes: Uint8Array, offset: number): string {
  return String.fromCharCode(bytes[offset]!, bytes[offset + 1]!, bytes[offset + 2]!, bytes[offset + 3]!);
}

function u16le(bytes: Uint8Array, offset: number): number {
  return bytes[offset]! | (bytes[offset + 1]! << 8);
}

function u32le(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}
