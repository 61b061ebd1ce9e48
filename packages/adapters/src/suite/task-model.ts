/**
 * A suite task in the MAD-X setting: a frozen base, a frozen language
 * adapter per language, a task adapter (trained on the source language
 * only) stacked on the language adapter, and the task's head. Zero-shot
 * evaluation swaps the target language's adapter in under the same task
 * adapter and head. The result plugs into the Trainer (TaskModel, TaskData).
 */
import type { Tensor } from '@thaw/autograd';
import { mulberry32 } from '@thaw/kernels/reference';
import type { Adapter } from '../adapters/adapter.js';
import { Stack, type StackMember } from '../adapters/stack.js';
import { OptionError, type Language } from '../data/languages.js';
import type { WordTokenizer } from '../data/tokenizer.js';
import type { Encoder, ForwardMode } from '../model/encoder.js';
import type { TaskData, TaskModel } from '../train/trainer.js';
import { exampleOf, type SuiteTask, type TaskBatch, type TaskHead } from './tasks.js';

/** Examples per evaluation batch: no gradients are kept, so larger batches just mean fewer dispatches. */
const EVAL_BATCH = 128;

export interface TaskModelArgs<M> {
  task: SuiteTask<M>;
  encoder: Encoder;
  tokenizer: WordTokenizer;
  /** Language adapters by language code (frozen), the source's among them. */
  languageAdapters: ReadonlyMap<string, StackMember>;
  languages: readonly Language[];
  source: string;
  taskAdapter: StackMember & Adapter;
  head: TaskHead;
  train: readonly M[];
  dev: readonly M[];
  batchSize: number;
  sequence: number;
  seed: number;
}

/** The trainer's view of the task (model, data) and `evaluate`, the metric of any language on any items. */
export function taskModel<M>(a: TaskModelArgs<M>) {
  const language = (code: string) => {
    const l = a.languages.find((x) => x.code === code);
    const adapter = a.languageAdapters.get(code);
    if (!l || !adapter) throw new OptionError(`no language adapter for '${code}'`);
    return { l, stack: new Stack([adapter, a.taskAdapter]) };
  };
  const source = language(a.source);
  const hidden = (b: TaskBatch, mode: ForwardMode, stack: Stack): Tensor =>
    a.encoder.forward({ ids: b.ids, batch: b.sequences, sequence: b.sequence, attentionMask: b.mask }, mode, stack);
  const encode = (l: Language, items: readonly M[]) => a.task.encode(a.tokenizer, l, items, a.sequence);
  const sample = (items: readonly M[], seed: number) => {
    const random = mulberry32(seed);
    return Array.from({ length: a.batchSize }, () => items[Math.floor(random() * items.length)]!);
  };

  /** The mean metric of the current weights on `items` realized in `code`, with that language's adapter. */
  const evaluate = async (code: string, items: readonly M[]): Promise<number> => {
    const { l, stack } = language(code);
    const graph = a.encoder.graph;
    let total = 0;
    for (let start = 0; start < items.length; start += EVAL_BATCH) {
      const b = encode(l, items.slice(start, start + EVAL_BATCH));
      const outputs = graph.noGrad(() => graph.scope(() => a.head.outputs(hidden(b, { train: false }, stack), b)));
      const values = await Promise.all(outputs.map((t) => t.read()));
      for (const t of outputs) t.dispose();
      total += a.head.scores(values, b).reduce((x, y) => x + y, 0);
    }
    return total / items.length;
  };

  const model: TaskModel<TaskBatch> = {
    params: [...a.encoder.params.values(), ...[...a.languageAdapters.values()].flatMap((x) => [...x.params.values()]), ...a.taskAdapter.params.values(), ...a.head.params.values()],
    blocks: Array.from({ length: a.encoder.config.numHiddenLayers }, (_, i) => a.taskAdapter.block(i)),
    head: [...a.head.params.values()],
    base: [...a.encoder.params.values()],
    loss: (b, mode) => a.head.loss(hidden(b, mode, source.stack), b, mode),
    fisherBatch: (b) => ({
      size: b.examples,
      logits: () => a.head.fisherLogits(hidden(b, { train: false }, source.stack), b),
      exampleLogits: (i) => {
        const one = exampleOf(b, i);
        return a.head.fisherLogits(hidden(one, { train: false }, source.stack), one);
      },
    }),
    checkpoint: new Map([...a.taskAdapter.params, ...a.head.params]),
  };
  const data: TaskData<TaskBatch> = {
    trainBatch: (step) => encode(source.l, sample(a.train, (a.seed * 2_654_435_761 + step) >>> 0)),
    fisherBatches: (seed, count) => Array.from({ length: count }, (_, i) => encode(source.l, sample(a.train, (seed + i) >>> 0))),
    evaluateDev: () => evaluate(a.source, a.dev),
  };
  return { model, data, evaluate };
}
