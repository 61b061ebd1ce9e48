/** Launcher of matmul.wgsl: shape checks, variant choice, grid. */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';

/** C = op(A)·op(B) (+ bias), optionally over a batch. */
export interface MatmulArgs {
  a: GpuBuffer;
  b: GpuBuffer;
  c: GpuBuffer;
  /** Added to every row of C (length N). */
  bias?: GpuBuffer;
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
  batchStrideC?: number;
}

/** Threads per workgroup are 8×8 and each owns a 4×4 block: a 32×32 tile. */
const TILE = 32;

/**
 * Records C = op(A)·op(B) (+ bias). Chooses the aligned vec4 variant when K,
 * N, the batch strides (and M when A is transposed) are multiples of 4.
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
  if (strideC < M * N) throw new KernelLaunchError(name, `batchStrideC ${strideC} is smaller than M·N = ${M * N}: batch items of C would overlap`);
  const aligned = K % 4 === 0 && N % 4 === 0 && (!args.transA || M % 4 === 0) &&
    strideA % 4 === 0 && strideB % 4 === 0 && strideC % 4 === 0;
  const f32 = 4;
  const bindings: Record<string, GpuBuffer> = { a: args.a, b: args.b, c: args.c, bias: args.bias ?? args.a };
  gpu.kernel('matmul', 'matmul', {
    TRANS_A: Boolean(args.transA),
    TRANS_B: Boolean(args.transB),
    ALIGNED: aligned,
    HAS_BIAS: Boolean(args.bias),
  }).launch({
    bindings,
    uniforms: { M, N, K, batchStrideA: strideA, batchStrideB: strideB, batchStrideC: strideC },
    minBytes: {
      a: ((batch - 1) * strideA + M * K) * f32,
      b: ((batch - 1) * strideB + K * N) * f32,
      c: ((batch - 1) * strideC + M * N) * f32,
      ...(args.bias ? { bias: N * f32 } : {}),
    },
    workgroups: [Math.ceil(N / TILE), Math.ceil(M / TILE), batch],
  });
}
