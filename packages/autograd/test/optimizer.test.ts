import { describe, expect, it } from 'vitest';
import { adamwReference, clipFactorReference, relativeError as relative, sgdReference } from '@thaw/kernels/reference';
import { AdamW, constantLr, linearLr, SGD, type Tensor } from '../src/index.js';
import { randomInput, rng, useGraph } from './helpers.js';

describe('learning-rate schedules', () => {
  it('constant and linear decay with optional warmup', () => {
    expect(constantLr(0.1)(1000)).toBe(0.1);
    const decay = linearLr(1, 10);
    expect([0, 5, 10, 12].map(decay)).toEqual([1, 0.5, 0, 0]);
    const warm = linearLr(1, 10, 2);
    expect([0, 1, 2, 6, 10].map(warm)).toEqual([0, 0.5, 1, 0.5, 0]);
    expect(() => linearLr(1, 5, 6)).toThrow(/warmupSteps/);
  });
});

describe('optimizers', () => {
  const graph = useGraph();

  /** Sets p.grad to the given values (as backward would). */
  const setGrad = (p: Tensor, values: Float32Array) => {
    p.grad?.dispose();
    p.grad = p.graph.parameter(values, p.shape, `${p.name}.grad`, false);
  };

  it('AdamW: clipping over all gradients, and fresh state for a parameter unfrozen late', async () => {
    const g = graph();
    const r = rng(1);
    const n = [5, 33];
    const init = n.map((k) => Float32Array.from(randomInput(k, r)));
    const [a, b] = init.map((data, i) => g.parameter(data, [n[i]!], `p${i}`));
    b!.requiresGrad = false; // frozen for the first two steps
    const h = { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
    const opt = new AdamW(g, [a!, b!], { ...h, maxGradNorm: 0.5 });
    const ref = init.map((x) => ({ p: Float64Array.from(x), m: new Float64Array(x.length), v: new Float64Array(x.length), steps: 0 }));
    for (let step = 0; step < 5; step++) {
      if (step === 2) b!.requiresGrad = true;
      const grads = n.map((k) => Float32Array.from(randomInput(k, r, 3)));
      setGrad(a!, grads[0]!);
      setGrad(b!, grads[1]!);
      opt.update();
      const live = step < 2 ? [0] : [0, 1];
      const [clip, norm] = clipFactorReference(live.map((i) => grads[i]!), 0.5);
      expect(Math.abs((await opt.lastGradNorm()) - norm) / norm).toBeLessThan(1e-6);
      for (const i of live) {
        const s = ref[i]!;
        s.steps++;
        adamwReference(s.p, grads[i]!, s.m, s.v, { ...h, beta1: h.beta1, beta2: h.beta2, step: s.steps, clip });
      }
    }
    expect(relative(await a!.read(), ref[0]!.p)).toBeLessThan(1e-5);
    // b had 3 updates with its own t = 1, 2, 3 and untouched values before.
    expect(ref[1]!.steps).toBe(3);
    expect(relative(await b!.read(), ref[1]!.p)).toBeLessThan(1e-5);
    opt.zeroGrad();
    opt.dispose();
    a!.dispose();
    b!.dispose();
  });

  it('SGD without clipping follows the reference and reports no norm', async () => {
    const g = graph();
    const r = rng(2);
    const data = Float32Array.from(randomInput(17, r));
    const p = g.parameter(data, [17], 'p');
    const opt = new SGD(g, [p], { lr: linearLr(0.1, 4), weightDecay: 0.1, maxGradNorm: null });
    const ref = Float64Array.from(data);
    for (let step = 0; step < 3; step++) {
      const grad = Float32Array.from(randomInput(17, r));
      setGrad(p, grad);
      const lr = opt.lr;
      opt.update();
      sgdReference(ref, grad, { lr, weightDecay: 0.1, clip: 1 });
    }
    expect(opt.step).toBe(3);
    expect(relative(await p.read(), ref)).toBeLessThan(1e-6);
    expect(await opt.lastGradNorm()).toBeNaN();
    opt.zeroGrad();
    opt.dispose();
    p.dispose();
  });

  it('lrScale multiplies the rate of the parameters it names, and only theirs', async () => {
    const g = graph();
    const r = rng(3);
    const [da, db] = [Float32Array.from(randomInput(9, r)), Float32Array.from(randomInput(5, r))];
    const a = g.parameter(da, [9], 'a');
    const b = g.parameter(db, [5], 'b');
    const opt = new SGD(g, [a, b], { lr: 0.1, maxGradNorm: null, lrScale: new Map([[b, 0.25]]) });
    const [ra, rb] = [Float64Array.from(da), Float64Array.from(db)];
    const [ga, gb] = [Float32Array.from(randomInput(9, r)), Float32Array.from(randomInput(5, r))];
    setGrad(a, ga);
    setGrad(b, gb);
    opt.update();
    sgdReference(ra, ga, { lr: 0.1, weightDecay: 0, clip: 1 });
    sgdReference(rb, gb, { lr: 0.025, weightDecay: 0, clip: 1 });
    expect(relative(await a.read(), ra)).toBeLessThan(1e-6);
    expect(relative(await b.read(), rb)).toBeLessThan(1e-6);
    opt.zeroGrad();
    opt.dispose();
    a.dispose();
    b.dispose();
  });
});
