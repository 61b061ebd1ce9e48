/** Launchers of layernorm.wgsl. */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';
import { foldWorkgroups } from '../runtime/kernel.js';

/**
 * Threads per row for the row reductions: one subgroup's worth (a power of
 * two, 8 to 256; 64 when the adapter does not report its subgroup size).
 * Fewer threads per row means fewer barrier rounds: on lavapipe (8 lanes)
 * 8 threads per row ran the forward 1.8× faster than 64.
 */
function rowThreads(gpu: Gpu): number {
  const lanes = gpu.adapter.subgroupMaxSize || 64;
  return Math.min(256, Math.max(8, 2 ** Math.round(Math.log2(lanes))));
}
/** Columns per workgroup in the parameter-gradient pass. */
const COLUMN_THREADS = 64;

function checkShape(kernel: string, rows: number, D: number): void {
  if (!Number.isInteger(rows) || rows < 1) throw new KernelLaunchError(kernel, `rows must be a positive integer, got ${rows}`);
  if (!Number.isInteger(D) || D < 1) throw new KernelLaunchError(kernel, `D must be a positive integer, got ${D}`);
}

/** y = LN(x)·gamma + beta over rows of length D; saves mean and rstd per row. */
export interface LayerNormForwardArgs {
  x: GpuBuffer;
  gamma: GpuBuffer;
  beta: GpuBuffer;
  y: GpuBuffer;
  mean: GpuBuffer;
  rstd: GpuBuffer;
  rows: number;
  D: number;
  /** Added to the variance (default 1e-5, as PyTorch). */
  eps?: number;
}

/** Records the layernorm forward pass. */
export function layerNormForward(gpu: Gpu, args: LayerNormForwardArgs): void {
  const { rows, D } = args;
  checkShape('layernorm.forward', rows, D);
  const eps = args.eps ?? 1e-5;
  if (!(eps > 0)) throw new KernelLaunchError('layernorm.forward', `eps must be positive, got ${eps}`);
  gpu.kernel('layernorm', 'forward', { WG: rowThreads(gpu) }).launch({
    bindings: { x: args.x, gamma: args.gamma, beta: args.beta, y: args.y, mean: args.mean, rstd: args.rstd },
    uniforms: { rows, D, eps },
    minBytes: { x: rows * D * 4, y: rows * D * 4, gamma: D * 4, beta: D * 4, mean: rows * 4, rstd: rows * 4 },
    workgroups: foldWorkgroups(rows, gpu.maxWorkgroupsPerDimension),
  });
}

/** Gradients of the layernorm from dy and the statistics the forward saved. */
export interface LayerNormBackwardArgs {
  x: GpuBuffer;
  gamma: GpuBuffer;
  mean: GpuBuffer;
  rstd: GpuBuffer;
  dy: GpuBuffer;
  /** Leave out to skip the input-gradient pass (x leads to nothing trainable). */
  dx?: GpuBuffer;
  /** dgamma and dbeta: give both, or neither to skip that pass (frozen γ, β). */
  dgamma?: GpuBuffer;
  dbeta?: GpuBuffer;
  rows: number;
  D: number;
}

/** Records the layernorm backward passes that are asked for: dx, and dgamma with dbeta. */
export function layerNormBackward(gpu: Gpu, args: LayerNormBackwardArgs): void {
  const { rows, D } = args;
  checkShape('layernorm.backward', rows, D);
  const stats = { savedMean: args.mean, savedRstd: args.rstd };
  const statBytes = { savedMean: rows * 4, savedRstd: rows * 4 };
  if (args.dx) {
    gpu.kernel('layernorm', 'backwardInput', { WG: rowThreads(gpu) }).launch({
      bindings: { x: args.x, gamma: args.gamma, dy: args.dy, dx: args.dx, ...stats },
      uniforms: { rows, D },
      minBytes: { x: rows * D * 4, dy: rows * D * 4, dx: rows * D * 4, gamma: D * 4, ...statBytes },
      workgroups: foldWorkgroups(rows, gpu.maxWorkgroupsPerDimension),
    });
  }
  if (!args.dgamma && !args.dbeta) return;
  if (!args.dgamma || !args.dbeta) throw new KernelLaunchError('layernorm.backward', 'give both dgamma and dbeta, or neither');
  gpu.kernel('layernorm', 'backwardParams', { WG: COLUMN_THREADS }).launch({
    bindings: { x: args.x, dy: args.dy, dgamma: args.dgamma, dbeta: args.dbeta, ...stats },
    uniforms: { rows, D },
    minBytes: { x: rows * D * 4, dy: rows * D * 4, dgamma: D * 4, dbeta: D * 4, ...statBytes },
    workgroups: [Math.ceil(D / COLUMN_THREADS)],
  });
}
