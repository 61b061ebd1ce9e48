import { describe, expect, it } from 'vitest';
import {
  activation, activationBackward, axpby, columnDots, columnSums, fillWith, KernelLaunchError, scaleBy, scaleColumns, type Activation, type Gpu, type GpuBuffer,
} from '../src/index.js';
import {
  columnDotsReference, columnSumsReference, erf, geluDerivativeReference, geluReference, geluTanhDerivativeReference, geluTanhReference, reluDerivativeReference, reluReference,
  scaleColumnsReference, swishDerivativeReference, swishReference, tanhDerivativeReference, tanhReference,
} from '../src/reference/index.js';
import { errorAgainst, firstNonFinite, poisoned, randomArray, relativeError, rng, useGpu } from './helpers.js';

// Pointwise fp32 maps against float64: relative Frobenius error ≤ 1e-6
// (GELU's erfc approximation has relative error < 1.2e-7).
const TOLERANCE = 1e-6;
const SIZES = [1, 7, 255, 256, 257, 3001];

const REFERENCES: Record<Activation, { f: (x: number) => number; df: (x: number) => number }> = {
  gelu: { f: geluReference, df: geluDerivativeReference },
  relu: { f: reluReference, df: reluDerivativeReference },
  tanh: { f: tanhReference, df: tanhDerivativeReference },
  geluTanh: { f: geluTanhReference, df: geluTanhDerivativeReference },
  swish: { f: swishReference, df: swishDerivativeReference },
};

describe('float64 references', () => {
  it('erf matches known values', () => {
    expect(erf(0.5)).toBeCloseTo(0.5204998778130465, 15);
    expect(erf(1)).toBeCloseTo(0.8427007929497149, 15);
    expect(erf(3)).toBeCloseTo(0.9999779095030014, 15);
    expect(erf(-2)).toBeCloseTo(-0.9953222650189527, 14);
  });

  it('every derivative agrees with central finite differences', () => {
    for (const [kind, { f, df }] of Object.entries(REFERENCES)) {
      for (const x of [-3.5, -1.2, -0.3, 0.01, 0.7, 2.4, 4]) {
        const h = 1e-6;
        expect(df(x), `${kind} at ${x}`).toBeCloseTo((f(x + h) - f(x - h)) / (2 * h), 7);
      }
    }
  });

  it('the tanh form of GELU stays within 1e-3 of the exact one (why loading one as the other is refused, not approximated)', () => {
    const gap = Math.max(...Array.from({ length: 801 }, (_, i) => Math.abs(geluTanhReference(-8 + i / 50) - geluReference(-8 + i / 50))));
    expect(gap).toBeGreaterThan(1e-5);
    expect(gap).toBeLessThan(1e-3);
  });
});

describe('elementwise kernels vs float64 reference', () => {
  const gpu = useGpu();

  for (const kind of ['gelu', 'geluTanh', 'relu', 'tanh', 'swish'] as const) {
    it(`${kind} forward and backward`, async () => {
      const g = gpu();
      const random = rng(kind.length * 7 + kind.charCodeAt(0));
      for (const n of SIZES) {
        const x = randomArray(n, random).map((v) => 4 * v);
        const dy = randomArray(n, random);
        const [gx, gdy] = [g.upload(x), g.upload(dy)];
        const [gout, gdx] = [poisoned(g, n), poisoned(g, n)];
        activation(g, kind, { x: gx, out: gout, n });
        activationBackward(g, kind, { x: gx, dy: gdy, out: gdx, n });
        const [out, dx] = [await g.read(gout), await g.read(gdx)];
        expect(firstNonFinite(out)).toBe(-1);
        expect(firstNonFinite(dx)).toBe(-1);
        const ref = REFERENCES[kind];
        expect(errorAgainst(out, Array.from(x, ref.f))).toBeLessThan(TOLERANCE);
        expect(errorAgainst(dx, Array.from(x, (v, i) => dy[i]! * ref.df(v)))).toBeLessThan(TOLERANCE);
        for (const b of [gx, gdy, gout, gdx]) g.release(b);
      }
    });
  }

  it('axpby', async () => {
    const g = gpu();
    const random = rng(3);
    for (const n of SIZES) {
      const [x, y] = [randomArray(n, random), randomArray(n, random)];
      const [gx, gy, gout] = [g.upload(x), g.upload(y), poisoned(g, n)];
      axpby(g, { x: gx, y: gy, out: gout, n, alpha: 0.75, beta: -1.5 });
      const out = await g.read(gout);
      expect(relativeError(out, Array.from(x, (v, i) => 0.75 * v - 1.5 * y[i]!))).toBeLessThan(TOLERANCE);
      for (const b of [gx, gy, gout]) g.release(b);
    }
  });

  it('scaleBy and fillWith read their factor from a GPU scalar', async () => {
    const g = gpu();
    const random = rng(5);
    for (const n of SIZES) {
      const x = randomArray(n, random);
      const [gx, gs, gout, gfill] = [g.upload(x), g.upload(new Float32Array([-1.75])), poisoned(g, n), poisoned(g, n)];
      scaleBy(g, { x: gx, scalar: gs, out: gout, n, alpha: 0.5 });
      fillWith(g, { scalar: gs, out: gfill, n, alpha: 2 });
      expect(relativeError(await g.read(gout), Array.from(x, (v) => -0.875 * v))).toBeLessThan(TOLERANCE);
      expect([...(await g.read(gfill))].every((v) => v === -3.5)).toBe(true);
      for (const b of [gx, gs, gout, gfill]) g.release(b);
    }
  });

  it('columnSums', async () => {
    const g = gpu();
    const random = rng(4);
    for (const [rows, cols] of [[1, 1], [7, 13], [65, 3], [300, 129]] as const) {
      const x = randomArray(rows * cols, random);
      const [gx, gout] = [g.upload(x), poisoned(g, cols)];
      columnSums(g, { x: gx, out: gout, rows, cols });
      const out = await g.read(gout);
      expect(firstNonFinite(out)).toBe(-1);
      // Sequential fp32 sums of `rows` terms of size ≤ 1.
      const want = columnSumsReference(x, rows, cols);
      out.forEach((v, j) => expect(Math.abs(v - want[j]!)).toBeLessThanOrEqual(rows * rows * 2 ** -24 + 1e-7));
      g.release(gx);
      g.release(gout);
    }
  });

  // rows × cols of (IA)³'s column scale: 1, odd sizes, and widths on both
  // sides of the workgroup sizes (256 for scaleColumns, 64 for columnDots).
  const COLUMN_SHAPES = [[1, 1], [1, 7], [1, 300], [5, 1], [5, 7], [5, 300], [129, 1], [129, 7], [129, 300], [3, 64], [2, 257]] as const;

  it('scaleColumns', async () => {
    const g = gpu();
    const random = rng(6);
    for (const [rows, cols] of COLUMN_SHAPES) {
      const [x, s] = [randomArray(rows * cols, random), randomArray(cols, random)];
      const [gx, gs, gout] = [g.upload(x), g.upload(s), poisoned(g, rows * cols)];
      scaleColumns(g, { x: gx, s: gs, out: gout, rows, cols });
      const out = await g.read(gout);
      expect(firstNonFinite(out)).toBe(-1);
      // One fp32 multiply per element, correctly rounded in WGSL: each value
      // is the float64 product rounded to fp32 (relative error ≤ 2⁻²⁴).
      const want = scaleColumnsReference(x, s, rows, cols);
      const wrong = out.findIndex((v, i) => v !== Math.fround(want[i]!));
      expect(wrong, `${rows}×${cols}: first mismatch`).toBe(-1);
      for (const b of [gx, gs, gout]) g.release(b);
    }
  });

  it('columnDots, bitwise reproducible', async () => {
    const g = gpu();
    const random = rng(7);
    for (const [rows, cols] of COLUMN_SHAPES) {
      const [x, y] = [randomArray(rows * cols, random), randomArray(rows * cols, random)];
      const [gx, gy, gout, again] = [g.upload(x), g.upload(y), poisoned(g, cols), poisoned(g, cols)];
      columnDots(g, { x: gx, y: gy, out: gout, rows, cols });
      columnDots(g, { x: gx, y: gy, out: again, rows, cols });
      const [out, out2] = [await g.read(gout), await g.read(again)];
      expect(firstNonFinite(out)).toBe(-1);
      expect(out2).toEqual(out);
      // A sum of `rows` fp32 products, added in order: |error| ≤ γ · Σ_i |x·y|
      // with γ = (rows + 1)·2⁻²⁴ / (1 − (rows + 1)·2⁻²⁴) (one rounding per
      // product and per addition).
      const want = columnDotsReference(x, y, rows, cols);
      const magnitude = columnDotsReference(x.map(Math.abs), y.map(Math.abs), rows, cols);
      const u = (rows + 1) * 2 ** -24;
      out.forEach((v, j) => expect(Math.abs(v - want[j]!), `${rows}×${cols} column ${j}`).toBeLessThanOrEqual((u / (1 - u)) * magnitude[j]!));
      for (const b of [gx, gy, gout, again]) g.release(b);
    }
  });

  it('scaleColumns and columnDots refuse bad shapes and short buffers', () => {
    const g = gpu();
    const [x, s, out] = [g.upload(randomArray(12, rng(8))), g.upload(randomArray(3, rng(9))), g.alloc(12 * 4)];
    expect(() => scaleColumns(g, { x, s, out, rows: 3, cols: 0 })).toThrow(KernelLaunchError);
    expect(() => scaleColumns(g, { x, s, out, rows: 1.5, cols: 4 })).toThrow(/rows must be a positive integer/);
    expect(() => scaleColumns(g, { x, s, out, rows: 3, cols: 4 })).toThrow(/'colScale' holds 12 bytes; this shape needs 16/);
    expect(() => columnDots(g, { x, y: x, out: s, rows: 4, cols: 4 })).toThrow(/'x' holds 48 bytes; this shape needs 64/);
    for (const b of [x, s, out]) g.release(b);
  });
});

describe('elementwise maps over arrays larger than a binding', () => {
  // 64 KB bindings hold 16384 floats: these sizes take 3 and 4 chunks, the
  // last one partial. Every map must give the bits of the default-limit
  // launch (one binding) and agree with float64.
  const LIMIT = 65536;
  const chunked = useGpu({ maxStorageBindingBytes: LIMIT });
  const whole = useGpu();
  const N = [40_001, 60_007];

  /** Runs `launch` on both devices with the same inputs; returns each one's output, the default-limit one first. */
  async function onBoth(inputs: Float32Array[], outLength: number, launch: (g: Gpu, bufs: GpuBuffer[], out: GpuBuffer) => void): Promise<[Float32Array, Float32Array]> {
    const results: Float32Array[] = [];
    for (const g of [whole(), chunked()]) {
      const bufs = inputs.map((a) => g.upload(a));
      const out = poisoned(g, outLength);
      launch(g, bufs, out);
      results.push(await g.read(out));
      for (const b of [...bufs, out]) g.release(b);
    }
    return results as [Float32Array, Float32Array];
  }

  function expectSameBits(got: Float32Array, want: Float32Array, what: string): void {
    const [a, b] = [new Uint32Array(got.buffer, got.byteOffset, got.length), new Uint32Array(want.buffer, want.byteOffset, want.length)];
    expect(a.length, what).toBe(b.length);
    expect(a.findIndex((v, i) => v !== b[i]), `${what}: first element whose bits differ`).toBe(-1);
  }

  it('splits each array into several chunks (so the chunked path is what runs)', () => {
    for (const n of N) expect(chunked().rowChunks(n, 4).length).toBeGreaterThan(2);
    expect(chunked().rowChunks(1001, 4 * 37).length).toBeGreaterThan(2);
    for (const n of N) expect(whole().rowChunks(n, 4)).toHaveLength(1);
  });

  it('axpby, scaleBy and fillWith', async () => {
    const random = rng(21);
    for (const n of N) {
      const [x, y, s] = [randomArray(n, random), randomArray(n, random), new Float32Array([-1.75])];
      const [plain, split] = await onBoth([x, y], n, (g, [gx, gy], out) => axpby(g, { x: gx!, y: gy!, out, n, alpha: 0.75, beta: -1.5 }));
      expect(firstNonFinite(split)).toBe(-1);
      expect(relativeError(split, Array.from(x, (v, i) => 0.75 * v - 1.5 * y[i]!))).toBeLessThan(TOLERANCE);
      expectSameBits(split, plain, `axpby n=${n}`);
      const scaled = await onBoth([x, s], n, (g, [gx, gs], out) => scaleBy(g, { x: gx!, scalar: gs!, out, n, alpha: 0.5 }));
      expect(relativeError(scaled[1], Array.from(x, (v) => -0.875 * v))).toBeLessThan(TOLERANCE);
      expectSameBits(scaled[1], scaled[0], `scaleBy n=${n}`);
      const filled = await onBoth([s], n, (g, [gs], out) => fillWith(g, { scalar: gs!, out, n, alpha: 2 }));
      expect(filled[1].every((v) => v === -3.5)).toBe(true);
      expectSameBits(filled[1], filled[0], `fillWith n=${n}`);
    }
  });

  for (const kind of ['gelu', 'geluTanh', 'relu', 'tanh', 'swish'] as const) {
    it(`${kind} forward and backward`, async () => {
      const random = rng(30 + kind.length);
      const ref = REFERENCES[kind];
      for (const n of N) {
        const [x, dy] = [randomArray(n, random).map((v) => 4 * v), randomArray(n, random)];
        const forward = await onBoth([x], n, (g, [gx], out) => activation(g, kind, { x: gx!, out, n }));
        const backward = await onBoth([x, dy], n, (g, [gx, gdy], out) => activationBackward(g, kind, { x: gx!, dy: gdy!, out, n }));
        expect(firstNonFinite(forward[1])).toBe(-1);
        expect(firstNonFinite(backward[1])).toBe(-1);
        expect(errorAgainst(forward[1], Array.from(x, ref.f))).toBeLessThan(TOLERANCE);
        expect(errorAgainst(backward[1], Array.from(x, (v, i) => dy[i]! * ref.df(v)))).toBeLessThan(TOLERANCE);
        expectSameBits(forward[1], forward[0], `${kind} n=${n}`);
        expectSameBits(backward[1], backward[0], `${kind}Backward n=${n}`);
      }
    });
  }

  it('scaleColumns, in chunks of whole rows', async () => {
    const random = rng(40);
    for (const [rows, cols] of [[1001, 37], [20_000, 3]] as const) {
      const [x, s] = [randomArray(rows * cols, random), randomArray(cols, random)];
      const [plain, split] = await onBoth([x, s], rows * cols, (g, [gx, gs], out) => scaleColumns(g, { x: gx!, s: gs!, out, rows, cols }));
      const want = scaleColumnsReference(x, s, rows, cols);
      expect(split.findIndex((v, i) => v !== Math.fround(want[i]!)), `${rows}×${cols}: first mismatch`).toBe(-1);
      expectSameBits(split, plain, `scaleColumns ${rows}×${cols}`);
    }
  });
});
