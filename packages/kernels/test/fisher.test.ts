import { describe, expect, it } from 'vitest';
import { fisherAccumulate, segmentTraces, type Segment } from '../src/index.js';
import { fisherAccumulateReference, segmentTracesReference } from '../src/reference/index.js';
import { firstNonFinite, poisoned, randomArray, rng, useGpu } from './helpers.js';

/** Unit roundoff of fp32. */
const U = 2 ** -24;
const THREADS = 256;

describe('fisher kernels', () => {
  const gpu = useGpu();

  it('accumulates scale·g² elementwise within 3 roundings', async () => {
    const g = gpu();
    const random = rng(5);
    for (const n of [1, 7, 255, 256, 257, 5003]) {
      const fisher = randomArray(n, random).map(Math.abs);
      const grad = randomArray(n, random);
      const scale = 0.37;
      const gf = g.upload(fisher);
      const gg = g.upload(grad);
      fisherAccumulate(g, { fisher: gf, grad: gg, n, scale });
      fisherAccumulate(g, { fisher: gf, grad: gg, n, scale });
      const got = await g.read(gf);
      const want = fisherAccumulateReference(fisherAccumulateReference(fisher, grad, scale), grad, scale);
      for (let i = 0; i < n; i++) {
        // Two updates of (multiply, multiply, add) each: at most 6 roundings.
        expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(6 * U * want[i]!);
      }
      g.release(gf);
      g.release(gg);
    }
  });

  it('accumulates each tensor at its offset of one flat buffer, leaving the rest untouched', async () => {
    const g = gpu();
    const random = rng(6);
    // Three tensors packed back to back with a gap, sizes not multiples of the workgroup.
    const tensors = [{ offset: 0, n: 300 }, { offset: 300, n: 1 }, { offset: 305, n: 517 }];
    const total = 830;
    const fisher = randomArray(total, random).map(Math.abs);
    const grads = tensors.map(({ n }) => randomArray(n, random));
    const gf = g.upload(fisher);
    const gg = grads.map((x) => g.upload(x));
    tensors.forEach(({ offset, n }, k) => fisherAccumulate(g, { fisher: gf, grad: gg[k]!, n, scale: 0.25, offset }));
    const got = await g.read(gf);
    let want: Float64Array = Float64Array.from(fisher);
    tensors.forEach(({ offset }, k) => { want = fisherAccumulateReference(want, grads[k]!, 0.25, offset); });
    for (let i = 0; i < total; i++) {
      const inside = tensors.some(({ offset, n }) => i >= offset && i < offset + n);
      // Outside every tensor (the gap, the tail) the buffer is bitwise unchanged.
      if (!inside) expect(got[i]).toBe(fisher[i]);
      else expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(3 * U * want[i]!);
    }
    // A tensor that would run past the buffer is refused at the launch site.
    expect(() => fisherAccumulate(g, { fisher: gf, grad: gg[2]!, n: 517, scale: 1, offset: 400 })).toThrow(/binding 'fisher' holds 3320 bytes; this shape needs 3668/);
    g.release(gf);
    for (const b of gg) g.release(b);
  });

  it('computes per-segment traces within the tree-reduction bound of the float64 sum', async () => {
    const g = gpu();
    const random = rng(8);
    const n = 70_001;
    const values = randomArray(n, random).map(Math.abs);
    const segments: Segment[] = [
      { offset: 0, length: 1 },
      { offset: 1, length: 255 },
      { offset: 256, length: 257 },
      { offset: 600, length: 50_000 },
      { offset: 50_600, length: 19_401 },
      { offset: 3, length: 0 },
      { offset: 0, length: n },
    ];
    const gv = g.upload(values);
    const gt = poisoned(g, segments.length);
    segmentTraces(g, { values: gv, traces: gt, segments });
    const got = await g.read(gt);
    expect(firstNonFinite(got)).toBe(-1);
    // The float64 sum of the very fp32 values the GPU summed.
    const want = segmentTracesReference(values, segments);
    segments.forEach((s, i) => {
      // Non-negative terms: error ≤ (sequential adds + tree depth) · u · sum.
      const depth = Math.ceil(s.length / THREADS) + Math.log2(THREADS);
      expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(depth * U * want[i]! + (s.length === 0 ? 0 : Number.MIN_VALUE));
    });
    expect(got[5]).toBe(0);
    g.release(gv);
    g.release(gt);
  });

  it('gives bitwise identical traces on repeated runs', async () => {
    const g = gpu();
    const random = rng(21);
    const n = 40_000;
    const gv = g.upload(randomArray(n, random).map(Math.abs));
    const segments = [{ offset: 0, length: 12_345 }, { offset: 12_345, length: n - 12_345 }];
    const runs: Float32Array[] = [];
    for (let i = 0; i < 3; i++) {
      const gt = poisoned(g, 2);
      segmentTraces(g, { values: gv, traces: gt, segments });
      runs.push(await g.read(gt));
      g.release(gt);
    }
    expect([...runs[1]!]).toEqual([...runs[0]!]);
    expect([...runs[2]!]).toEqual([...runs[0]!]);
    g.release(gv);
  });
});
