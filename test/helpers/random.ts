/** Seeded randomness for tests, so a "random" input is the same on every run and a failure replays from its seed. */

/**
 * mulberry32: a small, fast 32-bit PRNG (not for secrets). Returns a generator of floats in [0, 1); the same seed
 * always gives the same sequence.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
