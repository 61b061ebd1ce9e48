// The suite's NLI task through the trainer, MAD-X style: a frozen base and
// language adapters, a task adapter trained on the source under a schedule,
// and zero-shot evaluation with the target's language adapter swapped in.
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BottleneckAdapter, ClassificationHead, Encoder, Trainer, WordTokenizer, nliMeanings, nliTask, suiteLanguages } from '../src/index.js';
import { tinyConfig, useGraph } from './support/tiny.js';

describe('NLI task', () => {
  const graph = useGraph();

  it('trains the task adapter on the source and writes zero-shot results for the targets', async () => {
    const g = graph();
    const languages = suiteLanguages(['src', 'l1', 'l5']);
    const tokenizer = new WordTokenizer(suiteLanguages().flatMap((l) => l.vocabulary()));
    const config = tinyConfig({ vocabSize: tokenizer.size, maxPositionEmbeddings: 40, hiddenSize: 16, hiddenDropoutProb: 0.1 });
    const model = { prefix: config.prefix, hiddenSize: config.hiddenSize, layers: config.numHiddenLayers };
    const encoder = new Encoder(g, config, 1);
    const languageAdapters = new Map(languages.map((l, i) => [l.code, new BottleneckAdapter(g, l.code, { architecture: 'seq_bn', reductionFactor: 2, invertible: { reductionFactor: 2 } }, model, 10 + i)] as const));
    const taskAdapter = new BottleneckAdapter(g, 'nli', { architecture: 'seq_bn', reductionFactor: 4 }, model, 20);
    const head = new ClassificationHead(g, 'nli', config.hiddenSize, 3, 0.1, 21, 'first-mean-max');
    const test = nliMeanings(99, 24);
    const task = nliTask({
      encoder, tokenizer, languageAdapters, languages, source: 'src', taskAdapter, head,
      train: nliMeanings(1, 200), dev: nliMeanings(2, 24), batchSize: 8, sequence: 34, seed: 5,
    });
    const out = await mkdtemp(join(tmpdir(), 'thaw-nli-'));
    const trainer = new Trainer(g, task.model, task.data, {
      out, steps: 12, lr: 1e-2, policy: 'gu', k: 4, seed: 5, evalEvery: 6, fisherEvery: 6, fisherBatches: 2,
      finalEvaluation: async () => {
        const targets = { l1: await task.evaluate('l1', test), l5: await task.evaluate('l5', test) };
        return {
          task: 'nli', metric: 'accuracy',
          source: { lang: 'src', dev: await task.data.evaluateDev(), test: await task.evaluate('src', test) },
          targets, targetAverage: (targets.l1 + targets.l5) / 2,
        };
      },
    });
    await trainer.run();
    trainer.dispose();
    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
    expect(results.task).toBe('nli');
    for (const v of [results.source.dev, results.source.test, results.targets.l1, results.targets.l5]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    const events = (await readFile(join(out, 'events.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { step: number; blocks: number[] });
    expect(events.map((e) => [e.step, e.blocks])).toEqual([[0, [1]], [4, [0]]]);
    // The language adapters stay frozen throughout.
    for (const a of languageAdapters.values()) for (const t of a.params.values()) expect(t.requiresGrad).toBe(false);
    const best = await readFile(join(out, 'checkpoints/best/adapter.safetensors'));
    expect(best.includes(Buffer.from('adapters.nli.adapter_down'))).toBe(true);
    expect(best.includes(Buffer.from('adapters.src.'))).toBe(false);
    head.dispose();
    taskAdapter.dispose();
    for (const a of languageAdapters.values()) a.dispose();
    encoder.dispose();
  });
});
