import { describe, expect, it } from 'vitest';
import { activation as activationPass, activationBackward, axpby, columnSums, matmul, matmulVariant, type Activation, type MatmulVariant } from '../src/index.js';
import {
  geluDerivativeReference, geluTanhDerivativeReference, matmulReference, reluDerivativeReference, swishDerivativeReference, tanhDerivativeReference,
} from '../src/reference/index.js';
import { firstNonFinite, fp32RowSums, poisoned, randomArray, relativeError, rng, useGpu } from './helpers.js';

// fp32 against float64: relative Frobenius error ≤ 1e-5 at these sizes
// (observed ≈ 1e-7 … 3e-7; the bound leaves room for K up to a few thousand).
const TOLERANCE = 1e-5;

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [65, 33, 127],
  [128, 768, 48],
  [32, 32, 32],
  [3, 48, 768],
  [64, 8, 4],
  [9, 260, 16],
  [12, 260, 16],
];

// Both schedules run on every adapter that has subgroups (lavapipe does), so
// both are checked; the portable one everywhere.
const VARIANTS: MatmulVariant[] = ['portable', 'subgroups'];

describe.each(VARIANTS)('matmul (%s) vs float64 reference', (variant) => {
  const gpu = useGpu();

  it('runs on this adapter', () => {
    // The CI adapter (lavapipe) has subgroups of 8: a GPU test never skips silently.
    if (variant === 'subgroups') expect(matmulVariant(gpu())).toBe('subgroups');
  });

  for (const [M, N, K] of SHAPES) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        it(`${M}×${N}×${K} transA=${transA} transB=${transB}`, async () => {
          const random = rng(M * 1000003 + N * 1009 + K + (transA ? 7 : 0) + (transB ? 13 : 0));
          const a = randomArray(M * K, random);
          const b = randomArray(K * N, random);
          const bias = randomArray(N, random);
          const g = gpu();
          const [ga, gb, gbias] = [g.upload(a), g.upload(b), g.upload(bias)];
          const gc = poisoned(g, M * N);
          const gcNoBias = poisoned(g, M * N);
          matmul(g, { a: ga, b: gb, c: gc, bias: gbias, M, N, K, transA, transB, variant });
          matmul(g, { a: ga, b: gb, c: gcNoBias, M, N, K, transA, transB, variant });
          const [c, cNoBias] = [await g.read(gc), await g.read(gcNoBias)];
          expect(firstNonFinite(c)).toBe(-1);
          expect(firstNonFinite(cNoBias)).toBe(-1);
          expect(relativeError(c, matmulReference({ a, b, bias, M, N, K, transA, transB }))).toBeLessThan(TOLERANCE);
          expect(relativeError(cNoBias, matmulReference({ a, b, M, N, K, transA, transB }))).toBeLessThan(TOLERANCE);
          for (const buffer of [ga, gb, gbias, gc, gcNoBias]) g.release(buffer);
        });
      }
    }
  }

  it('batches through strides, including a broadcast operand (stride 0)', async () => {
    const g = gpu();
    const random = rng(42);
    for (const [M, N, K, batch] of [[5, 7, 3, 3], [16, 12, 8, 4]] as const) {
      const a = randomArray(batch * M * K, random);
      const b = randomArray(K * N, random); // shared by every batch item
      const ga = g.upload(a);
      const gb = g.upload(b);
      const gc = poisoned(g, batch * M * N);
      matmul(g, { a: ga, b: gb, c: gc, M, N, K, batch, batchStrideB: 0, variant });
      const c = await g.read(gc);
      expect(firstNonFinite(c)).toBe(-1);
      const want = matmulReference({ a, b, M, N, K, batch, batchStrideB: 0 });
      expect(relativeError(c, want)).toBeLessThan(TOLERANCE);
      for (const buffer of [ga, gb, gc]) g.release(buffer);
    }
  });

  it('leaves memory outside C untouched', async () => {
    const g = gpu();
    const random = rng(3);
    const [M, N, K] = [5, 6, 7];
    const ga = g.upload(randomArray(M * K, random));
    const gb = g.upload(randomArray(K * N, random));
    const sentinel = 12345.5;
    const gc = g.upload(new Float32Array(M * N + 9).fill(sentinel));
    matmul(g, { a: ga, b: gb, c: gc, M, N, K, variant });
    const c = await g.read(gc);
    expect([...c.slice(M * N)]).toEqual(new Array(9).fill(sentinel));
    for (const buffer of [ga, gb, gc]) g.release(buffer);
  });

  it('is bitwise deterministic', async () => {
    const g = gpu();
    const random = rng(9);
    const [M, N, K] = [65, 33, 127];
    const ga = g.upload(randomArray(M * K, random));
    const gb = g.upload(randomArray(K * N, random));
    const runs: Float32Array[] = [];
    for (let i = 0; i < 2; i++) {
      const gc = poisoned(g, M * N);
      matmul(g, { a: ga, b: gb, c: gc, M, N, K, variant });
      runs.push(await g.read(gc));
      g.release(gc);
    }
    expect(Buffer.from(runs[0]!.buffer).equals(Buffer.from(runs[1]!.buffer))).toBe(true);
    g.release(ga);
    g.release(gb);
  });
});

// The epilogue: C = act(A·Bᵀ + bias) as a linear layer computes it, with z
// kept in `pre`. Sizes: rows 1, 5, 129 (not multiples of the 8- or 32-row
// tiles), widths 7, 128, 300 (7: not a multiple of 4; 300: not a multiple of
// the column tiles), on the aligned (vec4) and the unaligned path. Each shape
// is a few pipelines per activation, which lavapipe compiles slowly: four.
const EPILOGUE_SHAPES: [number, number, number][] = [[1, 7, 5], [5, 128, 64], [129, 300, 17], [129, 300, 32]];
const ACTIVATIONS: Activation[] = ['gelu', 'geluTanh', 'relu', 'swish', 'tanh'];

describe.each(VARIANTS)('matmul (%s) with an activation epilogue', (variant) => {
  const gpu = useGpu();

  // Each activation in registers and in the late loop over the stored z.
  for (const [act, lateActivation] of ACTIVATIONS.flatMap((a) => [[a, false], [a, true]] as const)) {
    it(`${act}${lateActivation ? ' (late)' : ''}: C and z against float64, C the bits of the separate ${act} pass over z`, async () => {
      const g = gpu();
      for (const [M, N, K] of EPILOGUE_SHAPES) {
        const random = rng(M * 31 + N * 7 + K + act.length);
        // Scaled so that z spans the activations' interesting range (|z| up to ~4).
        const a = randomArray(M * K, random).map((v) => (2 * v) / Math.sqrt(K));
        const b = randomArray(N * K, random);
        const bias = randomArray(N, random);
        const [ga, gb, gbias] = [g.upload(a), g.upload(b), g.upload(bias)];
        const [gc, gpre, gcOnly, separate] = [poisoned(g, M * N), poisoned(g, M * N), poisoned(g, M * N), poisoned(g, M * N)];
        matmul(g, { a: ga, b: gb, c: gc, bias: gbias, M, N, K, transB: true, variant, activation: act, pre: gpre, lateActivation });
        matmul(g, { a: ga, b: gb, c: gcOnly, bias: gbias, M, N, K, transB: true, variant, activation: act, lateActivation });
        activationPass(g, act, { x: gpre, out: separate, n: M * N });
        const [c, pre, cOnly, sep] = [await g.read(gc), await g.read(gpre), await g.read(gcOnly), await g.read(separate)];
        for (const out of [c, pre, cOnly]) expect(firstNonFinite(out)).toBe(-1);
        expect(relativeError(pre, matmulReference({ a, b, bias, M, N, K, transB: true })), `${M}×${N}×${K} z`).toBeLessThan(TOLERANCE);
        expect(relativeError(c, matmulReference({ a, b, bias, M, N, K, transB: true, activation: act })), `${M}×${N}×${K} C`).toBeLessThan(TOLERANCE);
        expect(Buffer.from(cOnly.buffer).equals(Buffer.from(c.buffer)), `${M}×${N}×${K}: C without pre`).toBe(true);
        expect(Buffer.from(sep.buffer).equals(Buffer.from(c.buffer)), `${M}×${N}×${K}: C against the separate pass`).toBe(true);
        for (const buffer of [ga, gb, gbias, gc, gpre, gcOnly, separate]) g.release(buffer);
      }
    });
  }

  it('adds D in the epilogue: the bits of the product then an axpby accumulation (the input gradient dY·W of a linear)', async () => {
    const g = gpu();
    for (const [M, N, K] of EPILOGUE_SHAPES) {
      const random = rng(M + N + K);
      const [a, b, d] = [randomArray(M * K, random), randomArray(K * N, random), randomArray(M * N, random)];
      const [ga, gb, gd] = [g.upload(a), g.upload(b), g.upload(d)];
      const [gc, product, separate] = [poisoned(g, M * N), poisoned(g, M * N), poisoned(g, M * N)];
      matmul(g, { a: ga, b: gb, c: gc, addend: gd, M, N, K, variant });
      matmul(g, { a: ga, b: gb, c: product, M, N, K, variant });
      axpby(g, { x: gd, y: product, out: separate, n: M * N, alpha: 1, beta: 1 });
      const [c, sep] = [await g.read(gc), await g.read(separate)];
      expect(firstNonFinite(c)).toBe(-1);
      expect(relativeError(c, matmulReference({ a, b, addend: d, M, N, K })), `${M}×${N}×${K}`).toBeLessThan(TOLERANCE);
      expect(Buffer.from(c.buffer).equals(Buffer.from(sep.buffer)), `${M}×${N}×${K}: against matmul + axpby`).toBe(true);
      expect(() => matmul(g, { a: ga, b: gb, c: gc, addend: gc, M, N, K, variant })).toThrow(/the same buffer is bound/);
      for (const buffer of [ga, gb, gd, gc, product, separate]) g.release(buffer);
    }
  });

  it('is bitwise deterministic with an epilogue, and refuses pre without an activation', async () => {
    const g = gpu();
    const random = rng(12);
    const [M, N, K] = [129, 300, 17];
    const [ga, gb, gbias] = [g.upload(randomArray(M * K, random)), g.upload(randomArray(N * K, random)), g.upload(randomArray(N, random))];
    const runs: Float32Array[] = [];
    for (let i = 0; i < 2; i++) {
      const [gc, gpre] = [poisoned(g, M * N), poisoned(g, M * N)];
      matmul(g, { a: ga, b: gb, c: gc, bias: gbias, M, N, K, transB: true, variant, activation: 'gelu', pre: gpre });
      runs.push(await g.read(gc), await g.read(gpre));
      g.release(gc);
      g.release(gpre);
    }
    expect(Buffer.from(runs[0]!.buffer).equals(Buffer.from(runs[2]!.buffer))).toBe(true);
    expect(Buffer.from(runs[1]!.buffer).equals(Buffer.from(runs[3]!.buffer))).toBe(true);
    expect(() => matmul(g, { a: ga, b: gb, c: gbias, pre: gbias, M, N, K, transB: true, variant })).toThrow(/without one it would be a copy/);
    for (const buffer of [ga, gb, gbias]) g.release(buffer);
  });
});

// Row sums of op(A) in the product's epilogue: for the weight gradient
// dYᵀ·X (transA) they are the bias gradient, and must be the bits of
// columnSums over dY. Shapes: 37×19×53 and 5×1×3 unaligned (K, N not
// multiples of 4; M not a multiple of 4 or 8, so tiles hang past M),
// 128×128×2048 and 12×260×16 aligned (12: the subgroup kernel's second
// 8-row tile has only rows 8…11; 260: more than one column tile).
const ROW_SUM_SHAPES: [number, number, number][] = [[37, 19, 53], [5, 1, 3], [128, 128, 2048], [12, 260, 16]];

describe.each(VARIANTS)('matmul (%s) with row sums of op(A)', (variant) => {
  const gpu = useGpu();

  for (const [M, N, K] of ROW_SUM_SHAPES) {
    for (const transA of [false, true]) {
      it(`${M}×${N}×${K} transA=${transA}: C unchanged, sums the bits of an fp32 running sum${transA ? ' and of columnSums' : ''}`, async () => {
        const g = gpu();
        const random = rng(M * 7 + N * 131 + K + (transA ? 1 : 0));
        const [a, b, bias] = [randomArray(M * K, random), randomArray(K * N, random), randomArray(N, random)];
        const [ga, gb, gbias] = [g.upload(a), g.upload(b), g.upload(bias)];
        // transB with transA, as in a linear's dW = dYᵀ·X (X is not transposed there: transB false).
        for (const transB of [false, true]) {
          const [plain, withSums, sums, columns] = [poisoned(g, M * N), poisoned(g, M * N), poisoned(g, M), poisoned(g, M)];
          const shape = { M, N, K, transA, transB, variant };
          matmul(g, { a: ga, b: gb, c: plain, bias: gbias, ...shape });
          const before = g.stats.dispatches;
          matmul(g, { a: ga, b: gb, c: withSums, bias: gbias, rowSums: sums, ...shape });
          expect(g.stats.dispatches - before, 'one dispatch').toBe(1);
          if (transA) columnSums(g, { x: ga, out: columns, rows: K, cols: M });
          const [c, cSums, got] = [await g.read(plain), await g.read(withSums), await g.read(sums)];
          const label = `transB=${transB}`;
          expect(firstNonFinite(cSums), label).toBe(-1);
          expect(Buffer.from(cSums.buffer).equals(Buffer.from(c.buffer)), `${label}: C the bits of the launch without row sums`).toBe(true);
          expect(firstNonFinite(got), label).toBe(-1);
          expect(Buffer.from(got.buffer).equals(Buffer.from(fp32RowSums(a, M, K, transA).buffer)), `${label}: the fp32 running sum`).toBe(true);
          if (transA) expect(Buffer.from(got.buffer).equals(Buffer.from((await g.read(columns)).buffer)), `${label}: columnSums`).toBe(true);
          // Against float64: each of the K adds rounds by at most 2⁻²⁴ of a
          // partial sum, so |error| ≤ K · 2⁻²⁴ · Σ_k |op(A)[m, k]|.
          const want = new Float64Array(M);
          matmulReference({ a, b, M, N, K, transA, transB, rowSums: want });
          const magnitude = fp32RowSums(a.map(Math.abs), M, K, transA);
          for (let m = 0; m < M; m++) expect(Math.abs(got[m]! - want[m]!), `${label} row ${m}`).toBeLessThanOrEqual(K * 2 ** -24 * magnitude[m]!);
          for (const buffer of [plain, withSums, sums, columns]) g.release(buffer);
        }
        for (const buffer of [ga, gb, gbias]) g.release(buffer);
      });
    }
  }

  it('refuses row sums of a batch, and a rowSums buffer shorter than M', () => {
    const g = gpu();
    const random = rng(8);
    const [M, N, K] = [9, 4, 4];
    const [ga, gb, gc] = [g.upload(randomArray(2 * M * K, random)), g.upload(randomArray(K * N, random)), g.alloc(4 * 2 * M * N)];
    const [sums, short] = [g.alloc(4 * M), g.alloc(4 * (M - 1))];
    expect(() => matmul(g, { a: ga, b: gb, c: gc, M, N, K, batch: 2, batchStrideB: 0, rowSums: sums, variant })).toThrow(/rowSums holds one product's M sums; a batch \(2 products\)/);
    expect(() => matmul(g, { a: ga, b: gb, c: gc, M, N, K, rowSums: short, variant })).toThrow(/binding 'sums' holds 32 bytes; this shape needs 36/);
    for (const buffer of [ga, gb, gc, sums, short]) g.release(buffer);
  });
});

const DERIVATIVES: Record<Activation, (z: number) => number> = {
  gelu: geluDerivativeReference, geluTanh: geluTanhDerivativeReference, relu: reluDerivativeReference, swish: swishDerivativeReference, tanh: tanhDerivativeReference,
};

// A linear layer's backward through its activation: dX = dz·W (A = dy stored
// M×K) and dW = dzᵀ·X with db as row sums (A = dy stored K×M, transA).
const A_GRAD_SHAPES: [number, number, number][] = [[37, 19, 53], [5, 1, 3], [64, 32, 128], [12, 260, 16]];

describe.each(VARIANTS)('matmul (%s) over dz = dy · act\'(z) (aGrad)', (variant) => {
  const gpu = useGpu();

  for (const act of ACTIVATIONS) {
    it(`${act}: C and row sums the bits of the product over activationBackward's dz, and within fp32 of float64`, async () => {
      const g = gpu();
      for (const [M, N, K] of A_GRAD_SHAPES) {
        for (const transA of [false, true]) {
          const random = rng(M * 13 + N * 5 + K + (transA ? 1 : 0) + act.length);
          // z spans the activations' curved range; dy and B are never zero.
          const z = randomArray(M * K, random).map((v) => 3 * v);
          const [dy, b] = [randomArray(M * K, random), randomArray(K * N, random)];
          const [gz, gdy, gb] = [g.upload(z), g.upload(dy), g.upload(b)];
          const [fused, fusedSums, separate, separateSums, dz] = [poisoned(g, M * N), poisoned(g, M), poisoned(g, M * N), poisoned(g, M), poisoned(g, M * K)];
          const shape = { M, N, K, transA, variant };
          const before = g.stats.dispatches;
          matmul(g, { a: gdy, b: gb, c: fused, ...shape, aGrad: { activation: act, z: gz }, ...(transA ? { rowSums: fusedSums } : {}) });
          expect(g.stats.dispatches - before, 'dispatches').toBe(variant === 'subgroups' ? 1 : 2);
          activationBackward(g, act, { x: gz, dy: gdy, out: dz, n: M * K });
          matmul(g, { a: dz, b: gb, c: separate, ...shape, ...(transA ? { rowSums: separateSums } : {}) });
          const [c, want] = [await g.read(fused), await g.read(separate)];
          const label = `${M}×${N}×${K} transA=${transA}`;
          expect(firstNonFinite(c), label).toBe(-1);
          expect(Buffer.from(c.buffer).equals(Buffer.from(want.buffer)), `${label}: C against the separate pass`).toBe(true);
          if (transA) {
            const sums = await g.read(fusedSums);
            expect(firstNonFinite(sums), label).toBe(-1);
            expect(Buffer.from(sums.buffer).equals(Buffer.from((await g.read(separateSums)).buffer)), `${label}: row sums against the separate pass`).toBe(true);
          }
          const dz64 = Float64Array.from(dy, (v, i) => v * DERIVATIVES[act](z[i]!));
          expect(relativeError(c, matmulReference({ a: dz64, b, M, N, K, transA })), `${label} against float64`).toBeLessThan(TOLERANCE);
          for (const buffer of [gz, gdy, gb, fused, fusedSums, separate, separateSums, dz]) g.release(buffer);
        }
      }
    });
  }

  it('refuses a z shorter than A, naming it', () => {
    const g = gpu();
    const random = rng(9);
    const [M, N, K] = [6, 4, 8];
    const [ga, gb, gc, short] = [g.upload(randomArray(M * K, random)), g.upload(randomArray(K * N, random)), g.alloc(4 * M * N), g.alloc(4 * (M * K - 1))];
    expect(() => matmul(g, { a: ga, b: gb, c: gc, M, N, K, variant, aGrad: { activation: 'gelu', z: short } })).toThrow(/binding 'aGrad\.z' holds 188 bytes; A's layout needs 192/);
    for (const buffer of [ga, gb, gc, short]) g.release(buffer);
  });
});
