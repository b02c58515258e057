/** Audio fixtures built in code: valid PCM WAV files of a given length. */
import { encodeWav16 } from "@vtt/pool-contract";

export function makeWav(seconds = 0.5, sampleRate = 16_000, frequency = 440): Uint8Array<ArrayBuffer> {
  const samples = new Float32Array(Math.round(seconds * sampleRate));
  for (let i = 0; i < samples.length; i++) samples[i] = Math.sin((2 * Math.PI * frequency * i) / sampleRate) * 0.25;
  return encodeWav16(samples, sampleRate);
}

/** A ReadableStream that yields `bytes` in chunks of `chunkSize`. */
export function chunkedStream(bytes: Uint8Array, chunkSize = 4096): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}
