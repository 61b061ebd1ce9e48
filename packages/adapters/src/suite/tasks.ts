/**
 * The suite's three tasks behind one contract, so training, Fisher
 * estimation, zero-shot evaluation and the CLI treat them alike:
 *
 *   nli   premise/hypothesis pairs, 3 classes, a [first; mean; max] head (XNLI-like), accuracy
 *   copa  two (cause, effect) candidate pairs per example, one score each (XCOPA-like), accuracy
 *   qa    question + context, start/end logits over positions (XQuAD/MLQA-like), token F1
 *
 * A task turns meanings of one language into a {@link TaskBatch} (token ids
 * in RoBERTa's pair format, padded) and builds a {@link TaskHead}: the loss,
 * the logits tr(F) is estimated from, and per-example scores for evaluation.
 * Adding a task means adding one entry to {@link SUITE_TASKS}.
 */
import { concat, reshape, type Graph, type Tensor } from '@thaw/autograd';
import { copaExamples, copaMeanings, type CopaMeaning } from '../data/copa.js';
import { OptionError, type Language } from '../data/languages.js';
import type { Meaning } from '../data/meanings.js';
import { nliExamples, nliMeanings, type NliMeaning } from '../data/nli.js';
import { qaExamples, qaMeanings, type QaMeaning } from '../data/qa.js';
import { SPECIALS, type WordTokenizer } from '../data/tokenizer.js';
import { ClassificationHead, MultipleChoiceHead, SpanHead } from '../heads/heads.js';
import type { ForwardMode } from '../model/encoder.js';

/** Encoded sequences of one batch. */
export interface TaskBatch {
  /** Token ids [sequences · sequence]. */
  ids: Int32Array;
  /** 1 for tokens, 0 for padding, like ids. */
  mask: Float32Array;
  /** Rows of ids (for COPA, 2 per example). */
  sequences: number;
  sequence: number;
  /** Examples in the batch. */
  examples: number;
  /** NLI: the class; COPA: the right choice; QA: the answer's start position. */
  labels: Int32Array;
  /** QA: the answer's (inclusive) end position. */
  ends?: Int32Array;
  /** QA: the first and last position of each context, where answers may be predicted. */
  spans?: Int32Array;
  /** Token masks of the first and the second sequence of each pair (specials excluded), for heads that pool them apart. */
  pairMasks?: [Float32Array, Float32Array];
  /** Token type ids like ids (BERT's segment ids); all 0 when absent. */
  tokenTypes?: Int32Array;
}

/** A task's head with everything the trainer and the evaluation need from it. */
export interface TaskHead {
  params: Map<string, Tensor>;
  /** Scalar training loss from the encoder's hidden states [sequences, T, D]. */
  loss(h: Tensor, b: TaskBatch, mode: ForwardMode): Tensor;
  /** Evaluation logits [rows, classes] that tr(F) is estimated from. */
  fisherLogits(h: Tensor, b: TaskBatch): Tensor;
  /** What evaluation reads back, from evaluation-mode hidden states. */
  outputs(h: Tensor, b: TaskBatch): Tensor[];
  /**
   * Each example's score in [0, 1] (1 = right) from the values of
   * {@link outputs}; absent when the task scores its items itself (QA over
   * contexts split into windows: see TaskModelArgs.score).
   */
  scores?(values: Float32Array[], b: TaskBatch): number[];
  dispose(): void;
}

/** Example `i` of a batch alone (for per-example gradients). */
export function exampleOf(b: TaskBatch, i: number): TaskBatch {
  const rows = b.sequences / b.examples;
  const T = b.sequence;
  return {
    ids: b.ids.slice(i * rows * T, (i + 1) * rows * T), mask: b.mask.slice(i * rows * T, (i + 1) * rows * T),
    sequences: rows, sequence: T, examples: 1, labels: b.labels.slice(i, i + 1),
    ...(b.pairMasks ? { pairMasks: [b.pairMasks[0].slice(i * rows * T, (i + 1) * rows * T), b.pairMasks[1].slice(i * rows * T, (i + 1) * rows * T)] as [Float32Array, Float32Array] } : {}),
    ...(b.ends ? { ends: b.ends.slice(i, i + 1) } : {}), ...(b.spans ? { spans: b.spans.slice(2 * i, 2 * i + 2) } : {}),
    ...(b.tokenTypes ? { tokenTypes: b.tokenTypes.slice(i * rows * T, (i + 1) * rows * T) } : {}),
  };
}

/** One task of the suite. */
export interface SuiteTask<M> {
  name: TaskName;
  /** What {@link TaskHead.scores} averages to. */
  metric: 'accuracy' | 'f1';
  meanings(seed: number, n: number): M[];
  /** Encodes items of one language, padded to the batch's longest sequence, at most `sequence` tokens. */
  encode(tokenizer: WordTokenizer, language: Language, items: readonly M[], sequence: number): TaskBatch;
  /** The task's head; `dropout` is its dropout rate while training. */
  head(graph: Graph, hidden: number, seed: number, dropout: number): TaskHead;
}

export type TaskName = 'nli' | 'copa' | 'qa';

/** Dropout of a task head in AdapterHub (its default): what the real benchmarks use. */
export const HEAD_DROPOUT = 0.1;

/**
 * Token-id pairs in RoBERTa's pair format, padded to the longest pair of the
 * batch (at most `limit`): short batches cost less than the model's full length.
 */
function encodePairs(tokenizer: WordTokenizer, pairs: readonly (readonly [string[], string[]])[], limit: number) {
  const longest = Math.max(1, ...pairs.map(([a, b]) => a.length + b.length + 4));
  const sequence = Math.min(limit, longest);
  const ids = new Int32Array(pairs.length * sequence);
  const first = new Float32Array(pairs.length * sequence);
  const second = new Float32Array(pairs.length * sequence);
  pairs.forEach(([a, b], i) => {
    ids.set(tokenizer.encode(a, b, sequence), i * sequence);
    // <s> a </s></s> b </s>: a at 1…|a|, b at |a|+3…|a|+|b|+2.
    first.fill(1, i * sequence + 1, i * sequence + 1 + a.length);
    second.fill(1, i * sequence + a.length + 3, i * sequence + a.length + 3 + b.length);
  });
  const mask = Float32Array.from(ids, (id) => (id === SPECIALS.pad ? 0 : 1));
  return { ids, mask, sequence, pairMasks: [first, second] as [Float32Array, Float32Array] };
}

/** Row-wise argmax of logits [rows, C] compared with labels: 1 or 0 per row. */
export function argmaxScores(values: Float32Array, labels: Int32Array): number[] {
  const C = values.length / labels.length;
  return Array.from(labels, (label, r) => {
    const row = values.subarray(r * C, (r + 1) * C);
    return row.indexOf(Math.max(...row)) === label ? 1 : 0;
  });
}

/** A classifier over sentence pairs (NLI's classes, or COPA's choices), with the head's pooling (pair-mean-max pools each sequence apart). */
export function pairClassifier(head: ClassificationHead): TaskHead {
  const logits = (h: Tensor, b: TaskBatch) => head.logits(h, { train: false }, b.pairMasks);
  return {
    params: head.params,
    loss: (h, b, mode) => head.loss(h, b.labels, mode, b.pairMasks),
    fisherLogits: logits,
    outputs: (h, b) => [logits(h, b)],
    scores: ([z], b) => argmaxScores(z!, b.labels),
    dispose: () => head.dispose(),
  };
}

const nli: SuiteTask<NliMeaning> = {
  name: 'nli',
  metric: 'accuracy',
  meanings: nliMeanings,
  encode(tokenizer, language, items, sequence) {
    const examples = nliExamples(language, items);
    const encoded = encodePairs(tokenizer, examples.map((e) => [e.premise, e.hypothesis] as const), sequence);
    return { ...encoded, sequences: examples.length, examples: examples.length, labels: Int32Array.from(examples, (e) => e.label) };
  },
  head(graph, hidden, seed, dropout) {
    return pairClassifier(new ClassificationHead(graph, 'nli', hidden, 3, dropout, seed, 'pair-mean-max'));
  },
};

/**
 * COPA: each alternative is paired with the premise in causal order, cause
 * first: `<s> premise </s></s> alternative </s>` for an effect question and
 * `<s> alternative </s></s> premise </s>` for a cause question, so one
 * scorer judges "A leads to B" for both questions without a question token.
 */
const copa: SuiteTask<CopaMeaning> = {
  name: 'copa',
  metric: 'accuracy',
  meanings: copaMeanings,
  encode(tokenizer, language, items, sequence) {
    const examples = copaExamples(language, items);
    const pairs = examples.flatMap((e) => e.choices.map((choice) => (e.question === 'effect' ? [e.premise, choice] as const : [choice, e.premise] as const)));
    const encoded = encodePairs(tokenizer, pairs, sequence);
    return { ...encoded, sequences: 2 * examples.length, examples: examples.length, labels: Int32Array.from(examples, (e) => e.label) };
  },
  head(graph, hidden, seed, dropout) {
    return pairClassifier(new MultipleChoiceHead(graph, 'copa', hidden, 2, dropout, seed, 'pair-mean-max'));
  },
};

const withoutAdjectives = (m: Meaning): Meaning => ({ ...m, subject: { noun: m.subject.noun, cls: m.subject.cls }, object: { noun: m.object.noun, cls: m.object.cls } });

/** Longest answer the QA decoder considers, in tokens. */
const MAX_ANSWER = 3;

/**
 * QA: `<s> question </s></s> context </s>`. Contexts have two clauses; when
 * a language's realization does not fit the sequence, the context's
 * adjectives are dropped (they are never the answer). Prediction takes the
 * best start + end inside the context with end − start < MAX_ANSWER; the
 * score is SQuAD's token F1 between the predicted and the gold span.
 */
const qa: SuiteTask<QaMeaning> = {
  name: 'qa',
  metric: 'f1',
  meanings: (seed, n) => qaMeanings(seed, n, 2),
  encode(tokenizer, language, items, sequence) {
    const n = items.length;
    const labels = new Int32Array(n);
    const ends = new Int32Array(n);
    const spans = new Int32Array(2 * n);
    const examples = items.map((item, i) => {
      let [e] = qaExamples(language, [item]);
      if (e!.context.length + e!.question.length + 4 > sequence) [e] = qaExamples(language, [{ ...item, context: item.context.map(withoutAdjectives) }]);
      // Context tokens start after <s> question </s></s>.
      const first = e!.question.length + 3;
      labels[i] = first + e!.start;
      ends[i] = first + e!.end;
      spans.set([first, first + e!.context.length - 1], 2 * i);
      return [e!.question, e!.context] as const;
    });
    return { ...encodePairs(tokenizer, examples, sequence), sequences: n, examples: n, labels, ends, spans };
  },
  head(graph, hidden, seed, dropout) {
    return {
      ...spanTaskHead(new SpanHead(graph, 'qa', hidden, dropout, seed)),
      scores: ([s, e], b) => {
        return Array.from({ length: b.examples }, (_, i) => {
          const [first, last] = [b.spans![2 * i]!, b.spans![2 * i + 1]!];
          let best = { score: -Infinity, start: first, end: first };
          for (let p = first; p <= last; p++) {
            for (let q = p; q <= Math.min(last, p + MAX_ANSWER - 1); q++) {
              const score = s![i * b.sequence + p]! + e![i * b.sequence + q]!;
              if (score > best.score) best = { score, start: p, end: q };
            }
          }
          return spanF1(best.start, best.end, b.labels[i]!, b.ends![i]!);
        });
      },
    };
  },
};

/**
 * A span head's loss, Fisher logits and evaluation outputs (start and end
 * logits [B, T]); the suite's QA and SQuAD-format QA add their own scoring.
 */
export function spanTaskHead(head: SpanHead): Omit<TaskHead, 'scores'> {
  return {
    params: head.params,
    loss: (h, b, mode) => head.loss(h, b.labels, b.ends!, mode),
    // Start and end are two classifications over positions: rows [2·B, T].
    // [B, 2T] holds each example's start row followed by its end row.
    fisherLogits: (h, b) => {
      const { start, end } = head.logits(h, { train: false });
      return reshape(concat([start, end]), [2 * b.examples, b.sequence]);
    },
    outputs: (h) => {
      const { start, end } = head.logits(h, { train: false });
      return [start, end];
    },
    dispose: () => head.dispose(),
  };
}

/** SQuAD's token F1 between two inclusive spans of positions. */
export function spanF1(start: number, end: number, goldStart: number, goldEnd: number): number {
  const overlap = Math.max(0, Math.min(end, goldEnd) - Math.max(start, goldStart) + 1);
  if (overlap === 0) return 0;
  const precision = overlap / (end - start + 1);
  const recall = overlap / (goldEnd - goldStart + 1);
  return (2 * precision * recall) / (precision + recall);
}

/** The suite's tasks by name. */
export const SUITE_TASKS = { nli, copa, qa } as const;

/** The task named `name`, or an error listing the tasks. */
export function suiteTask(name: string): SuiteTask<unknown> {
  const task = (SUITE_TASKS as Record<string, SuiteTask<unknown>>)[name];
  if (!task) throw new OptionError(`--task: unknown task '${name}'; the suite has ${Object.keys(SUITE_TASKS).join(', ')}`);
  return task;
}
