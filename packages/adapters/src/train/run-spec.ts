/**
 * The run spec every task-adapter run has, on the built-in suite or on real
 * files: where it goes, the schedule, the optimizer, tr(F) tracking and
 * evaluation. SuiteRunSpec and HubRunSpec add what their data and model
 * need; spec/ makes both from the options a user gives. What both kinds of
 * run do with a spec lives here too: the trainer they drive, and the
 * results they return and write.
 */
import type { Graph } from '@thaw/autograd';
import { Trainer, type RunResults, type TaskData, type TaskModel, type TrainerCallbacks, type TrainSummary } from './trainer.js';

/**
 * A run's validated options as plain JSON data. The field names are the
 * trainer's option names and the command line's flags in camelCase
 * (spec/fields.ts lists each field's flag).
 */
export interface TaskRunSpec {
  out: string;
  /** Unfreezing schedule (standard, lpft, gu, gu-rev, rand, fixed:…, fun, full). */
  schedule: string;
  /** The task adapter's type: a name of the adapter registry (adapters/registry.ts). */
  adapter: string;
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
  /** Read the losses back (and write their log.jsonl lines) every n steps; nothing a run writes depends on it. */
  logEvery: number;
  source: string;
  /** Target languages, closest first. */
  targets: string[];
}

/**
 * Trains a built model under the spec's schedule, optimizer and tr(F)
 * settings, recording `extraConfig` in config.json; `finalEvaluation`
 * (called with the best checkpoint restored) gives the results, which the
 * trainer writes to results.json and this returns. With `resume`, a run
 * that stopped in `o.out` continues from its checkpoints/last.
 */
export async function trainTaskRun<B>(
  graph: Graph, o: TaskRunSpec, model: TaskModel<B>, data: TaskData<B>, extraConfig: Record<string, unknown>,
  finalEvaluation: () => Promise<RunResults>, callbacks?: TrainerCallbacks, resume = false,
): Promise<{ summary: TrainSummary; results: RunResults }> {
  let results: RunResults | undefined;
  const trainer = new Trainer(graph, model, data, {
    out: o.out, steps: o.steps, lr: o.lr, baseLrScale: o.baseLrScale, schedule: o.schedule, k: o.k, seed: o.seed, evalEvery: o.evalEvery, logEvery: o.logEvery,
    fisherEvery: o.fisherEvery, fisherBatches: o.fisherBatches, fisherEstimator: o.fisherEstimator, fisherGradients: o.fisherGradients,
    extraConfig, finalEvaluation: async () => (results = await finalEvaluation()), resume,
  });
  try {
    const summary = await trainer.run(callbacks);
    // The trainer evaluates at the last step at the latest, so a best checkpoint exists and was evaluated.
    if (!results) throw new Error(`${o.out}: the run ended without a final evaluation`);
    return { summary, results };
  } finally {
    trainer.dispose();
  }
}

/**
 * A run's results.json: the source's dev and test metrics and each target's
 * test metric (zero-shot), with their average; `onLanguage` hears each
 * language as it starts.
 */
export async function languageResults(
  o: Pick<TaskRunSpec, 'source' | 'targets'> & { task: string }, metric: string,
  dev: () => Promise<number>, test: (code: string) => Promise<number>, onLanguage?: (code: string) => void,
): Promise<RunResults> {
  onLanguage?.(o.source);
  const source = { lang: o.source, dev: await dev(), test: await test(o.source) };
  const targets: Record<string, number> = {};
  for (const code of o.targets) {
    onLanguage?.(code);
    targets[code] = await test(code);
  }
  const values = Object.values(targets);
  return { task: o.task, metric, source, targets, ...(values.length ? { targetAverage: values.reduce((a, b) => a + b, 0) / values.length } : {}) };
}
