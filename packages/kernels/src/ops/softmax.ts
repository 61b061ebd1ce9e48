/** Launchers of softmax.wgsl. */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';
import { foldWorkgroups } from '../runtime/kernel.js';

const ROW_THREADS = 32;

/** y = softmax(scale·x) per row of C, with keys where mask[b, c] = 0 excluded. */
export function softmaxForward(gpu: Gpu, args: {
  x: GpuBuffer; y: GpuBuffer; rows: number; C: number; scale: number;
  /** batches×C of 1 (keep) / 0 (padding); row r uses batch r / rowsPerBatch. */
  mask?: GpuBuffer; rowsPerBatch?: number;
}): void {
  const { rows, C } = args;
  const rowsPerBatch = args.rowsPerBatch ?? rows;
  if (rows % rowsPerBatch !== 0) throw new KernelLaunchError('softmax.forward', `rows ${rows} is not a multiple of rowsPerBatch ${rowsPerBatch}`);
  gpu.kernel('softmax', 'forward', { WG: ROW_THREADS }).launch({
    bindings: { x: args.x, y: args.y, mask: args.mask ?? args.x },
    uniforms: { rows, C, rowsPerBatch, hasMask: args.mask ? 1 : 0, scale: args.scale },
    minBytes: { x: 4 * rows * C, y: 4 * rows * C, ...(args.mask ? { mask: 4 * (rows / rowsPerBatch) * C } : {}) },
    workgroups: foldWorkgroups(rows, gpu.maxWorkgroupsPerDimension),
  });
}

/** dx = scale · y ⊙ (dy − Σ dy ⊙ y) per row. */
export function softmaxBackward(gpu: Gpu, args: { y: GpuBuffer; dy: GpuBuffer; dx: GpuBuffer; rows: number; C: number; scale: number }): void {
  const { rows, C } = args;
  gpu.kernel('softmax', 'backward', { WG: ROW_THREADS }).launch({
    bindings: { yIn: args.y, dy: args.dy, dx: args.dx },
    uniforms: { rows, C, scale: args.scale },
    minBytes: { yIn: 4 * rows * C, dy: 4 * rows * C, dx: 4 * rows * C },
    workgroups: foldWorkgroups(rows, gpu.maxWorkgroupsPerDimension),
  });
}
