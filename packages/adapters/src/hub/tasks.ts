/**
 * The cross-lingual datasets Thaw trains and evaluates on from real files,
 * behind one contract like the suite's tasks (suite/tasks.ts), for a Hugging
 * Face encoder and its tokenizer.json:
 *
 *   xnli   MNLI / XNLI-MT training TSV, XNLI dev and test TSV; 3 classes, accuracy
 *   xcopa  COPA training JSONL, XCOPA test JSONL per language; 2 choices, accuracy
 *   squad  SQuAD v1.1 training JSON, XQuAD / MLQA / TyDiQA-GoldP per language; span F1
 *
 * Heads are AdapterHub's (the first token through a tanh layer for xnli and
 * xcopa, a linear span head for squad), so trained heads load in PyTorch.
 * `files` says where a task looks for each split in the `--data` folder: the
 * file names of the official distributions, at the top of the folder or in
 * the distribution's own sub-folders. QA trains on every window of each
 * context (those without the answer target the first token) and evaluates
 * by decoding the best span over all of a context's windows, as Hugging
 * Face run_qa.py does.
 */
import { existsSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import type { Graph } from '@thaw/autograd';
import { copaPairs, readCopa, type TextCopaExample } from '../datasets/copa.js';
import { f1, MLQA_LANGUAGES, type AnswerMetricOptions, type MlqaLanguage } from '../datasets/metrics.js';
import { decodeBestSpan, qaFeatures, readSquad, type TextQaExample, type QaFeature } from '../datasets/squad.js';
import { readMnliTrain, readXnli, type TextNliExample } from '../datasets/xnli.js';
import { OptionError } from '../errors/option-error.js';
import type { EncodedInput, HfTokenizer } from '../formats/hf-tokenizer.js';
import { ClassificationHead, MultipleChoiceHead, SpanHead } from '../heads/heads.js';
import { InputFileError } from '../errors/input-error.js';
import { HEAD_DROPOUT, pairClassifier, spanTaskHead, type TaskBatch, type TaskHead } from '../train/task.js';
import type { BatchOutputs } from '../train/task-model.js';

export type DatasetName = 'xnli' | 'xcopa' | 'squad';
export type Split = 'train' | 'dev' | 'test';

/** How a dataset's items become batches, with a tokenizer and a length limit. */
export interface Encoding {
  tokenizer: HfTokenizer;
  /** Longest sequence, special tokens included. */
  maxLength: number;
}

/** One dataset on real files. */
export interface DatasetTask<M> {
  name: DatasetName;
  metric: 'accuracy' | 'f1';
  /** Multiple choice: the choices of an example, each encoded as a sequence (one sequence per example when absent). */
  choices?: number;
  /** Candidate paths of a split's file for a language, relative to the data folder, in the order tried. */
  files(split: Split, lang: string): string[];
  /** Reads a split's items for a language from its file. */
  read(path: string, split: Split, lang: string): Promise<M[]>;
  /** Encodes items as one training or evaluation batch. */
  encode(e: Encoding, items: readonly M[]): Promise<TaskBatch>;
  head(graph: Graph, hidden: number, seed: number): TaskHead;
  /** The metric of items, for tasks that score across batches (QA windows), with the answer normalisation of their file. */
  score?(e: Encoding, normalisation: AnswerMetricOptions, items: readonly M[], outputs: BatchOutputs): Promise<number>;
}

/** A file's candidates that only make sense for English: the original English datasets (MNLI, COPA, SQuAD). */
const english = (lang: string, files: string[]): string[] => (lang === 'en' ? files : []);

/**
 * The answer normalisation a QA file is scored with: MLQA's (per-language
 * articles, Unicode punctuation, character segmentation for zh) for MLQA's
 * own files in the languages its script knows, SQuAD v1.1's otherwise
 * (XQuAD, TyDiQA-GoldP, SQuAD), as their official evaluations do.
 */
export function answerNormalisation(path: string, lang: string): AnswerMetricOptions {
  const mlqa = /-context-[a-z]+-question-[a-z]+\.json$/.test(basename(path)) && (MLQA_LANGUAGES as readonly string[]).includes(lang);
  return mlqa ? { language: lang as MlqaLanguage } : {};
}

/** The first existing candidate file of a split, or an error naming every path tried. */
export function datasetFile(task: DatasetTask<unknown>, dataDir: string, split: Split, lang: string): string {
  const candidates = task.files(split, lang).map((f) => join(dataDir, f));
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new InputFileError(dataDir, `no ${task.name} ${split} file for '${lang}': looked for ${candidates.map((p) => relative(dataDir, p)).join(', ')}`);
  return found;
}

/**
 * Text pairs through the tokenizer's template, truncated longest-first to
 * `maxLength` by the tokenizer (Hugging Face's default truncation), padded to
 * the batch's longest; with the token masks of each sequence.
 */
async function encodeTextPairs(e: Encoding, pairs: readonly (readonly [string, string])[]) {
  const room = e.maxLength - e.tokenizer.specialTokenCount(true);
  if (room < 2) throw new OptionError(`maxLength ${e.maxLength} leaves no room for a pair after ${e.tokenizer.specialTokenCount(true)} special tokens`);
  const encoded: EncodedInput[] = [];
  for (const [a, b] of pairs) encoded.push(await e.tokenizer.encode(a, b, { maxLength: e.maxLength }));
  const sequence = Math.max(1, ...encoded.map((t) => t.ids.length));
  const n = pairs.length * sequence;
  const ids = new Int32Array(n).fill(e.tokenizer.padId);
  const tokenTypes = new Int32Array(n);
  const mask = new Float32Array(n);
  const first = new Float32Array(n);
  const second = new Float32Array(n);
  encoded.forEach((t, i) => {
    const at = i * sequence;
    ids.set(t.ids, at);
    tokenTypes.set(t.tokenTypes, at);
    mask.fill(1, at, at + t.ids.length);
    t.sequenceIds.forEach((s, j) => {
      if (s === 0) first[at + j] = 1;
      else if (s === 1) second[at + j] = 1;
    });
  });
  return { ids, tokenTypes, mask, sequence, pairMasks: [first, second] as [Float32Array, Float32Array] };
}

const xnli: DatasetTask<TextNliExample> = {
  name: 'xnli',
  metric: 'accuracy',
  files: (split, lang) => split === 'train'
    ? [`multinli.train.${lang}.tsv`, `XNLI-MT-1.0/multinli/multinli.train.${lang}.tsv`, ...english(lang, ['train.tsv', 'MNLI/train.tsv'])]
    : [`xnli.${split}.tsv`, `XNLI-1.0/xnli.${split}.tsv`],
  read: (path, split, lang) => (split === 'train' ? readMnliTrain(path) : readXnli(path, lang)),
  async encode(e, items) {
    const encoded = await encodeTextPairs(e, items.map((x) => [x.premise, x.hypothesis] as const));
    return { ...encoded, sequences: items.length, examples: items.length, labels: Int32Array.from(items, (x) => x.label) };
  },
  head: (graph, hidden, seed) => pairClassifier(new ClassificationHead(graph, 'xnli', hidden, 3, HEAD_DROPOUT, seed)),
};

const xcopa: DatasetTask<TextCopaExample> = {
  name: 'xcopa',
  choices: 2,
  metric: 'accuracy',
  // English has no labelled COPA test set: its test falls back to COPA's validation file, then also its dev set.
  files: (split, lang) => split === 'train' ? [`${lang}/train.${lang}.jsonl`, ...english(lang, ['train.jsonl', 'COPA/train.jsonl'])]
    : split === 'dev' ? [`${lang}/val.${lang}.jsonl`, `data/${lang}/val.${lang}.jsonl`, ...english(lang, ['val.jsonl', 'COPA/val.jsonl'])]
    : [`${lang}/test.${lang}.jsonl`, `data/${lang}/test.${lang}.jsonl`, `test.${lang}.jsonl`, ...english(lang, ['val.jsonl', 'COPA/val.jsonl'])],
  read: (path) => readCopa(path),
  async encode(e, items) {
    const encoded = await encodeTextPairs(e, items.flatMap((x) => copaPairs(x)));
    return { ...encoded, sequences: 2 * items.length, examples: items.length, labels: Int32Array.from(items, (x) => x.label) };
  },
  head: (graph, hidden, seed) => pairClassifier(new MultipleChoiceHead(graph, 'xcopa', hidden, 2, HEAD_DROPOUT, seed)),
};

/** Windows of QA examples as a batch, trimmed to the longest real window. */
function featureBatch(features: readonly QaFeature[]): TaskBatch {
  const sequence = Math.max(1, ...features.map((f) => f.attentionMask.lastIndexOf(1) + 1));
  const n = features.length;
  const ids = new Int32Array(n * sequence);
  const tokenTypes = new Int32Array(n * sequence);
  const mask = new Float32Array(n * sequence);
  const spans = new Int32Array(2 * n);
  features.forEach((f, i) => {
    ids.set(f.ids.slice(0, sequence), i * sequence);
    tokenTypes.set(f.tokenTypes.slice(0, sequence), i * sequence);
    mask.set(f.attentionMask.slice(0, sequence), i * sequence);
    spans.set([f.offsets.findIndex((o) => o !== null), f.offsets.findLastIndex((o) => o !== null)], 2 * i);
  });
  return {
    ids, tokenTypes, mask, sequence, sequences: n, examples: n, spans,
    labels: Int32Array.from(features, (f) => f.start), ends: Int32Array.from(features, (f) => f.end),
  };
}

/** Window options of every QA encoding: Hugging Face run_qa.py's doc stride, within the length limit. */
const qaWindows = (e: Encoding) => ({ maxLength: e.maxLength, docStride: Math.min(128, Math.floor(e.maxLength / 4)) });

/** How many QA windows one evaluation batch holds. */
const QA_EVAL_BATCH = 64;

const squad: DatasetTask<TextQaExample> = {
  name: 'squad',
  metric: 'f1',
  files: (split, lang) => split === 'train' ? [...english(lang, ['train-v1.1.json']), `${lang}_squad-translate-train-train-v1.1.json`]
    : split === 'dev' ? [...english(lang, ['dev-v1.1.json']), `MLQA_V1/dev/dev-context-${lang}-question-${lang}.json`, `dev-context-${lang}-question-${lang}.json`]
    : [`xquad.${lang}.json`, `MLQA_V1/test/test-context-${lang}-question-${lang}.json`, `test-context-${lang}-question-${lang}.json`, `tydiqa-goldp-v1.1-dev/tydiqa.goldp.${lang}.dev.json`, `tydiqa.goldp.${lang}.dev.json`],
  async read(path, split) {
    const examples = await readSquad(path);
    const unanswered = examples.find((x) => !x.answers.length);
    if (unanswered) {
      const why = split === 'train' ? 'a training file needs one per question' : 'scoring needs the gold answers (XTREME strips them from its MLQA test copies: use the original MLQA files)';
      throw new InputFileError(path, `question '${unanswered.id}' has no answer; ${why}`);
    }
    return examples;
  },
  // Training, as run_qa.py: every window of each example, those without the answer pointing at the first token.
  async encode(e, items) {
    return featureBatch(await qaFeatures(items, e.tokenizer, qaWindows(e)));
  },
  head: (graph, hidden, seed) => spanTaskHead(new SpanHead(graph, 'squad', hidden, HEAD_DROPOUT, seed)),
  async score(e, normalisation, items, outputs) {
    const features = await qaFeatures(items, e.tokenizer, qaWindows(e));
    const starts: Float32Array[] = [];
    const ends: Float32Array[] = [];
    for (let at = 0; at < features.length; at += QA_EVAL_BATCH) {
      const batch = featureBatch(features.slice(at, at + QA_EVAL_BATCH));
      const [s, t] = await outputs(batch);
      for (let i = 0; i < batch.examples; i++) {
        // Positions past the batch's length are padding, never an answer.
        starts.push(padded(s!.subarray(i * batch.sequence, (i + 1) * batch.sequence), e.maxLength));
        ends.push(padded(t!.subarray(i * batch.sequence, (i + 1) * batch.sequence), e.maxLength));
      }
    }
    const predictions = decodeBestSpan(starts, ends, features, items);
    return f1(predictions, items.map((x) => x.answers.map((a) => a.text)), normalisation) / 100;
  },
};

/** `row` extended to `length` with −∞ (positions that cannot be chosen). */
function padded(row: Float32Array, length: number): Float32Array {
  const out = new Float32Array(length).fill(-Infinity);
  out.set(row);
  return out;
}

/** The datasets on real files by name. */
export const DATASET_TASKS = { xnli, xcopa, squad } as const;

/** The dataset named `name`, or an error listing them. */
export function datasetTask(name: string): DatasetTask<unknown> {
  const task = (DATASET_TASKS as Record<string, DatasetTask<unknown>>)[name];
  if (!task) throw new OptionError(`unknown dataset '${name}'; Thaw reads ${Object.keys(DATASET_TASKS).join(', ')}`);
  return task;
}
