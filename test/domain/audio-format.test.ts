import { describe, expect, it } from "vitest";

import { SNIFF_BYTES, sniffAudio } from "../../src/domain/audio-format.ts";
import { craftedWav, makeWav, riffChunk } from "../helpers/audio.ts";

const hex = (text: string) => new Uint8Array(text.match(/../g)!.map((byte) => parseInt(byte, 16)));
const ascii = (text: string) => new Uint8Array(Array.from(text, (char) => char.charCodeAt(0)));
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
};
const u32le = (value: number) => new Uint8Array(new Uint32Array([value]).buffer);

/**
 * Leading bytes of real files written by ffmpeg 5 (`ffmpeg -i jfk.wav -t 1 out.EXT`), so the sniffer is checked
 * against what encoders actually emit and not only against headers shaped by the same hands that wrote it.
 */
const FFMPEG_HEADS = {
  webmOpus:
    "1a45dfa39f4286810142f7810142f2810442f381084282847765626d4287810442858102185380670100000000002898114d9b74ba4dbb8b53ab841549a96653",
  matroskaOpus: "1a45dfa3a34286810142f7810142f2810442f381084282886d6174726f736b6142878104428581021853806701000000",
  m4aAac: "0000001c667479704d344120000002004d34412069736f6d69736f320000000866726565000025a26d646174",
  threeGpAac: "0000001c6674797033677034000002003367703469736f6d69736f320000000866726565",
  oggOpus:
    "4f676753000200000000000000004f0a5fc9000000001866c4cc01134f7075734865616401013801803e00000000004f676753000000000000000000004f0a5f",
  oggVorbis:
    "4f67675300020000000000000000ac1abb3f0000000094e87cc0011e01766f726269730000000001803e00000000000080bb000000000000a9014f6767530000",
  flac: "664c614300000022048004800001770005fd03e800f000003e80e5a7c514b4089f613cf25e4d86c4910b0400002e0d0000004c61766635392e32372e313030",
  mp3NoTag:
    "fff338c4000000034800000000fff888cb210f7b041070010cbbf10e108dd2a4234e73d0e73ba108450024f200085000024e73bce7fffffffffd084a908d39ce",
  mp2: "fff5e8c4ffffffffffffffffffe0200001879980e9f6787de65f799fd9fdb65f799fdce3f6b97dbe1f719fdc69f6f9fdd63f6d9fd9fda61f6b87d9fdb7dd6df6",
  aacAdts:
    "fff16040039ffcde02004c61766335392e33372e313030000230800efff16040669ffc00ea9f997b9b7f9bfcdfe527772579d6af9d71fb67b72e2b2a6b8675ff",
  oggTheora:
    "4f67675300020000000000000000e1a1502700000000312dbc55012a807468656f72610302010002000200002000002000000000001900000001000001000001",
};

describe("sniffAudio", () => {
  it("asks for a head large enough for every check", () => {
    expect(SNIFF_BYTES).toBeGreaterThanOrEqual(64);
  });

  describe("WAV", () => {
    it("accepts PCM, float and extensible WAV with a plausible fmt chunk", () => {
      expect(sniffAudio(makeWav(0.1))).toEqual({ format: "wav", contentType: "audio/wav" });
      expect(sniffAudio(craftedWav({ formatTag: 3, channels: 2, sampleRate: 48_000 }))?.format).toBe("wav");
      const extensible = craftedWav({ formatTag: 0xfffe, channels: 8, sampleRate: 384_000, fmtSize: 40 });
      expect(sniffAudio(extensible)?.format).toBe("wav");
      expect(sniffAudio(craftedWav({ sampleRate: 1000 }))?.format).toBe("wav");
    });

    it("finds fmt after a bext/JUNK chunk, including odd-sized chunks padded to even", () => {
      const junk = riffChunk("JUNK", new Uint8Array(28));
      const odd = riffChunk("LIST", ascii("INFOx")); // 5 bytes, then a pad byte
      expect(sniffAudio(craftedWav({ beforeFmt: concat(junk, odd) }))?.format).toBe("wav");
    });

    it("rejects a RIFF/WAVE header over a garbage fmt chunk", () => {
      expect(sniffAudio(craftedWav({ formatTag: 2 }))).toBeNull(); // ADPCM is not what we decode
      expect(sniffAudio(craftedWav({ formatTag: 0x4242 }))).toBeNull();
      expect(sniffAudio(craftedWav({ channels: 0 }))).toBeNull();
      expect(sniffAudio(craftedWav({ channels: 9 }))).toBeNull();
      expect(sniffAudio(craftedWav({ sampleRate: 999 }))).toBeNull();
      expect(sniffAudio(craftedWav({ sampleRate: 384_001 }))).toBeNull();
      expect(sniffAudio(craftedWav({ fmtSize: 12 }))).toBeNull();
      const garbage = riffChunk("RIFF", concat(ascii("WAVE"), new Uint8Array(48).fill(0xa5)));
      expect(sniffAudio(garbage)).toBeNull();
    });

    it("rejects WAV whose data chunk precedes fmt, or whose fmt lies beyond the head", () => {
      const fmtAndData = craftedWav().subarray(12);
      const dataFirst = riffChunk("RIFF", concat(ascii("WAVE"), riffChunk("data", new Uint8Array()), fmtAndData));
      expect(sniffAudio(dataFirst)).toBeNull();
      expect(sniffAudio(makeWav(0.1).subarray(0, 30))).toBeNull();
      const hugeJunk = riffChunk("JUNK", new Uint8Array(8), SNIFF_BYTES * 2);
      expect(sniffAudio(craftedWav({ beforeFmt: hugeJunk }))).toBeNull();
    });

    it("rejects RIFF containers that are not WAVE", () => {
      const avi = craftedWav();
      avi.set(ascii("AVI "), 8);
      expect(sniffAudio(avi)).toBeNull();
    });
  });

  describe("MP3", () => {
    it("accepts an ID3v2 tag", () => {
      const id3 = concat(ascii("ID3"), hex("0400000000237f"), ascii("TSSE"), new Uint8Array(40));
      expect(sniffAudio(id3)).toEqual({ format: "mp3", contentType: "audio/mpeg" });
    });

    it("accepts bare MPEG audio frames of layer III and II", () => {
      expect(sniffAudio(hex(FFMPEG_HEADS.mp3NoTag))?.format).toBe("mp3");
      expect(sniffAudio(hex(FFMPEG_HEADS.mp2))?.format).toBe("mp3");
      expect(sniffAudio(hex("fffb9064"))?.format).toBe("mp3"); // MPEG-1 layer III 128 kbit/s 44.1 kHz
    });

    it("rejects frame syncs with reserved or forbidden fields", () => {
      expect(sniffAudio(hex("fffb0064"))).toBeNull(); // bitrate index 0 (free format)
      expect(sniffAudio(hex("fffbf064"))).toBeNull(); // bitrate index 15
      expect(sniffAudio(hex("fffb9c64"))).toBeNull(); // sample-rate index 3
      expect(sniffAudio(hex("ffeb9064"))).toBeNull(); // version 01 is reserved
      expect(sniffAudio(hex("fff99064"))).toBeNull(); // layer bits 00 are reserved
      expect(sniffAudio(hex("ffff9064"))).toBeNull(); // layer I
      expect(sniffAudio(hex(FFMPEG_HEADS.aacAdts))).toBeNull(); // raw AAC is not on the list
      expect(sniffAudio(hex("fffb90"))).toBeNull(); // too short
    });

    it("rejects an ID3 marker with an impossible version or size", () => {
      expect(sniffAudio(concat(ascii("ID3"), hex("0900000000237f")))).toBeNull();
      expect(sniffAudio(concat(ascii("ID3"), hex("0300008000237f")))).toBeNull();
      expect(sniffAudio(ascii("ID3 is a tag format"))).toBeNull();
    });

    it("sees FLAC behind a small ID3 tag", () => {
      const tag = concat(ascii("ID3"), hex("0400000000000a"), new Uint8Array(10));
      expect(sniffAudio(concat(tag, hex(FFMPEG_HEADS.flac)))?.format).toBe("flac");
    });
  });

  describe("FLAC, Ogg, Matroska, MP4", () => {
    it("accepts fLaC with a STREAMINFO block", () => {
      expect(sniffAudio(hex(FFMPEG_HEADS.flac))).toEqual({ format: "flac", contentType: "audio/flac" });
      expect(sniffAudio(concat(ascii("fLaC"), hex("04000022")))).toBeNull(); // a comment block cannot come first
      expect(sniffAudio(ascii("fLaC"))).toBeNull();
    });

    it("accepts Ogg Opus and Ogg Vorbis, rejects Ogg Theora video", () => {
      expect(sniffAudio(hex(FFMPEG_HEADS.oggOpus))).toEqual({ format: "ogg", contentType: "audio/ogg" });
      expect(sniffAudio(hex(FFMPEG_HEADS.oggVorbis))?.format).toBe("ogg");
      expect(sniffAudio(hex(FFMPEG_HEADS.oggTheora))).toBeNull();
      expect(sniffAudio(hex(FFMPEG_HEADS.oggOpus).subarray(0, 30))).toBeNull();
    });

    it("accepts WebM and Matroska by EBML DocType", () => {
      expect(sniffAudio(hex(FFMPEG_HEADS.webmOpus))).toEqual({ format: "webm", contentType: "audio/webm" });
      expect(sniffAudio(hex(FFMPEG_HEADS.matroskaOpus))?.format).toBe("webm");
      const otherDocType = hex(FFMPEG_HEADS.webmOpus);
      otherDocType.set(ascii("wxyz"), 24); // the 4-byte DocType value
      expect(sniffAudio(otherDocType)).toBeNull();
      expect(sniffAudio(hex("1a45dfa3"))).toBeNull();
    });

    it("accepts MP4/M4A/3GP brands and rejects HEIC and AVIF images", () => {
      expect(sniffAudio(hex(FFMPEG_HEADS.m4aAac))).toEqual({ format: "mp4", contentType: "audio/mp4" });
      expect(sniffAudio(hex(FFMPEG_HEADS.threeGpAac))?.format).toBe("mp4");
      const ftyp = (major: string, ...compatible: string[]) =>
        concat(
          hex((16 + 4 * compatible.length).toString(16).padStart(8, "0")),
          ascii("ftyp"),
          ascii(major),
          u32le(0),
          ...compatible.map(ascii),
        );
      expect(sniffAudio(ftyp("mp42", "isom"))?.format).toBe("mp4");
      expect(sniffAudio(ftyp("dash", "iso6"))?.format).toBe("mp4");
      expect(sniffAudio(ftyp("heic", "mif1", "heic"))).toBeNull();
      expect(sniffAudio(ftyp("avif", "mif1", "miaf"))).toBeNull();
      expect(sniffAudio(ftyp("mif1", "heic", "iso8"))).toBeNull();
      expect(sniffAudio(ftyp("qt  "))).toBeNull();
      expect(sniffAudio(ftyp("M4A ").subarray(0, 10))).toBeNull();
    });
  });

  describe("non-audio", () => {
    it.each([
      ["empty", new Uint8Array()],
      ["one byte", hex("ff")],
      ["plain text", new TextEncoder().encode("Hello, this is not audio at all. ".repeat(4))],
      ["JSON", new TextEncoder().encode('{"file":"audio.wav"}')],
      ["PNG", hex("89504e470d0a1a0a0000000d4948445200000020000000200806000000")],
      ["JPEG", hex("ffd8ffe000104a46494600010100000100010000ffdb0043")],
      ["GIF", ascii("GIF89a\x20\x00\x20\x00\xf7\x00\x00")],
      ["ZIP", hex("504b0304140000000800")],
      ["PDF", ascii("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")],
      ["RIFF only", ascii("RIFF")],
      ["zeros", new Uint8Array(SNIFF_BYTES)],
    ])("rejects %s", (_name, bytes) => {
      expect(sniffAudio(bytes)).toBeNull();
    });
  });
});
