/** Launchers of elementwise.wgsl. */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';
import { foldWorkgroups } from '../runtime/kernel.js';

const THREADS = 256;

function grid(gpu: Gpu, kernel: string, n: number): [number, number] {
  if (!Number.isInteger(n) || n < 1) throw new KernelLaunchError(kernel, `n must be a positive integer, got ${n}`);
  return foldWorkgroups(Math.ceil(n / THREADS), gpu.maxWorkgroupsPerDimension);
}

/** out = alpha·x + beta·y over n elements (out may not alias x or y). */
export function axpby(gpu: Gpu, args: { x: GpuBuffer; y: GpuBuffer; out: GpuBuffer; n: number; alpha: number; beta: number }): void {
  const { n } = args;
  gpu.kernel('elementwise', 'axpby', { WG: THREADS }).launch({
    bindings: { x: args.x, y: args.y, out: args.out },
    uniforms: { n, alpha: args.alpha, beta: args.beta },
    minBytes: { x: 4 * n, y: 4 * n, out: 4 * n },
    workgroups: grid(gpu, 'elementwise.axpby', n),
  });
}

/** The pointwise activations and their derivatives (`geluTanh` is Hugging Face's gelu_new, `swish` is SiLU). */
export type Activation = 'gelu' | 'geluTanh' | 'relu' | 'tanh' | 'swish';

/** out = act(x) over n elements. */
export function activation(gpu: Gpu, kind: Activation, args: { x: GpuBuffer; out: GpuBuffer; n: number }): void {
  const { n } = args;
  gpu.kernel('elementwise', kind, { WG: THREADS }).launch({
    bindings: { x: args.x, out: args.out },
    uniforms: { n },
    minBytes: { x: 4 * n, out: 4 * n },
    workgroups: grid(gpu, `elementwise.${kind}`, n),
  });
}

/** out = dy · act'(x) over n elements. */
export function activationBackward(gpu: Gpu, kind: Activation, args: { x: GpuBuffer; dy: GpuBuffer; out: GpuBuffer; n: number }): void {
  const { n } = args;
  gpu.kernel('elementwise', `${kind}Backward`, { WG: THREADS }).launch({
    bindings: { x: args.x, dy: args.dy, out: args.out },
    uniforms: { n },
    minBytes: { x: 4 * n, dy: 4 * n, out: 4 * n },
    workgroups: grid(gpu, `elementwise.${kind}Backward`, n),
  });
}

/** out = alpha · scalar[0] · x over n elements: multiply by a value that lives on the GPU. */
export function scaleBy(gpu: Gpu, args: { x: GpuBuffer; scalar: GpuBuffer; out: GpuBuffer; n: number; alpha: number }): void {
  const { n } = args;
  gpu.kernel('elementwise', 'scaleBy', { WG: THREADS }).launch({
    bindings: { x: args.x, scalar: args.scalar, out: args.out },
    uniforms: { n, alpha: args.alpha },
    minBytes: { x: 4 * n, scalar: 4, out: 4 * n },
    workgroups: grid(gpu, 'elementwise.scaleBy', n),
  });
}

/**
 * out[r, c] = x[r, c] · s[c] for a rows×cols row-major x: each column scaled
 * by its own factor. With dy in place of x it is also the map's input
 * gradient; the gradient for s is `columnDots(dy, x)` (reduce.ts).
 */
export function scaleColumns(gpu: Gpu, args: { x: GpuBuffer; s: GpuBuffer; out: GpuBuffer; rows: number; cols: number }): void {
  const { rows, cols } = args;
  for (const [name, v] of [['rows', rows], ['cols', cols]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new KernelLaunchError('elementwise.scaleColumns', `${name} must be a positive integer, got ${v}`);
  }
  const n = rows * cols;
  gpu.kernel('elementwise', 'scaleColumns', { WG: THREADS }).launch({
    bindings: { x: args.x, colScale: args.s, out: args.out },
    uniforms: { n, cols },
    minBytes: { x: 4 * n, colScale: 4 * cols, out: 4 * n },
    workgroups: grid(gpu, 'elementwise.scaleColumns', n),
  });
}

/** out = alpha · scalar[0] in each of n elements. */
export function fillWith(gpu: Gpu, args: { scalar: GpuBuffer; out: GpuBuffer; n: number; alpha: number }): void {
  const { n } = args;
  gpu.kernel('elementwise', 'fillWith', { WG: THREADS }).launch({
    bindings: { scalar: args.scalar, out: args.out },
    uniforms: { n, alpha: args.alpha },
    minBytes: { scalar: 4, out: 4 * n },
    workgroups: grid(gpu, 'elementwise.fillWith', n),
  });
}
