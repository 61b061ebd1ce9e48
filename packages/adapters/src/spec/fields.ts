/**
 * The options of a run as they are given, each with its flag and the check
 * of one value: what suiteRunSpec and hubRunSpec (run-spec.ts) share. A
 * value comes from the command line as a string, or from a preset or a
 * study config as a number, a list or a mapping; every message names the
 * flag, whichever way the value came.
 */
import { OptionError } from '../errors/option-error.js';
import type { HubRunSpec } from '../hub/run.js';
import type { SuiteRunSpec } from '../suite/run.js';
import { ADAPTER_TYPE_NAMES } from '../adapters/registry.js';

/** The options of either kind of run. */
export type RunOptionName = keyof SuiteRunSpec | keyof HubRunSpec;

/**
 * A run's options as given, by their spec names; an absent (or undefined)
 * option takes its kind's default (defaults.ts).
 */
export type RunGiven = { readonly [K in RunOptionName]?: unknown };

/** Each option's flag: the spec name in kebab case, except for the two kinds' language adapters. */
export const RUN_FLAGS: Readonly<Record<RunOptionName, string>> = {
  out: '--out', task: '--task', schedule: '--schedule', adapter: '--adapter', k: '--k', steps: '--steps', batchSize: '--batch-size',
  lr: '--lr', baseLrScale: '--base-lr-scale', trainSize: '--train-size', seed: '--seed', fisherEvery: '--fisher-every',
  fisherBatches: '--fisher-batches', fisherEstimator: '--fisher-estimator', fisherGradients: '--fisher-gradients', evalEvery: '--eval-every', logEvery: '--log-every',
  source: '--source', targets: '--targets',
  // The suite's: a folder holding one language adapter per language.
  dropout: '--dropout', devSize: '--dev-size', testSize: '--test-size', sequence: '--sequence', base: '--base', languageAdapters: '--lang-adapters',
  // Real files': one AdapterHub folder per language, the flag given once for each.
  model: '--model', tokenizer: '--tokenizer', langAdapters: '--lang-adapter', data: '--data', reductionFactor: '--reduction-factor', maxLength: '--max-length',
};

/** Options only suite runs take. */
export const SUITE_ONLY: readonly RunOptionName[] = ['base', 'languageAdapters', 'sequence', 'devSize', 'testSize', 'dropout'];
/** Options only runs on real files take, besides --model itself. */
export const HUB_ONLY: readonly RunOptionName[] = ['tokenizer', 'langAdapters', 'data', 'maxLength', 'reductionFactor'];

/** The check of one option's value: the value as the spec holds it, or an OptionError naming the flag. */
export type Check = (value: unknown, flag: string) => unknown;

/** A number as given: on the command line a string, in a preset or a config a number. */
const numeric = (value: unknown): number => (typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN);

const integer = (least: 0 | 1): Check => (value, flag) => {
  const n = numeric(value);
  if (!Number.isInteger(n) || n < least) throw new OptionError(`${flag} must be a ${least ? 'positive' : 'non-negative'} integer, got ${String(value)}`);
  return n;
};

/** A positive integer. */
export const positiveInteger = integer(1);

const nonNegativeInteger = integer(0);

const positiveNumber: Check = (value, flag) => {
  const n = numeric(value);
  if (!(n > 0 && Number.isFinite(n))) throw new OptionError(`${flag} must be a positive number, got ${String(value)}`);
  return n;
};

const probability: Check = (value, flag) => {
  const n = numeric(value);
  if (!(n >= 0 && n < 1)) throw new OptionError(`${flag} must be in [0, 1), got ${String(value)}`);
  return n;
};

const oneOf = (choices: readonly string[], what: string): Check => (value, flag) => {
  if (typeof value !== 'string' || !choices.includes(value)) throw new OptionError(`${flag}: unknown ${what} '${String(value)}'; choose ${choices.join(', ')}`);
  return value;
};

/** A non-empty string (a name or a path). */
export const text: Check = (value, flag) => {
  if (value === undefined) throw new OptionError(`${flag} is required`);
  if (typeof value !== 'string' || !value) throw new OptionError(`${flag} must be a non-empty string, got ${JSON.stringify(value)}`);
  return value;
};

/** A list: comma-separated on the command line, a list in a preset or a config. */
const list: Check = (value, flag) => {
  const items = typeof value === 'string' ? value.split(',') : value;
  if (!Array.isArray(items) || !items.every((item) => typeof item === 'string')) throw new OptionError(`${flag} must be a comma-separated list, got ${JSON.stringify(value)}`);
  return [...items];
};

/**
 * AdapterHub folders by language: `<code>=<folder>` once per language on
 * the command line, a mapping in a config or a saved spec.
 */
const adapterFolders: Check = (value, flag) => {
  if (Array.isArray(value)) {
    return Object.fromEntries(value.map((pair: unknown) => {
      // The code runs to the first '='; a folder's name may hold more.
      const parts = typeof pair === 'string' ? /^([^=]+)=(.+)$/.exec(pair) : null;
      if (!parts) throw new OptionError(`${flag}: expected <language code>=<adapter folder>, e.g. en=adapters/en, got '${String(pair)}'`);
      return [parts[1], parts[2]];
    }));
  }
  if (typeof value !== 'object' || value === null || !Object.values(value).every((dir) => typeof dir === 'string' && dir)) {
    throw new OptionError(`${flag} must map language codes to AdapterHub adapter folders, got ${JSON.stringify(value)}`);
  }
  return { ...value };
};

/** The check of every option; the task's (which names the other kind's tasks) is each kind's own. */
const CHECKS: Readonly<Record<RunOptionName, Check>> = {
  out: text, task: text, schedule: text, adapter: oneOf(ADAPTER_TYPE_NAMES, 'adapter'), k: positiveInteger, steps: positiveInteger,
  batchSize: positiveInteger, lr: positiveNumber, baseLrScale: positiveNumber, trainSize: nonNegativeInteger, seed: nonNegativeInteger,
  fisherEvery: nonNegativeInteger, fisherBatches: positiveInteger, fisherEstimator: oneOf(['argmax', 'sample'], 'estimator'),
  fisherGradients: oneOf(['batch-mean', 'per-example'], 'mode'), evalEvery: positiveInteger, logEvery: positiveInteger, source: text, targets: list,
  dropout: probability, devSize: positiveInteger, testSize: positiveInteger, sequence: positiveInteger, base: text, languageAdapters: text,
  model: text, tokenizer: text, langAdapters: adapterFolders, data: text, reductionFactor: positiveNumber, maxLength: positiveInteger,
};

/**
 * The options `keys`, in that order, each given value or else its default
 * through its check (`checks` replaces some); throws an OptionError naming
 * the flag of the first bad one.
 */
export function checkedOptions(
  given: RunGiven, keys: readonly RunOptionName[], defaults: Partial<Record<RunOptionName, unknown>>, checks: Partial<Record<RunOptionName, Check>> = {},
): Record<string, unknown> {
  return Object.fromEntries(keys.map((key) => [key, (checks[key] ?? CHECKS[key])(given[key] ?? defaults[key], RUN_FLAGS[key])]));
}

/** Refuses options of the other kind of run, with `why` for the message. */
export function refuseGiven(given: RunGiven, names: readonly RunOptionName[], why: string): void {
  const misplaced = names.find((name) => given[name] !== undefined);
  if (misplaced) throw new OptionError(`${RUN_FLAGS[misplaced]} ${why}`);
}
