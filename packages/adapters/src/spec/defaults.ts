/**
 * The defaults of a run's options, for both kinds of run side by side: the
 * built-in suite's, and for runs on real files AdapterHub's MAD-X
 * task-adapter recipe. An option not given takes its kind's default here
 * (suiteRunSpec, hubRunSpec); the command line's help shows both columns.
 * Where the two differ, the hub table says why.
 */
import { fileURLToPath } from 'node:url';
import { SEQ_BN } from '../adapters/bottleneck.js';
import { DEFAULT_LOG_EVERY } from '../train/step.js';
import type { HubRunSpec } from '../hub/run.js';
import type { SuiteRunSpec } from '../suite/run.js';

/** The base model and language adapters shipped with Thaw (see docs/suite.md for how they were made). */
export const SHIPPED_SUITE = {
  base: fileURLToPath(new URL('../../assets/suite/base', import.meta.url)),
  languageAdapters: fileURLToPath(new URL('../../assets/suite/adapters', import.meta.url)),
};

/**
 * A suite run's defaults (`thaw train` without --model). The key order is
 * the order of a spec's fields, and of study.json's `run`.
 */
export const SUITE_DEFAULTS: Omit<SuiteRunSpec, 'out'> = {
  task: 'nli',
  schedule: 'standard',
  adapter: 'seq_bn',
  k: 100,
  steps: 600,
  batchSize: 32,
  lr: 2e-3,
  baseLrScale: 0.1,
  dropout: 0,
  trainSize: 6000,
  devSize: 300,
  testSize: 600,
  seed: 1,
  fisherEvery: 25,
  fisherBatches: 2,
  fisherEstimator: 'argmax',
  fisherGradients: 'batch-mean',
  evalEvery: 100,
  // One readback of the losses per 10 steps (train/step.ts says what it was measured against).
  logEvery: DEFAULT_LOG_EVERY,
  sequence: 32,
  base: SHIPPED_SUITE.base,
  languageAdapters: SHIPPED_SUITE.languageAdapters,
  source: 'src',
  targets: ['l1', 'l2', 'l3', 'l4', 'l5', 'l6', 'l7'],
};

/**
 * A run on real files' defaults (`thaw train --model …`, `thaw study
 * --config`): AdapterHub's MAD-X task-adapter recipe. `model`, `tokenizer`,
 * `langAdapters` and `data` have none; `targets` defaults to every language
 * with a language adapter but the source. The key order is the order of a
 * spec's fields, and of study.json's `run`.
 */
export const HUB_DEFAULTS: Omit<HubRunSpec, 'out' | 'model' | 'tokenizer' | 'langAdapters' | 'data' | 'targets'> = {
  // The datasets on real files, not the suite's tasks; XNLI is the research's main one.
  task: 'xnli',
  // The datasets' training files are English (MNLI, COPA, SQuAD).
  source: 'en',
  schedule: 'standard',
  adapter: 'seq_bn',
  // AdapterHub's bottleneck, D/16: the registry's real-file default (adapters/bottleneck.ts), where
  // the suite's D/4 stands beside it (docs/suite.md).
  reductionFactor: SEQ_BN.defaults.files.reductionFactor,
  k: 100,
  // The recipe's 1,000 steps.
  steps: 1000,
  batchSize: 32,
  // The recipe's rate for a pretrained encoder; the suite's small base trains at 2e-3.
  lr: 1e-4,
  baseLrScale: 0.1,
  // 0 is every example of the training file; the suite generates its 6,000.
  trainSize: 0,
  seed: 1,
  // tr(F) has no AdapterHub counterpart: a real run estimates it every 50 steps from 4 batches.
  fisherEvery: 50,
  fisherBatches: 4,
  fisherEstimator: 'argmax',
  fisherGradients: 'batch-mean',
  evalEvery: 100,
  logEvery: DEFAULT_LOG_EVERY,
  // The recipe's 128 tokens, special tokens included; the suite's `sequence` is 32.
  maxLength: 128,
};
