/** `thaw pretrain` and `thaw lang-adapter`: the suite's pretraining pipeline. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Graph } from '@thaw/autograd';
import { LANGUAGES, loadBase, pretrainBase, trainLanguageAdapter, type MlmStageOptions, type PretrainOptions, type TrainSummary } from '@thaw/adapters';
import type { Gpu } from '@thaw/kernels';
import { UsageError } from '../ui/errors.js';
import { checkThawRun } from './task.js';
import { stepProgress } from '../ui/progress.js';

const codes = LANGUAGES.map((l) => l.code);

/** Checks language codes, naming the option. */
export function checkLanguages(option: string, values: string[]): string[] {
  const bad = values.filter((v) => !codes.includes(v));
  if (bad.length) throw new UsageError(`${option}: unknown language ${bad.join(', ')}; the suite has ${codes.join(', ')}`);
  return values;
}

/** Refuses an output directory that already holds a run, unless the run is to be resumed (and Thaw wrote it). */
export async function checkOut(out: string, resume?: boolean): Promise<void> {
  if (resume) return checkThawRun(out);
  if (existsSync(join(out, 'config.json'))) throw new UsageError(`--out ${out} already holds a run; resume it with --resume, or choose another directory`);
}

export async function runPretrain(gpu: Gpu, o: PretrainOptions): Promise<TrainSummary> {
  checkLanguages('--languages', o.languages);
  await checkOut(o.out, o.resume);
  const progress = stepProgress('pretrain', o.steps);
  try {
    return await pretrainBase(new Graph(gpu), o, { onStep: progress.onStep });
  } finally {
    progress.done();
  }
}

export async function runLanguageAdapter(gpu: Gpu, o: MlmStageOptions & { base: string; language: string }): Promise<TrainSummary> {
  checkLanguages('--language', [o.language]);
  if (!existsSync(join(o.base, 'model.json'))) throw new UsageError(`--base ${o.base} holds no base model (model.json); make one with thaw pretrain`);
  await checkOut(o.out, o.resume);
  const graph = new Graph(gpu);
  const base = await loadBase(graph, o.base);
  const progress = stepProgress(`lang-adapter ${o.language}`, o.steps);
  try {
    return await trainLanguageAdapter(graph, base, o, { onStep: progress.onStep });
  } finally {
    progress.done();
    base.dispose();
  }
}
