// (IA)³ on keys, values and the FFN: scaling a projection's output by l is
// the projection with its rows scaled (W'[o, :] = l[o]·W[o, :], b'[o] = l[o]·b[o]),
// so the encoder with (IA)³ under a MAD-X language bottleneck equals the
// float64 encoder with those merged weights, forward and gradients of l.
import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { relativeError } from '@thaw/kernels/reference';
import {
  adapterModel, BottleneckAdapter, Encoder, Ia3Adapter, LoraAdapter, Stack, hostTensors, loadAdapterHubAdapter, readAdapterHubFolder, saveAdapterHubFolder, uniform,
} from '../src/index.js';
import { encoderReference, finiteDifferenceError, tinyBatch, tinyConfig, useGraph } from './support/tiny.js';

describe('(IA)³', () => {
  const graph = useGraph();
  const config = tinyConfig({ numHiddenLayers: 2, hiddenSize: 8, intermediateSize: 12, hiddenDropoutProb: 0, attentionProbsDropoutProb: 0 });
  const model = adapterModel(config);
  const [B, T] = [2, 4];
  const batch = tinyBatch(config, B, T, 3, 3);
  const input = { ids: batch.ids, batch: B, sequence: T, attentionMask: batch.mask };

  /** Parameters with each (IA)³ vector of `name` merged into the rows of its projection. */
  const merged = (params: Map<string, Float64Array>, name: string, alpha: number) => {
    const p = new Map(params);
    for (let i = 0; i < config.numHiddenLayers; i++) {
      for (const module of ['attention.self.key', 'attention.self.value', 'intermediate.dense']) {
        const L = `${config.prefix}.encoder.layer.${i}.${module}`;
        const l = params.get(`${L}.loras.${name}.lora_B`)!;
        const W = Float64Array.from(params.get(`${L}.weight`)!);
        const bias = Float64Array.from(params.get(`${L}.bias`)!);
        const inputs = W.length / l.length;
        for (let o = 0; o < l.length; o++) {
          const s = alpha * l[o]!;
          for (let k = 0; k < inputs; k++) W[o * inputs + k] = W[o * inputs + k]! * s;
          bias[o] = bias[o]! * s;
        }
        p.set(`${L}.weight`, W);
        p.set(`${L}.bias`, bias);
      }
    }
    return p;
  };

  for (const alpha of [1, 0.5]) {
    it(`matches merged weights under a language bottleneck, forward and gradients (alpha ${alpha}); starts as the model without it`, async () => {
      const g = graph();
      const encoder = new Encoder(g, config, 1);
      const lang = new BottleneckAdapter(g, 'en', { architecture: 'seq_bn', reductionFactor: 2 }, model, 2);
      const ia3 = new Ia3Adapter(g, 'xnli', { alpha }, model);
      encoder.setTrainable(false);
      lang.setTrainable(false);
      // Sharp attention (large query and key weights), so that keys matter: with the initial
      // N(0, 0.02²) weights attention is nearly uniform and the keys' gradients are float32 noise.
      const sharp = uniform(4);
      for (const [n, t] of encoder.params) if (/self\.(query|key)\.weight$/.test(n)) g.gpu.write(t.buffer, Float32Array.from({ length: t.size }, () => 1.6 * (sharp() - 0.5)));
      expect([...ia3.params.values()].map((t) => t.shape)).toEqual(Array.from({ length: 2 }, () => [[8, 1], [8, 1], [12, 1]]).flat());
      expect(ia3.block(1).map((t) => t.name)).toEqual(['key', 'value'].map((m) => `roberta.encoder.layer.1.attention.self.${m}.loras.xnli.lora_B`).concat('roberta.encoder.layer.1.intermediate.dense.loras.xnli.lora_B'));
      const forward = () => encoder.forward(input, { train: false }, new Stack([lang, ia3]));
      if (alpha === 1) {
        // Vectors of ones scale by exactly 1: the same bits as the stack without (IA)³.
        const without = g.noGrad(() => g.scope(() => encoder.forward(input, { train: false }, new Stack([lang]))));
        const fresh = g.noGrad(() => g.scope(forward));
        expect(await fresh.read()).toEqual(await without.read());
        without.dispose();
        fresh.dispose();
      }
      const random = uniform(3);
      for (const t of ia3.params.values()) g.gpu.write(t.buffer, Float32Array.from({ length: t.size }, () => 0.5 + random()));
      const R = Float64Array.from({ length: B * T * 8 }, () => random() * 2 - 1);
      const seed = g.tensor(Float32Array.from(R), [B, T, 8], 'R');
      const out = g.scope(() => {
        const h = forward();
        g.backward(h, seed);
        return h;
      });
      // The base and the language adapter are frozen: no gradient reaches them.
      for (const t of [...encoder.params.values(), ...lang.params.values()]) expect(t.grad).toBeUndefined();
      const params = new Map<string, Float64Array>();
      for (const m of [encoder.params, lang.params, ia3.params]) for (const [n, t] of m) params.set(n, Float64Array.from(await t.read()));
      const reference = () => encoderReference(config, merged(params, 'xnli', alpha), batch.ids, batch.mask, B, T, [{ name: 'en', bottleneck: lang.bottleneck }]);
      expect(relativeError(await out.read(), reference())).toBeLessThan(1e-5);
      const loss = () => reference().reduce((s, v, i) => s + v * R[i]!, 0);
      for (const [name, t] of ia3.params) {
        const values = params.get(name)!;
        expect(finiteDifferenceError(values, await t.grad!.read(), [0, 3, values.length - 1], loss), name).toBeLessThan(1e-4);
      }
      out.dispose();
      seed.dispose();
      g.zeroGrad(ia3.params.values());
      for (const x of [encoder, lang, ia3]) x.dispose();
    });
  }

  it('round-trips through an AdapterHub folder with AdapterHub\'s ia3 config keys', async () => {
    const g = graph();
    const dir = await mkdtemp(join(tmpdir(), 'thaw-ia3-'));
    try {
      const ia3 = new Ia3Adapter(g, 'xnli', { alpha: 1 }, model);
      const random = uniform(9);
      for (const t of ia3.params.values()) g.gpu.write(t.buffer, Float32Array.from({ length: t.size }, () => 0.5 + random()));
      const saved = await hostTensors(ia3.params);
      await saveAdapterHubFolder(dir, ia3, saved, { modelName: 'tiny', modelType: 'xlm-roberta', hiddenSize: 8 });
      const file = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
      // IA3Config's fields (adapter-hub/adapters at 88f18eb, configuration/adapter_config.py).
      expect(file.config).toMatchObject({
        architecture: 'lora', selfattn_lora: true, intermediate_lora: true, output_lora: false, r: 1, alpha: 1, attn_matrices: ['k', 'v'],
        composition_mode: 'scale', init_weights: 'ia3', dropout: 0, use_gating: false,
      });
      expect(await readFile(join(dir, 'adapter_config.json'), 'utf8')).toContain('"dropout": 0.0');
      const contents = await readAdapterHubFolder(dir, model, 'de');
      expect(contents.type.name).toBe('ia3');
      const back = await loadAdapterHubAdapter(g, dir, model, 'de');
      expect(back).toBeInstanceOf(Ia3Adapter);
      for (const [name, t] of back.params) expect(await t.read()).toEqual(saved.get(name.replace('.loras.de.', '.loras.xnli.'))!.data);
      back.dispose();
      ia3.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a Stack where a LoRA adds to a projection that (IA)³ scales', async () => {
    const g = graph();
    const encoder = new Encoder(g, config, 1);
    const lora = new LoraAdapter(g, 'en', { r: 2, alpha: 2 }, model, 2);
    const ia3 = new Ia3Adapter(g, 'xnli', { alpha: 1 }, model);
    // LoRA acts on query and value, (IA)³ on key and value: value is shared.
    expect(() => g.noGrad(() => g.scope(() => encoder.forward(input, { train: false }, new Stack([lora, ia3]))))).toThrow(/'en' adds to layer 0's value projection and 'xnli' scales it/);
    for (const x of [encoder, lora, ia3]) x.dispose();
  });
});
