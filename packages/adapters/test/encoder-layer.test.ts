// A full encoder layer (embeddings, attention, FFN, post-LN), forward and
// backward, against its float64 twin: forward directly, every parameter's
// gradient against central finite differences of the float64 forward.
import { describe, expect, it } from 'vitest';
import { add, dropout, layerNorm } from '@thaw/autograd';
import { Encoder, type AdapterSetup } from '../src/index.js';
import { encoderReference, finiteDifferenceError, tinyBatch, tinyConfig, useGraph } from './support/tiny.js';
import { uniform } from '../src/index.js';

describe('encoder layer end to end', () => {
  const graph = useGraph();

  it.each(['gelu', 'gelu_new'] as const)('forward and every parameter gradient match the float64 reference (hidden_act %s)', async (hiddenAct) => {
    const g = graph();
    const config = tinyConfig({ numHiddenLayers: 1, hiddenSize: 8, intermediateSize: 12, hiddenDropoutProb: 0, attentionProbsDropoutProb: 0, hiddenAct });
    const encoder = new Encoder(g, config, 3);
    // Non-trivial LayerNorm parameters, so their gradients are exercised too.
    const random = uniform(9);
    for (const [name, t] of encoder.params) {
      if (name.includes('LayerNorm') || name.endsWith('.bias')) {
        g.gpu.write(t.buffer, Float32Array.from({ length: t.size }, () => (name.endsWith('weight') ? 1 : 0) + (random() - 0.5) * 0.4));
      }
    }
    const [B, T] = [2, 5];
    const batch = tinyBatch(config, B, T, 4, 5);
    const R = Float64Array.from({ length: B * T * config.hiddenSize }, () => random() * 2 - 1);
    const params = new Map<string, Float64Array>();
    for (const [name, t] of encoder.params) params.set(name, Float64Array.from(await t.read()));

    const seed = g.tensor(Float32Array.from(R), [B, T, config.hiddenSize], 'R');
    const out = g.scope(() => {
      const h = encoder.forward({ ids: batch.ids, batch: B, sequence: T, attentionMask: batch.mask }, { train: false });
      g.backward(h, seed);
      return h;
    });
    const want = encoderReference(config, params, batch.ids, batch.mask, B, T);
    const got = await out.read();
    let num = 0;
    let den = 0;
    want.forEach((w, i) => {
      num += (got[i]! - w) ** 2;
      den += w * w;
    });
    expect(Math.sqrt(num / den)).toBeLessThan(1e-5);
    out.dispose();
    seed.dispose();

    const loss = () => encoderReference(config, params, batch.ids, batch.mask, B, T).reduce((s, v, i) => s + v * R[i]!, 0);
    for (const [name, t] of encoder.params) {
      const grad = await t.grad!.read();
      const values = params.get(name)!;
      // Up to 12 elements per parameter; for the embeddings, rows the batch uses.
      const used = name.includes('word_embeddings') ? [...new Set(batch.ids)].flatMap((id) => [id * config.hiddenSize, id * config.hiddenSize + 3])
        : name.includes('position_embeddings') ? [2 * config.hiddenSize, 4 * config.hiddenSize + 1] : Array.from({ length: Math.min(values.length, 12) }, (_, k) => Math.floor((k * values.length) / Math.min(values.length, 12)));
      const error = finiteDifferenceError(values, grad, used, loss);
      // The key bias has an exactly zero gradient (softmax is shift-invariant): compared absolutely.
      if (name.endsWith('attention.self.key.bias')) expect(Math.max(...used.map((i) => Math.abs(grad[i]!)))).toBeLessThan(1e-5);
      else expect(error, name).toBeLessThan(1e-4);
    }
    g.zeroGrad(encoder.params.values());
    encoder.dispose();
  });
});

describe('encoder fusions', () => {
  const graph = useGraph();

  it.each(['gelu', 'gelu_new'] as const)('training with dropout: the fused residual norms and FFN epilogue give the bits of the separate ops (hidden_act %s)', async (hiddenAct) => {
    const g = graph();
    const config = tinyConfig({ numHiddenLayers: 2, hiddenSize: 16, intermediateSize: 24, hiddenDropoutProb: 0.2, attentionProbsDropoutProb: 0.1, hiddenAct });
    const encoder = new Encoder(g, config, 4);
    const [B, T] = [2, 6];
    const batch = tinyBatch(config, B, T, 8, 5);
    const R = g.tensor(Float32Array.from({ length: B * T * config.hiddenSize }, (_, i) => Math.sin(i)), [B, T, config.hiddenSize], 'R');
    // The same steps as separate ops, what the encoder computed before the
    // fusions: dropout, add and layerNorm; an identity change of W1's output
    // (which sends the FFN down the unfused path: matmul, then the activation).
    const unfused: AdapterSetup = {
      residual: (_layer, _location, h, x, ln, d) => layerNorm(add(d?.dropout ? dropout(h, d.dropout, d.random!) : h, x), ln.weight, ln.bias, ln.eps),
      projection: (_layer, site) => (site === 'intermediate' ? (y) => y : undefined),
    };
    const run = async (adapters?: AdapterSetup) => {
      const out = g.scope(() => {
        const h = encoder.forward({ ids: batch.ids, batch: B, sequence: T, attentionMask: batch.mask }, { train: true, seed: 3, step: 7 }, adapters);
        g.backward(h, R);
        return h;
      });
      const values = [await out.read(), ...(await Promise.all([...encoder.params.values()].map((t) => t.grad!.read())))];
      out.dispose();
      g.zeroGrad(encoder.params.values());
      return values;
    };
    const [fused, separate] = [await run(), await run(unfused)];
    const names = ['output', ...encoder.params.keys()];
    fused.forEach((v, i) => expect(Buffer.from(v.buffer).equals(Buffer.from(separate[i]!.buffer)), names[i]).toBe(true));
    R.dispose();
    encoder.dispose();
  });
});
