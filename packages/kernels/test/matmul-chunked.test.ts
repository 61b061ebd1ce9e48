// matmul with one operand larger than a binding: the launcher's row blocks
// (split N, split M, split K; see `matmul`'s TSDoc) under a 64 KB binding
// limit, against float64 and against the same launch on a default-limit Gpu.
import { describe, expect, it } from 'vitest';
import { columnSums, matmul, type Activation, type Gpu, type GpuBuffer, type MatmulVariant } from '../src/index.js';
import { matmulReference } from '../src/reference/index.js';
import { firstNonFinite, fp32RowSums, poisoned, randomArray, relativeError, rng, useGpu } from './helpers.js';

const LIMIT = 65536;
// fp32 against float64, relative Frobenius error; observed ≤ 1.3e-6 for
// every case here (the split-K ones at K = 1300 … 2900 included).
const TOLERANCE = 1e-5;

interface Case {
  title: string;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  bias?: boolean;
  addend?: boolean;
  activation?: Activation;
  /** Split K: partial sums added block by block, so not the bits of one launch. */
  splitK?: boolean;
  /** Also the row sums of op(A), which every split leaves the bits of one launch. */
  rowSums?: boolean;
}

// Shapes not multiples of the kernels' tiles nor of the blocks; one aligned
// (vec4) case per decomposition. The large operand is named in the title.
// A linear layer's three products with a large weight W [V, D] (the tied
// vocabulary projection) are: y = x·Wᵀ + b (split N), dx = dy·W + dx so far
// (split K, A copied by columns, addend), dW = dyᵀ·x (split M, transA).
const CASES: Case[] = [
  { title: 'split N: B [300, 203] transB (243 KB), bias', M: 37, N: 300, K: 203, transB: true, bias: true },
  { title: 'split N: B transB, bias, gelu with pre, addend', M: 37, N: 300, K: 203, transB: true, bias: true, addend: true, activation: 'gelu' },
  { title: 'split N: B [1500, 36] transB, transA, aligned', M: 8, N: 1500, K: 36, transA: true, transB: true, bias: true },
  { title: 'split K: B [2900, 24] (278 KB, 5 blocks), A copied by columns, addend', M: 5, N: 24, K: 2900, addend: true, splitK: true },
  { title: 'split K: B [2900, 24], transA (both views), bias, relu with pre, addend', M: 5, N: 24, K: 2900, transA: true, bias: true, addend: true, activation: 'relu', splitK: true },
  { title: 'split K: B [1300, 24] (125 KB, 2 blocks), tanh without pre', M: 11, N: 24, K: 1300, bias: true, activation: 'tanh', splitK: true },
  { title: 'split K: A [2100, 24] transA (4 blocks), B copied by columns (transB), bias', M: 24, N: 7, K: 2100, transA: true, transB: true, bias: true, splitK: true },
  { title: 'split M: C [1500, 33] (198 KB), bias, addend', M: 1500, N: 33, K: 9, bias: true, addend: true },
  { title: 'split M: C [1500, 33], A copied by columns (transA), transB, gelu with pre', M: 1500, N: 33, K: 9, transA: true, transB: true, bias: true, activation: 'gelu' },
  { title: 'split M: C [1500, 33] = Aᵀ·B as a linear\'s weight gradient, A copied by columns, addend', M: 1500, N: 33, K: 9, transA: true, addend: true },
  { title: 'split M: A [1500, 33] (198 KB), transB', M: 1500, N: 9, K: 33, transB: true },
  { title: 'split M: A [1000, 36], aligned, bias', M: 1000, N: 12, K: 36, bias: true },
  // Row sums: taken from block 0 (split N), written through views of 64
  // rows (split M: 256-byte offsets), resumed block after block (split K).
  { title: 'row sums, split N: B [300, 203] transB, bias', M: 37, N: 300, K: 203, transB: true, bias: true, rowSums: true },
  { title: 'row sums, split M: C [1500, 33] = Aᵀ·B (a weight gradient and its bias gradient), A copied by columns', M: 1500, N: 33, K: 9, transA: true, rowSums: true },
  { title: 'row sums, split M: A [1000, 36], aligned, bias', M: 1000, N: 12, K: 36, bias: true, rowSums: true },
  { title: 'row sums, split K: B [2900, 24] (5 blocks), A copied by columns, addend', M: 5, N: 24, K: 2900, addend: true, splitK: true, rowSums: true },
  { title: 'row sums, split K: A [2100, 24] transA (4 blocks, views), transB, relu with pre', M: 24, N: 7, K: 2100, transA: true, transB: true, activation: 'relu', splitK: true, rowSums: true },
];

const VARIANTS: MatmulVariant[] = ['portable', 'subgroups'];

/** The case's inputs on one Gpu, C (and pre) poisoned. */
function inputs(g: Gpu, host: Record<string, Float32Array>, M: number, N: number, withPre: boolean, withRowSums: boolean) {
  const up = Object.fromEntries(Object.entries(host).map(([k, v]) => [k, g.upload(v)])) as Record<string, GpuBuffer>;
  return { ...up, c: poisoned(g, M * N), ...(withPre ? { pre: poisoned(g, M * N) } : {}), ...(withRowSums ? { rowSums: poisoned(g, M) } : {}) } as Record<string, GpuBuffer>;
}

const bits = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);

describe.each(VARIANTS)('matmul (%s) with one operand larger than a 64 KB binding', (variant) => {
  const limited = useGpu({ maxStorageBindingBytes: LIMIT });
  const unlimited = useGpu();

  for (const test of CASES) {
    it(test.title, async () => {
      const { M, N, K, transA, transB, activation } = test;
      const random = rng(M * 7919 + N * 104729 + K + (test.addend ? 1 : 0) + (activation ? activation.length : 0));
      const host: Record<string, Float32Array> = { a: randomArray(M * K, random), b: randomArray(K * N, random) };
      if (test.bias) host.bias = randomArray(N, random);
      if (test.addend) host.addend = randomArray(M * N, random);
      const withPre = activation !== undefined && test.title.includes('with pre');
      const run = async (g: Gpu) => {
        const buf = inputs(g, host, M, N, withPre, test.rowSums === true);
        const before = g.stats.dispatches;
        matmul(g, {
          a: buf.a!, b: buf.b!, c: buf.c!, M, N, K, variant,
          ...(transA ? { transA } : {}), ...(transB ? { transB } : {}),
          ...(buf.bias ? { bias: buf.bias } : {}), ...(buf.addend ? { addend: buf.addend } : {}),
          ...(activation ? { activation } : {}), ...(buf.pre ? { pre: buf.pre } : {}),
          ...(buf.rowSums ? { rowSums: buf.rowSums } : {}),
        });
        const dispatches = g.stats.dispatches - before;
        const c = await g.read(buf.c!);
        const pre = buf.pre ? await g.read(buf.pre) : undefined;
        const sums = buf.rowSums ? await g.read(buf.rowSums) : undefined;
        // A stored K×M: the bias-gradient pass the row sums replace (on the
        // unlimited Gpu, which binds A whole).
        let columns: Float32Array | undefined;
        if (sums && transA && g === unlimited()) {
          const out = poisoned(g, M);
          columnSums(g, { x: buf.a!, out, rows: K, cols: M });
          columns = await g.read(out);
          g.release(out);
        }
        for (const b of Object.values(buf)) g.release(b);
        return { c, pre, sums, columns, dispatches };
      };
      const chunked = await run(limited());
      const again = await run(limited());
      const whole = await run(unlimited());
      // More than one launch: the operand really was cut (one launch would have thrown).
      expect(chunked.dispatches).toBeGreaterThan(2);
      expect(whole.dispatches).toBe(1);
      expect(firstNonFinite(chunked.c)).toBe(-1);
      const shape = { a: host.a!, b: host.b!, M, N, K, ...(transA ? { transA } : {}), ...(transB ? { transB } : {}), ...(host.bias ? { bias: host.bias } : {}) };
      const want = matmulReference({ ...shape, ...(activation ? { activation } : {}), ...(host.addend ? { addend: host.addend } : {}) });
      expect(relativeError(chunked.c, want)).toBeLessThan(TOLERANCE);
      if (withPre) {
        expect(firstNonFinite(chunked.pre!)).toBe(-1);
        expect(relativeError(chunked.pre!, matmulReference(shape))).toBeLessThan(TOLERANCE);
      }
      // Deterministic: the same launch twice gives the same bits.
      expect(bits(again.c).equals(bits(chunked.c))).toBe(true);
      if (test.splitK) {
        // Block partial sums round differently from one running sum, within
        // fp32 rounding (on lavapipe: 6e-7 … 1.4e-6 apart), and are no less
        // accurate (4e-7 … 1.1e-6 from float64, one launch 8e-7 … 1.3e-6).
        expect(relativeError(chunked.c, whole.c)).toBeLessThan(TOLERANCE);
        expect(relativeError(chunked.c, want)).toBeLessThan(1.5 * relativeError(whole.c, want));
        if (withPre) expect(relativeError(chunked.pre!, whole.pre!)).toBeLessThan(TOLERANCE);
      } else {
        expect(bits(chunked.c).equals(bits(whole.c)), 'C: the bits of one launch').toBe(true);
        if (withPre) expect(bits(chunked.pre!).equals(bits(whole.pre!)), 'pre: the bits of one launch').toBe(true);
      }
      if (test.rowSums) {
        expect(firstNonFinite(chunked.sums!)).toBe(-1);
        expect(bits(chunked.sums!).equals(bits(whole.sums!)), 'row sums: the bits of one launch').toBe(true);
        expect(bits(chunked.sums!).equals(bits(fp32RowSums(host.a!, M, K, transA === true))), 'row sums: the fp32 running sum').toBe(true);
        if (transA) expect(bits(chunked.sums!).equals(bits(whole.columns!)), 'row sums: columnSums over A').toBe(true);
        // Against float64, within the running sum's bound K · 2⁻²⁴ · Σ_k |op(A)[m, k]|.
        const want64 = new Float64Array(M);
        matmulReference({ ...shape, rowSums: want64 });
        const magnitude = fp32RowSums(host.a!.map(Math.abs), M, K, transA === true);
        for (let m = 0; m < M; m++) expect(Math.abs(chunked.sums![m]! - want64[m]!), `row ${m}`).toBeLessThanOrEqual(K * 2 ** -24 * magnitude[m]!);
      }
    });
  }

  it('refuses two large operands, a batch with a large operand, and rows wider than a binding, naming why', () => {
    const g = limited();
    const random = rng(5);
    const big = g.upload(randomArray(1500 * 33, random)); // 198 KB
    const small = g.upload(randomArray(33 * 9, random));
    const out = g.alloc(4 * 1500 * 1500);
    expect(() => matmul(g, { a: big, b: big, c: small, M: 1500, N: 1500, K: 33, transB: true, variant })).toThrow(/only one of A, B and C/);
    const batched = g.alloc(4 * 2 * 750 * 9);
    expect(() => matmul(g, { a: big, b: small, c: batched, M: 750, N: 9, K: 33, batch: 2, batchStrideB: 0, variant })).toThrow(/a batch \(2 products\) cannot have an operand larger/);
    // B [33, 20000] and C [9, 20000] are both large.
    const wide = g.upload(randomArray(33 * 20000, random));
    expect(() => matmul(g, { a: small, b: wide, c: out, M: 9, N: 20000, K: 33, transA: true, variant })).toThrow(/only one of A, B and C/);
    // C [20, 4999] alone is large, but the fewest of its rows that start at an aligned offset (4 at 16 bytes, 64 at 256) pass 64 KiB.
    const align = g.device.limits.minStorageBufferOffsetAlignment;
    const step = align / 4; // a row is 19996 bytes: 4 · an odd number
    const [column, row] = [g.upload(randomArray(20, random)), g.upload(randomArray(4999, random))];
    expect(() => matmul(g, { a: column, b: row, c: out, M: 20, N: 4999, K: 1, variant }))
      .toThrow(new RegExp(`a block of ${step} rows of 19996 bytes \\(the least that starts every view at a multiple of ${align} bytes\\) does not fit a binding of 65536 bytes`));
    for (const b of [big, small, out, batched, wide, column, row]) g.release(b);
  });

  it('aGrad with A larger than a binding goes through dz: split M the bits of one launch, split K within fp32 of it', async () => {
    // dX = dz·W of a linear whose activation input z is [1000, 36] (144 KB),
    // and dW = dzᵀ·X with its bias gradient over 2100 rows (split K, A a view).
    for (const { M, N, K, transA, splitK } of [{ M: 1000, N: 12, K: 36, transA: false, splitK: false }, { M: 24, N: 7, K: 2100, transA: true, splitK: true }]) {
      const random = rng(M + N + K);
      const host = { a: randomArray(M * K, random), z: randomArray(M * K, random).map((v) => 3 * v), b: randomArray(K * N, random) };
      const run = async (g: Gpu) => {
        const [a, z, b, c, sums] = [g.upload(host.a), g.upload(host.z), g.upload(host.b), poisoned(g, M * N), poisoned(g, M)];
        matmul(g, { a, b, c, M, N, K, transA, variant, aGrad: { activation: 'gelu', z }, ...(transA ? { rowSums: sums } : {}) });
        const out = { c: await g.read(c), sums: await g.read(sums) };
        for (const buffer of [a, z, b, c, sums]) g.release(buffer);
        return out;
      };
      const [chunked, whole] = [await run(limited()), await run(unlimited())];
      expect(firstNonFinite(chunked.c)).toBe(-1);
      if (splitK) expect(relativeError(chunked.c, whole.c)).toBeLessThan(TOLERANCE);
      else expect(bits(chunked.c).equals(bits(whole.c)), 'C: the bits of one launch').toBe(true);
      if (transA) expect(bits(chunked.sums).equals(bits(whole.sums)), 'row sums: the bits of one launch').toBe(true);
    }
  });
});

// A limit that is no power of two (THAW_MAX_BINDING_BYTES takes any multiple
// of 16): blocks are sized by it, not by the pool's size classes.
describe('matmul under a 100000-byte binding limit', () => {
  const limited = useGpu({ maxStorageBindingBytes: 100000 });
  const unlimited = useGpu();

  it('split N and split M: the bits of one launch; split K: within fp32 rounding of it', async () => {
    const random = rng(77);
    for (const [M, N, K, transA, transB] of [[37, 301, 203, true, true], [2501, 9, 17, false, false], [7, 24, 3001, false, false]] as const) {
      const host = { a: randomArray(M * K, random), b: randomArray(K * N, random), bias: randomArray(N, random) };
      const run = async (g: Gpu) => {
        const [a, b, bias, c] = [g.upload(host.a), g.upload(host.b), g.upload(host.bias), poisoned(g, M * N)];
        const before = g.stats.dispatches;
        matmul(g, { a, b, c, bias, M, N, K, transA, transB });
        const dispatches = g.stats.dispatches - before;
        const out = await g.read(c);
        for (const buffer of [a, b, bias, c]) g.release(buffer);
        return { out, dispatches };
      };
      const [chunked, whole] = [await run(limited()), await run(unlimited())];
      const label = `${M}×${N}×${K}`;
      expect(chunked.dispatches, label).toBeGreaterThan(1);
      expect(firstNonFinite(chunked.out), label).toBe(-1);
      expect(relativeError(chunked.out, matmulReference({ ...host, M, N, K, transA, transB })), label).toBeLessThan(TOLERANCE);
      if (K > 3000) expect(relativeError(chunked.out, whole.out), label).toBeLessThan(TOLERANCE);
      else expect(bits(chunked.out).equals(bits(whole.out)), label).toBe(true);
    }
  });
});
