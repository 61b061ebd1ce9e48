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
