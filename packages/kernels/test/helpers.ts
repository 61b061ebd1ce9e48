/** Shared test helpers: a seeded RNG, poisoned buffers, error norms, one Gpu per file. */
import { afterAll, beforeAll } from 'vitest';
import { Gpu, type GpuBuffer, type GpuOptions } from '../src/index.js';
import { relativeError } from '../src/reference/index.js';
import { mulberry32 } from '../src/runtime/random.js';

/** The seeded PRNG of every test. */
export const rng = mulberry32;
export { relativeError };

/** n values uniform in ±[0.1, 1): random signs, never zero. */
export function randomArray(n: number, random: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => (0.1 + 0.9 * random()) * (random() < 0.5 ? -1 : 1));
}

/**
 * Relative Frobenius error ‖got − want‖/‖want‖, or, when want is exactly zero,
 * the largest |got| (so an all-zero expectation is checked, not divided by).
 */
export function errorAgainst(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let den = 0;
  for (let i = 0; i < want.length; i++) den += want[i]! ** 2;
  if (den > 0) return relativeError(got, want);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]!));
  return worst;
}

/** Index of the first non-finite value, or -1: an element the kernel never wrote. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
  return -1;
}

/**
 * Row sums of op(A) (A stored M×K, or K×M when transA) as an fp32 running
 * sum: s = 0, then s += op(A)[m, k] for k = 0, 1, …, each add rounded to
 * fp32. The bits a kernel adding in that order must give.
 */
export function fp32RowSums(a: Float32Array, M: number, K: number, transA: boolean): Float32Array {
  const sums = new Float32Array(M);
  for (let m = 0; m < M; m++) {
    let s = 0;
    for (let k = 0; k < K; k++) s = Math.fround(s + a[transA ? k * M + m : m * K + k]!);
    sums[m] = s;
  }
  return sums;
}

/** A buffer of n f32 filled with NaN, so unwritten outputs cannot pass. */
export function poisoned(gpu: Gpu, n: number): GpuBuffer {
  return gpu.upload(new Float32Array(n).fill(Number.NaN));
}

/**
 * Opens one Gpu for the test file (or describe block) and destroys it
 * afterwards; `options.maxStorageBindingBytes` lowers the binding limit to
 * exercise chunked launches.
 */
export function useGpu(options: GpuOptions = {}): () => Gpu {
  let gpu: Gpu | undefined;
  beforeAll(async () => {
    gpu = await Gpu.create(options);
  });
  afterAll(async () => {
    await gpu?.destroy();
  });
  return () => {
    if (!gpu) throw new Error('Gpu not created');
    return gpu;
  };
}
