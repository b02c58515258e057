/**
 * The streaming channel split of PCM WAV (src/domain/wav-channels.ts): sample-exact against a naive de-interleave for
 * every sample format it takes, whatever the chunk boundaries (single bytes, odd sizes inside a sample, a frame or the
 * header), with a correct mono header whose length is known up front; and a clear refusal for what it cannot split.
 */
import { describe, expect, it } from "vitest";

import { parseWavHeader } from "../../src/domain/riff.ts";
import {
  ChannelSplitError,
  MAX_CHANNEL_SPLIT_HEADER_BYTES,
  MONO_WAV_HEADER_BYTES,
  monoWavBytes,
  type WavChannelLayout,
  wavChannelLayout,
  wavChannelTransform,
} from "../../src/domain/wav-channels.ts";
import { channelsWav, craftedWav, riffChunk, toneSamples, toneWav } from "../helpers/audio.ts";
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

/** A stream of `bytes` cut at the given sizes, cycling through them. */
function cutStream(bytes: Uint8Array, sizes: readonly number[]): ReadableStream<Uint8Array> {
  let offset = 0;
  let index = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      const size = sizes[index++ % sizes.length]!;
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}

async function split(file: Uint8Array, channel: number, sizes: readonly number[] = [4096]): Promise<Uint8Array> {
  const layout = wavChannelLayout(file, file.length);
  if (!layout) throw new Error("no layout");
  const out = cutStream(file, sizes).pipeThrough(wavChannelTransform(layout, channel));
  return new Uint8Array(await new Response(out).arrayBuffer());
}

/** The reference: every frame's bytes for `channel`, one frame at a time. */
function naiveChannel(data: Uint8Array, channels: number, sampleBytes: number, channel: number): Uint8Array {
  const frames = Math.floor(data.length / (channels * sampleBytes));
  const out = new Uint8Array(frames * sampleBytes);
  for (let f = 0; f < frames; f++)
    for (let b = 0; b < sampleBytes; b++) out[f * sampleBytes + b] = data[(f * channels + channel) * sampleBytes + b]!;
  return out;
}

function randomBytes(length: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  return Uint8Array.from({ length }, () => Math.floor(random() * 256));
}

/** A WAVE_FORMAT_EXTENSIBLE `fmt ` body (40 bytes) with the given sub-format in its GUID's first two bytes. */
function extensibleFmt(channels: number, bits: number, subFormat: number, sampleRate = 8000): Uint8Array {
  const view = new DataView(new ArrayBuffer(40));
  const blockAlign = channels * (bits / 8);
  view.setUint16(0, 0xfffe, true);
  view.setUint16(2, channels, true);
  view.setUint32(4, sampleRate, true);
  view.setUint32(8, sampleRate * blockAlign, true);
  view.setUint16(12, blockAlign, true);
  view.setUint16(14, bits, true);
  view.setUint16(16, 22, true);
  view.setUint16(18, bits, true);
  view.setUint16(24, subFormat, true);
  return new Uint8Array(view.buffer);
}

function extensibleWav(channels: number, bits: number, subFormat: number, data: Uint8Array): Uint8Array {
  const chunks = concat(
    ascii("WAVE"),
    riffChunk("fmt ", extensibleFmt(channels, bits, subFormat)),
    riffChunk("data", data),
  );
  return concat(ascii("RIFF"), new Uint8Array(new Uint32Array([chunks.length]).buffer), chunks);
}

function expectMonoHeader(out: Uint8Array, layout: WavChannelLayout, formatTag: number) {
  const header = parseWavHeader(out)!;
  expect(header.fmt).toEqual({
    formatTag,
    channels: 1,
    sampleRate: layout.sampleRate,
    byteRate: layout.sampleRate * layout.sampleBytes,
    blockAlign: layout.sampleBytes,
    bitsPerSample: layout.bitsPerSample,
  });
  expect(header.data).toEqual({ offset: MONO_WAV_HEADER_BYTES, size: layout.frames * layout.sampleBytes });
  const riffSize = new DataView(out.buffer, out.byteOffset).getUint32(4, true);
  expect(riffSize).toBe(out.length - 8);
  expect(out.length).toBe(monoWavBytes(layout));
}

describe("wavChannelTransform", () => {
  const formats = [
    { name: "8-bit PCM", formatTag: 1, bits: 8 },
    { name: "16-bit PCM", formatTag: 1, bits: 16 },
    { name: "24-bit PCM", formatTag: 1, bits: 24 },
    { name: "32-bit PCM", formatTag: 1, bits: 32 },
    { name: "32-bit float", formatTag: 3, bits: 32 },
    { name: "64-bit float", formatTag: 3, bits: 64 },
  ];
  const cuts: [string, number[]][] = [
    ["single bytes", [1]],
    ["odd sizes", [3, 7, 5, 11]],
    ["one big chunk", [1 << 20]],
    ["seeded random sizes", Array.from({ length: 50 }, (_, i) => 1 + Math.floor(seededRandom(i + 1)() * 997))],
  ];

  for (const { name, formatTag, bits } of formats) {
    it(`${name}: every channel of 1, 2 and 3 is sample-exact against a naive de-interleave, at any chunk cut`, async () => {
      for (const channels of [1, 2, 3]) {
        const sampleBytes = bits / 8;
        // 101 frames: an odd count, so an 8-bit mono channel needs RIFF's pad byte
        const data = randomBytes(101 * channels * sampleBytes, channels * bits);
        const file = craftedWav({
          formatTag,
          channels,
          bitsPerSample: bits,
          sampleRate: 8000,
          // metadata before the data chunk and a chunk after it: neither reaches the output
          beforeData: riffChunk("LIST", ascii("INFOISFT\x05\x00\x00\x00vtt!\x00")),
          data,
        });
        const withTrailer = concat(file, riffChunk("id3 ", ascii("trailing tag")));
        // the RIFF size no longer covers the trailer: the splitter reads the data chunk's own size
        const layout = wavChannelLayout(withTrailer, withTrailer.length)!;
        expect(layout).toMatchObject({
          channels,
          frames: 101,
          sampleBytes,
          encoding: formatTag === 3 ? "float" : "pcm",
        });
        for (let channel = 0; channel < channels; channel++) {
          const expected = naiveChannel(data, channels, sampleBytes, channel);
          for (const [, sizes] of cuts) {
            const out = await split(withTrailer, channel, sizes);
            expectMonoHeader(out, layout, formatTag);
            expect(out.subarray(MONO_WAV_HEADER_BYTES, MONO_WAV_HEADER_BYTES + expected.length)).toEqual(expected);
            // the pad byte after an odd-sized data chunk, and nothing else
            expect(out.length - MONO_WAV_HEADER_BYTES - expected.length).toBe(expected.length % 2);
          }
        }
      }
    }, 30_000);
  }

  it("WAVE_FORMAT_EXTENSIBLE: PCM and float sub-formats split like their plain forms", async () => {
    for (const [bits, subFormat, formatTag] of [
      [16, 1, 1],
      [24, 1, 1],
      [32, 3, 3],
    ] as const) {
      const data = randomBytes(97 * 4 * (bits / 8), bits);
      const file = extensibleWav(4, bits, subFormat, data);
      const layout = wavChannelLayout(file, file.length)!;
      expect(layout).toMatchObject({ channels: 4, frames: 97, bitsPerSample: bits });
      for (let channel = 0; channel < 4; channel++) {
        const out = await split(file, channel, [5, 2, 9]);
        expectMonoHeader(out, layout, formatTag);
        const expected = naiveChannel(data, 4, bits / 8, channel);
        expect(out.subarray(MONO_WAV_HEADER_BYTES, MONO_WAV_HEADER_BYTES + expected.length)).toEqual(expected);
      }
    }
  });

  it("a stereo recording with a different signal per channel gives each channel's own mono WAV, byte for byte", async () => {
    const left = toneSamples({ seconds: 0.3, frequency: 440 });
    const right = toneSamples({ seconds: 0.3, frequency: 1000, amplitude: 0.5 });
    // channel 1 silent for the first half
    right.fill(0, 0, right.length / 2);
    const stereo = channelsWav([left, right]);
    const outLeft = await split(stereo, 0, [333]);
    const outRight = await split(stereo, 1, [333]);
    // the mono encoder's own file for each signal is exactly what the split produced
    expect(outLeft).toEqual(channelsWav([left]));
    expect(outRight).toEqual(channelsWav([right]));
    expect(outLeft).toEqual(toneWav({ seconds: 0.3, frequency: 440 }));
  });

  it("an open data size (0 or 0xFFFFFFFF, streaming writers) runs to the end of the file; a truncated one to its end", async () => {
    const data = randomBytes(2 * 2 * 50 + 3, 9);
    for (const dataSize of [0, 0xffffffff, 1_000_000]) {
      const file = craftedWav({ channels: 2, dataSize, data });
      const layout = wavChannelLayout(file, file.length)!;
      // 50 whole frames; the 3 bytes of a partial last frame are dropped
      expect(layout.frames).toBe(50);
      expect((await split(file, 1, [7])).subarray(MONO_WAV_HEADER_BYTES)).toEqual(naiveChannel(data, 2, 2, 1));
    }
  });

  it("needs more bytes while the data chunk's header is not in the head; refuses one not within 1 MiB", () => {
    const file = craftedWav({
      channels: 2,
      beforeData: riffChunk("JUNK", new Uint8Array(5000)),
      data: new Uint8Array(8),
    });
    expect(wavChannelLayout(file.subarray(0, 4096), file.length)).toBeNull();
    expect(wavChannelLayout(file, file.length)).not.toBeNull();
    const far = craftedWav({ beforeData: riffChunk("JUNK", new Uint8Array(MAX_CHANNEL_SPLIT_HEADER_BYTES)) });
    expect(() => wavChannelLayout(far.subarray(0, MAX_CHANNEL_SPLIT_HEADER_BYTES), far.length)).toThrow(
      ChannelSplitError,
    );
  });

  it.each([
    ["IMA ADPCM", { formatTag: 0x11, bitsPerSample: 4, blockAlign: 256 }],
    ["µ-law", { formatTag: 7, bitsPerSample: 8 }],
    ["12-bit PCM", { formatTag: 1, bitsPerSample: 12, blockAlign: 2 }],
    ["a block align that does not match", { formatTag: 1, bitsPerSample: 16, channels: 2, blockAlign: 6 }],
    ["16-bit float", { formatTag: 3, bitsPerSample: 16 }],
  ])("refuses %s with multichannel_unsupported naming the format", (_name, fields) => {
    const file = craftedWav({ ...fields, data: new Uint8Array(64) });
    const error = (() => {
      try {
        wavChannelLayout(file, file.length);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(ChannelSplitError);
    expect((error as ChannelSplitError).code).toBe("multichannel_unsupported");
    expect((error as Error).message).toContain(`WAV format ${fields.formatTag}`);
  });

  it("refuses an extensible sub-format that is neither PCM nor float, and bytes that are not RIFF/WAVE", () => {
    const adpcm = extensibleWav(2, 16, 2, new Uint8Array(16));
    expect(() => wavChannelLayout(adpcm, adpcm.length)).toThrow(ChannelSplitError);
    const mp3 = Uint8Array.from([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 0, 0xff, 0xfb, 0x90, 0x64]);
    expect(() => wavChannelLayout(mp3, mp3.length)).toThrow(/not a RIFF\/WAVE/);
  });

  it("errors when the stored file ends before its layout's last frame (never a short body)", async () => {
    const file = channelsWav([toneSamples({ seconds: 0.1 }), toneSamples({ seconds: 0.1 })]);
    const layout = wavChannelLayout(file, file.length)!;
    const short = cutStream(file.subarray(0, file.length - 10), [1000]).pipeThrough(wavChannelTransform(layout, 0));
    await expect(new Response(short).arrayBuffer()).rejects.toThrow(ChannelSplitError);
    expect(() => wavChannelTransform(layout, 2)).toThrow(RangeError);
  });
});
