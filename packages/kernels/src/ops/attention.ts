/** Launchers of attention.wgsl: fused multi-head self-attention, forward and backward. */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';
import { foldWorkgroups } from '../runtime/kernel.js';

/** The largest head dimension the kernels take (MAX_HEAD_DIM in attention.wgsl). */
export const ATTENTION_MAX_HEAD_DIM = 64;

/** Shape, mask and dropout of one attention call. */
export interface AttentionShape {
  B: number;
  T: number;
  /** Model width: heads · head dimension. */
  D: number;
  heads: number;
  /** [B, T] of 1 (token) and 0 (padding): keys where it is 0 get no attention. */
  mask?: GpuBuffer;
  /** Dropout rate on the probabilities (default 0), with dropout.wgsl's seed and stream. */
  p?: number;
  seed?: number;
  stream?: number;
}

/** Threads per workgroup: a block of query (or key) rows of one head. */
function rowThreads(T: number): number {
  return Math.min(64, Math.max(8, 2 ** Math.ceil(Math.log2(T))));
}

/**
 * Why the fused kernels cannot run this shape on this device, or undefined
 * when they can: they need subgroups of at least 8 lanes (attention.wgsl
 * shares rows by subgroup broadcast from lanes 0…7) and a head dimension
 * that is a multiple of 4 (vec4 rows) up to {@link ATTENTION_MAX_HEAD_DIM}.
 */
export function attentionUnsupported(gpu: Gpu, D: number, heads: number): string | undefined {
  if (!gpu.supports('attention')) return `the device (${gpu.adapter.name}) has no subgroups`;
  if (gpu.adapter.subgroupMinSize < 8) return `needs subgroups of at least 8 invocations; this adapter's smallest is ${gpu.adapter.subgroupMinSize || 'unknown'}`;
  if (!Number.isInteger(D / heads)) return `D = ${D} is not divisible by ${heads} heads`;
  const d = D / heads;
  if (d > ATTENTION_MAX_HEAD_DIM) return `head dimension ${d} is above the fused kernel's maximum of ${ATTENTION_MAX_HEAD_DIM}`;
  if (d % 4 !== 0) return `head dimension ${d} is not a multiple of 4`;
  return undefined;
}

/**
 * Head dimensions up to which the fused kernels beat the composed path on a
 * CPU adapter (lavapipe). A thread holds one query or key row and its
 * accumulators in registers: at d = 32 (the suite's shape) the attention
 * block's forward and backward took 92 against 132 ms (B 32, T 64, 4 heads);
 * at d = 64 the rows spill and the backward loses: 2617 against 1822 ms
 * (B 16, T 128, 12 heads, XLM-R's shape), the forwards about equal.
 */
export const ATTENTION_CPU_FAST_HEAD_DIM = 32;

/**
 * Whether the fused kernels are the faster path here: where they run, and
 * on a CPU adapter only up to {@link ATTENTION_CPU_FAST_HEAD_DIM}. On GPUs
 * they are taken wherever they run (not measured on one yet).
 */
export function attentionPreferred(gpu: Gpu, D: number, heads: number): boolean {
  if (attentionUnsupported(gpu, D, heads)) return false;
  return !gpu.adapter.isFallbackAdapter || D / heads <= ATTENTION_CPU_FAST_HEAD_DIM;
}

function check(gpu: Gpu, kernel: string, a: AttentionShape): { overrides: Record<string, number>; uniforms: Record<string, number> } {
  const { B, T, D, heads } = a;
  for (const [name, value] of [['B', B], ['T', T], ['D', D], ['heads', heads]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new KernelLaunchError(kernel, `${name} must be a positive integer, got ${value}`);
  }
  const unsupported = attentionUnsupported(gpu, D, heads);
  if (unsupported) throw new KernelLaunchError(kernel, `${unsupported} (use the composed attention)`);
  const d = D / heads;
  const p = a.p ?? 0;
  if (!(p >= 0 && p < 1)) throw new KernelLaunchError(kernel, `p must be in [0, 1), got ${p}`);
  if (B * heads * T * T > 2 ** 32) throw new KernelLaunchError(kernel, `B·heads·T² = ${B * heads * T * T} probabilities overflow the 32-bit dropout counter`);
  return {
    overrides: { WG: rowThreads(T), HEAD_DIM: d },
    uniforms: { B, T, H: heads, hasMask: a.mask ? 1 : 0, seed: (a.seed ?? 0) >>> 0, stream: (a.stream ?? 0) >>> 0, scale: 1 / Math.sqrt(d), p, rowVec4s: d / 4 },
  };
}

function grid(gpu: Gpu, a: AttentionShape): [number, number, number] {
  const [y, z] = foldWorkgroups(a.B * a.heads, gpu.maxWorkgroupsPerDimension);
  return [Math.ceil(a.T / rowThreads(a.T)), y, z];
}

/**
 * out = softmax(q·kᵀ/√d, masked) with dropout, ·v, per head, in [B, T, D];
 * lse [B, heads, T] keeps each row's log-sum-exp for the backward.
 */
export function attentionForward(gpu: Gpu, args: AttentionShape & { q: GpuBuffer; k: GpuBuffer; v: GpuBuffer; out: GpuBuffer; lse: GpuBuffer }): void {
  const { overrides, uniforms } = check(gpu, 'attention.forward', args);
  const { B, T, D, heads } = args;
  const x = 4 * B * T * D;
  gpu.kernel('attention', 'forward', overrides).launch({
    bindings: { q: args.q, k: args.k, v: args.v, mask: args.mask ?? args.q, out: args.out, lse: args.lse },
    uniforms,
    minBytes: { q: x, k: x, v: x, out: x, lse: 4 * B * heads * T, ...(args.mask ? { mask: 4 * B * T } : {}) },
    workgroups: grid(gpu, args),
  });
}

/**
 * dq, dk, dv [B, T, D] from dOut, recomputing the probabilities from q, k
 * and the forward's out and lse: two dispatches (per query row, then per key
 * row); `rowDot` [B, heads, T] is scratch the first writes for the second
 * (allocated here when not given).
 */
export function attentionBackward(gpu: Gpu, args: AttentionShape & {
  q: GpuBuffer; k: GpuBuffer; v: GpuBuffer; out: GpuBuffer; lse: GpuBuffer; dOut: GpuBuffer;
  dq: GpuBuffer; dk: GpuBuffer; dv: GpuBuffer; rowDot?: GpuBuffer;
}): void {
  const { overrides, uniforms } = check(gpu, 'attention.backward', args);
  const { B, T, D, heads } = args;
  const x = 4 * B * T * D;
  const rows = 4 * B * heads * T;
  const mask: Record<string, number> = args.mask ? { mask: 4 * B * T } : {};
  const rowDot = args.rowDot ?? gpu.alloc(rows, 'attention.rowDot');
  try {
    gpu.kernel('attention', 'backwardQuery', overrides).launch({
      bindings: { q: args.q, k: args.k, v: args.v, mask: args.mask ?? args.q, o: args.out, dOut: args.dOut, lseIn: args.lse, dq: args.dq, rowDot },
      uniforms,
      minBytes: { q: x, k: x, v: x, o: x, dOut: x, dq: x, lseIn: rows, rowDot: rows, ...mask },
      workgroups: grid(gpu, args),
    });
    gpu.kernel('attention', 'backwardKey', overrides).launch({
      bindings: { q: args.q, k: args.k, v: args.v, mask: args.mask ?? args.q, dOut: args.dOut, lseIn: args.lse, rowDotIn: rowDot, dk: args.dk, dv: args.dv },
      uniforms,
      minBytes: { q: x, k: x, v: x, dOut: x, dk: x, dv: x, lseIn: rows, rowDotIn: rows, ...mask },
      workgroups: grid(gpu, args),
    });
  } finally {
    // Released buffers are reused only after the recorded dispatches are submitted.
    if (!args.rowDot) gpu.release(rowDot);
  }
}
