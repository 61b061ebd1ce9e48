// The suite's tasks through the trainer, MAD-X style: a frozen base and
// language adapters, a task adapter trained on the source under a schedule,
// and zero-shot evaluation with the target's language adapter swapped in.
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  adapterModel, BottleneckAdapter, Encoder, SUITE_DEFAULTS, SHIPPED_SUITE, SUITE_TASKS, Trainer, WordTokenizer, suiteRunSpec, exampleOf, loadBase, qaMeanings, spanF1, suiteLanguages, taskModel, type Language, type TaskBatch, type TaskName,
} from '../src/index.js';
import { tinyConfig, useGraph } from './support/tiny.js';

const languages = suiteLanguages(['src', 'l1', 'l5']);
const tokenizer = new WordTokenizer(suiteLanguages().flatMap((l) => l.vocabulary()));

describe('task encodings', () => {
  it('QA: the labelled positions hold the answer, inside the context span', () => {
    const items = qaMeanings(3, 40, 2);
    for (const language of languages) {
      const b = SUITE_TASKS.qa.encode(tokenizer, language, items, 32);
      const T = b.sequence;
      expect(T).toBeLessThanOrEqual(32);
      items.forEach((item, i) => {
        const answer = item.context[item.clause]![item.role].noun.slice(2);
        const [start, end] = [b.labels[i]!, b.ends![i]!];
        expect(tokenizer.tokens[b.ids[i * T + start]!]).toBe(answer);
        expect(end).toBe(start);
        expect(start).toBeGreaterThanOrEqual(b.spans![2 * i]!);
        expect(end).toBeLessThanOrEqual(b.spans![2 * i + 1]!);
        expect(tokenizer.tokens[b.ids[i * T + b.spans![2 * i + 1]! + 1]!]).toBe('</s>');
      });
    }
  });

  it('COPA: two sequences per example, cause before effect, the premise in both', () => {
    const task = SUITE_TASKS.copa;
    const items = task.meanings(4, 6);
    const b = task.encode(tokenizer, languages[0]!, items, 32);
    expect([b.sequences, b.examples]).toEqual([12, 6]);
    items.forEach((item, i) => {
      const premise = languages[0]!.realize(item.premise).join(' ');
      for (const c of [0, 1]) {
        const T = b.sequence;
        const [first, second] = tokenizer.decode(b.ids.subarray((2 * i + c) * T, (2 * i + c + 1) * T)).join(' ').split(' </s> </s> ');
        expect(item.question === 'effect' ? first : second).toContain(premise);
      }
    });
  });

  it('pads a batch to its longest pair, not to the limit', () => {
    const task = SUITE_TASKS.nli;
    const items = task.meanings(6, 16);
    const b = task.encode(tokenizer, languages[0]!, items, 40);
    const longest = Math.max(...items.map((m) => languages[0]!.realize(m.premise).length + languages[0]!.realize(m.hypothesis).length + 4));
    expect(b.sequence).toBe(longest);
    expect(() => task.encode(tokenizer, languages[0]!, items, longest - 1)).toThrow(/does not fit/);
  });

  it('exampleOf cuts one example out of a batch', () => {
    const task = SUITE_TASKS.copa;
    const b = task.encode(tokenizer, languages[1]!, task.meanings(5, 4), 24);
    const T = b.sequence;
    const one = exampleOf(b, 2);
    expect(Array.from(one.ids)).toEqual(Array.from(b.ids.subarray(4 * T, 6 * T)));
    expect([one.sequences, one.examples, one.labels[0]]).toEqual([2, 1, b.labels[2]]);
  });

  it('spanF1 is SQuAD token F1 on spans', () => {
    expect(spanF1(3, 3, 3, 3)).toBe(1);
    expect(spanF1(2, 4, 3, 3)).toBeCloseTo(0.5, 12); // precision 1/3, recall 1
    expect(spanF1(5, 6, 3, 3)).toBe(0);
  });
});

describe('suite tasks through the trainer', () => {
  const graph = useGraph();

  it('loads the shipped base with its own dropout, or with the dropout a run asks for', async () => {
    const own = await loadBase(graph(), SHIPPED_SUITE.base);
    const off = await loadBase(graph(), SHIPPED_SUITE.base, 0);
    try {
      expect([own.encoder.config.hiddenDropoutProb, own.encoder.config.attentionProbsDropoutProb]).toEqual([0.1, 0.1]);
      expect([off.encoder.config.hiddenDropoutProb, off.encoder.config.attentionProbsDropoutProb]).toEqual([0, 0]);
      expect(SUITE_DEFAULTS.dropout).toBe(0);
      expect(() => suiteRunSpec({ out: 'x', dropout: 1 })).toThrow('--dropout must be in [0, 1), got 1');
    } finally {
      own.dispose();
      off.dispose();
    }
  });

  for (const [name, sequence, fisher] of [['nli', 34, 'batch-mean'], ['copa', 24, 'per-example'], ['qa', 32, 'batch-mean']] as [TaskName, number, 'batch-mean' | 'per-example'][]) {
    it(`${name}: trains the task adapter on the source and evaluates every language with its own adapter`, async () => {
      const g = graph();
      const task = SUITE_TASKS[name];
      const config = tinyConfig({ vocabSize: tokenizer.size, maxPositionEmbeddings: sequence + 2, hiddenSize: 16 });
      const model = adapterModel(config);
      const encoder = new Encoder(g, config, 1);
      const languageAdapters = new Map(languages.map((l, i) => [l.code, new BottleneckAdapter(g, l.code, { architecture: 'seq_bn', reductionFactor: 2, invertible: { reductionFactor: 2 } }, model, 10 + i)] as const));
      const taskAdapter = new BottleneckAdapter(g, name, { architecture: 'seq_bn', reductionFactor: 4 }, model, 20);
      const head = task.head(g, config.hiddenSize, 21, 0.1);
      const test = (task.meanings as (s: number, n: number) => unknown[])(99, 12);
      const m = taskModel({
        encoder, languageAdapters, source: 'src', taskAdapter, head,
        encode: (code, items) => (task.encode as (t: WordTokenizer, l: Language, i: readonly unknown[], s: number) => TaskBatch)(tokenizer, languages.find((l) => l.code === code)!, items, sequence),
        train: (task.meanings as (s: number, n: number) => unknown[])(1, 100), dev: (task.meanings as (s: number, n: number) => unknown[])(2, 12),
        batchSize: 6, seed: 5,
      });
      const out = await mkdtemp(join(tmpdir(), `thaw-${name}-`));
      const trainer = new Trainer(g, m.model, m.data, {
        out, steps: 6, lr: 1e-2, schedule: 'gu', k: 3, seed: 5, evalEvery: 3, fisherEvery: 3, fisherBatches: 1, fisherGradients: fisher,
        finalEvaluation: async () => {
          const targets = { l1: await m.evaluate('l1', test), l5: await m.evaluate('l5', test) };
          return { task: name, metric: task.metric, source: { lang: 'src', dev: await m.data.evaluateDev(), test: await m.evaluate('src', test) }, targets, targetAverage: (targets.l1 + targets.l5) / 2 };
        },
      });
      await trainer.run();
      trainer.dispose();
      const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
      expect(results.task).toBe(name);
      for (const v of [results.source.dev, results.source.test, results.targets.l1, results.targets.l5]) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
      const log = (await readFile(join(out, 'log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { fisher?: number[] });
      const tracked = log.filter((l) => l.fisher);
      expect(tracked.length).toBe(2);
      // The trainable top block has a positive tr(F); the frozen bottom one is reported as 0 before it thaws.
      expect(tracked[0]!.fisher![1]).toBeGreaterThan(0);
      expect(tracked[0]!.fisher![0]).toBe(0);
      const events = (await readFile(join(out, 'events.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { step: number; blocks: number[] });
      expect(events.map((e) => [e.step, e.blocks])).toEqual([[0, [1]], [3, [0]]]);
      for (const a of languageAdapters.values()) for (const t of a.params.values()) expect(t.requiresGrad).toBe(false);
      const best = await readFile(join(out, 'checkpoints/best/adapter.safetensors'));
      expect(best.includes(Buffer.from(`adapters.${name}.adapter_down`))).toBe(true);
      expect(best.includes(Buffer.from(`heads.${name}.`))).toBe(true);
      expect(best.includes(Buffer.from('adapters.src.'))).toBe(false);
      head.dispose();
      taskAdapter.dispose();
      for (const a of languageAdapters.values()) a.dispose();
      encoder.dispose();
    });
  }
});
