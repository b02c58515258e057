import { describe, expect, it } from "vitest";
import { decodeSamples, probeAudio } from "../../src/drift/audio-probe.ts";
import { makeWav } from "../helpers/audio.ts";

/** A WAV header for `dataBytes` of audio (format tag 1 = PCM, 3 = float). */
function wavHeader(tag: number, sampleRate: number, channels: number, bits: number, dataBytes: number): Uint8Array {
  const header = new Uint8Array(44);
  const view = new DataView(header.buffer);
  header.set([..."RIFF"].map((c) => c.charCodeAt(0)), 0);
  view.setUint32(4, 36 + dataBytes, true);
  header.set([..."WAVEfmt "].map((c) => c.charCodeAt(0)), 8);
  view.setUint32(16, 16, true);
  view.setUint16(20, tag, true);
  view.setUint16(22, channels, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, (sampleRate * channels * bits) / 8, true);
  view.setUint16(32, (channels * bits) / 8, true);
  view.setUint16(34, bits, true);
  header.set([..."data"].map((c) => c.charCodeAt(0)), 36);
  view.setUint32(40, dataBytes, true);
  return header;
}

describe("probeAudio", () => {
  it("reads rate, channels, duration and the loudness of 16-bit PCM", () => {
    const wav = makeWav(1);
    const probe = probeAudio(wav, wav.byteLength);
    expect(probe).toMatchObject({ sampleRate: 16_000, channels: 1, durationSeconds: 1, pcm: { silenceRatio: 0 } });
    expect(probe.pcm!.rmsDbfs).toBeCloseTo(20 * Math.log10(0.25 / Math.SQRT2), 1);
  });

  it("analyses only the first maxSeconds, and a truncated prefix still gives the header's duration", () => {
    // 1 s of silence then 1 s of tone: the first half-second is all silent
    const tone = makeWav(2);
    const view = new DataView(tone.buffer);
    for (let i = 0; i < 16_000; i++) view.setInt16(44 + i * 2, 0, true);
    expect(probeAudio(tone, tone.byteLength, 0.5).pcm!.silenceRatio).toBe(1);
    expect(probeAudio(tone, tone.byteLength).pcm!.silenceRatio).toBeCloseTo(0.5, 2);
    expect(probeAudio(tone.subarray(0, 1000), tone.byteLength)).toMatchObject({ durationSeconds: 2, sampleRate: 16_000 });
  });

  it("decodes 24-bit PCM, 8-bit PCM and 32-bit float stereo", () => {
    const pcm24 = new Uint8Array([0x00, 0x00, 0x40, 0x00, 0x00, 0xc0]); // +0.5, −0.5
    expect(Array.from(decodeSamples(pcm24, "pcm", 24)!)).toEqual([0.5, -0.5]);
    expect(Array.from(decodeSamples(new Uint8Array([128, 192, 64]), "pcm", 8)!)).toEqual([0, 0.5, -0.5]);
    const floats = new Float32Array([0.5, -0.5, 0.5, -0.5]);
    const body = new Uint8Array(floats.buffer);
    const file = new Uint8Array([...wavHeader(3, 8_000, 2, 32, body.byteLength), ...body]);
    const probe = probeAudio(file, file.byteLength);
    expect(probe).toMatchObject({ sampleRate: 8_000, channels: 2, pcm: { silenceRatio: 0 } });
    expect(probe.pcm!.rmsDbfs).toBeCloseTo(20 * Math.log10(0.5), 6);
    expect(decodeSamples(body, "extensible", 32)).toBeNull();
  });

  it("leaves everything null for other containers", () => {
    const mp3 = new Uint8Array([0x49, 0x44, 0x33, 0x04, 0, 0, 0, 0, 0, 0, 0xff, 0xfb]);
    expect(probeAudio(mp3, 1000)).toEqual({ sampleRate: null, channels: null, durationSeconds: null, pcm: null });
  });
});
