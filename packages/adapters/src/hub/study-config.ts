/**
 * The study config file of `thaw study --config <file>` (JSON, or YAML for a
 * `.yaml`/`.yml` file): the research's setting on real files in one place.
 *
 *   model: xlm-roberta-base/            # Hugging Face checkpoint folder
 *   tokenizer: xlm-roberta-base/tokenizer.json
 *   task: xnli                          # xnli | xcopa | squad
 *   data: XNLI/                         # the dataset's files
 *   source: en
 *   languages:                          # AdapterHub language adapter folders
 *     en: adapters/en
 *     de: adapters/de
 *   targets: [de]                       # default: every language but the source
 *   schedules: [standard, gu, fun]
 *   seeds: 3                            # 1…3, or a list
 *   k: 100
 *   steps: 1000 … (any run option: batchSize, lr, adapter, reductionFactor, maxLength, …)
 *   slurm:                              # for thaw study --executor slurm (optional)
 *     options: [--partition=gpu, --gres=gpu:1, --time=2:00:00]   # sbatch options, passed through
 *     setup: module load nodejs         # a line each job runs first
 *
 * Relative paths are relative to the file's folder. Unknown keys and wrong
 * types are errors naming the file and the key, so a typo never silently
 * falls back to a default. The run options are returned as given: hubRunSpec
 * (spec/run-spec.ts) adds the defaults and checks the values.
 */
import { dirname, isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { InputFileError } from '../errors/input-error.js';
import { readText } from '../formats/input-file.js';

/** The run options a study config gives, with paths resolved: the files always, any other run option (RUN_KEYS) where set. */
export interface HubStudyRun {
  model: string;
  tokenizer: string;
  task: string;
  data: string;
  /** The config's `languages`. */
  langAdapters: Record<string, string>;
  targets?: string[];
  [option: string]: unknown;
}

/** A study of runs on real files, as a config file describes it (the study folder comes from --out). */
export interface HubStudyConfig {
  schedules: string[];
  seeds: number[];
  run: HubStudyRun;
  /** How its jobs are submitted under `--executor slurm`: sbatch options and a set-up line. How a study runs is no option of the study itself. */
  slurm?: SlurmSettings;
}

/** A study config's `slurm` section. */
export interface SlurmSettings {
  options: string[];
  setup?: string;
}

/** Keys of the run options a config may set, with their type. */
const RUN_KEYS: Record<string, 'string' | 'number' | 'integer'> = {
  source: 'string', adapter: 'string', reductionFactor: 'number', k: 'integer', steps: 'integer', batchSize: 'integer', lr: 'number',
  baseLrScale: 'number', trainSize: 'integer', fisherEvery: 'integer', fisherBatches: 'integer', fisherEstimator: 'string',
  fisherGradients: 'string', evalEvery: 'integer', logEvery: 'integer', maxLength: 'integer',
};
const OTHER_KEYS = ['model', 'tokenizer', 'task', 'data', 'languages', 'targets', 'schedules', 'seeds', 'slurm'];

/** Reads and checks a study config file. */
export async function readStudyConfig(path: string): Promise<HubStudyConfig> {
  const text = await readText(path);
  const yaml = /\.ya?ml$/i.test(path);
  let raw: unknown;
  try {
    raw = yaml ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new InputFileError(path, `not valid ${yaml ? 'YAML' : 'JSON'}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InputFileError(path, 'expected a mapping of study settings (model, tokenizer, task, data, languages, …)');
  const c = raw as Record<string, unknown>;
  const unknown = Object.keys(c).find((k) => !OTHER_KEYS.includes(k) && !(k in RUN_KEYS));
  if (unknown) throw new InputFileError(path, `unknown key '${unknown}'; a study config has ${[...OTHER_KEYS, ...Object.keys(RUN_KEYS)].join(', ')}`);
  const base = dirname(path);
  const resolve = (p: string) => (isAbsolute(p) ? p : join(base, p));
  const required = (key: string): string => {
    const v = c[key];
    if (typeof v !== 'string' || !v) throw new InputFileError(path, `'${key}' must be a non-empty string, got ${JSON.stringify(v)}`);
    return v;
  };
  const languages = c.languages;
  if (typeof languages !== 'object' || languages === null || Array.isArray(languages) || !Object.keys(languages).length || !Object.values(languages).every((v) => typeof v === 'string')) {
    throw new InputFileError(path, "'languages' must map language codes to AdapterHub adapter folders, e.g. {en: adapters/en, de: adapters/de}");
  }
  const run: Record<string, unknown> = {};
  for (const [key, type] of Object.entries(RUN_KEYS)) {
    if (c[key] === undefined) continue;
    const v = c[key];
    const ok = type === 'string' ? typeof v === 'string' : type === 'integer' ? Number.isInteger(v) : typeof v === 'number' && Number.isFinite(v);
    if (!ok) throw new InputFileError(path, `'${key}' must be ${type === 'string' ? 'a string' : type === 'integer' ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`);
    run[key] = v;
  }
  const langAdapters = Object.fromEntries(Object.entries(languages as Record<string, string>).map(([code, dir]) => [code, resolve(dir)]));
  const targets = c.targets;
  if (targets !== undefined && (!Array.isArray(targets) || !targets.every((t) => typeof t === 'string'))) throw new InputFileError(path, `'targets' must be a list of language codes, got ${JSON.stringify(targets)}`);
  const schedules = c.schedules ?? ['standard', 'lpft', 'gu', 'fun', 'rand'];
  if (!Array.isArray(schedules) || !schedules.length || !schedules.every((s) => typeof s === 'string')) throw new InputFileError(path, `'schedules' must be a non-empty list of schedule names, got ${JSON.stringify(c.schedules)}`);
  const seeds = c.seeds ?? 3;
  const seedList = Number.isInteger(seeds) && (seeds as number) > 0 ? Array.from({ length: seeds as number }, (_, i) => i + 1) : seeds;
  if (!Array.isArray(seedList) || !seedList.length || !seedList.every((s) => Number.isInteger(s) && s >= 0)) throw new InputFileError(path, `'seeds' must be a positive count or a list of seeds, got ${JSON.stringify(c.seeds)}`);
  return {
    ...(c.slurm === undefined ? {} : { slurm: slurmSettings(path, c.slurm) }),
    schedules: schedules as string[],
    seeds: seedList as number[],
    run: {
      ...run,
      model: resolve(required('model')), tokenizer: resolve(required('tokenizer')), task: required('task'), data: resolve(required('data')),
      langAdapters, ...(targets ? { targets: targets as string[] } : {}),
    },
  };
}

/** Checks a config's `slurm` section: `options`, a list of sbatch options, and `setup`, one line of shell. */
function slurmSettings(path: string, value: unknown): SlurmSettings {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InputFileError(path, "'slurm' must be a mapping with 'options' (a list of sbatch options) and 'setup' (a line each job runs first)");
  const s = value as Record<string, unknown>;
  const unknown = Object.keys(s).find((k) => k !== 'options' && k !== 'setup');
  if (unknown) throw new InputFileError(path, `unknown key 'slurm.${unknown}'; the slurm section has options and setup`);
  const options = s.options ?? [];
  if (!Array.isArray(options) || !options.every((o) => typeof o === 'string' && o.startsWith('-'))) throw new InputFileError(path, `'slurm.options' must be a list of sbatch options such as --partition=gpu, got ${JSON.stringify(s.options)}`);
  if (s.setup !== undefined && (typeof s.setup !== 'string' || /[\n\r]/.test(s.setup))) throw new InputFileError(path, `'slurm.setup' must be one line of shell, got ${JSON.stringify(s.setup)}`);
  return { options: options as string[], ...(s.setup === undefined ? {} : { setup: s.setup as string }) };
}
