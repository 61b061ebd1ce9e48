/**
 * A task in the MAD-X setting: a frozen base, a frozen language adapter per
 * language, a task adapter (trained on the source language only) stacked on
 * the language adapter, and the task's head. Zero-shot evaluation swaps the
 * target language's adapter in under the same task adapter and head. The
 * result plugs into the Trainer (TaskModel, TaskData). The suite's tasks and
 * the datasets on real files (XNLI, XCOPA, SQuAD-format QA) both use it;
 * they differ only in how items become batches and, for QA over long contexts, in how
 * a language's items are scored.
 */
import type { Tensor } from '@thaw/autograd';
import { mulberry32 } from '@thaw/kernels';
import type { Adapter } from '../adapters/adapter.js';
import { Stack } from '../adapters/stack.js';
import { OptionError } from '../errors/option-error.js';
import type { Encoder, ForwardMode } from '../model/encoder.js';
import type { TaskData, TaskModel } from './trainer.js';
import { exampleOf, type TaskBatch, type TaskHead } from './task.js';

/** Examples per evaluation batch: no gradients are kept, so larger batches just mean fewer dispatches. */
const EVAL_BATCH = 128;

/** The head's evaluation outputs of a batch, read back, with the adapters of one language. */
export type BatchOutputs = (b: TaskBatch) => Promise<Float32Array[]>;

export interface TaskModelArgs<M> {
  encoder: Encoder;
  /** Language adapters by language code (frozen), the source's among them. */
  languageAdapters: ReadonlyMap<string, Adapter>;
  source: string;
  taskAdapter: Adapter;
  head: TaskHead;
  /** Encodes items of the language `code` as one batch (training, Fisher and the default scoring). */
  encode(code: string, items: readonly M[]): TaskBatch | Promise<TaskBatch>;
  train: readonly M[];
  dev: readonly M[];
  batchSize: number;
  seed: number;
  /**
   * The metric of `items` in language `code` when per-batch scores do not
   * add up to it (QA over contexts split into windows); by default the mean
   * of the head's scores over batches of {@link encode}.
   */
  score?(code: string, items: readonly M[], outputs: BatchOutputs): Promise<number>;
}

/** The trainer's view of the task (model, data) and `evaluate`, the metric of any language on any items. */
export function taskModel<M>(a: TaskModelArgs<M>) {
  const stackOf = (code: string) => {
    const adapter = a.languageAdapters.get(code);
    if (!adapter) throw new OptionError(`no language adapter for '${code}'`);
    return new Stack([adapter, a.taskAdapter]);
  };
  const source = stackOf(a.source);
  const hidden = (b: TaskBatch, mode: ForwardMode, stack: Stack): Tensor =>
    a.encoder.forward({ ids: b.ids, batch: b.sequences, sequence: b.sequence, attentionMask: b.mask, ...(b.tokenTypes ? { tokenTypes: b.tokenTypes } : {}) }, mode, stack);
  const sample = (items: readonly M[], seed: number) => {
    const random = mulberry32(seed);
    return Array.from({ length: a.batchSize }, () => items[Math.floor(random() * items.length)]!);
  };

  /** Evaluation outputs of batches run with the adapters of `code`. */
  const outputsOf = (code: string): BatchOutputs => {
    const stack = stackOf(code);
    const graph = a.encoder.graph;
    return async (b) => {
      const outputs = graph.noGrad(() => graph.scope(() => a.head.outputs(hidden(b, { train: false }, stack), b)));
      const values = await Promise.all(outputs.map((t) => t.read()));
      for (const t of outputs) t.dispose();
      return values;
    };
  };

  /** The metric of the current weights on `items` in language `code`, with that language's adapter. */
  const evaluate = async (code: string, items: readonly M[]): Promise<number> => {
    const outputs = outputsOf(code);
    if (a.score) return a.score(code, items, outputs);
    const scores = a.head.scores;
    if (!scores) throw new Error('taskModel: the head has no per-batch scores, so the task must give score()');
    let total = 0;
    for (let start = 0; start < items.length; start += EVAL_BATCH) {
      const b = await a.encode(code, items.slice(start, start + EVAL_BATCH));
      total += scores(await outputs(b), b).reduce((x, y) => x + y, 0);
    }
    return total / items.length;
  };

  const model: TaskModel<TaskBatch> = {
    params: [...a.encoder.params.values(), ...[...a.languageAdapters.values()].flatMap((x) => [...x.params.values()]), ...a.taskAdapter.params.values(), ...a.head.params.values()],
    blocks: Array.from({ length: a.encoder.config.numHiddenLayers }, (_, i) => a.taskAdapter.block(i)),
    head: [...a.head.params.values()],
    base: [...a.encoder.params.values()],
    loss: (b, mode) => a.head.loss(hidden(b, mode, source), b, mode),
    fisherBatch: (b) => ({
      size: b.examples,
      logits: () => a.head.fisherLogits(hidden(b, { train: false }, source), b),
      exampleLogits: (i) => {
        const one = exampleOf(b, i);
        return a.head.fisherLogits(hidden(one, { train: false }, source), one);
      },
    }),
    checkpoint: new Map([...a.taskAdapter.params, ...a.head.params]),
  };
  const data: TaskData<TaskBatch> = {
    trainBatch: (step) => a.encode(a.source, sample(a.train, (a.seed * 2_654_435_761 + step) >>> 0)),
    fisherBatches: (seed, count) => Promise.all(Array.from({ length: count }, (_, i) => a.encode(a.source, sample(a.train, (seed + i) >>> 0)))),
    evaluateDev: () => evaluate(a.source, a.dev),
  };
  return { model, data, evaluate };
}
