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
import type { Graph } from '@thaw/autograd';
import { copaExamples, copaMeanings, type CopaMeaning } from './copa.js';
import { OptionError } from '../errors/option-error.js';
import { type Language } from './languages.js';
import type { Meaning } from './meanings.js';
import { nliExamples, nliMeanings, type NliMeaning } from './nli.js';
import { qaExamples, qaMeanings, type QaMeaning } from './qa.js';
import { SPECIALS, type WordTokenizer } from './tokenizer.js';
import { ClassificationHead, MultipleChoiceHead, SpanHead } from '../heads/heads.js';
import { pairClassifier, spanTaskHead, type TaskBatch, type TaskHead } from '../train/task.js';

/** One task of the suite. */
export interface SuiteTask<M> {
  name: TaskName;
  /** What {@link TaskHead.scores} averages to. */
  metric: 'accuracy' | 'f1';
  /** Multiple choice: the choices of an example, each encoded as a sequence (one sequence per example when absent). */
  choices?: number;
  meanings(seed: number, n: number): M[];
  /** Encodes items of one language, padded to the batch's longest sequence, at most `sequence` tokens. */
  encode(tokenizer: WordTokenizer, language: Language, items: readonly M[], sequence: number): TaskBatch;
  /** The task's head; `dropout` is its dropout rate while training. */
  head(graph: Graph, hidden: number, seed: number, dropout: number): TaskHead;
}

export type TaskName = 'nli' | 'copa' | 'qa';

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
  choices: 2,
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
  if (!task) throw new OptionError(`unknown task '${name}'; the suite has ${Object.keys(SUITE_TASKS).join(', ')}`);
  return task;
}
