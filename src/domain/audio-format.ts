/**
 * Audio container detection from magic bytes. Pure: no Cloudflare bindings, so it runs in workerd and Node alike.
 *
 * The client's Content-Type and file name are never trusted; only the leading bytes decide. Each check is strict
 * enough that a well-known non-audio file (text, PNG, ZIP, PDF, JPEG, GIF, HEIC/AVIF, Theora video) is refused.
 */
import { parseWavHeader, WAV_FORMAT_EXTENSIBLE, WAV_FORMAT_FLOAT, WAV_FORMAT_PCM } from "./riff.ts";

export type AudioContainer = "wav" | "mp3" | "flac" | "ogg" | "webm" | "mp4";

/** The detected container and the MIME type stored with the object. */
export interface SniffedAudio {
  format: AudioContainer;
  contentType: string;
}

/**
 * How many leading bytes {@link sniffAudio} wants. Generous for a WAV whose `fmt ` chunk follows a `bext`/`JUNK`
 * chunk (broadcast WAV), and still tiny next to an upload part. Shorter input is fine when the file itself is shorter.
 */
export const SNIFF_BYTES = 4096;

const WAV_FORMATS = new Set([WAV_FORMAT_PCM, WAV_FORMAT_FLOAT, WAV_FORMAT_EXTENSIBLE]);
const WAV_MAX_CHANNELS = 8;
const WAV_MIN_SAMPLE_RATE = 1_000;
const WAV_MAX_SAMPLE_RATE = 384_000;

const EBML_MAGIC = [0x1a, 0x45, 0xdf, 0xa3];
const EBML_DOCTYPE_ID = 0x4282;
const MATROSKA_DOC_TYPES = new Set(["webm", "matroska"]);

/** ISO-BMFF brands that carry (or may carry) an audio track. `3gp`/`3g2` families are matched by prefix. */
const MP4_AUDIO_BRANDS = new Set([
  "M4A ",
  "M4B ",
  "M4P ",
  "mp41",
  "mp42",
  "isom",
  "iso2",
  "iso4",
  "iso5",
  "iso6",
  "dash",
]);
const MP4_AUDIO_BRAND_PREFIXES = ["3gp", "3g2"];
/** Still-image brands: an HEIF/AVIF file also lists generic brands such as `iso8`/`mif1`, so these veto it. */
const MP4_IMAGE_BRANDS = new Set([
  "heic",
  "heix",
  "heim",
  "heis",
  "hevc",
  "hevx",
  "mif1",
  "msf1",
  "avif",
  "avis",
  "avci",
  "jpeg",
  "crx ",
]);

/** Ogg first-packet signatures of the audio codecs we accept (Opus, Vorbis, FLAC-in-Ogg). */
const OGG_AUDIO_SIGNATURES = ["OpusHead", "\x01vorbis", "\x7fFLAC"];
const OGG_PAGE_HEADER_BYTES = 27;

function ascii(bytes: Uint8Array, offset: number, length: number): string {
  if (offset + length > bytes.length) return "";
  let out = "";
  for (let i = offset; i < offset + length; i++) out += String.fromCharCode(bytes[i]!);
  return out;
}

function u32be(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

/**
 * RIFF/WAVE whose `fmt ` chunk (found in the head, before any `data`; chunks such as bext, JUNK, LIST are skipped)
 * names a format we decode, a plausible channel count and a plausible sample rate.
 */
function isWav(head: Uint8Array): boolean {
  const fmt = parseWavHeader(head)?.fmt;
  if (!fmt) return false;
  return (
    WAV_FORMATS.has(fmt.formatTag) &&
    fmt.channels >= 1 &&
    fmt.channels <= WAV_MAX_CHANNELS &&
    fmt.sampleRate >= WAV_MIN_SAMPLE_RATE &&
    fmt.sampleRate <= WAV_MAX_SAMPLE_RATE
  );
}

/** ID3v2 tag header: "ID3", major version 2..4, revision < 0xFF, synchsafe size bytes. */
function isId3(head: Uint8Array): boolean {
  if (head.length < 10 || ascii(head, 0, 3) !== "ID3") return false;
  const major = head[3]!;
  if (major < 2 || major > 4 || head[4] === 0xff) return false;
  for (let i = 6; i < 10; i++) if (head[i]! >= 0x80) return false;
  return true;
}

function id3TagBytes(head: Uint8Array): number {
  const size = (head[6]! << 21) | (head[7]! << 14) | (head[8]! << 7) | head[9]!;
  const hasFooter = (head[5]! & 0x10) !== 0;
  return 10 + size + (hasFooter ? 10 : 0);
}

/** MPEG-1/2/2.5 audio frame header, layer II or III, valid bitrate and sample-rate indices. */
function isMpegAudioFrame(head: Uint8Array, offset = 0): boolean {
  if (offset + 4 > head.length) return false;
  const b1 = head[offset + 1]!;
  const b2 = head[offset + 2]!;
  if (head[offset] !== 0xff || (b1 & 0xe0) !== 0xe0) return false;
  const version = (b1 >> 3) & 0b11; // 01 is reserved
  const layer = (b1 >> 1) & 0b11; // 01 = III, 10 = II, 11 = I, 00 reserved (also AAC ADTS)
  const bitrateIndex = b2 >> 4;
  const sampleRateIndex = (b2 >> 2) & 0b11;
  return (
    version !== 0b01 &&
    (layer === 0b01 || layer === 0b10) &&
    bitrateIndex !== 0 &&
    bitrateIndex !== 0xf &&
    sampleRateIndex !== 0b11
  );
}

/** "fLaC" followed by a STREAMINFO block (type 0, 34 bytes), which the format requires first. */
function isFlac(head: Uint8Array, offset = 0): boolean {
  if (ascii(head, offset, 4) !== "fLaC" || offset + 8 > head.length) return false;
  const blockType = head[offset + 4]! & 0x7f;
  const blockLength = (head[offset + 5]! << 16) | (head[offset + 6]! << 8) | head[offset + 7]!;
  return blockType === 0 && blockLength === 34;
}

/** First Ogg page (version 0, beginning-of-stream) whose first packet is an Opus, Vorbis or FLAC header. */
function isOggAudio(head: Uint8Array): boolean {
  if (ascii(head, 0, 4) !== "OggS" || head.length < OGG_PAGE_HEADER_BYTES || head[4] !== 0) return false;
  const segments = head[26]!;
  const payload = OGG_PAGE_HEADER_BYTES + segments;
  return OGG_AUDIO_SIGNATURES.some((signature) => ascii(head, payload, signature.length) === signature);
}

/** An EBML variable-length integer at `offset`; `keepMarker` keeps the length bits (element IDs do). */
function readVint(bytes: Uint8Array, offset: number, keepMarker: boolean): { value: number; length: number } | null {
  const first = bytes[offset];
  if (first === undefined || first === 0) return null;
  const length = Math.clz32(first) - 23; // leading zeros within the byte, plus one
  if (length > 8 || offset + length > bytes.length) return null;
  let value = keepMarker ? first : first & (0xff >> length);
  for (let i = 1; i < length; i++) value = value * 256 + bytes[offset + i]!;
  return { value, length };
}

/** EBML header whose DocType is "webm" or "matroska". */
function isMatroska(head: Uint8Array): boolean {
  if (!EBML_MAGIC.every((byte, i) => head[i] === byte)) return false;
  const headerSize = readVint(head, 4, false);
  if (!headerSize) return false;
  let offset = 4 + headerSize.length;
  const end = Math.min(head.length, offset + headerSize.value);
  while (offset < end) {
    const id = readVint(head, offset, true);
    if (!id) return false;
    const size = readVint(head, offset + id.length, false);
    if (!size) return false;
    const body = offset + id.length + size.length;
    if (id.value === EBML_DOCTYPE_ID) {
      const docType = ascii(head, body, size.value).replace(/\0+$/, "");
      return MATROSKA_DOC_TYPES.has(docType);
    }
    offset = body + size.value;
  }
  return false;
}

function isAudioBrand(brand: string): boolean {
  return MP4_AUDIO_BRANDS.has(brand) || MP4_AUDIO_BRAND_PREFIXES.some((prefix) => brand.startsWith(prefix));
}

/** ISO-BMFF `ftyp` box at offset 4 listing an audio-capable brand and no still-image brand. */
function isMp4Audio(head: Uint8Array): boolean {
  if (ascii(head, 4, 4) !== "ftyp" || head.length < 12) return false;
  const boxSize = u32be(head, 0);
  if (boxSize < 16 || (boxSize - 16) % 4 !== 0) return false;
  const brands = [ascii(head, 8, 4)];
  for (let offset = 16; offset + 4 <= Math.min(boxSize, head.length); offset += 4) brands.push(ascii(head, offset, 4));
  if (brands.some((brand) => MP4_IMAGE_BRANDS.has(brand))) return false;
  return brands.some(isAudioBrand);
}

/**
 * Identifies the container from magic bytes only (never trust Content-Type or file name).
 * Pass at least {@link SNIFF_BYTES} leading bytes when the file has that many.
 * @returns the container and its MIME type, or null when this is not audio we accept (or too short to tell).
 */
export function sniffAudio(head: Uint8Array): SniffedAudio | null {
  if (isWav(head)) return { format: "wav", contentType: "audio/wav" };
  if (isFlac(head)) return { format: "flac", contentType: "audio/flac" };
  if (isId3(head)) {
    // ID3-tagged FLAC exists; when the tag is small enough to see past, let the stream itself decide
    const tagEnd = id3TagBytes(head);
    if (isFlac(head, tagEnd)) return { format: "flac", contentType: "audio/flac" };
    return { format: "mp3", contentType: "audio/mpeg" };
  }
  if (isMpegAudioFrame(head)) return { format: "mp3", contentType: "audio/mpeg" };
  if (isOggAudio(head)) return { format: "ogg", contentType: "audio/ogg" };
  if (isMatroska(head)) return { format: "webm", contentType: "audio/webm" };
  if (isMp4Audio(head)) return { format: "mp4", contentType: "audio/mp4" };
  return null;
}
