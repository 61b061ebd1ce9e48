// LoRA on q and v: the encoder with LoRA equals the float64 encoder whose
// q and v weights are merged (W + (α/r)·B·A), forward and LoRA gradients;
// two LoRAs in a Stack merge as AdapterHub chains them (W + M₂·M₁).
import { describe, expect, it } from 'vitest';
import { relativeError } from '@thaw/kernels/reference';
import { BottleneckAdapter, Encoder, LoraAdapter, Stack, uniform } from '../src/index.js';
import { encoderReference, finiteDifferenceError, tinyBatch, tinyConfig, useGraph } from './support/tiny.js';

describe('LoRA', () => {
  const graph = useGraph();

  it('matches merged weights, forward and gradients; starts as the base model (B = 0)', async () => {
    const g = graph();
    const config = tinyConfig({ numHiddenLayers: 1, hiddenSize: 8, intermediateSize: 12, hiddenDropoutProb: 0, attentionProbsDropoutProb: 0 });
    const encoder = new Encoder(g, config, 1);
    const lora = new LoraAdapter(g, 'xnli', { r: 2, alpha: 4 }, { prefix: config.prefix, hiddenSize: 8, intermediateSize: 12, layers: 1 }, 2);
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

  it('chains two LoRAs in one Stack as AdapterHub does (the second reads the first\'s output), skipping bottlenecks', async () => {
    const g = graph();
    const D = 8;
    const config = tinyConfig({ numHiddenLayers: 1, hiddenSize: D, intermediateSize: 12, hiddenDropoutProb: 0, attentionProbsDropoutProb: 0 });
    const model = { prefix: config.prefix, hiddenSize: D, intermediateSize: 12, layers: 1 };
    const encoder = new Encoder(g, config, 1);
    const lang = new LoraAdapter(g, 'en', { r: 2, alpha: 4 }, model, 2);
    const bottleneck = new BottleneckAdapter(g, 'bn', { architecture: 'seq_bn', reductionFactor: 2 }, model, 4);
    const task = new LoraAdapter(g, 'xnli', { r: 3, alpha: 1.5 }, model, 5);
    encoder.setTrainable(false);
    bottleneck.setTrainable(false);
    const random = uniform(6);
    for (const a of [lang, task]) for (const [n, t] of a.params) if (n.endsWith('lora_B')) g.gpu.write(t.buffer, Float32Array.from({ length: t.size }, () => random() - 0.5));
    const [B, T] = [2, 4];
    const batch = tinyBatch(config, B, T, 3, 3);
    const R = Float64Array.from({ length: B * T * D }, () => random() * 2 - 1);
    const seed = g.tensor(Float32Array.from(R), [B, T, D], 'R');
    const out = g.scope(() => {
      const h = encoder.forward({ ids: batch.ids, batch: B, sequence: T, attentionMask: batch.mask }, { train: false }, new Stack([lang, bottleneck, task]));
      g.backward(h, seed);
      return h;
    });
    const params = new Map<string, Float64Array>();
    for (const m of [encoder.params, lang.params, bottleneck.params, task.params]) for (const [n, t] of m) params.set(n, Float64Array.from(await t.read()));
    // y = W·x + b + s_2·(s_1·(x·A_1ᵀ)·B_1ᵀ)·A_2ᵀ·B_2ᵀ: the weight W + M_2·M_1 with M = s·B·A.
    const update = (p: Map<string, Float64Array>, name: string, r: number, s: number, L: string) => {
      const A = p.get(`${L}.loras.${name}.lora_A`)!;
      const Bm = p.get(`${L}.loras.${name}.lora_B`)!;
      return Float64Array.from({ length: D * D }, (_, at) => {
        const [o, i] = [Math.floor(at / D), at % D];
        let sum = 0;
        for (let k = 0; k < r; k++) sum += Bm[o * r + k]! * A[k * D + i]!;
        return s * sum;
      });
    };
    const chained = (p: Map<string, Float64Array>) => {
      const merged = new Map(p);
      for (const target of ['query', 'value']) {
        const L = `${config.prefix}.encoder.layer.0.attention.self.${target}`;
        const [M1, M2] = [update(p, 'en', 2, 2, L), update(p, 'xnli', 3, 0.5, L)];
        const W = Float64Array.from(p.get(`${L}.weight`)!);
        for (let o = 0; o < D; o++) for (let i = 0; i < D; i++) for (let k = 0; k < D; k++) W[o * D + i] = W[o * D + i]! + M2[o * D + k]! * M1[k * D + i]!;
        merged.set(`${L}.weight`, W);
      }
      return encoderReference(config, merged, batch.ids, batch.mask, B, T, [{ name: 'bn', bottleneck: bottleneck.bottleneck }]);
    };
    expect(relativeError(await out.read(), chained(params))).toBeLessThan(1e-5);
    const loss = () => chained(params).reduce((s, v, i) => s + v * R[i]!, 0);
    for (const [name, t] of [...lang.params, ...task.params]) {
      const values = params.get(name)!;
      const indices = Array.from({ length: 6 }, (_, k) => Math.floor((k * values.length) / 6));
      // Query gradients pass through the softmax; float32 leaves about 7e-5 of relative error here.
      expect(finiteDifferenceError(values, await t.grad!.read(), indices, loss), name).toBeLessThan(3e-4);
    }
    out.dispose();
    seed.dispose();
    g.zeroGrad([...lang.params.values(), ...task.params.values()]);
    for (const x of [encoder, lang, bottleneck, task]) x.dispose();
  });
});
