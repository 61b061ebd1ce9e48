/** Small numeric helpers shared by references, tests and initializers. */

/** mulberry32: a seeded PRNG, uniform in [0, 1); the same seed gives the same sequence everywhere. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * ‖got − want‖ / ‖want‖ (Frobenius) over `indices` (default: all); the
 * absolute ‖got − want‖ when want is zero there.
 */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>, indices?: Iterable<number>): number {
  let num = 0;
  let den = 0;
  for (const i of indices ?? Array.from({ length: want.length }, (_, k) => k)) {
    num += (got[i]! - want[i]!) ** 2;
    den += want[i]! ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}
