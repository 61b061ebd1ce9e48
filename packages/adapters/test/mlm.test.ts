// Masked-LM data and training through the trainer: base pretraining
// (`full`, no blocks) and a MAD-X language adapter (base frozen).
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '@thaw/kernels';
import { adapterModel, BottleneckAdapter, Encoder, MaskedLmHead, SPECIALS, Stack, Trainer, WordTokenizer, maskTokens, mlmPairs, mlmTask, suiteLanguages } from '../src/index.js';
import { tinyConfig, useGraph } from './support/tiny.js';

describe('masked-LM data', () => {
  it('masks 15% of the words (80% <mask>, 10% random, 10% kept), never specials or padding', () => {
    const random = mulberry32(1);
    const n = 200_000;
    const ids = Int32Array.from({ length: n }, (_, i) => (i % 10 === 0 ? SPECIALS.pad : i % 10 === 1 ? SPECIALS.bos : 5 + (i % 50)));
    const { ids: masked, labels } = maskTokens(ids, 60, random);
    const chosen = [...labels.keys()].filter((i) => labels[i]! >= 0);
    const words = n * 0.8;
    expect(Math.abs(chosen.length / words - 0.15)).toBeLessThan(0.005);
    expect(chosen.every((i) => ids[i]! > SPECIALS.mask && labels[i] === ids[i])).toBe(true);
    const toMask = chosen.filter((i) => masked[i] === SPECIALS.mask).length / chosen.length;
    const kept = chosen.filter((i) => masked[i] === ids[i]).length / chosen.length;
    expect(Math.abs(toMask - 0.8)).toBeLessThan(0.01);
    expect(kept).toBeGreaterThan(0.09); // 10% kept, plus random draws of the same word
    expect(kept).toBeLessThan(0.12);
    expect([...masked].every((id, i) => labels[i]! >= 0 || id === ids[i])).toBe(true);
  });
});

describe('masked-LM training', () => {
  const graph = useGraph();
  const languages = suiteLanguages();
  const tokenizer = new WordTokenizer(languages.flatMap((l) => l.vocabulary()));

  it('pretrains a base (full, no blocks) and then a language adapter with the base frozen', async () => {
    const g = graph();
    const config = tinyConfig({ vocabSize: tokenizer.size, maxPositionEmbeddings: 40, hiddenSize: 32, intermediateSize: 64, hiddenDropoutProb: 0 });
    const encoder = new Encoder(g, config, 1);
    const head = new MaskedLmHead(g, config.hiddenSize, encoder.param('roberta.embeddings.word_embeddings.weight'), config.layerNormEps, 2);
    const pairs = languages.slice(0, 2).flatMap((l) => mlmPairs(l, 1, 400));
    const devPairs = languages.slice(0, 2).flatMap((l) => mlmPairs(l, 2, 40));
    const base = mlmTask({ encoder, head, tokenizer, pairs, devPairs, batchSize: 16, sequence: 30, seed: 3, blocks: [], params: [...encoder.params.values(), ...head.params.values()], checkpoint: head.params });
    const out = await mkdtemp(join(tmpdir(), 'thaw-mlm-'));
    const pretrain = new Trainer(g, base.model, base.data, { out, steps: 60, lr: 3e-3, lrSchedule: 'constant', schedule: 'full', k: 1, seed: 3, evalEvery: 30 });
    const summary = await pretrain.run();
    pretrain.dispose();
    const log = (await readFile(join(out, 'log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { loss: number });
    const mean = (xs: { loss: number }[]) => xs.reduce((s, x) => s + x.loss, 0) / xs.length;
    expect(mean(log.slice(-10))).toBeLessThan(mean(log.slice(0, 10)) - 0.5);
    // Masked-token accuracy well above guessing among the words (1 / vocabulary).
    expect(summary.bestDev).toBeGreaterThan(5 / tokenizer.size);

    // A language adapter for l3, trained on l3 alone with the base frozen.
    const model = adapterModel(config);
    const adapter = new BottleneckAdapter(g, 'l3', { architecture: 'seq_bn', reductionFactor: 2, invertible: { reductionFactor: 2 } }, model, 4);
    const frozenBefore = await encoder.param('roberta.encoder.layer.0.output.dense.weight').read();
    const couplingBefore = await adapter.param('roberta.invertible_adapters.l3.F.0.weight').read();
    const l3 = mlmTask({
      encoder, head, tokenizer, pairs: mlmPairs(languages[3]!, 1, 400), devPairs: mlmPairs(languages[3]!, 2, 40), batchSize: 16, sequence: 30, seed: 4,
      blocks: Array.from({ length: model.layers }, (_, i) => adapter.block(i)),
      params: [...encoder.params.values(), ...head.params.values(), ...adapter.params.values()],
      adapters: new Stack([adapter]),
      alsoTrainable: [...adapter.invertible!.params.values()],
      trainHead: false,
      checkpoint: adapter.params,
    });
    const trainAdapter = new Trainer(g, l3.model, l3.data, { out: await mkdtemp(join(tmpdir(), 'thaw-la-')), steps: 20, lr: 1e-3, schedule: 'standard', k: 1, seed: 4, evalEvery: 20 });
    await trainAdapter.run();
    trainAdapter.dispose();
    expect(await encoder.param('roberta.encoder.layer.0.output.dense.weight').read()).toEqual(frozenBefore);
    // The adapter, invertible part included, did train.
    expect(await adapter.param('roberta.invertible_adapters.l3.F.0.weight').read()).not.toEqual(couplingBefore);
    head.dispose();
    adapter.dispose();
    encoder.dispose();
  });
});
