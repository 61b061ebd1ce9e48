/**
 * The options every task-adapter run has, on the built-in suite or on real
 * files: where it goes, the schedule, the optimizer, tr(F) tracking and
 * evaluation. SuiteRunOptions and BenchmarkRunOptions add what their data
 * and model need.
 */

/** Task-adapter types a run can train. */
export type TaskAdapterType = 'seq_bn' | 'double_seq_bn' | 'lora';
export const TASK_ADAPTER_TYPES: readonly TaskAdapterType[] = ['seq_bn', 'double_seq_bn', 'lora'];

export interface TaskRunOptions {
  out: string;
  /** Unfreezing policy (standard, lpft, gu, gu-rev, rand, fixed:…, fun, full). */
  schedule: string;
  adapter: TaskAdapterType;
  k: number;
  steps: number;
  batchSize: number;
  lr: number;
  /**
   * Under `full`, the base trains at lr × this (pretrained weights need a
   * smaller rate than new adapters: at the adapters' rate the base forgets).
   */
  baseLrScale: number;
  /** Training items of the source language (low-data runs use few; on real files, 0 is every example). */
  trainSize: number;
  seed: number;
  /** Track tr(F) every n steps (0: never). */
  fisherEvery: number;
  /** Batches per tr(F) estimate. */
  fisherBatches: number;
  fisherEstimator: 'argmax' | 'sample';
  fisherGradients: 'batch-mean' | 'per-example';
  /** Evaluate on the source dev set (and keep the best checkpoint) every n steps. */
  evalEvery: number;
  source: string;
  /** Target languages, closest first. */
  targets: string[];
}
