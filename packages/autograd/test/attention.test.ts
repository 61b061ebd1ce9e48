// The fused attention path (attention.wgsl) against the composed one (permutes, bmm, softmax,
// dropout): same outputs and gradients, the same probabilities dropped, the same bits run to
// run, and the composed path wherever the kernels do not run.
import { describe, expect, it } from 'vitest';
import { ATTENTION_MAX_HEAD_DIM, dropoutKeepMask } from '@thaw/kernels';
import { relativeError } from '@thaw/kernels/reference';
import { attention, bmm, dropout, multiHeadAttention, softmax, splitHeads, type Graph, type Tensor } from '../src/index.js';
import { randomInput, rng, useGraph } from './helpers.js';

/**
 * Fused against composed, both fp32 on the GPU, relative Frobenius error of the
 * output and of every gradient. Measured on lavapipe: at most 4.3e-7
 * (output) and 9.0e-7 (gradients) on these shapes; the bound leaves 10×.
 */
const PATH_TOLERANCE = 1e-5;

interface Setup {
  B: number;
  T: number;
  D: number;
  heads: number;
  p: number;
}

/** One multi-head attention forward and backward; returns the output and every gradient, and releases everything. */
async function runBlock(g: Graph, s: Setup, fused: boolean, seed: number): Promise<{ out: Float32Array; grads: Record<string, Float32Array>; dispatches: number }> {
  const { B, T, D, heads, p } = s;
  const r = rng(seed);
  const param = (n: number, shape: number[], name: string, scale = 0.5) => g.parameter(Float32Array.from(randomInput(n, r, scale)), shape, name);
  const x = param(B * T * D, [B, T, D], 'x', 1);
  const [wq, wk, wv] = [param(D * D, [D, D], 'wq'), param(D * D, [D, D], 'wk'), param(D * D, [D, D], 'wv')];
  const [bq, bk, bv] = [param(D, [D], 'bq', 0.1), param(D, [D], 'bk', 0.1), param(D, [D], 'bv', 0.1)];
  const dOut = Float32Array.from(randomInput(B * T * D, r));
  // Sequence b keeps T − 2b tokens (at least 1); with B ≥ 3 the last one is all padding.
  const maskData = Float32Array.from({ length: B * T }, (_, e) => {
    const [b, t] = [Math.floor(e / T), e % T];
    return B >= 3 && b === B - 1 ? 0 : t < Math.max(1, T - 2 * b) ? 1 : 0;
  });
  const params = { x, wq, wk, wv, bq, bk, bv };
  const before = g.gpu.stats.dispatches;
  let dispatches = 0;
  const out = g.scope(() => {
    const mask = g.tensor(maskData, [B, T], 'mask');
    const y = multiHeadAttention(x, { query: { weight: wq, bias: bq }, key: { weight: wk, bias: bk }, value: { weight: wv, bias: bv } }, {
      heads, mask, fused, ...(p ? { dropout: p, random: { seed: 3, stream: 14 } } : {}),
    });
    dispatches = g.gpu.stats.dispatches - before;
    const seedGrad = g.tensor(dOut, [B, T, D], 'dOut');
    g.backward(y, seedGrad);
    return y;
  });
  const result = { out: await out.read(), grads: {} as Record<string, Float32Array>, dispatches };
  out.dispose();
  for (const [name, t] of Object.entries(params)) result.grads[name] = await t.grad!.read();
  g.zeroGrad(Object.values(params));
  for (const t of Object.values(params)) t.dispose();
  return result;
}

describe('fused and composed attention', () => {
  const graph = useGraph();

  for (const s of [
    { B: 3, T: 9, D: 24, heads: 2, p: 0 },
    { B: 3, T: 9, D: 24, heads: 2, p: 0.2 },
    { B: 2, T: 33, D: 128, heads: 4, p: 0.1 },
    { B: 1, T: 5, D: 64, heads: 1, p: 0.1 },
  ]) {
    it(`agree: B=${s.B} T=${s.T} D=${s.D} heads=${s.heads}, padded, dropout ${s.p} (output and gradients within ${PATH_TOLERANCE})`, async () => {
      const g = graph();
      const fused = await runBlock(g, s, true, 41);
      const composed = await runBlock(g, s, false, 41);
      expect(relativeError(fused.out, composed.out)).toBeLessThan(PATH_TOLERANCE);
      // The key bias gets an exactly-zero gradient in exact arithmetic (shift invariance): both paths
      // give rounding noise, far below the query bias's gradient.
      for (const name of ['x', 'wq', 'wk', 'wv', 'bq', 'bv']) expect(relativeError(fused.grads[name]!, composed.grads[name]!), name).toBeLessThan(PATH_TOLERANCE);
      const largest = (x: Float32Array) => x.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
      expect(largest(fused.grads.bk!)).toBeLessThan(1e-4 * largest(fused.grads.bq!));
      expect(largest(composed.grads.bk!)).toBeLessThan(1e-4 * largest(composed.grads.bq!));
      // The attention core: 1 dispatch instead of 7, 8 with dropout (3 linears and their bias adds are common to both).
      expect(composed.dispatches - fused.dispatches).toBe(s.p ? 7 : 6);
    });
  }

  it('drop exactly the probabilities dropout.wgsl drops for the same seed and stream', async () => {
    const g = graph();
    // With v_j = e_j in every head (T ≤ d), the context row i of a head is the
    // dropped probability row: context[b, i, h·d + j] = P_ij · keep_ij / (1 − p).
    const [B, T, heads, d, p] = [2, 8, 2, 8, 0.5];
    const D = heads * d;
    const random = { seed: 9, stream: 77 };
    const r = rng(5);
    const mask = Float32Array.from({ length: B * T }, (_, e) => (e === B * T - 1 ? 0 : 1));
    const oneHot = Float32Array.from({ length: B * T * D }, (_, e) => ((e % D) % d === Math.floor(e / D) % T ? 1 : 0));
    const [fusedOut, composedP] = g.noGrad(() => g.scope(() => {
      const [q, k] = [0, 1].map(() => g.tensor(Float32Array.from(randomInput(B * T * D, r, 2)), [B, T, D])) as [Tensor, Tensor];
      const v = g.tensor(oneHot, [B, T, D]);
      const m = g.tensor(mask, [B, T]);
      const fusedContext = attention(q, k, v, { heads, mask: m, dropout: p, random });
      const probs = dropout(softmax(bmm(splitHeads(q, heads), splitHeads(k, heads), true), { scale: 1 / Math.sqrt(d), mask: m, rowsPerBatch: heads * T }), p, random);
      return [fusedContext, probs];
    }));
    const [context, probs] = [await fusedOut.read(), await composedP.read()];
    fusedOut.dispose();
    composedP.dispose();
    const keep = dropoutKeepMask(B * heads * T * T, p, random.seed, random.stream);
    let dropped = 0;
    for (let b = 0; b < B; b++) for (let h = 0; h < heads; h++) for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) {
      const e = ((b * heads + h) * T + i) * T + j;
      const fused = context[(b * T + i) * D + h * d + j]!;
      expect(fused === 0, `element ${e}`).toBe(probs[e] === 0);
      // Every unmasked key has P > 0, so zero means dropped (or masked).
      expect(fused === 0).toBe(!keep[e] || mask[b * T + j] === 0);
      expect(Math.abs(fused - probs[e]!)).toBeLessThan(1e-6);
      if (!keep[e]) dropped++;
    }
    expect(dropped).toBeGreaterThan(0);
  });

  it('give the same bits run to run', async () => {
    const g = graph();
    const s = { B: 3, T: 9, D: 24, heads: 2, p: 0.2 };
    const [first, second] = [await runBlock(g, s, true, 8), await runBlock(g, s, true, 8)];
    expect([...second.out]).toEqual([...first.out]);
    for (const name of Object.keys(first.grads)) expect([...second.grads[name]!], name).toEqual([...first.grads[name]!]);
  });

  it('fall back to the composed path where the kernels do not run (head dimension above the maximum)', async () => {
    const g = graph();
    const s = { B: 1, T: 3, D: 2 * (ATTENTION_MAX_HEAD_DIM + 4), heads: 2, p: 0 };
    const [fused, composed] = [await runBlock(g, s, true, 2), await runBlock(g, s, false, 2)];
    expect(fused.dispatches).toBe(composed.dispatches);
    expect([...fused.out]).toEqual([...composed.out]);
    // And a head dimension that is not a multiple of 4.
    const t = { B: 1, T: 3, D: 10, heads: 2, p: 0 };
    expect((await runBlock(g, t, true, 2)).dispatches).toBe((await runBlock(g, t, false, 2)).dispatches);
  });
});
