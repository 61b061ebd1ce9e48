import { describe, expect, it } from 'vitest';
import { adamwReference, clipFactorReference, relativeError as relative, sgdReference } from '@thaw/kernels/reference';
import { AdamW, constantLr, linearLr, SGD, type Graph, type Tensor } from '../src/index.js';
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

describe('the flat optimizer against the per-parameter one', () => {
  const graph = useGraph();

  /** Runs `steps` updates of two copies of the same parameters, one flat and one per parameter, with the same gradients; returns both. */
  const twin = async (make: (g: ReturnType<typeof graph>, params: Tensor[], perParameter: boolean) => AdamW | SGD, seed: number) => {
    const g = graph();
    const liveBefore = g.gpu.pool.snapshot().liveBuffers;
    const r = rng(seed);
    const sizes = [5, 300, 1, 513, 64];
    const init = sizes.map((k) => Float32Array.from(randomInput(k, r)));
    const sets = [false, true].map((perParameter) => {
      const params = init.map((data, i) => g.parameter(data, [sizes[i]!], `p${i}`));
      params[3]!.requiresGrad = false; // unfrozen at step 2: a second arena
      return { params, opt: make(g, params, perParameter) };
    });
    for (let step = 0; step < 4; step++) {
      const grads = sizes.map((k) => Float32Array.from(randomInput(k, r, 3)));
      for (const { params, opt } of sets) {
        if (step === 2) params[3]!.requiresGrad = true;
        params.forEach((p, i) => {
          if (i === 4 && step === 1) return; // no gradient this step
          p.grad?.dispose();
          p.grad = g.parameter(grads[i]!, p.shape, `${p.name}.grad`, false);
        });
        const before = g.gpu.stats.dispatches;
        opt.update();
        // Flat: per arena one sum and one update (which computes the clip factor itself).
        const arenas = step < 2 ? 1 : 2;
        if (opt === sets[0]!.opt) expect(g.gpu.stats.dispatches - before).toBe(opt.gradNorm ? 2 * arenas : arenas);
        opt.zeroGrad();
      }
      expect(await sets[0]!.opt.lastGradNorm()).toEqual(await sets[1]!.opt.lastGradNorm());
    }
    return { g, sets, liveBefore };
  };

  it('AdamW: the same bits, with clipping, lrScale, a late unfreezing, a missing gradient; state export and import', async () => {
    const { g, sets, liveBefore } = await twin((g, params, perParameter) => new AdamW(g, params, { lr: 0.05, weightDecay: 0.01, maxGradNorm: 0.5, lrScale: new Map([[params[1]!, 0.25]]), perParameter }), 7);
    const [flat, ref] = sets as [(typeof sets)[0], (typeof sets)[0]];
    expect((flat.opt as AdamW).arenaList.length).toBe(2);
    for (let i = 0; i < flat.params.length; i++) expect(Array.from(await flat.params[i]!.read())).toEqual(Array.from(await ref.params[i]!.read()));
    const [a, b] = [await flat.opt.exportState(), await ref.opt.exportState()];
    expect(a).toEqual(b);
    // Import the state into a fresh flat optimizer: the next step matches the reference's.
    const resumed = new AdamW(g, flat.params, { lr: 0.05, weightDecay: 0.01, maxGradNorm: 0.5, lrScale: new Map([[flat.params[1]!, 0.25]]) });
    flat.opt.dispose(); // parameters move back into buffers of their own
    resumed.importState(a);
    expect(await resumed.exportState()).toEqual(b);
    for (const [params, opt] of [[flat.params, resumed], [ref.params, ref.opt]] as const) {
      const r2 = rng(99);
      params.forEach((p) => { p.grad = g.parameter(Float32Array.from(randomInput(p.size, r2)), p.shape, 'grad', false); });
      opt.update();
      opt.zeroGrad();
    }
    for (let i = 0; i < flat.params.length; i++) expect(Array.from(await flat.params[i]!.read())).toEqual(Array.from(await ref.params[i]!.read()));
    // Disposal in either order: parameters first, then the optimizer.
    for (const p of flat.params) p.dispose();
    resumed.dispose();
    ref.opt.dispose();
    for (const p of ref.params) p.dispose();
    expect(g.gpu.pool.snapshot().liveBuffers).toBe(liveBefore);
  });

  it('SGD without clipping: the same bits', async () => {
    const { g, sets, liveBefore } = await twin((g, params, perParameter) => new SGD(g, params, { lr: linearLr(0.1, 10), weightDecay: 0.1, maxGradNorm: null, perParameter }), 8);
    const [flat, ref] = sets as [(typeof sets)[0], (typeof sets)[0]];
    for (let i = 0; i < flat.params.length; i++) expect(Array.from(await flat.params[i]!.read())).toEqual(Array.from(await ref.params[i]!.read()));
    for (const { params, opt } of sets) {
      opt.dispose(); // optimizer first: the parameters move back out and stay readable
      expect(Array.from(await params[0]!.read())).toEqual(Array.from(await sets[1]!.params[0]!.read()));
      for (const p of params) p.dispose();
    }
    expect(g.gpu.pool.snapshot().liveBuffers).toBe(liveBefore);
  });
});

// Parameters of 20,000 and 50,001 floats (80 KB and 200 KB) among small ones,
// with a binding limit of 64 KiB: each has an arena of its own, larger than a
// binding, that the optimizer's launchers bind chunk by chunk. The same
// steps run flat and per parameter on a Gpu with that limit and on one with
// the default limit: every parameter, norm and moment has the same bits
// (chunked sums of squares continue each thread's sum, so the order of the
// additions is kept), and float64's values.
describe('optimizers over parameters larger than a binding', () => {
  const chunked = useGraph({ maxStorageBindingBytes: 65_536 });
  const whole = useGraph();
  const sizes = [5, 20_000, 300, 50_001, 64, 513];
  const LATE = 3; // the 50,001-float parameter is unfrozen at step 2: a late arena

  /** Runs 4 steps on `graph`; returns its parameters, optimizer and the norms. */
  const run = async (graph: Graph, make: (g: Graph, params: Tensor[]) => AdamW | SGD, seed: number) => {
    const r = rng(seed);
    const init = sizes.map((k) => Float32Array.from(randomInput(k, r)));
    const params = init.map((data, i) => graph.parameter(data, [sizes[i]!], `p${i}`));
    params[LATE]!.requiresGrad = false;
    const opt = make(graph, params);
    const norms: number[] = [];
    const grads: Float32Array[][] = [];
    for (let step = 0; step < 4; step++) {
      if (step === 2) params[LATE]!.requiresGrad = true;
      const stepGrads = sizes.map((k) => Float32Array.from(randomInput(k, r, 3)));
      params.forEach((p, i) => { p.grad = graph.parameter(stepGrads[i]!, p.shape, `${p.name}.grad`, false); });
      opt.update();
      opt.zeroGrad();
      norms.push(await opt.lastGradNorm());
      grads.push(stepGrads);
    }
    return { init, params, opt, norms, grads };
  };
  type Run = Awaited<ReturnType<typeof run>>;

  /** Checks that runs have the same bits (parameters, norms, exported state). */
  const expectSameBits = async (a: Run, b: Run) => {
    for (let i = 0; i < sizes.length; i++) expect(Array.from(await a.params[i]!.read())).toEqual(Array.from(await b.params[i]!.read()));
    expect(a.norms).toEqual(b.norms);
    expect(await a.opt.exportState()).toEqual(await b.opt.exportState());
  };

  const dispose = (...runs: Run[]) => {
    for (const { opt, params } of runs) {
      opt.dispose();
      for (const p of params) p.dispose();
    }
  };

  it('AdamW with clipping, lrScale and a late parameter: the bits of one binding, per parameter and flat; float64 values; export and import', async () => {
    const h = { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
    const make = (perParameter: boolean) => (g: Graph, params: Tensor[]) => new AdamW(g, params, { ...h, maxGradNorm: 0.5, lrScale: new Map([[params[1]!, 0.25], [params[LATE]!, 2]]), perParameter });
    const liveBefore = chunked().gpu.pool.snapshot().liveBuffers;
    const before = chunked().gpu.stats.dispatches;
    const flat = await run(chunked(), make(false), 11);
    const dispatches = chunked().gpu.stats.dispatches - before;
    const perParameter = await run(chunked(), make(true), 11);
    const reference = await run(whole(), make(false), 11);
    // Arenas [5], [20,000], [300, 64, 513], then [50,001]; the large ones bound in 2 and 4 chunks.
    expect((flat.opt as AdamW).arenaList.map((a) => a.members.map((p) => p.size))).toEqual([[5], [20_000], [300, 64, 513], [50_001]]);
    expect((reference.opt as AdamW).arenaList.length).toBe(2);
    // Per step: sums 1 + 2 + 1 (+ 4), updates 1 + 2 + 1 (+ 4), each computing the clip factor.
    expect(dispatches).toBe(2 * 8 + 2 * 16);
    await expectSameBits(flat, reference);
    await expectSameBits(perParameter, reference);
    // float64: each parameter updated from its first step with a gradient and its own step count.
    const twins = flat.init.map((x) => ({ p: Float64Array.from(x), m: new Float64Array(x.length), v: new Float64Array(x.length), steps: 0 }));
    flat.grads.forEach((grads, step) => {
      const live = sizes.map((_, i) => i).filter((i) => i !== LATE || step >= 2);
      const [clip, norm] = clipFactorReference(live.map((i) => grads[i]!), 0.5);
      expect(Math.abs(flat.norms[step]! - norm) / norm).toBeLessThan(1e-6);
      for (const i of live) {
        const s = twins[i]!;
        adamwReference(s.p, grads[i]!, s.m, s.v, { ...h, lr: h.lr * (i === 1 ? 0.25 : i === LATE ? 2 : 1), step: ++s.steps, clip });
      }
    });
    for (let i = 0; i < sizes.length; i++) expect(relative(await flat.params[i]!.read(), twins[i]!.p)).toBeLessThan(1e-5);
    // Resume: the exported state imported into a fresh flat optimizer at the lowered limit; one more step as the reference's.
    const state = await flat.opt.exportState();
    flat.opt.dispose();
    const resumed = make(false)(chunked(), flat.params);
    resumed.importState(state);
    expect(await resumed.exportState()).toEqual(await reference.opt.exportState());
    for (const [g, params, opt] of [[chunked(), flat.params, resumed], [whole(), reference.params, reference.opt]] as const) {
      const r = rng(99);
      params.forEach((p) => { p.grad = g.parameter(Float32Array.from(randomInput(p.size, r)), p.shape, 'grad', false); });
      opt.update();
      opt.zeroGrad();
    }
    for (let i = 0; i < sizes.length; i++) expect(Array.from(await flat.params[i]!.read())).toEqual(Array.from(await reference.params[i]!.read()));
    dispose({ ...flat, opt: resumed }, perParameter, reference);
    expect(chunked().gpu.pool.snapshot().liveBuffers).toBe(liveBefore);
  });

  it('SGD with clipping and lrScale: the bits of one binding, per parameter and flat; float64 values', async () => {
    const h = { lr: 0.1, weightDecay: 0.1 };
    const make = (perParameter: boolean) => (g: Graph, params: Tensor[]) => new SGD(g, params, { ...h, maxGradNorm: 2, lrScale: new Map([[params[3]!, 0.5]]), perParameter });
    const flat = await run(chunked(), make(false), 12);
    const perParameter = await run(chunked(), make(true), 12);
    const reference = await run(whole(), make(false), 12);
    await expectSameBits(flat, reference);
    await expectSameBits(perParameter, reference);
    const twins = flat.init.map((x) => Float64Array.from(x));
    flat.grads.forEach((grads, step) => {
      const live = sizes.map((_, i) => i).filter((i) => i !== LATE || step >= 2);
      const [clip] = clipFactorReference(live.map((i) => grads[i]!), 2);
      for (const i of live) sgdReference(twins[i]!, grads[i]!, { ...h, lr: h.lr * (i === 3 ? 0.5 : 1), clip });
    });
    for (let i = 0; i < sizes.length; i++) expect(relative(await flat.params[i]!.read(), twins[i]!)).toBeLessThan(1e-5);
    dispose(flat, perParameter, reference);
  });
});
