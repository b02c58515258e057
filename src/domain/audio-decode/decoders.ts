/**
 * Streaming WASM decoders for the compressed containers the edge can rewrite: MP3 (mpg123-decoder), FLAC and
 * FLAC-in-Ogg (@wasm-audio-decoders/flac), Ogg Vorbis (@wasm-audio-decoders/ogg-vorbis) and Ogg Opus (opus-decoder
 * behind codec-parser's Ogg demuxer). Each takes the file in chunks of any size and returns the PCM decoded so far:
 * memory is bounded by the chunk, never the recording. The libraries and their WASM (libraries.ts) load on first
 * use. Pure: no bindings.
 */
import type { FLACDecoder } from "@wasm-audio-decoders/flac";
import type { OggVorbisDecoder } from "@wasm-audio-decoders/ogg-vorbis";
import type { default as CodecParser, OggPage, OpusHeader } from "codec-parser";
import type { MPEGDecoder } from "mpg123-decoder";
import type { OpusDecoder } from "opus-decoder";

type Libraries = typeof import("./libraries.ts");

/** The codecs {@link createDecoder} decodes. */
export type DecodableCodec = "mp3" | "flac" | "ogg-flac" | "vorbis" | "opus";

/** PCM decoded from one chunk: one Float32Array per channel, `samples` frames long. */
export interface PcmBlock {
  channelData: Float32Array[];
  samples: number;
  sampleRate: number;
}

/** Decodes a file fed in order, chunk by chunk; {@link AudioDecodeError} on a frame it cannot decode. */
export interface StreamDecoder {
  decode(chunk: Uint8Array): Promise<PcmBlock>;
  /** what is left once the input ended */
  flush(): Promise<PcmBlock>;
  /** after the flush: the frame count the container declares (FLAC STREAMINFO, Ogg granule), null when unknown */
  declaredFrames(): number | null;
  free(): void;
}

/** The bytes could not be decoded (a corrupt frame, a codec this decoder does not take). */
export class AudioDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AudioDecodeError";
  }
}

/** Opus decodes at 48 kHz whatever the input rate was (RFC 7845 §5.1). */
export const OPUS_SAMPLE_RATE = 48_000;

interface DecodedAudio {
  channelData: Float32Array[];
  samplesDecoded: number;
  sampleRate: number;
  errors: { message: string }[];
}

let loading: Promise<Libraries> | null = null;

/**
 * The decoder libraries, evaluated on first use (not on every cold start of the Worker). Their shared module
 * (@wasm-audio-decoders/common) defines a Web Worker variant at load, as a subclass of the global `Worker`, which
 * workerd does not have: a stand-in that cannot be constructed is the global only while they load (the Web Worker
 * variants are never used here).
 */
function loadLibraries(): Promise<Libraries> {
  loading ??= (async () => {
    const scope = globalThis as { Worker?: unknown };
    const had = "Worker" in scope;
    if (!had)
      scope.Worker = class {
        constructor() {
          throw new Error("Web Workers are not available in this runtime.");
        }
      };
    try {
      const libraries = await import("./libraries.ts");
      libraries.installModules();
      return libraries;
    } finally {
      if (!had) delete scope.Worker;
    }
  })();
  return loading;
}

const EMPTY = (sampleRate = 0): PcmBlock => ({ channelData: [], samples: 0, sampleRate });

function checked(decoded: DecodedAudio, what: string): PcmBlock {
  const first = decoded.errors[0];
  if (first) throw new AudioDecodeError(`${what}: ${first.message}`);
  return { channelData: decoded.channelData, samples: decoded.samplesDecoded, sampleRate: decoded.sampleRate };
}

class Mp3Decoder implements StreamDecoder {
  readonly #decoder: MPEGDecoder;
  constructor(libraries: Libraries) {
    this.#decoder = new libraries.MPEGDecoder();
  }
  async decode(chunk: Uint8Array): Promise<PcmBlock> {
    await this.#decoder.ready;
    return checked(this.#decoder.decode(chunk), "MP3");
  }
  async flush(): Promise<PcmBlock> {
    return EMPTY();
  }
  declaredFrames(): null {
    return null;
  }
  free(): void {
    this.#decoder.free();
  }
}

/** STREAMINFO's total samples (36 bits at bits 108–143 of its body), when the file starts with it; 0 is unknown. */
function flacTotalSamples(head: Uint8Array): number | null {
  const isFlac = head[0] === 0x66 && head[1] === 0x4c && head[2] === 0x61 && head[3] === 0x43; // "fLaC"
  if (!isFlac || head.length < 42 || (head[4]! & 0x7f) !== 0) return null;
  const body = 8;
  const high = head[body + 13]! & 0x0f;
  const low = ((head[body + 14]! << 24) | (head[body + 15]! << 16) | (head[body + 16]! << 8) | head[body + 17]!) >>> 0;
  const total = high * 2 ** 32 + low;
  return total > 0 ? total : null;
}

class LibraryDecoder implements StreamDecoder {
  readonly #decoder: FLACDecoder | OggVorbisDecoder;
  readonly #what: string;
  #first = true;
  #declared: number | null = null;
  constructor(decoder: FLACDecoder | OggVorbisDecoder, what: string) {
    this.#decoder = decoder;
    this.#what = what;
  }
  async decode(chunk: Uint8Array): Promise<PcmBlock> {
    if (this.#first) this.#declared = flacTotalSamples(chunk);
    this.#first = false;
    await this.#decoder.ready;
    return checked(await this.#decoder.decode(chunk), this.#what);
  }
  declaredFrames(): number | null {
    return this.#declared;
  }
  async flush(): Promise<PcmBlock> {
    await this.#decoder.ready;
    return checked(await this.#decoder.flush(), this.#what);
  }
  free(): void {
    this.#decoder.free();
  }
}

/**
 * Ogg Opus: codec-parser splits the pages into Opus packets; the decoder is made from the first page's OpusHead
 * (channels, mapping, pre-skip) and the samples after the last page's granule position are trimmed (RFC 7845 §4).
 * One logical stream: a chained file (a second OpusHead) is refused rather than decoded out of step.
 */
class OggOpusDecoder implements StreamDecoder {
  readonly #libraries: Libraries;
  readonly #parser: CodecParser<OggPage>;
  #decoder: OpusDecoder<typeof OPUS_SAMPLE_RATE> | null = null;
  #decoded = 0;
  #ended = false;
  #granuleFrames: number | null = null;
  #sequence: number | null = null;
  #preSkip = 0;

  constructor(libraries: Libraries) {
    this.#libraries = libraries;
    this.#parser = new libraries.CodecParser<OggPage>("audio/ogg", {
      onCodec: (codec) => {
        if (codec !== "opus") throw new AudioDecodeError(`Ogg: expected Opus, found ${codec}`);
      },
      enableFrameCRC32: false,
    });
  }

  async decode(chunk: Uint8Array): Promise<PcmBlock> {
    return this.#pages([...this.#parse(() => this.#parser.parseChunk(chunk))]);
  }
  async flush(): Promise<PcmBlock> {
    return this.#pages([...this.#parse(() => this.#parser.flush())]);
  }
  declaredFrames(): number | null {
    return this.#granuleFrames;
  }
  free(): void {
    this.#decoder?.free();
  }

  *#parse(pages: () => Iterator<OggPage>): Generator<OggPage> {
    try {
      const iterator = pages();
      for (let next = iterator.next(); !next.done; next = iterator.next()) yield next.value;
    } catch (error) {
      if (error instanceof AudioDecodeError) throw error;
      throw new AudioDecodeError(`Ogg: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  async #pages(pages: OggPage[]): Promise<PcmBlock> {
    const frames: Uint8Array[] = [];
    let granule: number | null = null;
    let lastPage = false;
    for (const page of pages) {
      // a missing page is missing audio: everything after it would play early, under the wrong spans
      if (this.#sequence !== null && page.pageSequenceNumber !== this.#sequence + 1)
        throw new AudioDecodeError(`Ogg: page ${this.#sequence + 1} is missing`);
      this.#sequence = page.pageSequenceNumber;
      if (!page.codecFrames.length) continue;
      if (this.#ended) throw new AudioDecodeError("Ogg: a chained stream follows the end of the first");
      if (!this.#decoder) {
        const head = page.codecFrames[0]!.header as OpusHeader;
        this.#preSkip = head.preSkip;
        this.#decoder = new this.#libraries.OpusDecoder({
          channels: head.channels,
          streamCount: head.streamCount,
          coupledStreamCount: head.coupledStreamCount,
          channelMappingTable: head.channelMappingTable,
          preSkip: head.preSkip,
          sampleRate: OPUS_SAMPLE_RATE,
        });
        await this.#decoder.ready;
      }
      frames.push(...page.codecFrames.map((frame) => frame.data));
      // the granule position counts 48 kHz samples from the stream's start, pre-skip included (RFC 7845 §4)
      granule = Number(page.absoluteGranulePosition) - this.#preSkip;
      if (page.isLastPage) {
        this.#ended = true;
        lastPage = true;
      }
    }
    if (!this.#decoder || !frames.length) return EMPTY(OPUS_SAMPLE_RATE);
    const block = checked(this.#decoder.decodeFrames(frames), "Opus");
    this.#decoded += block.samples;
    if (granule !== null) this.#granuleFrames = granule;
    // the end trim: the last page's granule position says where the stream really ends
    const extra = lastPage && granule !== null ? this.#decoded - granule : 0;
    if (extra > 0) {
      const keep = Math.max(0, block.samples - extra);
      block.channelData = block.channelData.map((channel) => channel.subarray(0, keep));
      this.#decoded -= block.samples - keep;
      block.samples = keep;
    }
    return block;
  }
}

/** A decoder for `codec`, its WASM instantiated from the deployed module. */
export async function createDecoder(codec: DecodableCodec): Promise<StreamDecoder> {
  const libraries = await loadLibraries();
  switch (codec) {
    case "mp3":
      return new Mp3Decoder(libraries);
    case "flac":
    case "ogg-flac":
      return new LibraryDecoder(new libraries.FLACDecoder(), "FLAC");
    case "vorbis":
      return new LibraryDecoder(new libraries.OggVorbisDecoder(), "Vorbis");
    case "opus":
      return new OggOpusDecoder(libraries);
  }
}
