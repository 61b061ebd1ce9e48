import { describe, expect, it } from 'vitest';
import { adamwStep, clipFactor, sgdStep, sumSquares } from '../src/index.js';
import { adamwReference, clipFactorReference, sgdReference } from '../src/reference/index.js';
import { randomArray, relativeError, rng, useGpu } from './helpers.js';

describe('optimizer kernels vs float64 reference', () => {
  const gpu = useGpu();

  it('global-norm clip factor over several gradients', async () => {
    const g = gpu();
    const random = rng(1);
    const grads = [randomArray(1, random), randomArray(300, random), randomArray(5000, random)];
    const partials = g.alloc(4 * grads.length);
    const clip = g.alloc(8);
    const uploaded = grads.map((x) => g.upload(x));
    for (const maxNorm of [1.0, 1000]) {
      uploaded.forEach((grad, slot) => sumSquares(g, { grad, partials, n: grads[slot]!.length, slot }));
      clipFactor(g, { partials, clip, count: grads.length, maxNorm });
      const [factor, norm] = await g.read(clip);
      const [wantFactor, wantNorm] = clipFactorReference(grads, maxNorm);
      expect(Math.abs(norm! - wantNorm) / wantNorm).toBeLessThan(1e-6);
      expect(Math.abs(factor! - wantFactor) / wantFactor).toBeLessThan(1e-6);
      if (maxNorm === 1000) expect(factor).toBe(1);
    }
    for (const b of [partials, clip, ...uploaded]) g.release(b);
  });

  it('AdamW over several steps, with clipping and weight decay', async () => {
    const g = gpu();
    const random = rng(2);
    const n = 1001;
    const p0 = randomArray(n, random);
    const h = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
    const [gp, gm, gv] = [g.upload(p0), g.upload(new Float32Array(n)), g.upload(new Float32Array(n))];
    const clip = g.upload(new Float32Array([0.5, 2]));
    const p = Float64Array.from(p0);
    const m = new Float64Array(n);
    const v = new Float64Array(n);
    for (let step = 1; step <= 5; step++) {
      const grad = randomArray(n, random);
      const gg = g.upload(grad);
      adamwStep(g, { param: gp, grad: gg, m: gm, v: gv, clip, n, ...h, step });
      adamwReference(p, grad, m, v, { ...h, step, clip: 0.5 });
      g.release(gg);
    }
    expect(relativeError(await g.read(gp), p)).toBeLessThan(1e-6);
    expect(relativeError(await g.read(gm), m)).toBeLessThan(1e-6);
    expect(relativeError(await g.read(gv), v)).toBeLessThan(1e-5);
    for (const b of [gp, gm, gv, clip]) g.release(b);
  });

  it('SGD with weight decay', async () => {
    const g = gpu();
    const random = rng(3);
    const n = 257;
    const p0 = randomArray(n, random);
    const grad = randomArray(n, random);
    const [gp, gg, clip] = [g.upload(p0), g.upload(grad), g.upload(new Float32Array([0.25, 4]))];
    sgdStep(g, { param: gp, grad: gg, clip, n, lr: 0.1, weightDecay: 0.01 });
    const p = Float64Array.from(p0);
    sgdReference(p, grad, { lr: 0.1, weightDecay: 0.01, clip: 0.25 });
    expect(relativeError(await g.read(gp), p)).toBeLessThan(1e-6);
    for (const b of [gp, gg, clip]) g.release(b);
  });
});
