/**
 * The suite's NLI task in the MAD-X setting: a frozen base, a frozen
 * language adapter per language, a task adapter (trained on the source
 * language only) stacked on the language adapter, and a classification head
 * pooling [first; mean; max] over the real tokens (what the prototype needed
 * to learn the task through a frozen base). Zero-shot evaluation swaps the
 * target language's adapter in under the same task adapter and head.
 */
import type { Tensor } from '@thaw/autograd';
import { mulberry32 } from '@thaw/kernels/reference';
import type { Adapter } from '../adapters/adapter.js';
import { Stack, type StackMember } from '../adapters/stack.js';
import type { Language } from '../data/languages.js';
import { nliExamples, type NliMeaning } from '../data/nli.js';
import { SPECIALS, type WordTokenizer } from '../data/tokenizer.js';
import { ClassificationHead } from '../heads/heads.js';
import type { Encoder, ForwardMode } from '../model/encoder.js';
import type { TaskData, TaskModel } from '../train/trainer.js';


export interface NliBatch {
  ids: Int32Array;
  mask: Float32Array;
  labels: Int32Array;
  batch: number;
  sequence: number;
}

/** Encodes NLI pairs of one language into a batch (pairs padded to `sequence`). */
export function nliBatch(tokenizer: WordTokenizer, language: Language, pairs: readonly NliMeaning[], sequence: number): NliBatch {
  const examples = nliExamples(language, pairs);
  const ids = new Int32Array(examples.length * sequence);
  examples.forEach((e, i) => ids.set(tokenizer.encode(e.premise, e.hypothesis, sequence), i * sequence));
  return {
    ids,
    mask: Float32Array.from(ids, (id) => (id === SPECIALS.pad ? 0 : 1)),
    labels: Int32Array.from(examples, (e) => e.label),
    batch: examples.length,
    sequence,
  };
}

export interface NliTaskArgs {
  encoder: Encoder;
  tokenizer: WordTokenizer;
  /** Language adapters by language code (frozen), the source's among them. */
  languageAdapters: ReadonlyMap<string, StackMember>;
  languages: readonly Language[];
  source: string;
  taskAdapter: StackMember & Adapter;
  head: ClassificationHead;
  train: readonly NliMeaning[];
  dev: readonly NliMeaning[];
  batchSize: number;
  sequence: number;
  seed: number;
}

export function nliTask(a: NliTaskArgs) {
  const language = (code: string) => {
    const l = a.languages.find((x) => x.code === code);
    const adapter = a.languageAdapters.get(code);
    if (!l || !adapter) throw new Error(`no language adapter for '${code}'`);
    return { l, stack: new Stack([adapter, a.taskAdapter]) };
  };
  const source = language(a.source);
  const logits = (b: NliBatch, mode: ForwardMode, stack: Stack): Tensor =>
    a.head.logits(a.encoder.forward({ ids: b.ids, batch: b.batch, sequence: b.sequence, attentionMask: b.mask }, mode, stack), mode, b.mask);
  const sample = (pairs: readonly NliMeaning[], seed: number) => {
    const random = mulberry32(seed);
    return Array.from({ length: a.batchSize }, () => pairs[Math.floor(random() * pairs.length)]!);
  };

  /** Accuracy of the current weights on `pairs` realized in `code`, with that language's adapter. */
  const evaluate = async (code: string, pairs: readonly NliMeaning[]): Promise<number> => {
    const { l, stack } = language(code);
    const graph = a.encoder.graph;
    let right = 0;
    for (let start = 0; start < pairs.length; start += a.batchSize) {
      const b = nliBatch(a.tokenizer, l, pairs.slice(start, start + a.batchSize), a.sequence);
      const z = graph.noGrad(() => graph.scope(() => logits(b, { train: false }, stack)));
      const values = await z.read();
      z.dispose();
      b.labels.forEach((label, r) => {
        const row = values.subarray(3 * r, 3 * r + 3);
        if (row.indexOf(Math.max(...row)) === label) right++;
      });
    }
    return right / pairs.length;
  };

  const taskParams = [...a.taskAdapter.params.values()];
  const model: TaskModel<NliBatch> = {
    params: [...a.encoder.params.values(), ...[...a.languageAdapters.values()].flatMap((x) => [...x.params.values()]), ...taskParams, ...a.head.params.values()],
    blocks: Array.from({ length: a.encoder.config.numHiddenLayers }, (_, i) => a.taskAdapter.block(i)),
    head: [...a.head.params.values()],
    base: [...a.encoder.params.values()],
    loss: (b, mode) => a.head.loss(a.encoder.forward({ ids: b.ids, batch: b.batch, sequence: b.sequence, attentionMask: b.mask }, mode, source.stack), b.labels, mode, b.mask),
    fisherBatch: (b) => ({ size: b.batch, logits: () => logits(b, { train: false }, source.stack) }),
    checkpoint: new Map([...a.taskAdapter.params, ...a.head.params]),
  };
  const data: TaskData<NliBatch> = {
    trainBatch: (step) => nliBatch(a.tokenizer, source.l, sample(a.train, (a.seed * 2_654_435_761 + step) >>> 0), a.sequence),
    fisherBatches: (seed, count) => Array.from({ length: count }, (_, i) => nliBatch(a.tokenizer, source.l, sample(a.train, (seed + i) >>> 0), a.sequence)),
    evaluateDev: () => evaluate(a.source, a.dev),
  };
  return { model, data, evaluate };
}
