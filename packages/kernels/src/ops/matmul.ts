/** Launcher of matmul.wgsl: shape checks, variant choice, grid, and the row blocks of an operand larger than a binding. */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import type { OverrideValue } from '../compiler/manifest.js';
import type { RowChunk } from '../runtime/chunks.js';
import { KernelLaunchError } from '../runtime/errors.js';
import { activation, activationBackward, axpby, type Activation } from './elementwise.js';
import { copyColumns } from './layout.js';

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
   * Where the row sums of op(A) are also written: rowSums[m] = Σ_k
   * op(A)[m, k], M floats (batch 1 only). Each sum starts at 0 and adds the
   * elements one by one in increasing k, so for a weight gradient dW =
   * dYᵀ·X (transA) it is the bias gradient with the bits of `columnSums`
   * over dY: one dispatch fewer, a few adds per step of k. C is unchanged.
   */
  rowSums?: GpuBuffer;
  /**
   * A holds dy, the gradient of act(z) for the activation named here, and the
   * product is taken over dz = dy · act'(z) instead: z (A's stored layout and
   * size) is read where A is. The backward of a linear layer through its
   * activation: dX = dz·W, dW = dzᵀ·X and db (rowSums) without a pass that
   * writes dz. The subgroup schedule computes act' for each element of A as
   * it loads it (its A_GRAD prologue); the portable schedule and a launch cut
   * into blocks write dz with `activationBackward` first. Both call the same
   * WGSL function, so C has the same bits either way.
   */
  aGrad?: { activation: Activation; z: GpuBuffer };
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
 * Records C = act(op(A)·op(B) (+ bias)) (+ D), z before the activation
 * when `pre` is given, and the row sums of op(A) when `rowSums` is (see
 * {@link MatmulArgs.rowSums}). Chooses the schedule by device (see
 * {@link MatmulArgs.variant}) and the aligned vec4 path when K, N, the batch
 * strides (and M when A is transposed) are multiples of 4.
 *
 * One operand larger than a binding: when exactly one of A, B or C (C
 * counted with `pre`, `addend` and `rowSums`, which are cut with it) is
 * larger than `gpu.maxStorageBindingBytes`, the product is recorded as a sequence of
 * launches on row blocks of that operand, bound as views at aligned offsets
 * (every other binding, temporaries included, fits one binding):
 * - **split N** (B large, transB: B stored N×K, e.g. the tied vocabulary
 *   projection X·Eᵀ): block j is rows n₀…n₁ of B and of bias; the kernel
 *   writes C's columns n₀…n₁ (and pre's) to an M×(n₁−n₀) temporary, which
 *   `copyColumns` moves into C, after copying D's columns into another.
 * - **split M** (C large, or A large without transA): block j is rows
 *   m₀…m₁ of C, pre, D and, stored M×K, of A; a transposed A (K×M) gives
 *   its columns m₀…m₁ through `copyColumns` into a K×(m₁−m₀) temporary.
 * - **split K** (B large without transB, or A large with transA: the
 *   reduction dimension is the large one, e.g. X's gradient dC·E): block j
 *   is rows k₀…k₁ of the operand stored with k along its rows (a view) and
 *   columns k₀…k₁ of the other one (a view too when it is also stored with
 *   k along rows, else a `copyColumns` temporary). The partial products are
 *   summed through the kernel's addend epilogue, P_j = op(A)_j·op(B)_j +
 *   P_{j−1}, alternating between C and one M×N temporary (a written binding
 *   may not alias another) so that the last block lands in C; bias and D
 *   enter with block 0. With an activation the sum ends in z (`pre`, else a
 *   temporary) and elementwise.wgsl's pass applies act (then D is added by
 *   axpby): the bits its epilogue would have produced from that z.
 * Row sums: split N takes them from block 0 (each block reads all of A),
 * split M writes each block's rows to a view of `rowSums`, and split K
 * has every block after the first resume the running sums the last one
 * stored (the kernel's ROW_SUMS_RESUME): each sum is the one running sum of
 * an unchunked launch, bitwise, in all three.
 * Split N and split M leave each element's sum exactly as one launch
 * computes it: the result is bitwise the unchunked launch's. Split K sums
 * the blocks' partial sums in block order instead of one running sum:
 * deterministic, within fp32 rounding of the one-launch result and no less
 * accurate (test/matmul-chunked.test.ts on lavapipe, K = 1300 … 2900:
 * relative Frobenius error 4e-7 … 1.1e-6 against float64, one launch's
 * 8e-7 … 1.3e-6).
 * Two large operands at once, or a large operand with batch > 1, throw a
 * KernelLaunchError: no model needs them (a parameter-sized operand meets
 * only activations, which fit one binding). So does `rowSums` with
 * batch > 1.
 */
export function matmul(gpu: Gpu, args: MatmulArgs): void {
  const { M, N, K } = args;
  const batch = args.batch ?? 1;
  const name = 'matmul';
  for (const [dim, value] of [['M', M], ['N', N], ['K', K], ['batch', batch]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new KernelLaunchError(name, `${dim} must be a positive integer, got ${value}`);
  }
  const strideC = args.batchStrideC ?? M * N;
  if (batch > 1 && strideC < M * N) throw new KernelLaunchError(name, `batchStrideC ${strideC} is smaller than M·N = ${M * N}: batch items of C would overlap`);
  const variant = !args.variant || args.variant === 'auto' ? matmulVariant(gpu) : args.variant;
  if (variant === 'subgroups' && gpu.adapter.subgroupMinSize < 8) {
    throw new KernelLaunchError('matmul_subgroups.matmul', `needs subgroups of at least 8 invocations; this adapter's smallest is ${gpu.adapter.subgroupMinSize || 'unknown'}`);
  }
  if (args.activation !== undefined && !(args.activation in ACTIVATION_CODE)) throw new KernelLaunchError(name, `unknown activation '${String(args.activation)}'`);
  if (args.pre && !args.activation) throw new KernelLaunchError(name, 'pre holds C before the activation; without one it would be a copy of C');
  if (args.rowSums && batch > 1) throw new KernelLaunchError(name, `rowSums holds one product's M sums; a batch (${batch} products) would need one set per item`);
  const aFloats = (batch - 1) * (args.batchStrideA ?? M * K) + M * K;
  if (args.aGrad) {
    if (!(args.aGrad.activation in ACTIVATION_CODE)) throw new KernelLaunchError(name, `unknown aGrad activation '${String(args.aGrad.activation)}'`);
    if (args.aGrad.z.bytes < 4 * aFloats) throw new KernelLaunchError(name, `binding 'aGrad.z' holds ${args.aGrad.z.bytes} bytes; A's layout needs ${4 * aFloats}`);
  }

  // Which operands a single launch could not bind.
  const limit = gpu.maxStorageBindingBytes;
  const large = (buffer: GpuBuffer | undefined) => buffer !== undefined && buffer.bindSize > limit;
  const largeA = large(args.a);
  const largeB = large(args.b);
  const largeC = large(args.c) || large(args.pre) || large(args.addend) || large(args.rowSums);
  const count = Number(largeA) + Number(largeB) + Number(largeC) + Number(large(args.aGrad?.z));
  if (args.aGrad && (variant === 'portable' || count > 0)) return throughDz(gpu, { ...args, variant }, args.aGrad, aFloats);
  if (count === 0) return launch(gpu, args, variant);
  const sizes = `A ${args.a.bindSize}, B ${args.b.bindSize}, C ${args.c.bindSize} bytes`;
  if (count > 1) throw new KernelLaunchError(name, `only one of A, B and C (with pre, addend and rowSums) may be larger than a binding (${limit} bytes on this device); here ${sizes}`);
  if (batch > 1) throw new KernelLaunchError(name, `a batch (${batch} products) cannot have an operand larger than a binding (${limit} bytes on this device); here ${sizes}`);
  for (const [operand, buffer, floats] of [['a', args.a, M * K], ['b', args.b, K * N], ['c', args.c, M * N], ['pre', args.pre, M * N], ['addend', args.addend, M * N], ['bias', args.bias, N], ['rowSums', args.rowSums, M]] as const) {
    if (buffer && buffer.bytes < 4 * floats) throw new KernelLaunchError(name, `binding '${operand}' holds ${buffer.bytes} bytes; this shape needs ${4 * floats}`);
  }
  const chunked: ChunkedArgs = { ...args, variant };
  for (const key of ['batch', 'batchStrideA', 'batchStrideB', 'batchStrideC'] as const) delete chunked[key];
  if (largeB && args.transB) splitN(gpu, chunked);
  else if (largeC || (largeA && !args.transA)) splitM(gpu, chunked);
  else splitK(gpu, chunked);
}

/** `aGrad` where the kernel does not apply it: dz = dy · act'(z) written by the elementwise pass, then the product over dz. */
function throughDz(gpu: Gpu, args: ChunkedArgs, aGrad: NonNullable<MatmulArgs['aGrad']>, aFloats: number): void {
  const { aGrad: _, ...rest } = args;
  const dz = gpu.alloc(4 * aFloats, 'matmul.dz');
  try {
    activationBackward(gpu, aGrad.activation, { x: aGrad.z, dy: args.a, out: dz, n: aFloats });
    matmul(gpu, { ...rest, a: dz });
  } finally {
    gpu.release(dz);
  }
}

/** A matmul whose schedule is chosen and which has at most one large operand (batch 1). */
type ChunkedArgs = MatmulArgs & { variant: 'subgroups' | 'portable' };

/** Rows first … first + count − 1 of the dimension an operand is cut along. */
type Block = Pick<RowChunk, 'first' | 'count'>;

/**
 * Blocks of `rows` rows along which operands are cut: `widths` holds, for
 * every operand or temporary so cut, its floats per row, and `viewWidths`
 * those of the operands bound as views, whose blocks must then start at
 * multiples of the device's offset alignment. Every block fits one binding.
 */
function blocks(gpu: Gpu, rows: number, widths: number[], viewWidths: number[]): Block[] {
  try {
    return gpu.rowChunks(rows, 4 * Math.max(...widths), viewWidths.map((w) => 4 * w));
  } catch (e) {
    throw new KernelLaunchError('matmul', (e as Error).message);
  }
}

/**
 * Runs `body` with two helpers that make views (rows first … first + count
 * of a row-major matrix of `width` floats a row) and temporaries, and
 * releases them all afterwards. A temporary holds a block of an operand
 * that fits one binding (or C's shape when C fits), so it binds whole.
 */
function withScratch(gpu: Gpu, body: (view: (buffer: GpuBuffer, width: number, rows: Block, label: string) => GpuBuffer, temp: (floats: number, label: string) => GpuBuffer) => void): void {
  const held: GpuBuffer[] = [];
  try {
    body(
      (buffer, width, rows, label) => {
        const view = gpu.view(buffer, 4 * width * rows.first, 4 * width * rows.count, `${label}[${rows.first}…]`);
        held.push(view);
        return view;
      },
      (floats, label) => {
        const buffer = gpu.alloc(4 * floats, label);
        held.push(buffer);
        return buffer;
      },
    );
  } finally {
    for (const buffer of held) gpu.release(buffer);
  }
}

/** B stored N×K is large: blocks of C's columns, each through a temporary. */
function splitN(gpu: Gpu, args: ChunkedArgs): void {
  const { M, N, K } = args;
  const parts = blocks(gpu, N, [K, M], args.bias ? [K, 1] : [K]);
  const widest = Math.max(...parts.map((p) => p.count));
  withScratch(gpu, (view, temp) => {
    const c = temp(M * widest, 'matmul.cBlock');
    const pre = args.pre && temp(M * widest, 'matmul.preBlock');
    const addend = args.addend && temp(M * widest, 'matmul.addendBlock');
    // Every block reads all of A: its row sums come from the first.
    const { rowSums, ...rest } = args;
    for (const part of parts) {
      const columns = { rows: M, width: part.count };
      if (addend) copyColumns(gpu, { src: args.addend!, dst: addend, ...columns, inCols: N, outCols: part.count, srcOffset: part.first, dstOffset: 0 });
      launch(gpu, {
        ...rest, N: part.count, b: view(args.b, K, part, 'matmul.b'), c,
        ...(args.bias ? { bias: view(args.bias, 1, part, 'matmul.bias') } : {}),
        ...(pre ? { pre } : {}), ...(addend ? { addend } : {}),
        ...(rowSums && part.first === 0 ? { rowSums } : {}),
      }, args.variant);
      copyColumns(gpu, { src: c, dst: args.c, ...columns, inCols: part.count, outCols: N, srcOffset: 0, dstOffset: part.first });
      if (pre) copyColumns(gpu, { src: pre, dst: args.pre!, ...columns, inCols: part.count, outCols: N, srcOffset: 0, dstOffset: part.first });
    }
  });
}

/** C (with pre, D) or A stored M×K is large: blocks of C's rows. */
function splitM(gpu: Gpu, args: ChunkedArgs): void {
  const { M, N, K } = args;
  const parts = blocks(gpu, M, [N, K], [N, ...(args.transA ? [] : [K]), ...(args.rowSums ? [1] : [])]);
  const widest = Math.max(...parts.map((p) => p.count));
  withScratch(gpu, (view, temp) => {
    // A stored K×M: its columns m₀…m₁, copied to K rows of `widest`.
    const aBlock = args.transA ? temp(K * widest, 'matmul.aBlock') : undefined;
    for (const part of parts) {
      if (aBlock) copyColumns(gpu, { src: args.a, dst: aBlock, rows: K, width: part.count, inCols: M, outCols: part.count, srcOffset: part.first, dstOffset: 0 });
      launch(gpu, {
        ...args, M: part.count, a: aBlock ?? view(args.a, K, part, 'matmul.a'), c: view(args.c, N, part, 'matmul.c'),
        ...(args.pre ? { pre: view(args.pre, N, part, 'matmul.pre') } : {}),
        ...(args.addend ? { addend: view(args.addend, N, part, 'matmul.addend') } : {}),
        ...(args.rowSums ? { rowSums: view(args.rowSums, 1, part, 'matmul.rowSums') } : {}),
      }, args.variant);
    }
  });
}

/**
 * B stored K×N or A stored K×M is large: blocks along k, their partial
 * products summed through the addend epilogue.
 */
function splitK(gpu: Gpu, args: ChunkedArgs): void {
  const { M, N, K, activation: act } = args;
  const parts = blocks(gpu, K, [M, N], [...(args.transA ? [M] : []), ...(args.transB ? [] : [N])]);
  const widest = Math.max(...parts.map((p) => p.count));
  withScratch(gpu, (view, temp) => {
    // The operand not stored with k along its rows gives its columns k₀…k₁.
    const aBlock = args.transA ? undefined : temp(M * widest, 'matmul.aBlock');
    const bBlock = args.transB ? temp(N * widest, 'matmul.bBlock') : undefined;
    // The running sum alternates between two buffers so that the last block writes `sum`.
    const sum = act ? (args.pre ?? temp(M * N, 'matmul.z')) : args.c;
    const other = sum === args.c ? temp(M * N, 'matmul.partial') : args.c;
    parts.forEach((part, j) => {
      if (aBlock) copyColumns(gpu, { src: args.a, dst: aBlock, rows: M, width: part.count, inCols: K, outCols: part.count, srcOffset: part.first, dstOffset: 0 });
      if (bBlock) copyColumns(gpu, { src: args.b, dst: bBlock, rows: N, width: part.count, inCols: K, outCols: part.count, srcOffset: part.first, dstOffset: 0 });
      const target = (parts.length - 1 - j) % 2 === 0 ? sum : other;
      // Block 0 adds bias and (without an activation) D; every later block the sum so far.
      const addend = j > 0 ? (target === sum ? other : sum) : act ? undefined : args.addend;
      launch(gpu, {
        M, N, K: part.count, transA: args.transA, transB: args.transB,
        a: aBlock ?? view(args.a, M, part, 'matmul.a'),
        b: bBlock ?? view(args.b, N, part, 'matmul.b'),
        c: target,
        ...(j === 0 && args.bias ? { bias: args.bias } : {}),
        ...(addend ? { addend } : {}),
        // Block j > 0 continues the sums block j − 1 stored.
        ...(args.rowSums ? { rowSums: args.rowSums } : {}),
      }, args.variant, j > 0);
    });
    if (!act) return;
    if (!args.addend) return activation(gpu, act, { x: sum, out: args.c, n: M * N });
    const activated = temp(M * N, 'matmul.activated');
    activation(gpu, act, { x: sum, out: activated, n: M * N });
    axpby(gpu, { x: activated, y: args.addend, out: args.c, n: M * N, alpha: 1, beta: 1 });
  });
}

/**
 * One dispatch of matmul.wgsl or matmul_subgroups.wgsl over the whole
 * (batched) product; `resumeRowSums` starts the row sums from the values in
 * `rowSums` instead of 0 (split K's later blocks).
 */
function launch(gpu: Gpu, args: MatmulArgs, variant: 'subgroups' | 'portable', resumeRowSums = false): void {
  const { M, N, K } = args;
  const batch = args.batch ?? 1;
  const strideA = args.batchStrideA ?? M * K;
  const strideB = args.batchStrideB ?? K * N;
  const strideC = args.batchStrideC ?? M * N;
  const aligned = K % 4 === 0 && N % 4 === 0 && (!args.transA || M % 4 === 0) &&
    strideA % 4 === 0 && strideB % 4 === 0 && strideC % 4 === 0;
  const f32 = 4;
  const bindings: Record<string, GpuBuffer> = { a: args.a, b: args.b, c: args.c, bias: args.bias ?? args.a };
  const { file, overrides, rows, cols } = schedule(variant, N);
  const cBytes = ((batch - 1) * strideC + M * N) * f32;
  // A writable binding the kernel never writes (no `pre`, no `rowSums`)
  // still needs a buffer, one of its own: writable bindings may not share.
  const unused: GpuBuffer[] = [];
  const orUnused = (buffer: GpuBuffer | undefined): GpuBuffer => {
    if (buffer) return buffer;
    const scratch = gpu.alloc(4, 'matmul.unused');
    unused.push(scratch);
    return scratch;
  };
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
      ROW_SUMS: Boolean(args.rowSums),
      ROW_SUMS_RESUME: resumeRowSums,
      // Only the subgroup schedule has the prologue; matmul() sends the portable one through dz.
      ...(file === 'matmul_subgroups' ? { A_GRAD: args.aGrad ? ACTIVATION_CODE[args.aGrad.activation] : 0 } : {}),
    }).launch({
      // Unused read bindings take A (read-only twice is allowed).
      bindings: {
        ...bindings, pre: orUnused(args.pre), addend: args.addend ?? args.a, sums: orUnused(args.rowSums),
        ...(file === 'matmul_subgroups' ? { aPre: args.aGrad?.z ?? args.a } : {}),
      },
      uniforms: { M, N, K, batchStrideA: strideA, batchStrideB: strideB, batchStrideC: strideC },
      minBytes: {
        a: ((batch - 1) * strideA + M * K) * f32,
        b: ((batch - 1) * strideB + K * N) * f32,
        c: cBytes,
        ...(args.bias ? { bias: N * f32 } : {}),
        ...(args.pre ? { pre: cBytes } : {}),
        ...(args.addend ? { addend: cBytes } : {}),
        ...(args.rowSums ? { sums: M * f32 } : {}),
        ...(args.aGrad ? { aPre: ((batch - 1) * strideA + M * K) * f32 } : {}),
      },
      workgroups: [Math.ceil(N / cols), Math.ceil(M / rows), batch],
    });
  } finally {
    for (const buffer of unused) gpu.release(buffer);
  }
}
