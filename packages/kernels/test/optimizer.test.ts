import { describe, expect, it } from 'vitest';
import { adamwSegments, adamwStep, clipFactor, sgdSegments, sgdStep, sumSquares, sumSquaresSegments } from '../src/index.js';
import { adamwReference, adamwSegmentsReference, clipFactorReference, sgdReference, sgdSegmentsReference, sumSquaresSegmentsReference } from '../src/reference/index.js';
import type { Gpu } from '../src/index.js';
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

  // Segments of 1, 300 and 517 elements (not multiples of the workgroup) in
  // arenas with NaN gaps between them: the gaps must stay NaN.
  const layout = [{ offset: 3, n: 1 }, { offset: 64, n: 300 }, { offset: 700, n: 517 }];
  const arenaSize = 1300;
  const inSegment = (i: number) => layout.some((s) => i >= s.offset && i < s.offset + s.n);
  /** An arena with random values in the segments and NaN elsewhere. */
  const arena = (random: () => number) => {
    const values = randomArray(arenaSize, random);
    for (let i = 0; i < arenaSize; i++) if (!inSegment(i)) values[i] = Number.NaN;
    return values;
  };
  /** The segments cut out of an arena, one array per segment. */
  const cut = (values: Float32Array) => layout.map((s) => values.slice(s.offset, s.offset + s.n));
  const expectGapsNaN = (values: Float32Array) => {
    for (let i = 0; i < arenaSize; i++) if (!inSegment(i)) expect(values[i]).toBeNaN();
  };

  it('sumSquaresSegments: the per-parameter sums, bit for bit, in one dispatch', async () => {
    const g = gpu();
    const grad = arena(rng(4));
    const gg = g.upload(grad);
    const segParts = g.upload(new Float32Array(4).fill(Number.NaN));
    const oneParts = g.upload(new Float32Array(4).fill(Number.NaN));
    const singles = cut(grad).map((x) => g.upload(x));
    const before = g.stats.dispatches;
    // Slots in another order than the segments (as for arenas filled at different times).
    const slots = [2, 0, 3];
    sumSquaresSegments(g, { grad: gg, partials: segParts, segments: layout.map((s, k) => ({ ...s, slot: slots[k]! })) });
    expect(g.stats.dispatches - before).toBe(1);
    singles.forEach((b, k) => sumSquares(g, { grad: b, partials: oneParts, n: layout[k]!.n, slot: slots[k]! }));
    const got = await g.read(segParts);
    expect(Array.from(got)).toEqual(Array.from(await g.read(oneParts)));
    expect(got[1]).toBeNaN();
    const want = sumSquaresSegmentsReference(grad, layout);
    for (let k = 0; k < 3; k++) expect(Math.abs(got[slots[k]!]! - want[k]!) / want[k]!).toBeLessThan(1e-6);
    for (const b of [gg, segParts, oneParts, ...singles]) g.release(b);
  });

  it('adamwSegments: each segment with its own lr and step, the bits of adamwStep per parameter', async () => {
    const g = gpu();
    const random = rng(5);
    const h = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
    const [p0, m0, v0] = [arena(random), arena(random), arena(random).map(Math.abs)];
    const segments = layout.map((s, k) => ({ ...s, lr: [1e-2, 3e-3, 5e-2][k]!, step: [1, 4, 2][k]! }));
    const [gp, gm, gv] = [g.upload(p0), g.upload(m0), g.upload(v0)];
    const single = [cut(p0), cut(m0), cut(v0)].map((parts) => parts.map((x) => g.upload(x)));
    const clip = g.upload(new Float32Array([0.5, 2]));
    const p = Float64Array.from(p0);
    const m = Float64Array.from(m0);
    const v = Float64Array.from(v0);
    for (let round = 0; round < 2; round++) {
      const grad = arena(random);
      const gg = g.upload(grad);
      const gradParts = cut(grad).map((x) => g.upload(x));
      adamwSegments(g, { param: gp, grad: gg, m: gm, v: gv, clip, ...h, segments: segments.map((s) => ({ ...s, step: s.step + round })) });
      segments.forEach((s, k) => adamwStep(g, { param: single[0]![k]!, grad: gradParts[k]!, m: single[1]![k]!, v: single[2]![k]!, clip, n: s.n, lr: s.lr, step: s.step + round, ...h }));
      adamwSegmentsReference(p, grad, m, v, segments.map((s) => ({ ...s, step: s.step + round })), { ...h, clip: 0.5 });
      for (const b of [gg, ...gradParts]) g.release(b);
    }
    for (const [k, [arenaBuffer, want]] of ([[gp, p], [gm, m], [gv, v]] as const).entries()) {
      const got = await g.read(arenaBuffer);
      expectGapsNaN(got);
      const inside = Float64Array.from(layout.flatMap((s) => Array.from(got.slice(s.offset, s.offset + s.n))));
      expect(relativeError(inside, Float64Array.from(layout.flatMap((s) => Array.from(want.slice(s.offset, s.offset + s.n)))))).toBeLessThan(1e-5);
      for (const [j, s] of layout.entries()) expect(Array.from(got.slice(s.offset, s.offset + s.n))).toEqual(Array.from(await g.read(single[k]![j]!)));
    }
    for (const b of [gp, gm, gv, clip, ...single.flat()]) g.release(b);
  });

  it('sgdSegments: the bits of sgdStep per parameter', async () => {
    const g = gpu();
    const random = rng(6);
    const [p0, grad] = [arena(random), arena(random)];
    const segments = layout.map((s, k) => ({ ...s, lr: [0.1, 0.02, 0.3][k]! }));
    const [gp, gg, clip] = [g.upload(p0), g.upload(grad), g.upload(new Float32Array([0.25, 4]))];
    const singles = cut(p0).map((x) => g.upload(x));
    const gradParts = cut(grad).map((x) => g.upload(x));
    sgdSegments(g, { param: gp, grad: gg, clip, segments, weightDecay: 0.01 });
    segments.forEach((s, k) => sgdStep(g, { param: singles[k]!, grad: gradParts[k]!, clip, n: s.n, lr: s.lr, weightDecay: 0.01 }));
    const p = Float64Array.from(p0);
    sgdSegmentsReference(p, grad, segments, { weightDecay: 0.01, clip: 0.25 });
    const got = await g.read(gp);
    expectGapsNaN(got);
    for (const [k, s] of layout.entries()) {
      expect(Array.from(got.slice(s.offset, s.offset + s.n))).toEqual(Array.from(await g.read(singles[k]!)));
      expect(relativeError(got.slice(s.offset, s.offset + s.n), p.slice(s.offset, s.offset + s.n))).toBeLessThan(1e-6);
    }
    for (const b of [gp, gg, clip, ...singles, ...gradParts]) g.release(b);
  });

  it('foldClip: the updates compute the clip factor themselves, with the bits of clipFactor then the update, one dispatch fewer', async () => {
    const g = gpu();
    const random = rng(7);
    const h = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
    const segments = layout.map((s, k) => ({ ...s, lr: [1e-2, 3e-3, 5e-2][k]!, step: [1, 4, 2][k]! }));
    const [p0, m0, v0] = [arena(random), arena(random), arena(random).map(Math.abs)];
    // Two copies of the state: composed (clipFactor, then the update reading clip) and folded.
    const copy = () => ({ p: g.upload(p0), m: g.upload(m0), v: g.upload(v0), sgd: g.upload(p0), clip: g.upload(new Float32Array([Number.NaN, Number.NaN])) });
    const [composed, folded] = [copy(), copy()];
    const partials = g.alloc(4 * layout.length);
    // Large gradients (clipped, factor < 1) in rounds 0 and 2, small ones (factor 1) in round 1.
    for (const [round, scale] of [100, 1e-3, 30].entries()) {
      const grad = arena(random).map((x) => x * scale);
      const gg = g.upload(grad);
      sumSquaresSegments(g, { grad: gg, partials, segments });
      const source = { partials, count: layout.length, maxNorm: 1 };
      const stepped = segments.map((s) => ({ ...s, step: s.step + round }));
      let before = g.stats.dispatches;
      clipFactor(g, { ...source, clip: composed.clip });
      adamwSegments(g, { param: composed.p, grad: gg, m: composed.m, v: composed.v, clip: composed.clip, ...h, segments: stepped });
      sgdSegments(g, { param: composed.sgd, grad: gg, clip: composed.clip, segments: stepped, weightDecay: 0.01 });
      expect(g.stats.dispatches - before).toBe(3);
      before = g.stats.dispatches;
      adamwSegments(g, { param: folded.p, grad: gg, m: folded.m, v: folded.v, clip: folded.clip, foldClip: source, ...h, segments: stepped });
      sgdSegments(g, { param: folded.sgd, grad: gg, clip: folded.clip, foldClip: source, segments: stepped, weightDecay: 0.01 });
      expect(g.stats.dispatches - before).toBe(2);
      const [factor] = await g.read(folded.clip);
      if (round === 1) expect(factor).toBe(1);
      else expect(factor).toBeLessThan(1);
      expect(Array.from(await g.read(folded.clip))).toEqual(Array.from(await g.read(composed.clip)));
      g.release(gg);
    }
    for (const key of ['p', 'm', 'v', 'sgd'] as const) {
      const got = await g.read(folded[key]);
      expectGapsNaN(got);
      expect(Array.from(got), key).toEqual(Array.from(await g.read(composed[key])));
    }
    for (const b of [partials, ...[composed, folded].flatMap((x) => Object.values(x))]) g.release(b);
    expect(() => sgdSegments(g, { param: partials, grad: partials, clip: partials, foldClip: { partials, count: 1, maxNorm: 0 }, segments, weightDecay: 0 })).toThrow(/maxNorm must be positive, got 0/);
  });
});

// Arenas and parameters larger than a binding of 64 KiB (16,384 floats): the
// launchers bind them chunk by chunk. Segments of 20,000 and 50,001 floats
// span chunk boundaries, and so does one of 300 floats (16,352 … 16,651);
// the rest are small. Each computation runs on a Gpu with the lowered limit
// and on one with the default limit: the same bits, and float64's values.
describe('optimizer kernels over buffers larger than a binding', () => {
  const LIMIT = 65_536;
  const chunked = useGpu({ maxStorageBindingBytes: LIMIT });
  const whole = useGpu();
  const layout = [{ offset: 3, n: 1 }, { offset: 64, n: 300 }, { offset: 700, n: 15_650 }, { offset: 16_352, n: 300 }, { offset: 16_656, n: 20_000 }, { offset: 36_672, n: 50_001 }, { offset: 86_688, n: 517 }];
  const arenaSize = 87_300;
  const inSegment = new Uint8Array(arenaSize);
  for (const s of layout) inSegment.fill(1, s.offset, s.offset + s.n);
  const arena = (random: () => number) => randomArray(arenaSize, random).map((x, i) => (inSegment[i] ? x : Number.NaN));
  const inside = (values: ArrayLike<number>) => Float64Array.from(Array.from(values).filter((_, i) => inSegment[i]));

  /** Runs `compute` on both Gpus; returns the chunked results, after checking they equal the unchunked ones bit for bit, and the dispatches of the chunked run. */
  async function onBoth(compute: (g: Gpu) => Promise<Float32Array[]>): Promise<{ got: Float32Array[]; dispatches: number }> {
    const g = chunked();
    const before = g.stats.dispatches;
    const got = await compute(g);
    const dispatches = g.stats.dispatches - before;
    const want = await compute(whole());
    expect(got.length).toBe(want.length);
    got.forEach((x, k) => expect(Array.from(x)).toEqual(Array.from(want[k]!)));
    return { got, dispatches };
  }

  it('sumSquaresSegments and sumSquares: partials of the unchunked launch, bit for bit', async () => {
    const grad = arena(rng(31));
    const slots = [6, 0, 5, 1, 4, 2, 3];
    const big = grad.slice(36_672, 36_672 + 50_001);
    const { got, dispatches } = await onBoth(async (g) => {
      const [gg, gb] = [g.upload(grad), g.upload(big)];
      const partials = g.upload(new Float32Array(8).fill(Number.NaN));
      sumSquaresSegments(g, { grad: gg, partials, segments: layout.map((s, k) => ({ ...s, slot: slots[k]! })) });
      sumSquares(g, { grad: gb, partials, n: big.length, slot: 7 });
      const out = await g.read(partials);
      for (const b of [gg, gb, partials]) g.release(b);
      return [out];
    });
    // 6 chunks of the arena, 4 of the single parameter.
    expect(dispatches).toBe(10);
    const want = sumSquaresSegmentsReference(grad, layout);
    layout.forEach((_, k) => expect(Math.abs(got[0]![slots[k]!]! - want[k]!) / want[k]!).toBeLessThan(1e-6));
    // The single parameter's partial is its segment's partial.
    expect(got[0]![7]).toBe(got[0]![2]);
  });

  it('adamwSegments and adamwStep: the unchunked bits, float64 values, gaps untouched', async () => {
    const random = rng(32);
    const h = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
    const [p0, m0, v0, grad] = [arena(random), arena(random), arena(random).map(Math.abs), arena(random)];
    const segments = layout.map((s, k) => ({ ...s, lr: 1e-2 * (k + 1), step: k + 1 }));
    const cut = (x: Float32Array) => x.slice(16_656, 16_656 + 20_000);
    const { got, dispatches } = await onBoth(async (g) => {
      const [gp, gm, gv, gg] = [g.upload(p0), g.upload(m0), g.upload(v0), g.upload(grad)];
      const single = [g.upload(cut(p0)), g.upload(cut(grad)), g.upload(cut(m0)), g.upload(cut(v0))];
      const clip = g.upload(new Float32Array([0.5, 2]));
      adamwSegments(g, { param: gp, grad: gg, m: gm, v: gv, clip, ...h, segments });
      adamwStep(g, { param: single[0]!, grad: single[1]!, m: single[2]!, v: single[3]!, clip, n: 20_000, lr: 0.05, step: 5, ...h });
      const out = [await g.read(gp), await g.read(gm), await g.read(gv), await g.read(single[0]!)];
      for (const b of [gp, gm, gv, gg, clip, ...single]) g.release(b);
      return out;
    });
    expect(dispatches).toBe(6 + 2);
    const [p, m, v] = [Float64Array.from(p0), Float64Array.from(m0), Float64Array.from(v0)];
    adamwSegmentsReference(p, grad, m, v, segments, { ...h, clip: 0.5 });
    [p, m, v].forEach((want, k) => {
      expect(got[k]!.filter((_, i) => !inSegment[i]).every(Number.isNaN)).toBe(true);
      expect(relativeError(inside(got[k]!), inside(want))).toBeLessThan(1e-5);
    });
    // adamwStep on a copy of segment 4 with its lr and step: its bits.
    expect(Array.from(got[3]!)).toEqual(Array.from(cut(got[0]!)));
  });

  it('foldClip over chunked arenas: every chunk\'s launch computes the factor, with the bits of clipFactor then the update', async () => {
    const random = rng(34);
    const h = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
    const [p0, m0, v0, grad] = [arena(random), arena(random), arena(random).map(Math.abs), arena(random).map((x) => 10 * x)];
    const segments = layout.map((s, k) => ({ ...s, lr: 1e-2 * (k + 1), step: k + 1 }));
    /** AdamW then SGD on copies of the arenas, the factor folded or from clipFactor; the results and the clip buffer. */
    const update = async (g: Gpu, fold: boolean) => {
      const [gp, gm, gv, gs, gg] = [g.upload(p0), g.upload(m0), g.upload(v0), g.upload(p0), g.upload(grad)];
      const [partials, clip] = [g.alloc(4 * layout.length), g.upload(new Float32Array([Number.NaN, Number.NaN]))];
      sumSquaresSegments(g, { grad: gg, partials, segments });
      const source = { partials, count: layout.length, maxNorm: 1 };
      if (!fold) clipFactor(g, { ...source, clip });
      const foldClip = fold ? { foldClip: source } : {};
      adamwSegments(g, { param: gp, grad: gg, m: gm, v: gv, clip, ...foldClip, ...h, segments });
      sgdSegments(g, { param: gs, grad: gg, clip, ...foldClip, segments, weightDecay: 0.01 });
      const out = [await g.read(gp), await g.read(gm), await g.read(gv), await g.read(gs), await g.read(clip)];
      for (const b of [gp, gm, gv, gs, gg, partials, clip]) g.release(b);
      return out;
    };
    const { got, dispatches } = await onBoth((g) => update(g, true));
    // 6 chunks of the arena: sums, AdamW and SGD.
    expect(dispatches).toBe(3 * 6);
    expect(got[4]![0]).toBeLessThan(1);
    const want = await update(whole(), false);
    got.forEach((x, k) => expect(Array.from(x), `output ${k}`).toEqual(Array.from(want[k]!)));
  });

  it('sgdSegments and sgdStep: the unchunked bits and float64 values', async () => {
    const random = rng(33);
    const [p0, grad] = [arena(random), arena(random)];
    const segments = layout.map((s, k) => ({ ...s, lr: 0.1 / (k + 1) }));
    const cut = (x: Float32Array) => x.slice(36_672, 36_672 + 50_001);
    const { got, dispatches } = await onBoth(async (g) => {
      const [gp, gg, clip] = [g.upload(p0), g.upload(grad), g.upload(new Float32Array([0.25, 4]))];
      const [sp, sg] = [g.upload(cut(p0)), g.upload(cut(grad))];
      sgdSegments(g, { param: gp, grad: gg, clip, segments, weightDecay: 0.01 });
      sgdStep(g, { param: sp, grad: sg, clip, n: 50_001, lr: 0.1 / 6, weightDecay: 0.01 });
      const out = [await g.read(gp), await g.read(sp)];
      for (const b of [gp, gg, clip, sp, sg]) g.release(b);
      return out;
    });
    expect(dispatches).toBe(6 + 4);
    const p = Float64Array.from(p0);
    sgdSegmentsReference(p, grad, segments, { weightDecay: 0.01, clip: 0.25 });
    expect(got[0]!.filter((_, i) => !inSegment[i]).every(Number.isNaN)).toBe(true);
    expect(relativeError(inside(got[0]!), inside(p))).toBeLessThan(1e-6);
    expect(Array.from(got[1]!)).toEqual(Array.from(cut(got[0]!)));
  });
});
