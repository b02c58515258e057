// 16 kHz mono 16-bit PCM WAV files for the benchmark scripts (plain Node cannot load the contract package's
// TypeScript encoder). The e2e tests, which run under vitest, use @vtt/pool-contract's encodeWav16 instead.

/** `seconds` of a tone at `frequency` Hz (0: silence), 16 kHz mono, 16-bit. */
export function toneWav(seconds, frequency = 330) {
  const rate = 16_000;
  const samples = Math.round(seconds * rate);
  const buf = Buffer.alloc(44 + samples * 2);
  buf.write("RIFF", 0);
  buf.writeUInt32LE(36 + samples * 2, 4);
  buf.write("WAVEfmt ", 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write("data", 36);
  buf.writeUInt32LE(samples * 2, 40);
  if (frequency > 0) {
    for (let i = 0; i < samples; i++) {
      buf.writeInt16LE(Math.round(Math.sin((2 * Math.PI * frequency * i) / rate) * 9000), 44 + i * 2);
    }
  }
  return buf;
}
