import { describe, expect, it } from 'vitest';
import { layerNormBackward, layerNormForward } from '../src/index.js';
import { layerNormBackwardReference, layerNormForwardReference } from '../src/reference/index.js';
import { firstNonFinite, poisoned, randomArray, relativeError, rng, useGpu } from './helpers.js';

// fp32 against float64, relative Frobenius error. Rows are reduced by a
// tree of one subgroup's worth of threads; observed errors are ≈ 1e-7.
const TOLERANCE = 1e-5;
const SHAPES: [number, number][] = [[1, 1], [1, 7], [3, 13], [17, 64], [5, 127], [33, 768], [2, 1000]];

describe('layernorm reference', () => {
  it('backward agrees with central finite differences of the forward (float64)', () => {
    const random = rng(11);
    const [rows, D, eps] = [3, 6, 1e-5];
    const x = Float64Array.from(randomArray(rows * D, random));
    const gamma = Float64Array.from(randomArray(D, random));
    const beta = Float64Array.from(randomArray(D, random));
    const dy = Float64Array.from(randomArray(rows * D, random));
    // Scalar objective L = Σ dy · y, so ∂L/∂θ is what backward returns.
    const loss = (xs: Float64Array, g: Float64Array, b: Float64Array) =>
      layerNormForwardReference(xs, g, b, rows, D, eps).y.reduce((s, yi, i) => s + yi * dy[i]!, 0);
    const numeric = (vec: Float64Array, i: number, f: () => number) => {
      const h = 1e-6;
      const keep = vec[i]!;
      vec[i] = keep + h;
      const up = f();
      vec[i] = keep - h;
      const down = f();
      vec[i] = keep;
      return (up - down) / (2 * h);
    };
    const { dx, dgamma, dbeta } = layerNormBackwardReference(x, gamma, dy, rows, D, eps);
    const f = () => loss(x, gamma, beta);
    const fdx = Float64Array.from(x, (_, i) => numeric(x, i, f));
    const fdg = Float64Array.from(gamma, (_, i) => numeric(gamma, i, f));
    const fdb = Float64Array.from(beta, (_, i) => numeric(beta, i, f));
    expect(relativeError(dx, fdx)).toBeLessThan(1e-7);
    expect(relativeError(dgamma, fdg)).toBeLessThan(1e-7);
    expect(relativeError(dbeta, fdb)).toBeLessThan(1e-7);
  });
});

describe('layernorm kernels vs float64 reference', () => {
  const gpu = useGpu();
  for (const [rows, D] of SHAPES) {
    it(`forward and backward, ${rows}×${D}`, async () => {
      const g = gpu();
      const random = rng(rows * 7919 + D);
      // An offset mean (+3) checks that the variance is computed centered.
      const x = randomArray(rows * D, random).map((v) => v + 3);
      const gamma = randomArray(D, random);
      const beta = randomArray(D, random);
      const dy = randomArray(rows * D, random);
      const eps = 1e-5;
      const [gx, ggamma, gbeta, gdy] = [g.upload(x), g.upload(gamma), g.upload(beta), g.upload(dy)];
      const [gy, gmean, grstd] = [poisoned(g, rows * D), poisoned(g, rows), poisoned(g, rows)];
      const [gdx, gdgamma, gdbeta] = [poisoned(g, rows * D), poisoned(g, D), poisoned(g, D)];
      layerNormForward(g, { x: gx, gamma: ggamma, beta: gbeta, y: gy, mean: gmean, rstd: grstd, rows, D, eps });
      layerNormBackward(g, { x: gx, gamma: ggamma, mean: gmean, rstd: grstd, dy: gdy, dx: gdx, dgamma: gdgamma, dbeta: gdbeta, rows, D });
      const [y, mean, rstd, dx, dgamma, dbeta] = await Promise.all([gy, gmean, grstd, gdx, gdgamma, gdbeta].map((b) => g.read(b)));
      for (const out of [y, mean, rstd, dx, dgamma, dbeta]) expect(firstNonFinite(out!)).toBe(-1);

      const fwd = layerNormForwardReference(x, gamma, beta, rows, D, eps);
      expect(relativeError(y!, fwd.y)).toBeLessThan(TOLERANCE);
      expect(relativeError(mean!, fwd.mean)).toBeLessThan(TOLERANCE);
      expect(relativeError(rstd!, fwd.rstd)).toBeLessThan(TOLERANCE);
      const bwd = layerNormBackwardReference(x, gamma, dy, rows, D, eps);
      if (D === 1) {
        // A single column normalizes to x̂ ≡ 0, so dx and dgamma are exactly 0.
        expect([...dx!, ...dgamma!].every((v) => v === 0)).toBe(true);
      } else {
        expect(relativeError(dx!, bwd.dx)).toBeLessThan(TOLERANCE);
        expect(relativeError(dgamma!, bwd.dgamma)).toBeLessThan(TOLERANCE);
      }
      expect(relativeError(dbeta!, bwd.dbeta)).toBeLessThan(TOLERANCE);
      for (const b of [gx, ggamma, gbeta, gdy, gy, gmean, grstd, gdx, gdgamma, gdbeta]) g.release(b);
    });
  }
});
