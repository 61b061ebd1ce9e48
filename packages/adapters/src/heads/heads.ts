/**
 * Prediction heads on top of the encoder's hidden states [B, T, D]. All are
 * trainable from step 0 under every schedule (paper Fig. 1 caption; docs/method.md §1).
 *
 *   classification   z = W_out · dropout(tanh(W · dropout(p) + b)) + b_out, p = the first token
 *                    (AdapterHub's flex head: heads.{name}.1 = dense, heads.{name}.4 = output),
 *                    or p = [first; mean; max] over the real tokens (`first-mean-max`: what the
 *                    suite's prototype needed to learn NLI through a frozen base), or
 *                    p = [first; mean(a); max(a); mean(b); max(b); mean(b) − mean(a); max(b) − max(a)]
 *                    over the two sequences a, b of a pair (`pair-mean-max`: the differences let
 *                    the head see what the second sequence has that the first lacks, like the
 *                    sentence-pair features of InferSent-style NLI heads)
 *   multiple choice  the same on each choice's first token, one score per choice,
 *                    softmax over the choices (input [B·choices, T, D])
 *   span QA          [start, end] = dropout(h)·Wᵀ + b per token (heads.{name}.1), one
 *                    cross-entropy over positions for the start and one for the end, averaged
 *   masked LM        z = E · LN(gelu(W·h + b)) + bias, the decoder tied to the word
 *                    embeddings E (Hugging Face: lm_head.dense, lm_head.layer_norm, lm_head.bias)
 */
import { add, concat, crossEntropy, dropout, gelu, layerNorm, linear, maxPool, meanPool, reshape, scale, sliceColumns, tanh, type DropoutRandomness, type Graph, type Tensor } from '@thaw/autograd';
import { normal, uniform } from '../model/random.js';
import { stepSeed, type AdapterSetup, type ForwardMode } from '../model/encoder.js';

/** What every head has: its parameters by name. */
abstract class Head {
  readonly params = new Map<string, Tensor>();
  protected readonly random: () => number;

  constructor(protected readonly graph: Graph, readonly name: string, seed: number) {
    this.random = uniform(seed);
  }

  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
  }

  protected dense(name: string, out: number, inp: number): void {
    this.params.set(`${name}.weight`, this.graph.parameter(normal(out * inp, 0.02, this.random), [out, inp], `${name}.weight`));
    this.params.set(`${name}.bias`, this.graph.parameter(new Float32Array(out), [out], `${name}.bias`));
  }

  protected apply(name: string, x: Tensor): Tensor {
    return linear(x, this.params.get(`${name}.weight`)!, this.params.get(`${name}.bias`)!);
  }
}

/** Dropout for a head, with its own stream range so it never reuses the encoder's masks. */
function headDropout(x: Tensor, p: number, mode: ForwardMode, site: number): Tensor {
  if (!mode.train || p === 0) return x;
  const random: DropoutRandomness = { seed: stepSeed(mode.seed ?? 0, mode.step ?? 0), stream: ((mode.microBatch ?? 0) * 1024 + 1000 + site) >>> 0 };
  return dropout(x, p, random);
}

/** The first token's hidden state of each sequence: [B, T, D] → [B, D]. */
export function firstToken(h: Tensor): Tensor {
  const [B, T, D] = h.shape as [number, number, number];
  return sliceColumns(reshape(h, [B, T * D]), 0, D);
}

/** What a classification head pools: see the file header. */
export type Pooling = 'first' | 'first-mean-max' | 'pair-mean-max';

/** Token masks each pooling averages and maxes over, and its width in units of D. */
const POOLED_SPANS: Record<Pooling, { spans: number; width: number }> = {
  first: { spans: 0, width: 1 }, 'first-mean-max': { spans: 1, width: 3 }, 'pair-mean-max': { spans: 2, width: 7 },
};

export class ClassificationHead extends Head {
  constructor(graph: Graph, name: string, readonly hidden: number, readonly classes: number, readonly dropoutRate: number, seed: number, readonly pooling: Pooling = 'first') {
    super(graph, name, seed);
    this.dense(`heads.${name}.1`, hidden, POOLED_SPANS[pooling].width * hidden);
    this.dense(`heads.${name}.4`, classes, hidden);
  }

  /**
   * The pooled representation [B, width·D] (see the file header). `masks`
   * ([B·T] each, 1 for a token of the span): the real tokens for
   * `first-mean-max` (all tokens when omitted); the first and the second
   * sequence for `pair-mean-max`.
   */
  pool(h: Tensor, masks: readonly Float32Array[] = []): Tensor {
    const { spans } = POOLED_SPANS[this.pooling];
    if (!spans) return firstToken(h);
    const [B, T] = h.shape as [number, number, number];
    const given = masks.length || spans !== 1 ? masks : [new Float32Array(B * T).fill(1)];
    if (given.length !== spans) throw new Error(`heads.${this.name}: ${this.pooling} pooling needs ${spans} token masks, got ${given.length}`);
    const pooled = given.map((m) => [meanPool(h, m), maxPool(h, this.graph.tensor(m, [B, T], 'pool.mask'))] as const);
    const differences = spans === 2 ? [0, 1].map((k) => add(pooled[1]![k]!, scale(pooled[0]![k]!, -1))) : [];
    return concat([firstToken(h), ...pooled.flat(), ...differences]);
  }

  /** Logits [B, classes] (for multiple choice: [B·choices, 1]). */
  logits(h: Tensor, mode: ForwardMode, masks?: readonly Float32Array[]): Tensor {
    const x = headDropout(this.pool(h, masks), this.dropoutRate, mode, 0);
    const pooled = tanh(this.apply(`heads.${this.name}.1`, x));
    return this.apply(`heads.${this.name}.4`, headDropout(pooled, this.dropoutRate, mode, 1));
  }

  loss(h: Tensor, labels: Int32Array, mode: ForwardMode, masks?: readonly Float32Array[]): Tensor {
    return crossEntropy(this.logits(h, mode, masks), labels);
  }
}

/** Multiple choice (XCOPA-style): hidden states of every (example, choice) pair, one score per choice. */
export class MultipleChoiceHead extends ClassificationHead {
  constructor(graph: Graph, name: string, hidden: number, readonly choices: number, dropoutRate: number, seed: number, pooling: Pooling = 'first') {
    super(graph, name, hidden, 1, dropoutRate, seed, pooling);
  }

  /** Scores [B, choices] from hidden states [B·choices, T, D]. */
  override logits(h: Tensor, mode: ForwardMode, masks?: readonly Float32Array[]): Tensor {
    const scores = super.logits(h, mode, masks);
    return reshape(scores, [scores.size / this.choices, this.choices]);
  }
}

/** Span extraction (XQuAD/MLQA-style): start and end logits over the positions of each sequence. */
export class SpanHead extends Head {
  constructor(graph: Graph, name: string, readonly hidden: number, readonly dropoutRate: number, seed: number) {
    super(graph, name, seed);
    // AdapterHub's QA head is [Dropout, Linear]: the linear layer is index 1.
    this.dense(`heads.${name}.1`, 2, hidden);
  }

  /** { start, end }: logits [B, T] each. */
  logits(h: Tensor, mode: ForwardMode = { train: false }): { start: Tensor; end: Tensor } {
    const [B, T] = h.shape as [number, number, number];
    const both = reshape(this.apply(`heads.${this.name}.1`, headDropout(h, this.dropoutRate, mode, 0)), [B * T, 2]);
    return { start: reshape(sliceColumns(both, 0, 1), [B, T]), end: reshape(sliceColumns(both, 1, 1), [B, T]) };
  }

  /** (CE(start) + CE(end)) / 2, positions given per sequence (−100: ignore). */
  loss(h: Tensor, starts: Int32Array, ends: Int32Array, mode: ForwardMode = { train: false }): Tensor {
    const { start, end } = this.logits(h, mode);
    const total = add(crossEntropy(start, starts), crossEntropy(end, ends));
    return scale(total, 0.5);
  }
}

/** Masked-LM head with the decoder tied to the word embeddings. */
export class MaskedLmHead extends Head {
  constructor(graph: Graph, readonly hidden: number, readonly wordEmbeddings: Tensor, readonly eps: number, seed: number) {
    super(graph, 'lm_head', seed);
    this.dense('lm_head.dense', hidden, hidden);
    this.params.set('lm_head.layer_norm.weight', graph.parameter(new Float32Array(hidden).fill(1), [hidden], 'lm_head.layer_norm.weight'));
    this.params.set('lm_head.layer_norm.bias', graph.parameter(new Float32Array(hidden), [hidden], 'lm_head.layer_norm.bias'));
    const vocab = wordEmbeddings.shape[0]!;
    this.params.set('lm_head.bias', graph.parameter(new Float32Array(vocab), [vocab], 'lm_head.bias'));
  }

  /**
   * Vocabulary logits [B·T, vocab]. With active adapters, their invertible
   * adapter's inverse comes after the transform and before the projection
   * (AdapterHub's rule for language adapters).
   */
  logits(h: Tensor, adapters?: AdapterSetup): Tensor {
    const [B, T, D] = h.shape as [number, number, number];
    const x = gelu(this.apply('lm_head.dense', reshape(h, [B * T, D])));
    const normed = layerNorm(x, this.params.get('lm_head.layer_norm.weight')!, this.params.get('lm_head.layer_norm.bias')!, this.eps);
    const back = adapters?.embeddingsInverse ? adapters.embeddingsInverse(normed) : normed;
    return linear(back, this.wordEmbeddings, this.params.get('lm_head.bias')!);
  }

  /** Mean cross-entropy over the masked positions (labels −100 elsewhere). */
  loss(h: Tensor, labels: Int32Array, adapters?: AdapterSetup): Tensor {
    return crossEntropy(this.logits(h, adapters), labels);
  }
}
