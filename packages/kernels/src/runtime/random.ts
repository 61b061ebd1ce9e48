/**
 * mulberry32: a seeded generator of uniform numbers in [0, 1). The same seed
 * gives the same sequence on every machine (32-bit integer arithmetic only),
 * so everything Thaw draws at random — data, initialization, dropout masks,
 * random schedules — is reproduced from its seed.
 */
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
