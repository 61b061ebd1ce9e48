import { describe, expect, it } from 'vitest';
import { activation, activationBackward, axpby, columnSums, fillWith, scaleBy, type Activation } from '../src/index.js';
import {
  columnSumsReference, erf, geluDerivativeReference, geluReference, geluTanhDerivativeReference, geluTanhReference, reluDerivativeReference, reluReference,
  swishDerivativeReference, swishReference, tanhDerivativeReference, tanhReference,
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
});
