/**
 * The edge's decode → tone → WAV rewrite of compressed audio, in workerd (where WebAssembly may not be compiled
 * from bytes: the decoders load the deployed modules), on real files ffmpeg made from a known sine.
 */
import { describe, expect, it } from "vitest";

import {
  DECODE_PIECE_BYTES,
  measureDecoded,
  redactedWavBytes,
  toneWavStream,
  wavHeader16,
} from "../../src/domain/audio-decode/tone-wav.ts";
import { AudioRedactionError } from "../../src/domain/wav-tone.ts";
import { chunkedStream } from "../helpers/audio.ts";
import {
  compressedAudio,
  type CompressedFixture,
  FIXTURE_SIGNAL,
  maxToneError,
  readPcm16Wav,
  signalRmsError,
} from "../helpers/redacted-audio.ts";

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const CASES: { name: CompressedFixture; container: "mp3" | "flac" | "ogg"; rate: number; channels: number }[] = [
  // mpg123 always writes two channels; Opus always decodes at 48 kHz
  { name: "mp3", container: "mp3", rate: 16_000, channels: 2 },
  { name: "flac", container: "flac", rate: 16_000, channels: 1 },
  { name: "oggFlac", container: "ogg", rate: 16_000, channels: 1 },
  { name: "vorbis", container: "ogg", rate: 16_000, channels: 1 },
  { name: "opus", container: "ogg", rate: 48_000, channels: 1 },
];

const SPANS = [
  { start: 0.5, end: 0.9 },
  { start: 2.0, end: 2.25 },
];

/** Outside the spans, away from their edges and the file's ends (codec transients). */
const OUTSIDE = [
  { start: 0.1, end: 0.45 },
  { start: 0.95, end: 1.95 },
  { start: 2.3, end: 2.9 },
];

describe("compressed audio → toned 16-bit PCM WAV", { timeout: 30_000 }, () => {
  for (const c of CASES) {
    it(`${c.name}: the WAV is as long as the signal, toned exactly inside the spans and the signal outside`, async () => {
      const bytes = compressedAudio(c.name);
      const layout = await measureDecoded(c.container, chunkedStream(bytes, 1000));
      expect(layout).toMatchObject({ channels: c.channels, sampleRate: c.rate });
      // the container's own length (LAME gapless info, granule positions, STREAMINFO) is honoured to the sample
      expect(layout.frames).toBe(FIXTURE_SIGNAL.seconds * c.rate);

      const out = await collect(toneWavStream(c.container, chunkedStream(bytes, 7000), layout, SPANS));
      expect(out.length).toBe(redactedWavBytes(layout));
      const wav = readPcm16Wav(out);
      expect(wav.sampleRate).toBe(c.rate);
      expect(wav.channels.length).toBe(c.channels);
      expect(wav.frames / wav.sampleRate).toBe(FIXTURE_SIGNAL.seconds);
      for (const span of SPANS) expect(maxToneError(wav, span.start, span.end)).toBeLessThanOrEqual(1 / 32767);
      // lossless files are the signal to the 16-bit step; lossy ones are close (a 0.5 sine has RMS 0.35)
      const tolerance = c.name === "flac" || c.name === "oggFlac" ? 1.5 / 32767 : 0.02;
      for (const gap of OUTSIDE) expect(signalRmsError(wav, gap.start, gap.end)).toBeLessThan(tolerance);
      // and what was under a span is gone: no trace of the signal there
      for (const span of SPANS) expect(signalRmsError(wav, span.start, span.end)).toBeGreaterThan(0.3);
    });
  }

  it("decodes a file fed in one chunk as in many small ones (pieces of DECODE_PIECE_BYTES)", async () => {
    const bytes = compressedAudio("mp3");
    expect(bytes.length).toBeGreaterThan(DECODE_PIECE_BYTES);
    const one = await measureDecoded("mp3", chunkedStream(bytes, bytes.length));
    const many = await measureDecoded("mp3", chunkedStream(bytes, 333));
    expect(one).toEqual(many);
  });

  it("fails with audio_redaction_failed when a corrupt FLAC frame makes the decoder skip audio (STREAMINFO)", async () => {
    const bytes = compressedAudio("flac");
    // a byte in the middle of the audio frames: the parser loses sync and drops what follows, silently
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    const error = await measureDecoded("flac", chunkedStream(bytes)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AudioRedactionError);
    expect(error).toMatchObject({ code: "audio_redaction_failed", message: expect.stringContaining("declares 48000") });
  });

  it("fails with audio_redaction_failed when an Ogg Opus page is missing (page sequence numbers)", async () => {
    const bytes = compressedAudio("opus");
    const pages: number[] = [];
    for (let i = 0; i + 4 <= bytes.length; i++)
      if (bytes[i] === 0x4f && bytes[i + 1] === 0x67 && bytes[i + 2] === 0x67 && bytes[i + 3] === 0x53) pages.push(i);
    // OpusHead, OpusTags, then about a second of audio per page
    expect(pages.length).toBeGreaterThanOrEqual(5);
    // drop one audio page from the middle: every page after it says more samples came than were decoded
    const [from, to] = [pages[3]!, pages[4]!];
    const holed = new Uint8Array(bytes.length - (to - from));
    holed.set(bytes.subarray(0, from));
    holed.set(bytes.subarray(to), from);
    await expect(measureDecoded("ogg", chunkedStream(holed))).rejects.toMatchObject({
      code: "audio_redaction_failed",
      message: expect.stringContaining("page 3 is missing"),
    });
  });

  it("fails with audio_redaction_failed on a truncated Ogg Opus (its last, cut page does not add up)", async () => {
    const cut = compressedAudio("opus").subarray(0, 12_000);
    await expect(measureDecoded("ogg", chunkedStream(cut))).rejects.toMatchObject({
      code: "audio_redaction_failed",
      message: expect.stringContaining("the file declares"),
    });
  });

  it("fails with audio_redaction_failed when the decode is not as long as the transcript says", async () => {
    const bytes = compressedAudio("mp3");
    await expect(measureDecoded("mp3", chunkedStream(bytes), { expectedSeconds: 3.1 })).resolves.toMatchObject({
      frames: 48_000,
    });
    await expect(measureDecoded("mp3", chunkedStream(bytes), { expectedSeconds: 4 })).rejects.toMatchObject({
      code: "audio_redaction_failed",
      message: expect.stringContaining("the transcript covers 4 s"),
    });
  });

  it("fails with audio_redaction_failed on bytes that are no MP3 at all, and on an empty stream", async () => {
    const noise = new Uint8Array(20_000).map((_, i) => (i * 7919) % 251);
    await expect(measureDecoded("mp3", chunkedStream(noise))).rejects.toMatchObject({ code: "audio_redaction_failed" });
    await expect(measureDecoded("flac", chunkedStream(new Uint8Array()))).rejects.toMatchObject({
      code: "audio_redaction_failed",
    });
  });

  it("refuses an Ogg stream of another codec with audio_redaction_unsupported", async () => {
    const ogg = compressedAudio("vorbis");
    // the first packet's signature, changed: no decoder takes it
    const text = String.fromCharCode(...ogg.subarray(0, 64));
    ogg[text.indexOf("\x01vorbis") + 1] = "X".charCodeAt(0);
    await expect(measureDecoded("ogg", chunkedStream(ogg))).rejects.toMatchObject({
      code: "audio_redaction_unsupported",
    });
  });

  it("writes a canonical 44-byte header whose sizes match the samples", () => {
    const header = wavHeader16({ channels: 2, sampleRate: 44_100, frames: 10 });
    const view = new DataView(header.buffer);
    expect(header.length).toBe(44);
    expect(view.getUint32(4, true)).toBe(36 + 40);
    expect(view.getUint32(40, true)).toBe(40);
    expect(view.getUint32(28, true)).toBe(44_100 * 4);
  });
});
