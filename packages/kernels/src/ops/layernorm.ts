/** Launchers of layernorm.wgsl: the norm alone, or fused with a residual add and dropout. */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';
import { foldWorkgroups } from '../runtime/kernel.js';

/** Threads per workgroup of the parameter-gradient reduction. */
const COLUMN_THREADS = 64;

/**
 * Threads per row and per workgroup. On a CPU adapter (Dawn marks lavapipe
 * and SwiftShader as fallback adapters) one thread per row: no barrier at
 * all, which measured 1.9× faster than 8 threads per row on lavapipe; 16
 * rows per workgroup. On GPUs one subgroup's worth of threads per row (a
 * power of two, 8 to 256; 64 when the adapter does not report its subgroup
 * size), 8 rows per workgroup up to 256 threads. `threadsPerRow` overrides
 * the choice (tests run both shapes on one adapter).
 */
function rowLayout(gpu: Gpu, kernel: string, threadsPerRow?: number): { WG: number; TPR: number; rowsPerBlock: number } {
  const cpu = gpu.adapter.isFallbackAdapter;
  const lanes = gpu.adapter.subgroupMaxSize || 64;
  const TPR = threadsPerRow ?? (cpu ? 1 : Math.min(256, Math.max(8, 2 ** Math.round(Math.log2(lanes)))));
  if (!Number.isInteger(TPR) || TPR < 1 || TPR > 256 || (TPR & (TPR - 1)) !== 0) {
    throw new KernelLaunchError(kernel, `threadsPerRow must be a power of two from 1 to 256, got ${TPR}`);
  }
  const WG = Math.min(256, TPR * (cpu ? 16 : 8));
  return { WG, TPR, rowsPerBlock: WG / TPR };
}

function checkShape(kernel: string, rows: number, D: number): void {
  if (!Number.isInteger(rows) || rows < 1) throw new KernelLaunchError(kernel, `rows must be a positive integer, got ${rows}`);
  if (!Number.isInteger(D) || D < 1) throw new KernelLaunchError(kernel, `D must be a positive integer, got ${D}`);
}

/**
 * Dropout fused into the norm, with dropout.wgsl's mask for the same
 * (seed, stream) and flat element index: on x before the residual add
 * (`input`: BERT's hidden dropout) or on the norm's output (`output`: the
 * embeddings' dropout).
 */
export interface LayerNormDropout {
  p: number;
  seed: number;
  stream: number;
  at: 'input' | 'output';
}

function checkDropout(kernel: string, dropout: LayerNormDropout | undefined): void {
  if (!dropout) return;
  if (!(dropout.p >= 0 && dropout.p < 1)) throw new KernelLaunchError(kernel, `dropout p must be in [0, 1), got ${dropout.p}`);
  if (dropout.at !== 'input' && dropout.at !== 'output') throw new KernelLaunchError(kernel, `dropout.at must be 'input' or 'output', got ${String(dropout.at)}`);
}

const dropoutUniforms = (d: LayerNormDropout | undefined) => ({ p: d?.p ?? 0, seed: (d?.seed ?? 0) >>> 0, stream: (d?.stream ?? 0) >>> 0 });

/**
 * y = drop_out(LN(drop_in(x) + residual)·gamma + beta) over rows of length D,
 * each of the residual and the dropout optional; saves mean and rstd per row.
 */
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
  /** Added to x (after its dropout) before the norm. */
  residual?: GpuBuffer;
  dropout?: LayerNormDropout;
  /**
   * Where s = drop_in(x) + residual, the norm's input, is saved for the
   * backward (rows×D). Only meaningful with a residual or an input dropout
   * (otherwise s is x); leave it out when no backward follows.
   */
  sum?: GpuBuffer;
  /** Threads per row (a power of two); default: chosen for the adapter. */
  threadsPerRow?: number;
}

/** Records the layernorm forward pass (one dispatch, whatever is fused into it). */
export function layerNormForward(gpu: Gpu, args: LayerNormForwardArgs): void {
  const { rows, D } = args;
  const name = 'layernorm.forward';
  checkShape(name, rows, D);
  checkDropout(name, args.dropout);
  const eps = args.eps ?? 1e-5;
  if (!(eps > 0)) throw new KernelLaunchError(name, `eps must be positive, got ${eps}`);
  const dropInput = args.dropout?.at === 'input';
  if (args.sum && !args.residual && !dropInput) throw new KernelLaunchError(name, 'sum is saved only with a residual or an input dropout (otherwise the norm\'s input is x)');
  const { WG, TPR, rowsPerBlock } = rowLayout(gpu, name, args.threadsPerRow);
  const n = rows * D;
  // Bindings the specialization does not touch still need a buffer: a read
  // one reuses x; the unwritten `sum` gets a scratch word.
  const scratch = args.sum ? undefined : gpu.alloc(4, 'layernorm.unused');
  try {
    gpu.kernel('layernorm', 'forward', {
      WG, TPR, RESIDUAL: Boolean(args.residual), DROP_INPUT: dropInput, DROP_OUTPUT: args.dropout?.at === 'output', WRITE_SUM: Boolean(args.sum),
    }).launch({
      bindings: { x: args.x, residual: args.residual ?? args.x, gamma: args.gamma, beta: args.beta, y: args.y, mean: args.mean, rstd: args.rstd, sum: args.sum ?? scratch! },
      uniforms: { rows, D, eps, ...dropoutUniforms(args.dropout) },
      minBytes: {
        x: n * 4, y: n * 4, gamma: D * 4, beta: D * 4, mean: rows * 4, rstd: rows * 4,
        ...(args.residual ? { residual: n * 4 } : {}), ...(args.sum ? { sum: n * 4 } : {}),
      },
      workgroups: foldWorkgroups(Math.ceil(rows / rowsPerBlock), gpu.maxWorkgroupsPerDimension),
    });
  } finally {
    if (scratch) gpu.release(scratch);
  }
}

/** Gradients of the layernorm from dy and the statistics the forward saved. */
export interface LayerNormBackwardArgs {
  /** The norm's input s: the forward's `sum` when it saved one, else its x. */
  x: GpuBuffer;
  gamma: GpuBuffer;
  mean: GpuBuffer;
  rstd: GpuBuffer;
  dy: GpuBuffer;
  /** The gradient of s (that is, of the residual, and of x when x was not dropped). Leave out to skip it. */
  dx?: GpuBuffer;
  /** With dropout at the input: the gradient of the forward's x, dx masked and scaled as x was. */
  dInput?: GpuBuffer;
  /** dgamma and dbeta: give both, or neither to skip that work (frozen γ, β). */
  dgamma?: GpuBuffer;
  dbeta?: GpuBuffer;
  /** The forward's dropout (the same p, seed, stream and place). */
  dropout?: LayerNormDropout;
  rows: number;
  D: number;
  threadsPerRow?: number;
}

/**
 * Records the layernorm backward: one dispatch writes whichever of dx and
 * dInput are asked for and the row blocks' partial dgamma and dbeta; a
 * second, small one adds the partials in block order.
 */
export function layerNormBackward(gpu: Gpu, args: LayerNormBackwardArgs): void {
  const { rows, D } = args;
  const name = 'layernorm.backward';
  checkShape(name, rows, D);
  checkDropout(name, args.dropout);
  if (Boolean(args.dgamma) !== Boolean(args.dbeta)) throw new KernelLaunchError(name, 'give both dgamma and dbeta, or neither');
  if (args.dInput && args.dropout?.at !== 'input') throw new KernelLaunchError(name, 'dInput is the gradient through an input dropout; this norm has none');
  const params = Boolean(args.dgamma);
  if (!args.dx && !args.dInput && !params) return;
  const { WG, TPR, rowsPerBlock } = rowLayout(gpu, name, args.threadsPerRow);
  const n = rows * D;
  const blocks = Math.ceil(rows / rowsPerBlock);
  const partials = gpu.alloc((params ? blocks * 2 * D : 1) * 4, 'layernorm.partials');
  const scratch: GpuBuffer[] = [];
  const unused = () => {
    const b = gpu.alloc(4, 'layernorm.unused');
    scratch.push(b);
    return b;
  };
  try {
    gpu.kernel('layernorm', 'backward', {
      WG, TPR, DROP_OUTPUT: args.dropout?.at === 'output', WRITE_DS: Boolean(args.dx), WRITE_DX: Boolean(args.dInput), PARAMS: params,
    }).launch({
      bindings: { s: args.x, gamma: args.gamma, savedMean: args.mean, savedRstd: args.rstd, dy: args.dy, ds: args.dx ?? unused(), dx: args.dInput ?? unused(), partials },
      uniforms: { rows, D, ...dropoutUniforms(args.dropout) },
      minBytes: {
        s: n * 4, dy: n * 4, gamma: D * 4, savedMean: rows * 4, savedRstd: rows * 4,
        ...(args.dx ? { ds: n * 4 } : {}), ...(args.dInput ? { dx: n * 4 } : {}), ...(params ? { partials: blocks * 2 * D * 4 } : {}),
      },
      workgroups: foldWorkgroups(blocks, gpu.maxWorkgroupsPerDimension),
    });
    if (params) {
      gpu.kernel('layernorm', 'reduceParams', { WG: COLUMN_THREADS }).launch({
        bindings: { partials, dgamma: args.dgamma!, dbeta: args.dbeta! },
        uniforms: { blocks, D },
        minBytes: { partials: blocks * 2 * D * 4, dgamma: D * 4, dbeta: D * 4 },
        workgroups: [Math.ceil((2 * D) / COLUMN_THREADS)],
      });
    }
  } finally {
    gpu.release(partials);
    for (const b of scratch) gpu.release(b);
  }
}
