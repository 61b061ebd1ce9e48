// Fused multi-head attention (attention.wgsl): forward and backward against the float64 twin.
import { describe, expect, it } from 'vitest';
import { ATTENTION_CPU_FAST_HEAD_DIM, ATTENTION_MAX_HEAD_DIM, attentionBackward, attentionForward, attentionPreferred, type Gpu, type GpuBuffer } from '../src/index.js';
import { attentionBackwardReference, attentionForwardReference } from '../src/reference/index.js';
import { errorAgainst, firstNonFinite, poisoned, randomArray, rng, useGpu } from './helpers.js';

/**
 * fp32 kernels against float64, relative Frobenius error. Measured on
 * lavapipe over these shapes and B=2 T=64 D=128 heads=4: at most 3.3e-7
 * forward and 5.7e-7 for dq, dk, dv; the bounds leave about 5× margin.
 */
const FORWARD_TOLERANCE = 2e-6;
const BACKWARD_TOLERANCE = 3e-6;

type MaskKind = 'none' | 'padded' | 'one sequence fully masked';

interface Case {
  B: number;
  T: number;
  D: number;
  heads: number;
  mask: MaskKind;
  p: number;
}

function maskOf(kind: MaskKind, B: number, T: number): Float32Array | undefined {
  if (kind === 'none') return undefined;
  // Sequence b is padded after max(1, T − 2b − 1) tokens; with 'fully masked', sequence B − 1 has no token at all.
  return Float32Array.from({ length: B * T }, (_, e) => {
    const [b, t] = [Math.floor(e / T), e % T];
    if (kind === 'one sequence fully masked' && b === B - 1) return 0;
    return t < Math.max(1, T - 2 * b - 1) ? 1 : 0;
  });
}

interface Run {
  out: Float32Array;
  lse: Float32Array;
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
}

/** Uploads the inputs, runs forward and backward into NaN-poisoned outputs, reads everything back. */
async function run(g: Gpu, c: Case, inputs: { q: Float32Array; k: Float32Array; v: Float32Array; dOut: Float32Array; mask?: Float32Array }, seed: number, stream: number): Promise<Run> {
  const { B, T, D, heads } = c;
  const n = B * T * D;
  const buffers: GpuBuffer[] = [];
  const keep = <T extends GpuBuffer>(b: T): T => (buffers.push(b), b);
  const [q, k, v, dOut] = [inputs.q, inputs.k, inputs.v, inputs.dOut].map((x) => keep(g.upload(x)));
  const mask = inputs.mask ? keep(g.upload(inputs.mask)) : undefined;
  const [out, dq, dk, dv] = [0, 1, 2, 3].map(() => keep(poisoned(g, n)));
  const lse = keep(poisoned(g, B * heads * T));
  const shape = { B, T, D, heads, p: c.p, seed, stream, ...(mask ? { mask } : {}) };
  try {
    attentionForward(g, { ...shape, q: q!, k: k!, v: v!, out: out!, lse });
    attentionBackward(g, { ...shape, q: q!, k: k!, v: v!, out: out!, lse, dOut: dOut!, dq: dq!, dk: dk!, dv: dv! });
    return { out: await g.read(out!), lse: await g.read(lse), dq: await g.read(dq!), dk: await g.read(dk!), dv: await g.read(dv!) };
  } finally {
    for (const b of buffers) g.release(b);
  }
}

const cases: Case[] = [];
// T = 1, 7, 17 and 65 (not multiples of the workgroup) and 64, heads 1, 2, 4, head dims 4, 12, 24,
// 32, 40 and 64 (rows of 1, 3, 6, 8, 10 and 16 vec4: one chunk of 8 shared vec4, partly used or
// full, and two).
for (const [B, T, D, heads] of [[1, 1, 4, 1], [2, 7, 24, 2], [3, 7, 48, 4], [2, 65, 48, 2], [2, 64, 128, 4], [2, 17, 80, 2], [2, 9, 128, 2]] as const) {
  for (const mask of ['none', 'padded', 'one sequence fully masked'] as const) {
    for (const p of [0, 0.3]) {
      if (mask === 'one sequence fully masked' && B === 1) continue;
      cases.push({ B, T, D, heads, mask, p });
    }
  }
}

describe('attention kernels', () => {
  const gpu = useGpu();

  for (const c of cases) {
    it(`B=${c.B} T=${c.T} D=${c.D} heads=${c.heads}, mask ${c.mask}, dropout ${c.p}: forward and backward match the float64 twin`, async () => {
      const g = gpu();
      const random = rng(c.B * 1000 + c.T * 10 + c.heads + (c.p ? 7 : 0));
      const { B, T, D, heads } = c;
      const n = B * T * D;
      const [q, k, v, dOut] = [0, 1, 2, 3].map(() => randomArray(n, random).map((x) => 2 * x)) as [Float32Array, Float32Array, Float32Array, Float32Array];
      const mask = maskOf(c.mask, B, T);
      const [seed, stream] = [17, 3 + T];
      const got = await run(g, c, { q, k, v, dOut, ...(mask ? { mask } : {}) }, seed, stream);
      for (const [name, values] of Object.entries(got)) expect(firstNonFinite(values), `${name} has a value never written`).toBe(-1);

      const args = { B, T, D, heads, p: c.p, seed, stream, ...(mask ? { mask } : {}) };
      const want = attentionForwardReference(q, k, v, args);
      const grads = attentionBackwardReference(q, k, v, dOut, args);
      const errors = {
        out: errorAgainst(got.out, want.out),
        dq: errorAgainst(got.dq, grads.dq),
        dk: errorAgainst(got.dk, grads.dk),
        dv: errorAgainst(got.dv, grads.dv),
      };
      expect(errors.out).toBeLessThan(FORWARD_TOLERANCE);
      for (const name of ['dq', 'dk', 'dv'] as const) expect(errors[name], name).toBeLessThan(BACKWARD_TOLERANCE);
      // The saved log-sum-exp of every row that has a key.
      const d = D / heads;
      for (let row = 0; row < B * heads * T; row++) {
        const b = Math.floor(row / (heads * T));
        if (mask && mask.subarray(b * T, (b + 1) * T).every((m) => m === 0)) continue;
        expect(Math.abs(got.lse[row]! - want.lse[row]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want.lse[row]!)));
      }
      if (c.mask === 'one sequence fully masked') {
        // A sequence without a key: zeros forward and backward, not NaN (as softmax.wgsl).
        const last = (B - 1) * T * D;
        for (const values of [got.out, got.dq, got.dk, got.dv]) expect(values.subarray(last).every((x) => x === 0)).toBe(true);
      }
      if (mask) {
        // Padding keys get no gradient.
        for (let e = 0; e < B * T; e++) {
          if (mask[e]) continue;
          for (let col = 0; col < D; col++) {
            expect(got.dk[e * D + col]).toBe(0);
            expect(got.dv[e * D + col]).toBe(0);
          }
        }
      }
      expect(d).toBeLessThanOrEqual(ATTENTION_MAX_HEAD_DIM);
    });
  }

  it('two runs give the same bits (fixed loop order, no atomics)', async () => {
    const g = gpu();
    const random = rng(99);
    const c: Case = { B: 2, T: 33, D: 40, heads: 2, mask: 'padded', p: 0.1 };
    const n = c.B * c.T * c.D;
    const [q, k, v, dOut] = [0, 1, 2, 3].map(() => randomArray(n, random)) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const inputs = { q, k, v, dOut, mask: maskOf('padded', c.B, c.T)! };
    const [first, second] = [await run(g, c, inputs, 5, 6), await run(g, c, inputs, 5, 6)];
    for (const name of ['out', 'lse', 'dq', 'dk', 'dv'] as const) expect([...second[name]], name).toEqual([...first[name]]);
    // Another stream drops other probabilities.
    const other = await run(g, c, inputs, 5, 7);
    expect([...other.out]).not.toEqual([...first.out]);
  });

  it('is preferred where it is the faster path: on a CPU adapter up to head dimension 32', () => {
    const g = gpu();
    expect(attentionPreferred(g, 128, 4)).toBe(true);
    expect(attentionPreferred(g, 768, 12)).toBe(!g.adapter.isFallbackAdapter);
    expect(attentionPreferred(g, 4 * (ATTENTION_MAX_HEAD_DIM + 4), 4)).toBe(false);
    expect(ATTENTION_CPU_FAST_HEAD_DIM).toBeLessThanOrEqual(ATTENTION_MAX_HEAD_DIM);
  });

  it('refuses head dimensions above the maximum, and bad dropout rates', () => {
    const g = gpu();
    const buf = g.alloc(4 * 2 * 130);
    try {
      const shape = { B: 1, T: 1, D: 130, heads: 2, q: buf, k: buf, v: buf, out: buf, lse: buf };
      expect(() => attentionForward(g, shape)).toThrow(/head dimension 65 is above the fused kernel's maximum of 64/);
      expect(() => attentionForward(g, { ...shape, D: 8, p: 1 })).toThrow(/p must be in \[0, 1\)/);
      expect(() => attentionForward(g, { ...shape, D: 5 })).toThrow(/not divisible by 2 heads/);
      expect(() => attentionForward(g, { ...shape, D: 12 })).toThrow(/head dimension 6 is not a multiple of 4/);
    } finally {
      g.release(buf);
    }
  });
});
