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
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Graph } from '@thaw/autograd';
import { adapterModel, type Adapter, type AdapterModel } from '../adapters/adapter.js';
import { BottleneckAdapter } from '../adapters/bottleneck.js';
import { adapterType } from '../adapters/registry.js';
import { fillParamsFromSafetensors } from '../checkpoints/fill-params.js';
import { OptionError } from '../errors/option-error.js';
import { checkStepFits, stepLimits, taskStepShape, type StepShape } from '../train/step-size.js';
import type { EncoderConfig } from '../model/encoder.js';
import { suiteLanguages } from './languages.js';
import { languageResults, trainTaskRun, type TaskRunSpec } from '../train/run-spec.js';
import { reevaluateBestCheckpoint, type RunResults, type TaskModel, type TrainerCallbacks, type TrainSummary } from '../train/trainer.js';
import { LANGUAGE_ADAPTER, loadBase, type BaseModel } from './pretrain.js';
import { taskModel } from '../train/task-model.js';
import { suiteTask, type TaskName } from './tasks.js';

/**
 * Everything that shapes a suite run, made by suiteRunSpec (spec/run-spec.ts);
 * recorded in config.json under `suite`.
 */
export interface SuiteRunSpec extends TaskRunSpec {
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

/** Fixed data seeds: every run of a study sees the same items; the run seed moves init, order and dropout. */
const DATA_SEEDS = { train: 1001, dev: 2002, test: 3003 };

/**
 * The run's task adapter, configured as the registry's suite defaults say
 * (a bottleneck of D/4 = 16 at d = 64, what the prototype needed:
 * docs/suite.md, "The prototype's findings", 6).
 */
function taskAdapter(graph: Graph, o: SuiteRunSpec, model: AdapterModel): Adapter {
  const type = adapterType(o.adapter)!;
  return type.create(graph, o.task, type.configure('suite', {}), model, o.seed + 17);
}

/** A language adapter written by thaw lang-adapter; errors name the file and the tensor. */
export async function loadLanguageAdapter(graph: Graph, dir: string, code: string, base: BaseModel): Promise<BottleneckAdapter> {
  const c = base.encoder.config;
  const adapter = new BottleneckAdapter(graph, code, LANGUAGE_ADAPTER, adapterModel(c), 0);
  const path = join(dir, 'adapter.safetensors');
  try {
    await fillParamsFromSafetensors(adapter.params, path, { owner: `language adapter '${code}'` });
  } catch (e) {
    adapter.dispose();
    throw e;
  }
  adapter.setTrainable(false);
  return adapter;
}

/** A suite run's model built from its spec, ready to train or to evaluate. */
async function buildRun(graph: Graph, o: SuiteRunSpec) {
  const task = suiteTask(o.task);
  const base = await loadBase(graph, o.base, o.dropout);
  const c = base.encoder.config;
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
  const head = task.head(graph, c.hiddenSize, o.seed + 29, o.dropout);
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

/**
 * Trains the run a spec describes (made by suiteRunSpec, which checked it
 * and its files) into `o.out`, which must not hold a run yet (with `resume`:
 * continues the run there from its last checkpoint); writes the run
 * directory with results.json (zero-shot on every target) and returns the
 * results. With `resume`, a run that stopped there continues from its last
 * checkpoint instead.
 */
export async function trainSuiteRun(graph: Graph, o: SuiteRunSpec, callbacks?: TrainerCallbacks & { onEvaluate?(code: string): void }, resume = false): Promise<{ summary: TrainSummary; results: RunResults }> {
  // Before anything is written: a step that cannot fit is refused (spec's checkRunFits names the same flags).
  checkStepFits(suiteStepShape(o), stepLimits(graph.gpu), { batchSize: '--batch-size', sequence: '--sequence' });
  const run = await buildRun(graph, o);
  try {
    return await trainTaskRun(graph, o, run.model.model, run.model.data, { suite: o }, () => run.evaluate(callbacks?.onEvaluate), callbacks, resume);
  } finally {
    run.dispose();
  }
}

/** The shape of a suite run's training step, from its spec and its base's model.json (see train/step-size.ts). */
export function suiteStepShape(o: SuiteRunSpec): StepShape {
  const { encoder } = JSON.parse(readFileSync(join(o.base, 'model.json'), 'utf8')) as { encoder: EncoderConfig };
  return taskStepShape(o, encoder, o.sequence, suiteTask(o.task).choices);
}

/** The spec a run was made with (config.json's `suite`); errors name the file. */
export async function readSuiteRunSpec(dir: string): Promise<SuiteRunSpec> {
  const path = join(dir, 'config.json');
  let config: { suite?: SuiteRunSpec };
  try {
    config = JSON.parse(await readFile(path, 'utf8')) as typeof config;
  } catch (e) {
    throw new OptionError(`${path}: cannot read the run's configuration (${(e as Error).message}); is ${dir} a run directory made by thaw train?`);
  }
  if (!config.suite) throw new OptionError(`${path}: not a suite run (no 'suite' options); thaw eval evaluates runs made by thaw train`);
  return config.suite;
}

/**
 * Re-evaluates the best checkpoint of the run in `o.out` (source dev/test
 * and zero-shot on `o.targets`) and rewrites its results.json; `o` is the
 * run's own spec (readSuiteRunSpec), checked again by suiteRunSpec.
 */
export async function evaluateSuiteRun(graph: Graph, o: SuiteRunSpec, onLanguage?: (code: string) => void): Promise<RunResults> {
  const run = await buildRun(graph, o);
  return reevaluateBestCheckpoint(graph, o.out, { model: run.model.model as TaskModel<unknown>, evaluate: run.evaluate, dispose: run.dispose }, o.schedule, o.seed, onLanguage);
}
