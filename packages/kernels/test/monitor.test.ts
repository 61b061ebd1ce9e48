import { describe, expect, it } from 'vitest';
import { monitorInitialState, monitorRecord, readMonitorState, type GpuBuffer, type MonitorReadout } from '../src/index.js';
import { monitorReference, type MonitorStep } from '../src/reference/index.js';
import { rng, useGpu } from './helpers.js';

/** Bits of an f32, so that NaN and −0 compare exactly. */
const bits = (values: ArrayLike<number>) => [...new Uint32Array(Float32Array.from(values).buffer)];

describe('monitor kernel', () => {
  const gpu = useGpu();

  /** Records `steps` on the GPU (the norm as word 1 of a clip-like buffer) into a fresh state of `slots`; reads `count` slots. */
  async function run(steps: readonly MonitorStep[], slots: number, count = slots): Promise<MonitorReadout> {
    const g = gpu();
    const state = g.upload(monitorInitialState(slots));
    const buffers: GpuBuffer[] = [state];
    for (const s of steps) {
      const loss = g.upload(new Float32Array([s.loss, 12345]));
      buffers.push(loss);
      let norm: { buffer: GpuBuffer; index: number } | undefined;
      if (s.norm !== undefined) {
        norm = { buffer: g.upload(new Float32Array([0.5, s.norm])), index: 1 };
        buffers.push(norm.buffer);
      }
      monitorRecord(g, { state, slots, loss, ...(norm ? { norm } : {}), step: s.step, slot: s.slot });
    }
    const readout = await readMonitorState(g, state, count);
    for (const b of buffers) g.release(b);
    return readout;
  }

  function expectSame(got: MonitorReadout, want: MonitorReadout): void {
    expect(bits(got.losses)).toEqual(bits(want.losses));
    expect(got.firstBad === undefined).toBe(want.firstBad === undefined);
    if (got.firstBad && want.firstBad) {
      const { lossValue, normValue, ...rest } = got.firstBad;
      const { lossValue: wantLoss, normValue: wantNorm, ...wantRest } = want.firstBad;
      expect(rest).toEqual(wantRest);
      expect(bits([lossValue, normValue])).toEqual(bits([wantLoss, wantNorm]));
    }
  }

  it('keeps every finite loss bit for bit, extremes included, and flags nothing', async () => {
    const random = rng(3);
    const edge = [3.4028234663852886e38, -3.4028234663852886e38, -0, 1e-45, 1.1754943508222875e-38, 0];
    const losses = [...edge, ...Array.from({ length: 7 }, () => (random() - 0.5) * 20)];
    const steps = losses.map((loss, i) => ({ step: 100 + i, slot: i, loss, norm: random() * 3 }));
    // 16 slots, 13 written: the last three stay NaN (their poison), so an unwritten slot cannot pass.
    const got = await run(steps, 16);
    expectSame(got, monitorReference(steps, 16));
    expect(got.firstBad).toBeUndefined();
    expect(bits(got.losses.subarray(0, 13))).toEqual(bits(losses));
    expect([...got.losses.subarray(13)].every(Number.isNaN)).toBe(true);
  });

  it('records the first step whose loss is not finite, and keeps it through later bad steps', async () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const steps: MonitorStep[] = [
        { step: 40, slot: 0, loss: 2.5, norm: 1 },
        { step: 41, slot: 1, loss: 2.25, norm: 0.75 },
        { step: 42, slot: 2, loss: bad, norm: Number.NaN },
        { step: 43, slot: 3, loss: 1, norm: Number.POSITIVE_INFINITY },
        { step: 44, slot: 4, loss: Number.NaN, norm: 1 },
      ];
      const got = await run(steps, 5);
      expectSame(got, monitorReference(steps, 5));
      expect(got.firstBad).toMatchObject({ step: 42, loss: true, norm: true });
      expect(bits([got.firstBad!.lossValue])).toEqual(bits([bad]));
    }
  });

  it('flags a non-finite gradient norm under a finite loss, and ignores the norm when it is not checked', async () => {
    const checked: MonitorStep[] = [
      { step: 0, slot: 0, loss: 1, norm: 2 },
      { step: 1, slot: 1, loss: 0.9, norm: Number.POSITIVE_INFINITY },
      { step: 2, slot: 2, loss: 0.8, norm: 1 },
    ];
    const got = await run(checked, 3);
    expectSame(got, monitorReference(checked, 3));
    expect(got.firstBad).toEqual({ step: 1, loss: false, norm: true, lossValue: Math.fround(0.9), normValue: Number.POSITIVE_INFINITY });
    // No norm bound: only the loss counts (the optimizer's [1, NaN] when it does not clip must not trip it).
    const unchecked = checked.map(({ norm: _norm, ...s }) => s);
    const plain = await run(unchecked, 3);
    expectSame(plain, monitorReference(unchecked, 3));
    expect(plain.firstBad).toBeUndefined();
  });

  it('reuses the ring: a later step overwrites its slot, and a read of fewer slots returns those', async () => {
    const steps: MonitorStep[] = Array.from({ length: 7 }, (_, i) => ({ step: i, slot: i % 3, loss: 1 + i / 8 }));
    const got = await run(steps, 3, 2);
    expectSame(got, monitorReference(steps, 2));
    expect([...got.losses]).toEqual([1 + 6 / 8, 1 + 4 / 8]);
  });

  it('refuses a slot outside the ring at the launch site', () => {
    const g = gpu();
    const state = g.upload(monitorInitialState(2));
    const loss = g.upload(new Float32Array([1]));
    expect(() => monitorRecord(g, { state, slots: 2, loss, step: 0, slot: 2 })).toThrow(/slot 2 is outside the ring's 2 slots/);
    expect(() => monitorRecord(g, { state, slots: 4, loss, step: 0, slot: 3 })).toThrow(/binding 'state' holds 24 bytes; this shape needs 32/);
    g.release(state);
    g.release(loss);
  });
});
