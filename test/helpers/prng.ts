/**
 * A seeded pseudo-random number generator for tests that check code against
 * a plain reference on random cases: the same seed gives the same cases on
 * every run and machine, so a failure reproduces from its seed alone.
 *
 * The algorithm is mulberry32 (Tommy Ettinger, public domain): 32 bits of
 * state, period 2^32, good enough for picking test inputs and nothing more.
 * Tests pin cases by their seeds, so this function must never change: a
 * different sequence would silently replace every seeded case.
 */

/**
 * Returns a generator of numbers in [0, 1), like `Math.random`, seeded with
 * `seed` (any number; only its low 32 bits count). Each call to `prng()`
 * starts an independent sequence.
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296; // 2^32
  };
}
