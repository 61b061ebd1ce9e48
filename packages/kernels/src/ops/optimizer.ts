/** Launchers of optimizer.wgsl. */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';
import { foldWorkgroups } from '../runtime/kernel.js';

const THREADS = 256;

function grid(gpu: Gpu, kernel: string, n: number): [number, number] {
  if (!Number.isInteger(n) || n < 1) throw new KernelLaunchError(kernel, `n must be a positive integer, got ${n}`);
  return foldWorkgroups(Math.ceil(n / THREADS), gpu.maxWorkgroupsPerDimension);
}

/** Hyper-parameters of one AdamW update of one parameter. */
export interface AdamWStepArgs {
  param: GpuBuffer;
  grad: GpuBuffer;
  m: GpuBuffer;
  v: GpuBuffer;
  /** [clip factor, norm], as written by {@link clipFactor}. */
  clip: GpuBuffer;
  n: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** This parameter's own update count, from 1. */
  step: number;
}

/** One fused AdamW update (PyTorch's formula, decoupled weight decay). */
export function adamwStep(gpu: Gpu, a: AdamWStepArgs): void {
  if (!Number.isInteger(a.step) || a.step < 1) throw new KernelLaunchError('optimizer.adamwStep', `step must count from 1, got ${a.step}`);
  const n = a.n;
  gpu.kernel('optimizer', 'adamwStep', { WG: THREADS }).launch({
    bindings: { param: a.param, grad: a.grad, m: a.m, v: a.v, clip: a.clip },
    uniforms: {
      n,
      lr: a.lr,
      beta1: a.beta1,
      beta2: a.beta2,
      oneMinusBeta1: 1 - a.beta1,
      oneMinusBeta2: 1 - a.beta2,
      eps: a.eps,
      weightDecay: a.weightDecay,
      biasCorrection1: 1 - a.beta1 ** a.step,
      biasCorrection2: 1 - a.beta2 ** a.step,
    },
    minBytes: { param: 4 * n, grad: 4 * n, m: 4 * n, v: 4 * n, clip: 8 },
    workgroups: grid(gpu, 'optimizer.adamwStep', n),
  });
}

/** p ← p − lr·(clip·g + weightDecay·p). */
export function sgdStep(gpu: Gpu, a: { param: GpuBuffer; grad: GpuBuffer; clip: GpuBuffer; n: number; lr: number; weightDecay: number }): void {
  const n = a.n;
  gpu.kernel('optimizer', 'sgdStep', { WG: THREADS }).launch({
    bindings: { param: a.param, grad: a.grad, clip: a.clip },
    uniforms: { n, lr: a.lr, weightDecay: a.weightDecay },
    minBytes: { param: 4 * n, grad: 4 * n, clip: 8 },
    workgroups: grid(gpu, 'optimizer.sgdStep', n),
  });
}

/** partials[slot] = Σ grad_i² (one gradient's share of the global norm). */
export function sumSquares(gpu: Gpu, a: { grad: GpuBuffer; partials: GpuBuffer; n: number; slot: number }): void {
  if (!Number.isInteger(a.n) || a.n < 1) throw new KernelLaunchError('optimizer.sumSquares', `n must be a positive integer, got ${a.n}`);
  gpu.kernel('optimizer', 'sumSquares', { WG: THREADS }).launch({
    bindings: { grad: a.grad, partials: a.partials },
    uniforms: { n: a.n, slot: a.slot },
    minBytes: { grad: 4 * a.n, partials: 4 * (a.slot + 1) },
    workgroups: [1],
  });
}

/** clip = [min(1, maxNorm / (‖g‖ + 1e-6)), ‖g‖] from the first `count` partial sums. */
export function clipFactor(gpu: Gpu, a: { partials: GpuBuffer; clip: GpuBuffer; count: number; maxNorm: number }): void {
  if (!(a.maxNorm > 0)) throw new KernelLaunchError('optimizer.clipFactor', `maxNorm must be positive, got ${a.maxNorm}`);
  gpu.kernel('optimizer', 'clipFactor').launch({
    bindings: { partialsIn: a.partials, clipOut: a.clip },
    uniforms: { count: a.count, maxNorm: a.maxNorm },
    minBytes: { partialsIn: 4 * Math.max(1, a.count), clipOut: 8 },
    workgroups: [1],
  });
}
