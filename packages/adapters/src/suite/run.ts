/**
 * One task-adapter run on the built-in suite (`thaw train`) and its
 * zero-shot evaluation (`thaw eval`): load the base and the language
 * adapters, build the task adapter and head, train on the source language
 * under a schedule, then evaluate the best checkpoint on the source's test
 * set and on every target language with its own language adapter swapped in.
 *
 * Everything a run needs to be rebuilt is in its config.json (`suite`), so
 * `thaw eval <run>` re-evaluates it without any other input.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Graph } from '@thaw/autograd';
import { adapterModel, type Adapter, type AdapterModel } from '../adapters/adapter.js';
import { BottleneckAdapter } from '../adapters/bottleneck.js';
import { adapterType } from '../adapters/registry.js';
import { fillParams, storedTensors } from '../checkpoints/fill-params.js';
import { OptionError } from '../errors/option-error.js';
import { suiteLanguages } from './languages.js';
import { readSafetensors } from '../formats/safetensors.js';
import { policy } from '../schedules/policies.js';
import { checkFreshOut, checkTaskRunOptions, languageResults, trainTaskRun, type TaskRunOptions } from '../train/run-options.js';
import { reevaluateBestCheckpoint, type RunResults, type TaskModel, type TrainerCallbacks, type TrainSummary } from '../train/trainer.js';
import { LANGUAGE_ADAPTER, loadBase, type BaseModel } from './pretrain.js';
import { taskModel } from '../train/task-model.js';
import { HEAD_DROPOUT } from '../train/task.js';
import { suiteTask, type TaskName } from './tasks.js';

/** The base model and language adapters shipped with Thaw (see docs/suite.md for how they were made). */
export const SHIPPED_SUITE = {
  base: fileURLToPath(new URL('../../assets/suite/base', import.meta.url)),
  languageAdapters: fileURLToPath(new URL('../../assets/suite/adapters', import.meta.url)),
};


/** Everything that shapes a suite run; recorded in config.json under `suite`. */
export interface SuiteRunOptions extends TaskRunOptions {
  task: TaskName;
  /**
   * Dropout in the base's layers and in the head while the task trains (the
   * shipped base was pretrained with 0.1). 0 by default: with dropout, NLI
   * through the suite's small frozen base learned markedly slower
   * (docs/results.md).
   */
  dropout: number;
  devSize: number;
  testSize: number;
  /** Tokens per sequence (at most the base's positions). */
  sequence: number;
  /** A base made by thaw pretrain, and a folder of language adapters (one sub-folder per language). */
  base: string;
  languageAdapters: string;
}

/** The suite's defaults for a run (those of `thaw train`). */
export const RUN_DEFAULTS: Omit<SuiteRunOptions, 'out'> = {
  task: 'nli', schedule: 'standard', adapter: 'seq_bn', k: 100, steps: 600, batchSize: 32, lr: 2e-3, baseLrScale: 0.1, dropout: 0,
  trainSize: 6000, devSize: 300, testSize: 600, seed: 1, fisherEvery: 25, fisherBatches: 2,
  fisherEstimator: 'argmax', fisherGradients: 'batch-mean', evalEvery: 100, sequence: 32,
  base: SHIPPED_SUITE.base, languageAdapters: SHIPPED_SUITE.languageAdapters,
  source: 'src', targets: ['l1', 'l2', 'l3', 'l4', 'l5', 'l6', 'l7'],
};

/** Fixed data seeds: every run of a study sees the same items; the run seed moves init, order and dropout. */
const DATA_SEEDS = { train: 1001, dev: 2002, test: 3003 };

/**
 * The run's task adapter, configured as the registry's suite defaults say
 * (a bottleneck of D/4 = 16 at d = 64, what the prototype needed:
 * docs/suite.md, "The prototype's findings", 6).
 */
function taskAdapter(graph: Graph, o: SuiteRunOptions, model: AdapterModel): Adapter {
  const type = adapterType(o.adapter)!;
  return type.create(graph, o.task, type.configure('suite', {}), model, o.seed + 17);
}

/** Checks a run's options, and that its base and language adapters exist, before anything is written; throws OptionError naming the option. */
export function checkRunOptions(o: SuiteRunOptions): void {
  suiteTask(o.task);
  checkTaskRunOptions(o, 1);
  if (o.dropout !== undefined && !(o.dropout >= 0 && o.dropout < 1)) throw new OptionError(`--dropout must be in [0, 1), got ${o.dropout}`);
  const languages = [o.source, ...o.targets];
  suiteLanguages(languages);
  for (const code of languages) {
    const dir = join(o.languageAdapters, code);
    if (!existsSync(join(dir, 'adapter.safetensors'))) {
      throw new OptionError(`--lang-adapters: no language adapter for '${code}' (expected ${join(dir, 'adapter.safetensors')}); make one with thaw lang-adapter`);
    }
  }
  const meta = join(o.base, 'model.json');
  if (!existsSync(meta)) throw new OptionError(`--base ${o.base} holds no base model (model.json); make one with thaw pretrain`);
  let layers: number;
  try {
    layers = (JSON.parse(readFileSync(meta, 'utf8')) as { encoder: { numHiddenLayers: number } }).encoder.numHiddenLayers;
  } catch (e) {
    throw new OptionError(`${meta}: not a base model description (${(e as Error).message})`);
  }
  try {
    policy(o.schedule, layers, o.seed);
  } catch (e) {
    // The policy's messages name --schedule.
    throw new OptionError((e as Error).message);
  }
}

/** A language adapter written by thaw lang-adapter; errors name the file and the tensor. */
export async function loadLanguageAdapter(graph: Graph, dir: string, code: string, base: BaseModel): Promise<BottleneckAdapter> {
  const c = base.encoder.config;
  const adapter = new BottleneckAdapter(graph, code, LANGUAGE_ADAPTER, adapterModel(c), 0);
  const path = join(dir, 'adapter.safetensors');
  try {
    await fillParams(adapter.params, storedTensors(path, (await readSafetensors(path)).tensors), path, { owner: `language adapter '${code}'` });
  } catch (e) {
    adapter.dispose();
    throw e;
  }
  adapter.setTrainable(false);
  return adapter;
}

/** A suite run's model built from its options, ready to train or to evaluate. */
async function buildRun(graph: Graph, o: SuiteRunOptions) {
  const task = suiteTask(o.task);
  const base = await loadBase(graph, o.base, o.dropout);
  const c = base.encoder.config;
  if (o.sequence + c.positionOffset > c.maxPositionEmbeddings) {
    base.dispose();
    throw new OptionError(`--sequence ${o.sequence} does not fit the base's ${c.maxPositionEmbeddings - c.positionOffset} positions`);
  }
  const codes = [o.source, ...o.targets];
  const adapters = new Map<string, BottleneckAdapter>();
  try {
    for (const code of codes) adapters.set(code, await loadLanguageAdapter(graph, join(o.languageAdapters, code), code, base));
  } catch (e) {
    for (const a of adapters.values()) a.dispose();
    base.dispose();
    throw e;
  }
  const adapter = taskAdapter(graph, o, adapterModel(c));
  // Runs made before the option existed trained with the base's own dropout and AdapterHub's head dropout.
  const head = task.head(graph, c.hiddenSize, o.seed + 29, o.dropout ?? HEAD_DROPOUT);
  const languages = new Map(suiteLanguages(codes).map((l) => [l.code, l]));
  const model = taskModel({
    encoder: base.encoder, languageAdapters: adapters, source: o.source, taskAdapter: adapter, head,
    encode: (code, items) => task.encode(base.tokenizer, languages.get(code)!, items, o.sequence),
    train: task.meanings(DATA_SEEDS.train, o.trainSize), dev: task.meanings(DATA_SEEDS.dev, o.devSize),
    batchSize: o.batchSize, seed: o.seed,
  });
  const test = task.meanings(DATA_SEEDS.test, o.testSize);
  /** Source dev and test, and every target's test metric, of the weights as they are. */
  const evaluate = (onLanguage?: (code: string) => void): Promise<RunResults> =>
    languageResults(o, task.metric, () => model.data.evaluateDev(), (code) => model.evaluate(code, test), onLanguage);
  return {
    model, evaluate,
    dispose: () => {
      head.dispose();
      adapter.dispose();
      for (const a of adapters.values()) a.dispose();
      base.dispose();
    },
  };
}

/** Trains one run and writes its run directory with results.json (zero-shot on every target). */
export async function trainSuiteRun(graph: Graph, o: SuiteRunOptions, callbacks?: TrainerCallbacks & { onEvaluate?(code: string): void }): Promise<{ summary: TrainSummary; results: RunResults }> {
  checkRunOptions(o);
  checkFreshOut(o.out);
  const run = await buildRun(graph, o);
  try {
    return await trainTaskRun(graph, o, run.model.model, run.model.data, { suite: o }, () => run.evaluate(callbacks?.onEvaluate), callbacks);
  } finally {
    run.dispose();
  }
}

/** The options a run was made with (config.json's `suite`); errors name the file. */
export async function readRunOptions(dir: string): Promise<SuiteRunOptions> {
  const path = join(dir, 'config.json');
  let config: { suite?: SuiteRunOptions };
  try {
    config = JSON.parse(await readFile(path, 'utf8')) as typeof config;
  } catch (e) {
    throw new OptionError(`${path}: cannot read the run's configuration (${(e as Error).message}); is ${dir} a run directory made by thaw train?`);
  }
  if (!config.suite) throw new OptionError(`${path}: not a suite run (no 'suite' options); thaw eval evaluates runs made by thaw train`);
  return config.suite;
}

/**
 * Re-evaluates a run's best checkpoint (source dev/test and zero-shot on
 * `targets`, by default the run's own) and rewrites its results.json.
 */
export async function evaluateSuiteRun(graph: Graph, dir: string, targets?: string[], onLanguage?: (code: string) => void): Promise<RunResults> {
  const saved = await readRunOptions(dir);
  const o: SuiteRunOptions = { ...saved, out: dir, ...(targets ? { targets } : {}) };
  checkRunOptions(o);
  const run = await buildRun(graph, o);
  return reevaluateBestCheckpoint(graph, dir, { model: run.model.model as TaskModel<unknown>, evaluate: run.evaluate, dispose: run.dispose }, o.schedule, o.seed, onLanguage);
}
