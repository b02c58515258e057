/**
 * Fixtures and checks for audio redaction of compressed files: the ffmpeg-made files of
 * compressed-audio.generated.ts as bytes, a strict 16-bit PCM WAV reader, and the measures the tests assert on (the
 * tone's exact samples inside a span, the distance from the known signal outside).
 */
import { parseWavHeader } from "../../src/domain/riff.ts";
import { toneSample } from "../../src/domain/wav-tone.ts";
import type { Env } from "../../src/env.ts";
import { OPENAI_VERBOSE_JSON } from "../providers/fixtures.ts";
import { call, callWith } from "./api.ts";
import { COMPRESSED_AUDIO_BASE64, FIXTURE_SIGNAL } from "./compressed-audio.generated.ts";

export { FIXTURE_SIGNAL };

export type CompressedFixture = keyof typeof COMPRESSED_AUDIO_BASE64;

/** The bytes of a fixture file. */
export function compressedAudio(name: CompressedFixture): Uint8Array<ArrayBuffer> {
  const text = atob(COMPRESSED_AUDIO_BASE64[name]);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** A decoded 16-bit PCM WAV: one array of samples in [-1, 1] per channel. */
export interface Pcm16Wav {
  sampleRate: number;
  channels: Float32Array[];
  frames: number;
}

/** Reads a 16-bit PCM WAV; throws unless the header is one and its `data` size matches the bytes exactly. */
export function readPcm16Wav(bytes: Uint8Array): Pcm16Wav {
  const header = parseWavHeader(bytes);
  if (!header?.data) throw new Error("not a WAV with a data chunk");
  const { fmt, data } = header;
  if (fmt.formatTag !== 1 || fmt.bitsPerSample !== 16)
    throw new Error(`not 16-bit PCM: ${fmt.formatTag}/${fmt.bitsPerSample}`);
  if (data.offset + data.size !== bytes.length)
    throw new Error(`data size ${data.size} ≠ ${bytes.length - data.offset} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset + data.offset, data.size);
  const frames = data.size / (2 * fmt.channels);
  const channels = Array.from({ length: fmt.channels }, () => new Float32Array(frames));
  for (let f = 0; f < frames; f++)
    for (let ch = 0; ch < fmt.channels; ch++)
      channels[ch]![f] = view.getInt16((f * fmt.channels + ch) * 2, true) / 32767;
  return { sampleRate: fmt.sampleRate, channels, frames };
}

/** Frames [start, end) of a span in seconds. */
const frameRange = (wav: Pcm16Wav, start: number, end: number) => [
  Math.max(0, Math.ceil(start * wav.sampleRate)),
  Math.min(wav.frames, Math.floor(end * wav.sampleRate)),
];

/** The largest difference, over every channel, between the samples in [start, end) and the redaction tone. */
export function maxToneError(wav: Pcm16Wav, start: number, end: number): number {
  const [from, to] = frameRange(wav, start, end);
  let worst = 0;
  for (const channel of wav.channels)
    for (let f = from!; f < to!; f++)
      worst = Math.max(worst, Math.abs(channel[f]! - Math.round(toneSample(f, wav.sampleRate) * 32767) / 32767));
  return worst;
}

/** RMS difference, over every channel, between the samples in [start, end) and the fixtures' signal. */
export function signalRmsError(wav: Pcm16Wav, start: number, end: number): number {
  const [from, to] = frameRange(wav, start, end);
  const { amplitude, frequency } = FIXTURE_SIGNAL;
  let sum = 0;
  let n = 0;
  for (const channel of wav.channels)
    for (let f = from!; f < to!; f++) {
      const expected = amplitude * Math.sin((2 * Math.PI * frequency * f) / wav.sampleRate);
      sum += (channel[f]! - expected) ** 2;
      n += 1;
    }
  return Math.sqrt(sum / Math.max(n, 1));
}

/** What the fixture's speaker says: a phone number from 1.0 s to 1.6 s of the 3 s file. */
export const PHONE_TEXT = "call me on 415 555 2671 thanks";
export const PHONE_WORDS = [
  { word: "call", start: 0.2, end: 0.4 },
  { word: "me", start: 0.4, end: 0.6 },
  { word: "on", start: 0.6, end: 0.9 },
  { word: "415", start: 1.0, end: 1.2 },
  { word: "555", start: 1.2, end: 1.4 },
  { word: "2671", start: 1.4, end: 1.6 },
  { word: "thanks", start: 2.0, end: 2.4 },
];
/** The phone number's words, padded by 50 ms each side (AUDIO_REDACTION_PADDING_SECONDS). */
export const TONED_PHONE = { start: 0.95, end: 1.65 };

/** OpenAI's verbose_json answer for the fixture: {@link PHONE_TEXT} with its word timestamps. */
export const OPENAI_PHONE = {
  ...OPENAI_VERBOSE_JSON,
  duration: FIXTURE_SIGNAL.seconds,
  text: PHONE_TEXT,
  segments: [{ ...OPENAI_VERBOSE_JSON.segments[0]!, start: 0, end: 3, text: ` ${PHONE_TEXT}` }],
  words: PHONE_WORDS,
};

/** A multipart upload asking for `redact_pii_audio`, typed by the bytes (the client's type is never trusted). */
export function uploadForAudioRedaction(
  key: string,
  bytes: Uint8Array<ArrayBuffer>,
  fileName: string,
  provider = "openai",
  overrides?: Partial<Env>,
): Promise<Response> {
  const form = new FormData();
  form.append("provider", provider);
  form.append("redact_pii", "true");
  form.append("redact_pii_audio", "true");
  form.append("file", new Blob([bytes], { type: "application/octet-stream" }), fileName);
  const init = { method: "POST", key, body: form };
  return overrides ? callWith(overrides, "/v1/transcriptions", init) : call("/v1/transcriptions", init);
}
