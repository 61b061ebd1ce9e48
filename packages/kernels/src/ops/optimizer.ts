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

/**
 * One parameter's range of the arenas of the *Segments launchers: `n`
 * elements from element `offset` (the same range of param, grad, m and v).
 */
export interface OptimizerSegment {
  offset: number;
  n: number;
  /** Its learning rate (update launchers). */
  lr?: number;
  /** Its own update count, from 1 (AdamW's bias corrections). */
  step?: number;
  /** Where sumSquaresSegments writes its partial sum (default: its index in the list). */
  slot?: number;
}

/** Checks the segments; returns the arena elements they need. */
function checkSegments(kernel: string, segments: readonly OptimizerSegment[]): number {
  if (!segments.length) throw new KernelLaunchError(kernel, 'needs at least one segment');
  let end = 0;
  for (const [k, s] of segments.entries()) {
    if (!Number.isInteger(s.offset) || s.offset < 0 || !Number.isInteger(s.n) || s.n < 1) {
      throw new KernelLaunchError(kernel, `segment ${k} needs an offset ≥ 0 and n ≥ 1 (integers), got offset ${s.offset}, n ${s.n}`);
    }
    end = Math.max(end, s.offset + s.n);
  }
  return end;
}

/**
 * The segment table (six words per segment: offset, n, lr, 1 − β1^t,
 * 1 − β2^t (those three f32), slot) and the chunk table ((segment, first
 * element) per workgroup of THREADS elements), as optimizer.wgsl reads them.
 */
function segmentTables(kernel: string, segments: readonly OptimizerSegment[], beta1 = 0, beta2 = 0, withLr = true): { table: Uint32Array; chunks: Uint32Array } {
  const W = 6;
  const table = new Uint32Array(W * segments.length);
  const floats = new Float32Array(table.buffer);
  const chunks: number[] = [];
  for (const [k, s] of segments.entries()) {
    if (withLr && s.lr === undefined) throw new KernelLaunchError(kernel, `segment ${k} has no lr`);
    if (s.step !== undefined && (!Number.isInteger(s.step) || s.step < 1)) throw new KernelLaunchError(kernel, `segment ${k}: step must count from 1, got ${s.step}`);
    const slot = s.slot ?? k;
    if (!Number.isInteger(slot) || slot < 0) throw new KernelLaunchError(kernel, `segment ${k}: slot must be a non-negative integer, got ${slot}`);
    const t = s.step ?? 1;
    table[W * k] = s.offset;
    table[W * k + 1] = s.n;
    floats[W * k + 2] = s.lr ?? 0;
    floats[W * k + 3] = 1 - beta1 ** t;
    floats[W * k + 4] = 1 - beta2 ** t;
    table[W * k + 5] = slot;
    for (let first = s.offset; first < s.offset + s.n; first += THREADS) chunks.push(k, first);
  }
  return { table, chunks: Uint32Array.from(chunks) };
}

/** partials[slot of k] = Σ grad_i² over segment k: the tree of {@link sumSquares} per segment, one dispatch for all. */
export function sumSquaresSegments(gpu: Gpu, a: { grad: GpuBuffer; partials: GpuBuffer; segments: readonly OptimizerSegment[] }): void {
  const kernel = 'optimizer.sumSquaresSegments';
  const end = checkSegments(kernel, a.segments);
  if (a.segments.length > gpu.maxWorkgroupsPerDimension) throw new KernelLaunchError(kernel, `${a.segments.length} segments; at most ${gpu.maxWorkgroupsPerDimension}`);
  const { table } = segmentTables(kernel, a.segments, 0, 0, false);
  const slots = a.segments.map((s, k) => s.slot ?? k);
  const segments = gpu.upload(table, 'optimizer segments');
  try {
    gpu.kernel('optimizer', 'sumSquaresSegments', { WG: THREADS }).launch({
      bindings: { grad: a.grad, partials: a.partials, segments },
      minBytes: { grad: 4 * end, partials: 4 * (Math.max(...slots) + 1), segments: table.byteLength },
      workgroups: [a.segments.length],
    });
  } finally {
    gpu.release(segments); // reused only after this batch is submitted
  }
}

/** Hyper-parameters of one AdamW update of many parameters in arenas. */
export interface AdamWSegmentsArgs extends Omit<AdamWStepArgs, 'n' | 'lr' | 'step'> {
  /** Each parameter's range, lr and own update count (`step`, from 1). */
  segments: readonly OptimizerSegment[];
}

/** {@link adamwStep}'s arithmetic over every segment, in one dispatch. */
export function adamwSegments(gpu: Gpu, a: AdamWSegmentsArgs): void {
  const kernel = 'optimizer.adamwSegments';
  const end = checkSegments(kernel, a.segments);
  a.segments.forEach((s, k) => { if (s.step === undefined) throw new KernelLaunchError(kernel, `segment ${k} has no step`); });
  const { table, chunks } = segmentTables(kernel, a.segments, a.beta1, a.beta2);
  const [segments, chunkTable] = [gpu.upload(table, 'optimizer segments'), gpu.upload(chunks, 'optimizer chunks')];
  try {
    gpu.kernel('optimizer', 'adamwSegments', { WG: THREADS }).launch({
      bindings: { param: a.param, grad: a.grad, m: a.m, v: a.v, clip: a.clip, segments, chunks: chunkTable },
      uniforms: {
        chunks: chunks.length / 2,
        beta1: a.beta1,
        beta2: a.beta2,
        oneMinusBeta1: 1 - a.beta1,
        oneMinusBeta2: 1 - a.beta2,
        eps: a.eps,
        weightDecay: a.weightDecay,
      },
      minBytes: { param: 4 * end, grad: 4 * end, m: 4 * end, v: 4 * end, clip: 8, segments: table.byteLength, chunks: chunks.byteLength },
      workgroups: foldWorkgroups(chunks.length / 2, gpu.maxWorkgroupsPerDimension),
    });
  } finally {
    gpu.release(segments);
    gpu.release(chunkTable);
  }
}

/** {@link sgdStep}'s arithmetic over every segment, in one dispatch. */
export function sgdSegments(gpu: Gpu, a: { param: GpuBuffer; grad: GpuBuffer; clip: GpuBuffer; segments: readonly OptimizerSegment[]; weightDecay: number }): void {
  const kernel = 'optimizer.sgdSegments';
  const end = checkSegments(kernel, a.segments);
  const { table, chunks } = segmentTables(kernel, a.segments);
  const [segments, chunkTable] = [gpu.upload(table, 'optimizer segments'), gpu.upload(chunks, 'optimizer chunks')];
  try {
    gpu.kernel('optimizer', 'sgdSegments', { WG: THREADS }).launch({
      bindings: { param: a.param, grad: a.grad, clip: a.clip, segments, chunks: chunkTable },
      uniforms: { chunks: chunks.length / 2, weightDecay: a.weightDecay },
      minBytes: { param: 4 * end, grad: 4 * end, clip: 8, segments: table.byteLength, chunks: chunks.byteLength },
      workgroups: foldWorkgroups(chunks.length / 2, gpu.maxWorkgroupsPerDimension),
    });
  } finally {
    gpu.release(segments);
    gpu.release(chunkTable);
  }
}
