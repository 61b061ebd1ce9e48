/** Launcher of dropout.wgsl, and the same keep-mask on the CPU. */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';
import { foldWorkgroups } from '../runtime/kernel.js';

const THREADS = 256;

/** out = x masked by keep(seed, stream, i) and scaled by 1/(1 − p) (forward and backward alike). */
export function dropout(gpu: Gpu, args: { x: GpuBuffer; out: GpuBuffer; n: number; p: number; seed: number; stream: number }): void {
  const { n, p } = args;
  if (!(p >= 0 && p < 1)) throw new KernelLaunchError('dropout.apply', `p must be in [0, 1), got ${p}`);
  gpu.kernel('dropout', 'apply', { WG: THREADS }).launch({
    bindings: { x: args.x, out: args.out },
    uniforms: { n, seed: args.seed >>> 0, stream: args.stream >>> 0, p },
    minBytes: { x: 4 * n, out: 4 * n },
    workgroups: foldWorkgroups(Math.max(1, Math.ceil(n / THREADS)), gpu.maxWorkgroupsPerDimension),
  });
}

function lowbias32(v: number): number {
  let h = v >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** The keep-mask dropout.wgsl computes, bit for bit. */
export function dropoutKeepMask(n: number, p: number, seed: number, stream: number): Uint8Array {
  const base = lowbias32(lowbias32(seed >>> 0) ^ (stream >>> 0));
  const pf = Math.fround(p);
  return Uint8Array.from({ length: n }, (_, i) => (Math.fround((lowbias32(base ^ i) >>> 8) * (1 / 16777216)) >= pf ? 1 : 0));
}
