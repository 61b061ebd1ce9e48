/**
 * Masked-language-model batches and the MLM task for pretraining a base model
 * on the suite's corpora and training MAD-X language adapters (base frozen,
 * one language's corpus).
 *
 * Masking as BERT and XLM-R: 15% of the real tokens are chosen; of those 80%
 * become <mask>, 10% a random word, 10% stay; the loss counts only the chosen
 * positions (labels elsewhere are −100). Special tokens and padding are never
 * chosen.
 */
import type { Tensor } from '@thaw/autograd';
import { mulberry32 } from '@thaw/kernels';
import type { MaskedLmHead } from '../heads/heads.js';
import type { AdapterSetup, Encoder } from '../model/encoder.js';
import type { TaskData, TaskModel } from '../train/trainer.js';
import { OptionError } from '../errors/option-error.js';
import { SPECIALS, type WordTokenizer } from './tokenizer.js';

export interface MlmBatch {
  ids: Int32Array;
  labels: Int32Array;
  batch: number;
  sequence: number;
}

/** Masks encoded sequences (a copy); `random` drives every choice. */
export function maskTokens(ids: Int32Array, vocabSize: number, random: () => number, rate = 0.15): { ids: Int32Array; labels: Int32Array } {
  const masked = Int32Array.from(ids);
  const labels = new Int32Array(ids.length).fill(-100);
  const firstWord = SPECIALS.mask + 1;
  for (let i = 0; i < ids.length; i++) {
    if (ids[i]! < firstWord || random() >= rate) continue;
    labels[i] = ids[i]!;
    const u = random();
    if (u < 0.8) masked[i] = SPECIALS.mask;
    else if (u < 0.9) masked[i] = firstWord + Math.floor(random() * (vocabSize - firstWord));
  }
  return { ids: masked, labels };
}

/**
 * The MLM task over sentence pairs: batch `step` is a function of the seed
 * and the step only (so resume is exact), drawn from `pairs` (one language
 * for a language adapter, all languages mixed for the base).
 */
export function mlmTask(args: {
  encoder: Encoder;
  head: MaskedLmHead;
  tokenizer: WordTokenizer;
  pairs: readonly [string[], string[]][];
  devPairs: readonly [string[], string[]][];
  batchSize: number;
  sequence: number;
  seed: number;
  /** Task-adapter-style blocks (a language adapter's layers), or none for base pretraining. */
  blocks: readonly (readonly Tensor[])[];
  /** Every parameter the optimizer knows. */
  params: readonly Tensor[];
  /** Active adapters (a language adapter being trained), if any. */
  adapters?: AdapterSetup;
  /** Parameters trained from step 0 besides the head (a language adapter's invertible part). */
  alsoTrainable?: readonly Tensor[];
  /** Whether the MLM head trains (default true; MAD-X language adapters keep it as pretrained). */
  trainHead?: boolean;
  /** What the best checkpoint holds, by name (the base with its head, or a language adapter). */
  checkpoint: ReadonlyMap<string, Tensor>;
}): { model: TaskModel<MlmBatch>; data: TaskData<MlmBatch> } {
  const { encoder, head, tokenizer, batchSize, sequence } = args;
  const longest = Math.max(...[...args.pairs, ...args.devPairs].map(([x, y]) => x.length + y.length + 4));
  if (longest > sequence) throw new OptionError(`--sequence ${sequence} is too short: the corpus has pairs of ${longest} tokens`);
  if (sequence + encoder.config.positionOffset > encoder.config.maxPositionEmbeddings) {
    throw new OptionError(`--sequence ${sequence} exceeds the base model's ${encoder.config.maxPositionEmbeddings - encoder.config.positionOffset} positions`);
  }
  const graph = encoder.graph;
  const batchOf = (pairs: readonly [string[], string[]][], seed: number): MlmBatch => {
    const random = mulberry32(seed);
    const ids = new Int32Array(batchSize * sequence);
    const labels = new Int32Array(batchSize * sequence);
    for (let b = 0; b < batchSize; b++) {
      const [x, y] = pairs[Math.floor(random() * pairs.length)]!;
      const masked = maskTokens(tokenizer.encode(x, y, sequence), tokenizer.size, random);
      ids.set(masked.ids, b * sequence);
      labels.set(masked.labels, b * sequence);
    }
    return { ids, labels, batch: batchSize, sequence };
  };
  const hidden = (b: MlmBatch, train: boolean, step: number) => encoder.forward(
    { ids: b.ids, batch: b.batch, sequence: b.sequence, attentionMask: Float32Array.from(b.ids, (id) => (id === SPECIALS.pad ? 0 : 1)) },
    { train, seed: args.seed, step }, args.adapters);
  const dev = Array.from({ length: 4 }, (_, i) => batchOf(args.devPairs, 1_000_000 + i));
  const model: TaskModel<MlmBatch> = {
    params: args.params,
    blocks: args.blocks,
    head: [...(args.trainHead === false ? [] : head.params.values()), ...(args.alsoTrainable ?? [])],
    base: [...encoder.params.values()],
    loss: (b, mode) => head.loss(hidden(b, mode.train, mode.step ?? 0), b.labels, args.adapters),
    fisherBatch: (b) => ({ size: b.batch, logits: () => head.logits(hidden(b, false, 0), args.adapters) }),
    checkpoint: args.checkpoint,
  };
  const data: TaskData<MlmBatch> = {
    trainBatch: (step) => batchOf(args.pairs, (args.seed * 2_654_435_761 + step) >>> 0),
    fisherBatches: (seed, count) => Array.from({ length: count }, (_, i) => batchOf(args.pairs, (seed + i) >>> 0)),
    async evaluateDev() {
      // Masked-token accuracy on fixed dev batches.
      let right = 0;
      let total = 0;
      for (const b of dev) {
        const logits = graph.noGrad(() => graph.scope(() => head.logits(hidden(b, false, 0), args.adapters)));
        const values = await logits.read();
        logits.dispose();
        const V = tokenizer.size;
        b.labels.forEach((label, i) => {
          if (label < 0) return;
          total++;
          const row = values.subarray(i * V, (i + 1) * V);
          let best = 0;
          for (let v = 1; v < V; v++) if (row[v]! > row[best]!) best = v;
          if (best === label) right++;
        });
      }
      return total ? right / total : 0;
    },
  };
  return { model, data };
}
