// MAD-X: Stack(lang, task) at the FFN output, forward and backward against the
// float64 formula; the language adapter stays bit-identical through training;
// AdapterHub's mh_adapter and original_ln_before, each either way, as read from a folder.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { geluReference, geluTanhReference, relativeError, reluReference, swishReference } from '@thaw/kernels/reference';
import { AdamW, crossEntropy, linear } from '@thaw/autograd';
import { adapterModel, BottleneckAdapter, Encoder, Stack, hostTensors, loadAdapterHubAdapter, saveAdapterHubFolder, uniform, type NonLinearity } from '../src/index.js';
import { encoderReference, finiteDifferenceError, tinyBatch, tinyConfig, useGraph } from './support/tiny.js';

describe('Stack(lang, task)', () => {
  const graph = useGraph();

  it('matches the float64 formula, forward and task-adapter gradients; frozen parts get none', async () => {
    const g = graph();
    const config = tinyConfig({ numHiddenLayers: 2, hiddenSize: 8, intermediateSize: 12, hiddenDropoutProb: 0, attentionProbsDropoutProb: 0 });
    const model = { prefix: config.prefix, hiddenSize: 8, intermediateSize: config.intermediateSize, layers: 2 };
    const encoder = new Encoder(g, config, 1);
    const lang = new BottleneckAdapter(g, 'en', { architecture: 'seq_bn', reductionFactor: 2 }, model, 2);
    const task = new BottleneckAdapter(g, 'xnli', { architecture: 'seq_bn', reductionFactor: 4 }, model, 3);
    // Non-zero biases so that every term of the formula matters.
    const random = uniform(4);
    for (const a of [lang, task]) for (const [n, t] of a.params) if (n.endsWith('bias')) g.gpu.write(t.buffer, Float32Array.from({ length: t.size }, () => random() - 0.5));
    encoder.setTrainable(false);
    lang.setTrainable(false);
    const [B, T] = [2, 5];
    const batch = tinyBatch(config, B, T, 6, 3);
    const R = Float64Array.from({ length: B * T * 8 }, () => random() * 2 - 1);
    const seed = g.tensor(Float32Array.from(R), [B, T, 8], 'R');
    const out = g.scope(() => {
      const h = encoder.forward({ ids: batch.ids, batch: B, sequence: T, attentionMask: batch.mask }, { train: false }, new Stack([lang, task]));
      g.backward(h, seed);
      return h;
    });
    const params = new Map<string, Float64Array>();
    for (const m of [encoder.params, lang.params, task.params]) for (const [n, t] of m) params.set(n, Float64Array.from(await t.read()));
    const stack = [{ name: 'en', bottleneck: lang.bottleneck }, { name: 'xnli', bottleneck: task.bottleneck }];
    const reference = () => encoderReference(config, params, batch.ids, batch.mask, B, T, stack);
    expect(relativeError(await out.read(), reference())).toBeLessThan(1e-5);
    // Without adapters the output differs: the stack is really applied.
    expect(relativeError(await out.read(), encoderReference(config, params, batch.ids, batch.mask, B, T))).toBeGreaterThan(1e-3);

    const loss = () => reference().reduce((s, v, i) => s + v * R[i]!, 0);
    for (const [name, t] of task.params) {
      const values = params.get(name)!;
      const grad = await t.grad!.read();
      const indices = Array.from({ length: Math.min(6, values.length) }, (_, k) => Math.floor((k * values.length) / Math.min(6, values.length)));
      expect(finiteDifferenceError(values, grad, indices, loss), name).toBeLessThan(1e-4);
    }
    for (const t of [...encoder.params.values(), ...lang.params.values()]) expect(t.grad).toBeUndefined();
    out.dispose();
    seed.dispose();
    g.zeroGrad(task.params.values());
    for (const x of [encoder, lang, task]) x.dispose();
  });

  const activations: [NonLinearity, (x: number) => number][] = [['relu', reluReference], ['swish', swishReference], ['gelu_new', geluTanhReference], ['gelu', geluReference]];
  it.each(activations)('a Houlsby adapter (double_seq_bn, %s) acts after attention and after the FFN, reading r itself', async (nonLinearity, f) => {
    const g = graph();
    const config = tinyConfig({ numHiddenLayers: 1, hiddenSize: 8, intermediateSize: 12, hiddenDropoutProb: 0, attentionProbsDropoutProb: 0 });
    const encoder = new Encoder(g, config, 1);
    const houlsby = new BottleneckAdapter(g, 'h', { architecture: 'double_seq_bn', reductionFactor: 2, nonLinearity }, { prefix: config.prefix, hiddenSize: 8, intermediateSize: config.intermediateSize, layers: 1 }, 5);
    expect([...houlsby.params.keys()].filter((n) => n.includes('attention.output.adapters.h.'))).toHaveLength(4);
    const [B, T] = [2, 4];
    const batch = tinyBatch(config, B, T, 8, 3);
    const out = g.noGrad(() => g.scope(() => encoder.forward({ ids: batch.ids, batch: B, sequence: T, attentionMask: batch.mask }, { train: false }, new Stack([houlsby]))));
    const params = new Map<string, Float64Array>();
    for (const m of [encoder.params, houlsby.params]) for (const [n, t] of m) params.set(n, Float64Array.from(await t.read()));
    const want = encoderReference(config, params, batch.ids, batch.mask, B, T, [{ name: 'h', bottleneck: houlsby.bottleneck, mhAdapter: true, activation: f }]);
    expect(relativeError(await out.read(), want)).toBeLessThan(1e-5);
    out.dispose();
    encoder.dispose();
    houlsby.dispose();
  });

  // AdapterHub builds a saved config as a plain BnConfig: original_ln_before defaults to false
  // whatever mh_adapter says, and the two choose the placement and the input independently.
  const lnBeforeCases: [boolean, boolean | undefined][] = [[false, undefined], [false, true], [false, false], [true, undefined], [true, true], [true, false]];
  it.each(lnBeforeCases)('an AdapterHub folder with mh_adapter %s and original_ln_before %s computes what AdapterHub does', async (mhAdapter, written) => {
    const g = graph();
    const config = tinyConfig({ numHiddenLayers: 1, hiddenSize: 8, intermediateSize: 12, hiddenDropoutProb: 0, attentionProbsDropoutProb: 0 });
    const model = { prefix: config.prefix, hiddenSize: 8, intermediateSize: config.intermediateSize, layers: 1 };
    const encoder = new Encoder(g, config, 1);
    const saved = new BottleneckAdapter(g, 'a', { architecture: mhAdapter ? 'double_seq_bn' : 'seq_bn', reductionFactor: 2 }, model, 7);
    // Weights far from the init's N(0, 0.02), so that what the adapter reads shows in the output.
    const random = uniform(8);
    for (const t of saved.params.values()) g.gpu.write(t.buffer, Float32Array.from({ length: t.size }, () => random() - 0.5));
    const dir = await mkdtemp(join(tmpdir(), 'thaw-ln-before-'));
    await saveAdapterHubFolder(dir, saved, await hostTensors(saved.params), { modelName: 'tiny', modelType: 'xlm-roberta', hiddenSize: 8 });
    saved.dispose();
    const file = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8')) as { config: Record<string, unknown> };
    file.config.original_ln_before = written;
    await writeFile(join(dir, 'adapter_config.json'), JSON.stringify(file));
    const adapter = await loadAdapterHubAdapter(g, dir, model);
    const originalLnBefore = written ?? false;
    expect(adapter instanceof BottleneckAdapter && adapter.originalLnBefore).toBe(originalLnBefore);
    const [B, T] = [2, 4];
    const batch = tinyBatch(config, B, T, 8, 3);
    const out = g.noGrad(() => g.scope(() => encoder.forward({ ids: batch.ids, batch: B, sequence: T, attentionMask: batch.mask }, { train: false }, new Stack([adapter]))));
    const params = new Map<string, Float64Array>();
    for (const m of [encoder.params, adapter.params]) for (const [n, t] of m) params.set(n, Float64Array.from(await t.read()));
    const reference = (lnBefore: boolean) => encoderReference(config, params, batch.ids, batch.mask, B, T, [{ name: 'a', bottleneck: 4, mhAdapter, originalLnBefore: lnBefore }]);
    expect(relativeError(await out.read(), reference(originalLnBefore))).toBeLessThan(1e-5);
    // The other reading differs: the test tells the two apart.
    expect(relativeError(await out.read(), reference(!originalLnBefore))).toBeGreaterThan(1e-3);
    out.dispose();
    encoder.dispose();
    adapter.dispose();
  });

  it('training the task adapter leaves the language adapter and the base bit-identical', async () => {
    const g = graph();
    const config = tinyConfig();
    const model = adapterModel(config);
    const encoder = new Encoder(g, config, 1);
    const lang = new BottleneckAdapter(g, 'en', { architecture: 'seq_bn', reductionFactor: 2 }, model, 2);
    const task = new BottleneckAdapter(g, 'xnli', { architecture: 'seq_bn', reductionFactor: 4 }, model, 3);
    encoder.setTrainable(false);
    lang.setTrainable(false);
    const head = g.parameter(Float32Array.from({ length: 5 * config.hiddenSize }, (_, i) => Math.sin(i) * 0.1), [5, config.hiddenSize], 'head');
    const frozenBefore = await Promise.all([...lang.params.values(), ...encoder.params.values()].map((t) => t.read()));
    const taskBefore = await Promise.all([...task.params.values()].map((t) => t.read()));
    const optimizer = new AdamW(g, [...encoder.params.values(), ...lang.params.values(), ...task.params.values(), head], { lr: 1e-2 });
    const stack = new Stack([lang, task]);
    for (let step = 0; step < 5; step++) {
      const batch = tinyBatch(config, 2, 6, step, 5);
      g.scope(() => {
        const h = encoder.forward({ ids: batch.ids, batch: 2, sequence: 6, attentionMask: batch.mask }, { train: true, seed: 1, step }, stack);
        g.backward(crossEntropy(linear(h, head), batch.labels));
      });
      optimizer.update();
      optimizer.zeroGrad();
      await g.gpu.throttle();
    }
    const frozenAfter = await Promise.all([...lang.params.values(), ...encoder.params.values()].map((t) => t.read()));
    frozenAfter.forEach((v, i) => expect(Buffer.from(v.buffer).equals(Buffer.from(frozenBefore[i]!.buffer))).toBe(true));
    const taskAfter = await Promise.all([...task.params.values()].map((t) => t.read()));
    expect(taskAfter.some((v, i) => !Buffer.from(v.buffer).equals(Buffer.from(taskBefore[i]!.buffer)))).toBe(true);
    optimizer.dispose();
    head.dispose();
    for (const x of [encoder, lang, task]) x.dispose();
  });
});
