/**
 * The task contract: what a task hands the trainer, the tr(F) estimators
 * and the evaluation, whatever its data (the built-in suite's tasks in
 * suite/tasks.ts, the tasks on real files in hub/tasks.ts). A task encodes
 * its examples as a {@link TaskBatch} and builds a {@link TaskHead}: the
 * loss, the logits tr(F) is estimated from, and per-example scores. The
 * heads every task shares are built here: a classifier over sentence pairs
 * and a span extractor.
 */
import { concat, reshape, type Tensor } from '@thaw/autograd';
import type { ClassificationHead, SpanHead } from '../heads/heads.js';
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

/** Dropout of a task head in AdapterHub (its default): what the datasets on real files use. */
export const HEAD_DROPOUT = 0.1;

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
