/**
 * The run spec: one function per kind of run turns the options a user gave
 * (on the command line, in a study config, by a study preset) into a
 * validated spec with every default filled in, plain JSON data that the
 * run takes as it is. These functions are where options are checked and
 * where messages name flags; what they check, they check before anything
 * is written: every value, the languages, and that each file the run needs
 * exists (the base or the model, the language adapters, the data files),
 * and the schedule against the model's depth.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OptionError } from '../errors/option-error.js';
import { hubStepShape, type HubRunSpec } from '../hub/run.js';
import { datasetFile, DATASET_TASKS } from '../hub/tasks.js';
import { policy } from '../schedules/policies.js';
import { LANGUAGES } from '../suite/languages.js';
import { suiteStepShape, type SuiteRunSpec } from '../suite/run.js';
import { SUITE_TASKS } from '../suite/tasks.js';
import { HUB_DEFAULTS, SUITE_DEFAULTS } from './defaults.js';
import { checkStepFits, type StepLimits, type StepShape } from '../train/step-size.js';
import { checkedOptions, HUB_ONLY, positiveInteger, refuseGiven, RUN_FLAGS, SUITE_ONLY, text, type Check, type RunGiven, type RunOptionName } from './fields.js';

const SUITE_TASK_NAMES = Object.keys(SUITE_TASKS);
const DATASET_NAMES = Object.keys(DATASET_TASKS);

/** A suite task, naming the datasets for one that needs --model. */
const suiteTaskName: Check = (value, flag) => {
  const name = text(value, flag) as string;
  if (DATASET_NAMES.includes(name)) throw new OptionError(`${flag} ${name} is a dataset on real files; give --model, --tokenizer, --lang-adapter and --data too`);
  if (!SUITE_TASK_NAMES.includes(name)) throw new OptionError(`${flag}: unknown task '${name}'; the suite has ${SUITE_TASK_NAMES.join(', ')}, and with --model Thaw reads ${DATASET_NAMES.join(', ')}`);
  return name;
};

/** A dataset on real files, naming the suite's tasks for one that needs no --model. */
const datasetName: Check = (value, flag) => {
  const name = text(value, flag) as string;
  if (SUITE_TASK_NAMES.includes(name)) throw new OptionError(`${flag} ${name} is a task of the built-in suite; with --model choose ${DATASET_NAMES.join(', ')}`);
  if (!DATASET_NAMES.includes(name)) throw new OptionError(`${flag}: unknown dataset '${name}'; with --model choose ${DATASET_NAMES.join(', ')}`);
  return name;
};

/** Refuses a target that is the source itself. */
function checkTargets(o: { source: string; targets: string[] }): void {
  if (o.targets.includes(o.source)) throw new OptionError(`${RUN_FLAGS.targets} must not include the source language '${o.source}'`);
}

/** Checks that the schedule names a policy for a model of `layers` layers. */
function checkSchedule(o: { schedule: string; seed: number }, layers: number): void {
  try {
    policy(o.schedule, layers, o.seed);
  } catch (e) {
    throw new OptionError(`${RUN_FLAGS.schedule}: ${(e as Error).message}`);
  }
}

/**
 * A suite run's spec from the options given: each absent option takes
 * SUITE_DEFAULTS' value. Throws an OptionError naming the flag of a bad
 * value, of an option only runs on real files take, of a language the
 * suite lacks, or of a missing base model or language adapter.
 */
export function suiteRunSpec(given: RunGiven): SuiteRunSpec {
  refuseGiven(given, HUB_ONLY, 'applies to runs on a real checkpoint; give --model <dir> too');
  const keys = [...Object.keys(SUITE_DEFAULTS), 'out'] as RunOptionName[];
  // Low-data runs use few training examples, but never none (on real files, 0 is every example).
  const o = checkedOptions(given, keys, SUITE_DEFAULTS, { task: suiteTaskName, trainSize: positiveInteger }) as unknown as SuiteRunSpec;
  const codes = LANGUAGES.map((l) => l.code);
  const unknownLanguage = (key: 'source' | 'targets', code: string) => new OptionError(`${RUN_FLAGS[key]}: unknown language '${code}'; the suite has ${codes.join(', ')}`);
  if (!codes.includes(o.source)) throw unknownLanguage('source', o.source);
  const stranger = o.targets.find((code) => !codes.includes(code));
  if (stranger !== undefined) throw unknownLanguage('targets', stranger);
  checkTargets(o);
  for (const code of [o.source, ...o.targets]) {
    const file = join(o.languageAdapters, code, 'adapter.safetensors');
    if (!existsSync(file)) throw new OptionError(`${RUN_FLAGS.languageAdapters}: no language adapter for '${code}' (expected ${file}); make one with thaw lang-adapter`);
  }
  const meta = join(o.base, 'model.json');
  if (!existsSync(meta)) throw new OptionError(`${RUN_FLAGS.base} ${o.base} holds no base model (model.json); make one with thaw pretrain`);
  let layers: number;
  let positions: number;
  try {
    const { encoder } = JSON.parse(readFileSync(meta, 'utf8')) as { encoder: { numHiddenLayers: number; maxPositionEmbeddings: number; positionOffset: number } };
    layers = encoder.numHiddenLayers;
    positions = encoder.maxPositionEmbeddings - encoder.positionOffset;
  } catch (e) {
    throw new OptionError(`${meta}: not a base model description (${(e as Error).message})`);
  }
  if (o.sequence > positions) throw new OptionError(`${RUN_FLAGS.sequence} ${o.sequence} does not fit the base's ${positions} positions`);
  checkSchedule(o, layers);
  return o;
}

/**
 * A spec of a run on real files from the options given: each absent option
 * takes HUB_DEFAULTS' value, and the targets are every language with a
 * language adapter but the source. Throws an OptionError naming the flag of
 * a bad value, of an option only suite runs take, of a file the run needs
 * that is missing, or of a schedule the model's depth does not allow.
 */
export function hubRunSpec(given: RunGiven): HubRunSpec {
  refuseGiven(given, SUITE_ONLY, 'applies to the built-in suite; with --model use --lang-adapter, --data and --max-length');
  for (const key of ['tokenizer', 'data', 'langAdapters'] as const) if (given[key] === undefined) throw new OptionError(`${RUN_FLAGS.model} needs ${RUN_FLAGS[key]}`);
  const { source, langAdapters } = checkedOptions(given, ['source', 'langAdapters'], HUB_DEFAULTS) as { source: string; langAdapters: Record<string, string> };
  const defaults = { ...HUB_DEFAULTS, targets: Object.keys(langAdapters).filter((code) => code !== source) };
  const keys = [...Object.keys(HUB_DEFAULTS), 'model', 'tokenizer', 'data', 'langAdapters', 'targets', 'out'] as RunOptionName[];
  const o = checkedOptions(given, keys, defaults, { task: datasetName }) as unknown as HubRunSpec;
  const configPath = join(o.model, 'config.json');
  if (!existsSync(configPath)) throw new OptionError(`${RUN_FLAGS.model} ${o.model}: not a Hugging Face checkpoint folder (no config.json)`);
  if (!existsSync(o.tokenizer)) throw new OptionError(`${RUN_FLAGS.tokenizer} ${o.tokenizer}: no such file`);
  checkTargets(o);
  for (const code of [o.source, ...o.targets]) {
    const dir = o.langAdapters[code];
    const flag = RUN_FLAGS.langAdapters;
    if (!dir) throw new OptionError(`${flag}: no language adapter for '${code}'; give ${flag} ${code}=<AdapterHub folder>`);
    if (!existsSync(join(dir, 'adapter_config.json'))) throw new OptionError(`${flag} ${code}=${dir}: not an AdapterHub adapter folder (no adapter_config.json)`);
  }
  const task = DATASET_TASKS[o.task];
  const needs = (split: 'train' | 'dev' | 'test', code: string) => {
    try {
      datasetFile(task, o.data, split, code);
    } catch (e) {
      throw new OptionError(`${RUN_FLAGS.data} ${(e as Error).message}`);
    }
  };
  needs('train', o.source);
  needs('dev', o.source);
  for (const code of [o.source, ...o.targets]) needs('test', code);
  let layers: unknown;
  try {
    layers = (JSON.parse(readFileSync(configPath, 'utf8')) as { num_hidden_layers?: unknown }).num_hidden_layers;
  } catch (e) {
    throw new OptionError(`${RUN_FLAGS.model} ${configPath}: not valid JSON (${(e as Error).message})`);
  }
  if (!Number.isInteger(layers) || (layers as number) < 1) throw new OptionError(`${RUN_FLAGS.model} ${configPath}: num_hidden_layers must be a positive integer, got ${JSON.stringify(layers)}`);
  checkSchedule(o, layers as number);
  return o;
}

/** The spec of either kind of run: on real files when a model is given, else on the suite. */
export function runSpec(given: RunGiven): SuiteRunSpec | HubRunSpec {
  return given.model === undefined ? suiteRunSpec(given) : hubRunSpec(given);
}

/** The shape of a run's training step (see train/step-size.ts). */
export function runStepShape(spec: SuiteRunSpec | HubRunSpec): StepShape {
  return isHubRunSpec(spec) ? hubStepShape(spec) : suiteStepShape(spec);
}

/**
 * Refuses a run whose training step cannot fit the device's buffers or
 * the machine's memory, naming --batch-size and --sequence (--max-length on
 * real files) and the limit: called before the run writes anything.
 */
export function checkRunFits(spec: SuiteRunSpec | HubRunSpec, limits: StepLimits): void {
  checkStepFits(runStepShape(spec), limits, { batchSize: RUN_FLAGS.batchSize, sequence: isHubRunSpec(spec) ? RUN_FLAGS.maxLength : RUN_FLAGS.sequence });
}

/** Whether a spec is of a run on real files. */
export function isHubRunSpec(spec: SuiteRunSpec | HubRunSpec): spec is HubRunSpec {
  return 'model' in spec;
}
