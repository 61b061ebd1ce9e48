/** Launchers of reduce.wgsl. */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';

const THREADS = 64;

/** out[j] = Σ_i x[i, j] for a rows×cols matrix, in row order. */
export function columnSums(gpu: Gpu, args: { x: GpuBuffer; out: GpuBuffer; rows: number; cols: number }): void {
  const { rows, cols } = args;
  for (const [name, v] of [['rows', rows], ['cols', cols]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new KernelLaunchError('reduce.columnSums', `${name} must be a positive integer, got ${v}`);
  }
  gpu.kernel('reduce', 'columnSums', { WG: THREADS }).launch({
    bindings: { x: args.x, out: args.out },
    uniforms: { rows, cols },
    minBytes: { x: 4 * rows * cols, out: 4 * cols },
    workgroups: [Math.ceil(cols / THREADS)],
  });
}
