/** Seeded random numbers for weight initialization (reproducible from a seed). */

import { mulberry32 } from '@thaw/kernels';

/** Uniform in [0, 1), reproducible from the seed (mulberry32). */
export const uniform = mulberry32;

/** n samples of N(0, std²) by Box–Muller. */
export function normal(n: number, std: number, random: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - random();
    const v = random();
    const r = std * Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}
