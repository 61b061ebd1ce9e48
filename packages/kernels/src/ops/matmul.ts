/** Launcher of matmul.wgsl: shape checks, variant choice, grid. */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import type { OverrideValue } from '../compiler/manifest.js';
import { KernelLaunchError } from '../runtime/errors.js';
import type { Activation } from './elementwise.js';

/** The shape of C = op(A)·op(B), shared by the launcher and the reference. */
export interface MatmulShape {
  /** Rows of op(A) and C. */
  M: number;
  /** Columns of op(B) and C. */
  N: number;
  /** Columns of op(A), rows of op(B). */
  K: number;
  /** A is stored K×M and used transposed. */
  transA?: boolean;
  /** B is stored N×K and used transposed. */
  transB?: boolean;
  /** Number of independent products (default 1). */
  batch?: number;
  /** Elements between consecutive batch items; 0 broadcasts. Defaults: dense (M·K, K·N, M·N). */
  batchStrideA?: number;
  batchStrideB?: number;
}

/** C = act(op(A)·op(B) (+ bias)) (+ D), optionally over a batch. */
export interface MatmulArgs extends MatmulShape {
  a: GpuBuffer;
  b: GpuBuffer;
  c: GpuBuffer;
  /** Added to every row of C (length N). */
  bias?: GpuBuffer;
  /** Applied to every element of C in the kernel's epilogue, after the bias (default none). */
  activation?: Activation;
  /** Where z = op(A)·op(B) + bias, C before the activation, is also written (same layout as C). */
  pre?: GpuBuffer;
  /**
   * D, added to C last (same layout as C; not C itself): a gradient
   * accumulated in the kernel that computes the next term, instead of a
   * separate pass over both.
   */
  addend?: GpuBuffer;
  /**
   * Apply the activation in a second loop over the stored z instead of in
   * registers. Default: on CPU adapters for the exact GELU under the subgroup
   * schedule, where its erfc spills the 8×4 register block (measured 4 ms
   * faster at 2048×512×128 on lavapipe; the cheaper activations were faster
   * in registers); set it to run either path.
   */
  lateActivation?: boolean;
  /** Elements between consecutive batch items of C (default M·N). */
  batchStrideC?: number;
  /**
   * Which schedule: `subgroups` (matmul_subgroups.wgsl, threads share A by
   * subgroup broadcast), `portable` (matmul.wgsl), or `auto` (default):
   * subgroups when the device has them with at least 8 lanes.
   */
  variant?: MatmulVariant;
}

export type MatmulVariant = 'auto' | 'subgroups' | 'portable';

/** The epilogue's ACTIVATION code of each activation (0: none), as the kernels' `activate` reads it. */
const ACTIVATION_CODE: Record<Activation, number> = { gelu: 1, geluTanh: 2, relu: 3, swish: 4, tanh: 5 };

/**
 * Kernel file, overrides and C tile (rows × columns per workgroup) of a
 * schedule for an M×N output.
 */
function schedule(variant: 'subgroups' | 'portable', N: number): { file: string; overrides: Record<string, OverrideValue>; rows: number; cols: number } {
  if (variant === 'portable') return { file: 'matmul', overrides: {}, rows: 32, cols: 32 };
  // 4 columns a thread; as many threads as N needs, between 8 and 64.
  const threads = Math.min(64, Math.max(8, 2 ** Math.ceil(Math.log2(Math.ceil(N / 4)))));
  return { file: 'matmul_subgroups', overrides: { WG: threads }, rows: 8, cols: 4 * threads };
}

/** The schedule `auto` picks on this device. */
export function matmulVariant(gpu: Gpu): 'subgroups' | 'portable' {
  // The subgroup kernel broadcasts from lanes 0…7, so it needs ≥ 8 lanes.
  return gpu.supports('matmul_subgroups') && gpu.adapter.subgroupMinSize >= 8 ? 'subgroups' : 'portable';
}

/**
 * Records C = act(op(A)·op(B) (+ bias)) (+ D), and z before the activation
 * when `pre` is given. Chooses the schedule by device (see
 * {@link MatmulArgs.variant}) and the aligned vec4 path when K, N, the batch
 * strides (and M when A is transposed) are multiples of 4.
 */
export function matmul(gpu: Gpu, args: MatmulArgs): void {
  const { M, N, K } = args;
  const batch = args.batch ?? 1;
  const name = 'matmul';
  for (const [dim, value] of [['M', M], ['N', N], ['K', K], ['batch', batch]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new KernelLaunchError(name, `${dim} must be a positive integer, got ${value}`);
  }
  const strideA = args.batchStrideA ?? M * K;
  const strideB = args.batchStrideB ?? K * N;
  const strideC = args.batchStrideC ?? M * N;
  if (batch > 1 && strideC < M * N) throw new KernelLaunchError(name, `batchStrideC ${strideC} is smaller than M·N = ${M * N}: batch items of C would overlap`);
  const aligned = K % 4 === 0 && N % 4 === 0 && (!args.transA || M % 4 === 0) &&
    strideA % 4 === 0 && strideB % 4 === 0 && strideC % 4 === 0;
  const f32 = 4;
  const bindings: Record<string, GpuBuffer> = { a: args.a, b: args.b, c: args.c, bias: args.bias ?? args.a };
  const variant = !args.variant || args.variant === 'auto' ? matmulVariant(gpu) : args.variant;
  if (variant === 'subgroups' && gpu.adapter.subgroupMinSize < 8) {
    throw new KernelLaunchError('matmul_subgroups.matmul', `needs subgroups of at least 8 invocations; this adapter's smallest is ${gpu.adapter.subgroupMinSize || 'unknown'}`);
  }
  if (args.activation !== undefined && !(args.activation in ACTIVATION_CODE)) throw new KernelLaunchError(name, `unknown activation '${String(args.activation)}'`);
  if (args.pre && !args.activation) throw new KernelLaunchError(name, 'pre holds C before the activation; without one it would be a copy of C');
  const { file, overrides, rows, cols } = schedule(variant, N);
  const cBytes = ((batch - 1) * strideC + M * N) * f32;
  // Without `pre` the kernel never writes it; the binding still needs a buffer.
  const unused = args.pre ? undefined : gpu.alloc(4, 'matmul.unused');
  try {
    gpu.kernel(file, 'matmul', {
      ...overrides,
      TRANS_A: Boolean(args.transA),
      TRANS_B: Boolean(args.transB),
      ALIGNED: aligned,
      HAS_BIAS: Boolean(args.bias),
      ACTIVATION: args.activation ? ACTIVATION_CODE[args.activation] : 0,
      SAVE_PRE: Boolean(args.pre),
      HAS_ADDEND: Boolean(args.addend),
      LATE_ACTIVATION: Boolean(args.activation) && (args.lateActivation ?? (variant === 'subgroups' && args.activation === 'gelu' && gpu.adapter.isFallbackAdapter)),
    }).launch({
      // Unused read bindings take A (read-only twice is allowed).
      bindings: { ...bindings, pre: args.pre ?? unused!, addend: args.addend ?? args.a },
      uniforms: { M, N, K, batchStrideA: strideA, batchStrideB: strideB, batchStrideC: strideC },
      minBytes: {
        a: ((batch - 1) * strideA + M * K) * f32,
        b: ((batch - 1) * strideB + K * N) * f32,
        c: cBytes,
        ...(args.bias ? { bias: N * f32 } : {}),
        ...(args.pre ? { pre: cBytes } : {}),
        ...(args.addend ? { addend: cBytes } : {}),
      },
      workgroups: [Math.ceil(N / cols), Math.ceil(M / rows), batch],
    });
  } finally {
    if (unused) gpu.release(unused);
  }
}
