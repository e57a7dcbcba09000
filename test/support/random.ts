/** @module A small deterministic generator (xorshift32) for test and bench data: the same seed, the same numbers, so a failing case can be rerun. */

/** Numbers in [0, 1) from `seed`; the quality needed is only "not a pattern". */
export function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 4294967296
  }
}
