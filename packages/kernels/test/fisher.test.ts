import { describe, expect, it } from 'vitest';
import { fisherAccumulate, segmentTraces, type Segment } from '../src/index.js';
import { fisherAccumulateReference, segmentTracesReference } from '../src/reference/index.js';
import type { Gpu } from '../src/index.js';
import { firstNonFinite, poisoned, randomArray, rng, useGpu } from './helpers.js';

/** Unit roundoff of fp32. */
const U = 2 ** -24;
const THREADS = 256;

/** Traced segments of a 70,001-value buffer: single values, lengths across 256, an empty one, and the whole buffer. */
const TRACE_N = 70_001;
const TRACE_SEGMENTS: Segment[] = [
  { offset: 0, length: 1 },
  { offset: 1, length: 255 },
  { offset: 256, length: 257 },
  { offset: 600, length: 50_000 },
  { offset: 50_600, length: 19_401 },
  { offset: 3, length: 0 },
  { offset: 0, length: TRACE_N },
];

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
    const n = TRACE_N;
    const values = randomArray(n, random).map(Math.abs);
    const segments = TRACE_SEGMENTS;
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

// A flat Fisher buffer, and gradients, larger than a binding of 64 KiB
// (16,384 floats): the launchers bind them chunk by chunk. Each computation
// runs on a Gpu with the lowered limit and on one with the default limit:
// the same bits, and float64's values.
describe('fisher kernels over buffers larger than a binding', () => {
  const chunked = useGpu({ maxStorageBindingBytes: 65_536 });
  const whole = useGpu();

  async function onBoth(compute: (g: Gpu) => Promise<Float32Array>): Promise<{ got: Float32Array; dispatches: number }> {
    const g = chunked();
    const before = g.stats.dispatches;
    const got = await compute(g);
    const dispatches = g.stats.dispatches - before;
    expect(Array.from(got)).toEqual(Array.from(await compute(whole())));
    return { got, dispatches };
  }

  it('accumulates gradients of up to 50,001 floats at unaligned offsets, the rest untouched', async () => {
    const random = rng(41);
    // Offsets 305, 20,309, 70,311: not multiples of the 16-byte (or 256-byte) alignment.
    const tensors = [{ offset: 0, n: 300 }, { offset: 305, n: 20_000 }, { offset: 20_309, n: 50_001 }, { offset: 70_311, n: 16_894 }];
    const total = 87_210;
    const fisher = randomArray(total, random).map(Math.abs);
    const grads = tensors.map(({ n }) => randomArray(n, random));
    const { got, dispatches } = await onBoth(async (g) => {
      const gf = g.upload(fisher);
      const gg = grads.map((x) => g.upload(x));
      for (let round = 0; round < 2; round++) tensors.forEach(({ offset, n }, k) => fisherAccumulate(g, { fisher: gf, grad: gg[k]!, n, scale: 0.25, offset }));
      const out = await g.read(gf, total);
      for (const b of [gf, ...gg]) g.release(b);
      return out;
    });
    // Chunks of at most 16,380 floats at a 16-byte alignment, 16,320 at 256 (room for the alignment): 1 + 2 + 4 + 2 per round either way.
    expect(dispatches).toBe(18);
    let want: Float64Array = Float64Array.from(fisher);
    for (let round = 0; round < 2; round++) tensors.forEach(({ offset }, k) => { want = fisherAccumulateReference(want, grads[k]!, 0.25, offset); });
    for (let i = 0; i < total; i++) {
      if (tensors.some(({ offset, n }) => i >= offset && i < offset + n)) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(6 * U * want[i]!);
      else expect(got[i]).toBe(fisher[i]);
    }
  });

  it('traces segments that span chunks (overlapping ones too) with the bits of one binding', async () => {
    const random = rng(42);
    const n = TRACE_N;
    const values = randomArray(n, random).map(Math.abs);
    // Segment 6 spans every chunk while segments 3 and 4 span some: three lane banks live at once.
    const segments: Segment[] = [...TRACE_SEGMENTS, { offset: 16_380, length: 9 }];
    const { got, dispatches } = await onBoth(async (g) => {
      const gv = g.upload(values);
      const gt = poisoned(g, segments.length);
      segmentTraces(g, { values: gv, traces: gt, segments });
      const out = await g.read(gt);
      for (const b of [gv, gt]) g.release(b);
      return out;
    });
    expect(dispatches).toBe(5);
    expect(firstNonFinite(got)).toBe(-1);
    const want = segmentTracesReference(values, segments);
    segments.forEach((s, i) => {
      const depth = Math.ceil(s.length / THREADS) + Math.log2(THREADS);
      expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(depth * U * want[i]!);
    });
    expect(got[5]).toBe(0);
  });
});
