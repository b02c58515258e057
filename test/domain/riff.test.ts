import { describe, expect, it } from "vitest";

import {
  isRiffWave,
  parseWavHeader,
  riffChunks,
  WAV_FORMAT_EXTENSIBLE,
  WAV_FORMAT_FLOAT,
  WAV_FORMAT_PCM,
} from "../../src/domain/riff.ts";
import { craftedWav, noiseWav, riffChunk, silenceWav, toneWav } from "../helpers/audio.ts";
import { seededRandom } from "../helpers/random.ts";

const ascii = (text: string) => Uint8Array.from(text, (char) => char.charCodeAt(0));
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
};

describe("parseWavHeader", () => {
  it("reads the fmt fields and locates the data chunk of 16-bit PCM at any rate and channel count", () => {
    for (const [sampleRate, channels] of [
      [16_000, 1],
      [44_100, 2],
      [8_000, 6],
    ] as const) {
      const wav = toneWav({ seconds: 0.25, sampleRate, channels });
      const frameBytes = channels * 2;
      expect(parseWavHeader(wav)).toEqual({
        fmt: {
          formatTag: WAV_FORMAT_PCM,
          channels,
          sampleRate,
          byteRate: sampleRate * frameBytes,
          blockAlign: frameBytes,
          bitsPerSample: 16,
        },
        fmtBytes: 16,
        data: { offset: 44, size: sampleRate * 0.25 * frameBytes },
      });
      // the data chunk runs exactly to the end of the file the encoder wrote
      expect(44 + parseWavHeader(wav)!.data!.size).toBe(wav.length);
    }
    expect(parseWavHeader(silenceWav({ seconds: 1 }))!.data).toEqual({ offset: 44, size: 32_000 });
    expect(parseWavHeader(noiseWav({ seconds: 0.5, channels: 2 }))!.fmt).toMatchObject({ channels: 2, blockAlign: 4 });
  });

  it("skips chunks before fmt and before data, odd-sized ones with their pad byte", () => {
    const bext = riffChunk("bext", new Uint8Array(3)); // 8 + 3 + pad
    const list = riffChunk("LIST", ascii("INFOx")); // 8 + 5 + pad
    const wav = craftedWav({
      formatTag: WAV_FORMAT_FLOAT,
      bitsPerSample: 32,
      beforeFmt: bext,
      beforeData: list,
      dataSize: 64_000,
    });
    expect([...riffChunks(wav)].map(({ id, bodyOffset, size }) => [id, bodyOffset, size])).toEqual([
      ["bext", 20, 3],
      ["fmt ", 32, 16],
      ["LIST", 56, 5],
      ["data", 70, 64_000],
    ]);
    expect(parseWavHeader(wav)).toMatchObject({
      fmt: { formatTag: WAV_FORMAT_FLOAT, bitsPerSample: 32 },
      data: { offset: 70, size: 64_000 },
    });
  });

  it("reads a 40-byte extensible fmt chunk and reports a streamed writer's unknown data size as declared", () => {
    const wav = craftedWav({ formatTag: WAV_FORMAT_EXTENSIBLE, fmtSize: 40, bitsPerSample: 32, dataSize: 0xffffffff });
    expect(parseWavHeader(wav)).toMatchObject({
      fmt: { formatTag: WAV_FORMAT_EXTENSIBLE },
      fmtBytes: 40,
      data: { offset: 68, size: 0xffffffff },
    });
  });

  it("reads a head cut anywhere: null until fmt's 16 bytes are in, then no data until data's header is in", () => {
    const wav = toneWav({ seconds: 0.01 });
    const fmtEnd = 12 + 8 + 16;
    const dataHeaderEnd = fmtEnd + 8;
    for (let length = 0; length <= 64; length++) {
      const header = parseWavHeader(wav.subarray(0, length));
      const label = `${length} bytes`;
      if (length < fmtEnd) expect(header, label).toBeNull();
      else if (length < dataHeaderEnd) expect(header, label).toMatchObject({ fmt: { sampleRate: 16_000 }, data: null });
      else expect(header, label).toMatchObject({ fmt: { sampleRate: 16_000 }, data: { offset: 44, size: 320 } });
    }
  });

  it("stops at a chunk whose declared size runs past the bytes given", () => {
    const hugeJunk = riffChunk("JUNK", new Uint8Array(8), 1_000_000);
    const wav = craftedWav({ beforeFmt: hugeJunk });
    expect([...riffChunks(wav)].map((chunk) => chunk.id)).toEqual(["JUNK"]);
    expect(parseWavHeader(wav)).toBeNull();
  });

  it("returns null for other containers, a short fmt chunk, data before fmt, and no fmt at all", () => {
    expect(parseWavHeader(new Uint8Array())).toBeNull();
    expect(parseWavHeader(ascii("RIFF"))).toBeNull();
    expect(parseWavHeader(ascii("ID3\x04\0\0\0\0\0\0 and then some mp3"))).toBeNull();
    const avi = craftedWav();
    avi.set(ascii("AVI "), 8);
    expect(isRiffWave(avi)).toBe(false);
    expect(parseWavHeader(avi)).toBeNull();
    expect([...riffChunks(avi)]).toEqual([]);

    expect(parseWavHeader(craftedWav({ fmtSize: 12 }))).toBeNull();
    const fmtAndData = craftedWav().subarray(12);
    const dataFirst = riffChunk("RIFF", concat(ascii("WAVE"), riffChunk("data", new Uint8Array(4)), fmtAndData));
    expect(parseWavHeader(dataFirst)).toBeNull();
    expect(parseWavHeader(riffChunk("RIFF", concat(ascii("WAVE"), riffChunk("LIST", new Uint8Array(10)))))).toBeNull();
  });

  it("counts only the first fmt chunk", () => {
    const second = riffChunk("fmt ", craftedWav({ sampleRate: 48_000 }).subarray(20, 36));
    expect(parseWavHeader(craftedWav({ sampleRate: 22_050, beforeData: second }))!.fmt.sampleRate).toBe(22_050);
  });

  it("never throws on mutated or random bytes, and never points past what it was given (500 seeds)", () => {
    const valid = craftedWav({
      beforeFmt: riffChunk("JUNK", new Uint8Array(5)),
      beforeData: riffChunk("LIST", ascii("INFO")),
      data: new Uint8Array(32),
    });
    let parsed = 0;
    for (let seed = 1; seed <= 500; seed++) {
      const random = seededRandom(seed);
      const bytes = valid.slice(0, 1 + Math.floor(random() * valid.length));
      // flips never touch "RIFF....WAVE", so the walk itself is what gets exercised
      const flips = bytes.length > 12 ? Math.floor(random() * 4) : 0;
      for (let flip = 0; flip < flips; flip++) {
        bytes[12 + Math.floor(random() * (bytes.length - 12))] = Math.floor(random() * 256);
      }
      const header = parseWavHeader(bytes);
      for (const chunk of riffChunks(bytes)) expect(chunk.bodyOffset, `seed ${seed}`).toBeLessThanOrEqual(bytes.length);
      if (!header) continue;
      parsed++;
      if (header.data) expect(header.data.offset, `seed ${seed}`).toBeLessThanOrEqual(bytes.length);
    }
    // both outcomes occur, so neither branch is vacuous
    expect(parsed).toBeGreaterThan(0);
    expect(parsed).toBeLessThan(500);
  });
});
