/** Launcher of softmax_xent.wgsl. */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';
import { foldWorkgroups } from '../runtime/kernel.js';

/** Threads per row (a power of two). */
const ROW_THREADS = 32;

/**
 * Per-row losses −log softmax(z)[label] and dlogits = scale·(softmax(z) − onehot),
 * for rows×C logits; a negative label is ignored (loss 0, gradient 0).
 */
export function softmaxCrossEntropy(gpu: Gpu, args: {
  logits: GpuBuffer;
  labels: GpuBuffer;
  losses: GpuBuffer;
  dlogits: GpuBuffer;
  rows: number;
  C: number;
  /** Weight of each counted row in the reduced loss (1/count for a mean). */
  scale: number;
}): void {
  const { rows, C, scale } = args;
  const name = 'softmax_xent.forwardBackward';
  for (const [dim, v] of [['rows', rows], ['C', C]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new KernelLaunchError(name, `${dim} must be a positive integer, got ${v}`);
  }
  gpu.kernel('softmax_xent', 'forwardBackward', { WG: ROW_THREADS }).launch({
    bindings: { logits: args.logits, labels: args.labels, losses: args.losses, dlogits: args.dlogits },
    uniforms: { rows, C, scale },
    minBytes: { logits: 4 * rows * C, labels: 4 * rows, losses: 4 * rows, dlogits: 4 * rows * C },
    workgroups: foldWorkgroups(rows, gpu.maxWorkgroupsPerDimension),
  });
}
