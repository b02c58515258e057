import { describe, expect, it } from "vitest";

import { decodeSamples, probeAudio } from "../../src/drift/audio-probe.ts";
import { craftedWav, makeWav, noiseWav, pcmWav, silenceSamples, silenceWav, toneSamples } from "../helpers/audio.ts";

describe("probeAudio", () => {
  it("reads rate, channels, duration and the loudness of 16-bit PCM", () => {
    const wav = makeWav(1);
    const probe = probeAudio(wav, wav.byteLength);
    expect(probe).toMatchObject({ sampleRate: 16_000, channels: 1, durationSeconds: 1, pcm: { silenceRatio: 0 } });
    expect(probe.pcm!.rmsDbfs).toBeCloseTo(20 * Math.log10(0.25 / Math.SQRT2), 1);
  });

  it("analyses only the first maxSeconds, and a truncated prefix still gives the header's duration", () => {
    // 1 s of silence then 1 s of tone: the first half-second is all silent
    const tone = pcmWav(Float32Array.from([...silenceSamples({ seconds: 1 }), ...toneSamples({ seconds: 1 })]));
    expect(probeAudio(tone, tone.byteLength, 0.5).pcm!.silenceRatio).toBe(1);
    expect(probeAudio(tone, tone.byteLength).pcm!.silenceRatio).toBeCloseTo(0.5, 2);
    expect(probeAudio(tone.subarray(0, 1000), tone.byteLength)).toMatchObject({
      durationSeconds: 2,
      sampleRate: 16_000,
    });
  });

  it("reads stereo 44.1 kHz, and tells digital silence from noise", () => {
    const silence = silenceWav({ seconds: 0.5, sampleRate: 44_100, channels: 2 });
    expect(probeAudio(silence, silence.byteLength)).toMatchObject({
      sampleRate: 44_100,
      channels: 2,
      durationSeconds: 0.5,
      pcm: { silenceRatio: 1 },
    });
    const noise = noiseWav({ seconds: 0.5, sampleRate: 44_100, channels: 2, amplitude: 0.5 });
    const probe = probeAudio(noise, noise.byteLength);
    expect(probe).toMatchObject({ sampleRate: 44_100, channels: 2, durationSeconds: 0.5, pcm: { silenceRatio: 0 } });
    // uniform noise in [−a, a] has an RMS of a/√3
    expect(probe.pcm!.rmsDbfs).toBeCloseTo(20 * Math.log10(0.5 / Math.sqrt(3)), 0);
  });

  it("decodes 24-bit PCM, 8-bit PCM and 32-bit float stereo", () => {
    const pcm24 = new Uint8Array([0x00, 0x00, 0x40, 0x00, 0x00, 0xc0]); // +0.5, −0.5
    expect(Array.from(decodeSamples(pcm24, "pcm", 24)!)).toEqual([0.5, -0.5]);
    expect(Array.from(decodeSamples(new Uint8Array([128, 192, 64]), "pcm", 8)!)).toEqual([0, 0.5, -0.5]);
    const floats = new Float32Array([0.5, -0.5, 0.5, -0.5]);
    const body = new Uint8Array(floats.buffer);
    const file = craftedWav({ formatTag: 3, sampleRate: 8_000, channels: 2, bitsPerSample: 32, data: body });
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
