// Fused ops against the chains of ops they replace: the same forward values
// and the same gradients for every input, on the same GPU.
import { describe, expect, it } from 'vitest';
import { columnSums } from '@thaw/kernels';
import { add, dropout, gelu, geluTanh, layerNorm, linear, relu, residualLayerNorm, swish, tanh, type Activation, type Graph, type Tensor } from '../src/index.js';
import { randomInput, rng, useGraph } from './helpers.js';

/** Runs `f` on fresh trainable parameters, seeds backward with R; returns the output and every gradient. */
async function outputAndGradients(g: Graph, values: Float64Array[], shapes: number[][], f: (xs: Tensor[]) => Tensor, R: Float32Array): Promise<Float32Array[]> {
  const params = values.map((v, i) => g.parameter(Float32Array.from(v), shapes[i]!, `p${i}`));
  try {
    const out = g.scope(() => f(params));
    const seed = g.tensor(R, out.shape, 'R');
    const result = [await out.read()];
    g.backward(out, seed);
    out.dispose();
    seed.dispose();
    for (const p of params) result.push(await p.grad!.read());
    return result;
  } finally {
    g.zeroGrad(params);
    for (const p of params) p.dispose();
  }
}

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('fused and unfused paths agree', () => {
  const graph = useGraph();

  for (const [rows, D] of [[1, 7], [5, 128], [129, 300]] as const) {
    for (const p of [0, 0.1]) {
      it(`residualLayerNorm ${rows}×${D}, dropout ${p}: the bits of layerNorm(add(dropout(y), r))`, async () => {
        const g = graph();
        const r = rng(rows * D + 1);
        const values = [randomInput(rows * D, r, 2), randomInput(rows * D, r), randomInput(D, r), randomInput(D, r)];
        const shapes = [[rows, D], [rows, D], [D], [D]];
        const R = Float32Array.from(randomInput(rows * D, r));
        const random = { seed: 1234, stream: 7 };
        const fused = await outputAndGradients(g, values, shapes, ([y, res, gm, bt]) => residualLayerNorm(y!, res!, gm!, bt!, 1e-5, { dropout: p, random }), R);
        const unfused = await outputAndGradients(g, values, shapes, ([y, res, gm, bt]) => layerNorm(add(dropout(y!, p, random), res!), gm!, bt!, 1e-5), R);
        ['output', 'dy', 'dr', 'dγ', 'dβ'].forEach((name, i) => expect(bits(fused[i]!).equals(bits(unfused[i]!)), name).toBe(true));
      });
    }
    it(`layerNorm ${rows}×${D} with dropout in the kernel: the bits of dropout(layerNorm(x))`, async () => {
      const g = graph();
      const r = rng(rows * D + 2);
      const values = [randomInput(rows * D, r, 2), randomInput(D, r), randomInput(D, r)];
      const shapes = [[rows, D], [D], [D]];
      const R = Float32Array.from(randomInput(rows * D, r));
      const random = { seed: 99, stream: 3 };
      const fused = await outputAndGradients(g, values, shapes, ([x, gm, bt]) => layerNorm(x!, gm!, bt!, 1e-5, { dropout: 0.1, random }), R);
      const unfused = await outputAndGradients(g, values, shapes, ([x, gm, bt]) => dropout(layerNorm(x!, gm!, bt!, 1e-5), 0.1, random), R);
      ['output', 'dx', 'dγ', 'dβ'].forEach((name, i) => expect(bits(fused[i]!).equals(bits(unfused[i]!)), name).toBe(true));
    });
  }

  const SEPARATE: Record<Activation, (x: Tensor) => Tensor> = { gelu, geluTanh, relu, swish, tanh };
  for (const activation of Object.keys(SEPARATE) as Activation[]) {
    it(`linear with ${activation} in the epilogue: the bits of ${activation}(linear(x))`, async () => {
      const g = graph();
      for (const [rows, inF, outF] of [[1, 5, 7], [129, 32, 300]] as const) {
        const r = rng(rows + outF + activation.length);
        const values = [randomInput(rows * inF, r, 0.5), randomInput(outF * inF, r), randomInput(outF, r)];
        const shapes = [[rows, inF], [outF, inF], [outF]];
        const R = Float32Array.from(randomInput(rows * outF, r));
        const fused = await outputAndGradients(g, values, shapes, ([x, w, b]) => linear(x!, w!, b!, { activation }), R);
        const unfused = await outputAndGradients(g, values, shapes, ([x, w, b]) => SEPARATE[activation](linear(x!, w!, b!)), R);
        ['output', 'dx', 'dW', 'db'].forEach((name, i) => expect(bits(fused[i]!).equals(bits(unfused[i]!)), `${rows}×${inF}→${outF} ${name}`).toBe(true));
      }
    });
  }

  // db = Σ_rows dz comes from dW's matmul (its row sums of dzᵀ) when W
  // trains; a frozen W keeps the columnSums pass. Both must give the same bits.
  it('linear with trainable W and b: db in the dW matmul, one dispatch fewer than a columnSums pass, the bits of columnSums', async () => {
    const g = graph();
    for (const [rows, inF, outF, activation] of [[1, 5, 7, undefined], [37, 19, 53, undefined], [129, 32, 300, 'gelu']] as const) {
      const label = `${rows}×${inF}→${outF}${activation ? ` ${activation}` : ''}`;
      const r = rng(rows * inF + outF);
      const [x, w, b] = [randomInput(rows * inF, r), randomInput(outF * inF, r), randomInput(outF, r)].map((v) => Float32Array.from(v));
      const R = Float32Array.from(randomInput(rows * outF, r));
      const run = async (weightTrainable: boolean) => {
        const params = [g.parameter(x!, [rows, inF], 'x'), g.parameter(w!, [outF, inF], 'w', weightTrainable), g.parameter(b!, [outF], 'b')];
        const out = g.scope(() => linear(params[0]!, params[1]!, params[2]!, activation ? { activation } : {}));
        const seed = g.tensor(R, out.shape, 'R');
        const kernels: string[] = [];
        const record = g.gpu.record.bind(g.gpu);
        g.gpu.record = (kernel, ...rest) => {
          kernels.push(kernel);
          record(kernel, ...rest);
        };
        try {
          g.backward(out, seed);
        } finally {
          g.gpu.record = record;
        }
        // Without an activation dz is the seed: columnSums over it, directly.
        const direct = g.gpu.alloc(4 * outF, 'test.columnSums');
        columnSums(g.gpu, { x: seed.buffer, out: direct, rows, cols: outF });
        const db = await params[2]!.grad!.read();
        const columns = await g.gpu.read(direct);
        g.gpu.release(direct);
        out.dispose();
        seed.dispose();
        g.zeroGrad(params);
        for (const p of params) p.dispose();
        return { kernels, db, columns };
      };
      const trained = await run(true);
      const frozen = await run(false);
      const matmuls = (kernels: string[]) => kernels.filter((k) => k.startsWith('matmul')).length;
      const sums = (kernels: string[]) => kernels.filter((k) => k.startsWith('reduce.columnSums')).length;
      // dx and dW (with db) against dx, dW and columnSums before; act' inside both matmuls (aGrad), no pass of its own.
      expect([matmuls(trained.kernels), sums(trained.kernels)], label).toEqual([2, 0]);
      expect(trained.kernels.length, label).toBe(2);
      // A frozen W: dx's matmul and the columnSums pass, over dz written by act''s pass when there is one.
      expect([matmuls(frozen.kernels), sums(frozen.kernels)], label).toEqual([1, 1]);
      expect(frozen.kernels.length, label).toBe(activation ? 3 : 2);
      expect(bits(trained.db).equals(bits(frozen.db)), `${label}: db against the columnSums path`).toBe(true);
      if (!activation) expect(bits(trained.db).equals(bits(trained.columns)), `${label}: db against columnSums over dy`).toBe(true);
    }
  });

  it('residualLayerNorm is bitwise deterministic and saves nothing without a gradient to compute', async () => {
    const g = graph();
    const [rows, D] = [129, 300];
    const r = rng(5);
    const values = [randomInput(rows * D, r, 2), randomInput(rows * D, r), randomInput(D, r), randomInput(D, r)];
    const shapes = [[rows, D], [rows, D], [D], [D]];
    const R = Float32Array.from(randomInput(rows * D, r));
    const run = () => outputAndGradients(g, values, shapes, ([y, res, gm, bt]) => residualLayerNorm(y!, res!, gm!, bt!, 1e-5, { dropout: 0.1, random: { seed: 1, stream: 2 } }), R);
    const [first, second] = [await run(), await run()];
    first.forEach((v, i) => expect(bits(v).equals(bits(second[i]!))).toBe(true));
    // Under noGrad the forward recomputes s instead of saving it: same output bits.
    const params = values.map((v, i) => g.parameter(Float32Array.from(v), shapes[i]!, `q${i}`));
    const live = g.gpu.pool.snapshot().liveBuffers;
    const out = g.noGrad(() => g.scope(() => residualLayerNorm(params[0]!, params[1]!, params[2]!, params[3]!, 1e-5, { dropout: 0.1, random: { seed: 1, stream: 2 } })));
    expect(g.gpu.pool.snapshot().liveBuffers).toBe(live + 1);
    expect(bits(await out.read()).equals(bits(first[0]!))).toBe(true);
    out.dispose();
    for (const p of params) p.dispose();
  });
});
