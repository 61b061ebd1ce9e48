// LoRA on q and v: the encoder with LoRA equals the float64 encoder whose
// q and v weights are merged (W + (α/r)·B·A), forward and LoRA gradients.
import { describe, expect, it } from 'vitest';
import { relativeError } from '@thaw/kernels/reference';
import { Encoder, LoraAdapter, Stack, uniform } from '../src/index.js';
import { encoderReference, finiteDifferenceError, tinyBatch, tinyConfig, useGraph } from './support/tiny.js';

describe('LoRA', () => {
  const graph = useGraph();

  it('matches merged weights, forward and gradients; starts as the base model (B = 0)', async () => {
    const g = graph();
    const config = tinyConfig({ numHiddenLayers: 1, hiddenSize: 8, intermediateSize: 12, hiddenDropoutProb: 0, attentionProbsDropoutProb: 0 });
    const encoder = new Encoder(g, config, 1);
    const lora = new LoraAdapter(g, 'xnli', { r: 2, alpha: 4 }, { prefix: config.prefix, hiddenSize: 8, layers: 1 }, 2);
    encoder.setTrainable(false);
    const [B, T] = [2, 4];
    const batch = tinyBatch(config, B, T, 3, 3);
    const forward = () => encoder.forward({ ids: batch.ids, batch: B, sequence: T, attentionMask: batch.mask }, { train: false }, new Stack([lora]));
    const base = g.noGrad(() => g.scope(() => encoder.forward({ ids: batch.ids, batch: B, sequence: T, attentionMask: batch.mask }, { train: false })));
    const fresh = g.noGrad(() => g.scope(forward));
    expect(await fresh.read()).toEqual(await base.read());
    base.dispose();
    fresh.dispose();

    const random = uniform(3);
    for (const [n, t] of lora.params) if (n.endsWith('lora_B')) g.gpu.write(t.buffer, Float32Array.from({ length: t.size }, () => random() - 0.5));
    const R = Float64Array.from({ length: B * T * 8 }, () => random() * 2 - 1);
    const seed = g.tensor(Float32Array.from(R), [B, T, 8], 'R');
    const out = g.scope(() => {
      const h = forward();
      g.backward(h, seed);
      return h;
    });
    const params = new Map<string, Float64Array>();
    for (const m of [encoder.params, lora.params]) for (const [n, t] of m) params.set(n, Float64Array.from(await t.read()));
    const merged = () => {
      const p = new Map(params);
      for (const target of ['query', 'value']) {
        const L = `${config.prefix}.encoder.layer.0.attention.self.${target}`;
        const A = params.get(`${L}.loras.xnli.lora_A`)!;
        const Bm = params.get(`${L}.loras.xnli.lora_B`)!;
        const W = Float64Array.from(params.get(`${L}.weight`)!);
        for (let o = 0; o < 8; o++) for (let i = 0; i < 8; i++) for (let k = 0; k < 2; k++) W[o * 8 + i] = W[o * 8 + i]! + 2 * Bm[o * 2 + k]! * A[k * 8 + i]!;
        p.set(`${L}.weight`, W);
      }
      return encoderReference(config, p, batch.ids, batch.mask, B, T);
    };
    expect(relativeError(await out.read(), merged())).toBeLessThan(1e-5);
    const loss = () => merged().reduce((s, v, i) => s + v * R[i]!, 0);
    for (const [name, t] of lora.params) {
      const values = params.get(name)!;
      const grad = await t.grad!.read();
      expect(finiteDifferenceError(values, grad, [0, 3, values.length - 1], loss), name).toBeLessThan(1e-4);
    }
    expect(lora.block(0)).toHaveLength(4);
    out.dispose();
    seed.dispose();
    g.zeroGrad(lora.params.values());
    encoder.dispose();
    lora.dispose();
  });
});
