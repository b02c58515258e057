/** Byte helpers (pure). */

/** Takes exactly `size` bytes off the front of a queue of chunks (mutates `chunks`); the caller knows they are there. */
export function takeBytes(chunks: Uint8Array[], size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let filled = 0;
  while (filled < size) {
    const chunk = chunks[0]!;
    const take = Math.min(chunk.byteLength, size - filled);
    out.set(chunk.subarray(0, take), filled);
    filled += take;
    if (take === chunk.byteLength) chunks.shift();
    else chunks[0] = chunk.subarray(take);
  }
  return out;
}

/** Joins chunks into one buffer of `total` bytes (the sum of their lengths). */
export function concatBytes(
  chunks: Uint8Array[],
  total = chunks.reduce((n, c) => n + c.byteLength, 0),
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
