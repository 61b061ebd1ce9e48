/** Launchers of reduce.wgsl. */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';
import { foldWorkgroups } from '../runtime/kernel.js';

const THREADS = 64;

function checkShape(kernel: string, rows: number, cols: number): void {
  for (const [name, v] of [['rows', rows], ['cols', cols]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new KernelLaunchError(kernel, `${name} must be a positive integer, got ${v}`);
  }
}

/** out[j] = Σ_i x[i, j] for a rows×cols matrix, in row order. */
export function columnSums(gpu: Gpu, args: { x: GpuBuffer; out: GpuBuffer; rows: number; cols: number }): void {
  const { rows, cols } = args;
  checkShape('reduce.columnSums', rows, cols);
  gpu.kernel('reduce', 'columnSums', { WG: THREADS }).launch({
    bindings: { x: args.x, out: args.out },
    uniforms: { rows, cols },
    minBytes: { x: 4 * rows * cols, out: 4 * cols },
    workgroups: [Math.ceil(cols / THREADS)],
  });
}

/**
 * out[j] = Σ_i x[i, j] · y[i, j] for two rows×cols matrices, in row order (no
 * atomics: the same inputs give the same bits). The gradient of a column
 * scale: ds = columnDots(dy, x).
 */
export function columnDots(gpu: Gpu, args: { x: GpuBuffer; y: GpuBuffer; out: GpuBuffer; rows: number; cols: number }): void {
  const { rows, cols } = args;
  checkShape('reduce.columnDots', rows, cols);
  gpu.kernel('reduce', 'columnDots', { WG: THREADS }).launch({
    bindings: { x: args.x, y: args.y, out: args.out },
    uniforms: { rows, cols },
    minBytes: { x: 4 * rows * cols, y: 4 * rows * cols, out: 4 * cols },
    workgroups: foldWorkgroups(Math.ceil(cols / THREADS), gpu.maxWorkgroupsPerDimension),
  });
}
