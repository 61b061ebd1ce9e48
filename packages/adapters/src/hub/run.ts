/**
 * One run of the research's setting on real files (a hub run): a Hugging
 * Face encoder (frozen), its tokenizer.json, AdapterHub MAD-X language
 * adapters (frozen, one per language), a task adapter and head trained on
 * the source language's dataset files under an unfreezing schedule, and
 * zero-shot evaluation on each target language's test file with that
 * language's adapter swapped in. The run directory is the suite's
 * (config.json with the spec under `benchmark`, log.jsonl, checkpoints,
 * results.json), plus the trained task adapter and head in AdapterHub's
 * layout under `adapterhub/`, and for the types PEFT has (LoRA) a PEFT
 * folder under `peft/`, which PyTorch users load directly.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Graph } from '@thaw/autograd';
import { adapterModel, type Adapter } from '../adapters/adapter.js';
import { adapterType } from '../adapters/registry.js';
import { InputFileError } from '../errors/input-error.js';
import { checkStepFits, stepLimits, taskStepShape, type StepShape } from '../train/step-size.js';
import { HfTokenizer } from '../formats/hf-tokenizer.js';
import { loadAdapterHubAdapter, saveAdapterHubFolder, saveAdapterHubHead, type AdapterHubHead } from '../checkpoints/adapterhub.js';
import { encoderConfigFromHf, loadHfEncoder, savedModelName, type LoadReport } from '../checkpoints/hf-checkpoint.js';
import { readJsonFile } from '../formats/input-file.js';
import { peftSaves, savePeftAdapter } from '../checkpoints/peft.js';
import { writeSafetensors } from '../formats/safetensors.js';
import { policy } from '../schedules/policies.js';
import { taskModel, type BatchOutputs } from '../train/task-model.js';
import type { AnswerMetricOptions } from '../datasets/metrics.js';
import { writeJsonAtomic } from '../formats/json-files.js';
import { hostTensors, reevaluateBestCheckpoint, type RunResults, type TaskModel, type TrainerCallbacks, type TrainSummary } from '../train/trainer.js';
import { languageResults, trainTaskRun, type TaskRunSpec } from '../train/run-spec.js';
import { answerNormalisation, datasetFile, datasetTask, type DatasetName, type Encoding } from './tasks.js';

/**
 * Everything a run on real files is made from, made by hubRunSpec
 * (spec/run-spec.ts); recorded in config.json under `benchmark` (the key
 * existing run directories use).
 */
export interface HubRunSpec extends TaskRunSpec {
  /** A Hugging Face checkpoint folder (config.json + weights). */
  model: string;
  /** The model's tokenizer.json. */
  tokenizer: string;
  /** AdapterHub language adapter folders by language code; the source's and every target's are needed. */
  langAdapters: Record<string, string>;
  task: DatasetName;
  /** The folder with the dataset's files (see DatasetTask.files). */
  data: string;
  /** Bottleneck reduction factor (AdapterHub's task-adapter default 16); other types take their registry defaults (adapters/registry.ts). */
  reductionFactor: number;
  /** Longest sequence in tokens, special tokens included. */
  maxLength: number;
}

/** The model, data and evaluation of a run, built from its spec. */
async function buildHubRun(graph: Graph, o: HubRunSpec) {
  const task = datasetTask(o.task);
  const tokenizer = await HfTokenizer.load(o.tokenizer);
  const { encoder, report } = await loadHfEncoder(graph, o.model);
  const c = encoder.config;
  const model = adapterModel(c);
  const owned: { dispose(): void }[] = [encoder];
  const dispose = () => { for (const x of owned.reverse()) x.dispose(); };
  try {
    if (tokenizer.vocabSize > c.vocabSize) throw new InputFileError(o.tokenizer, `has ${tokenizer.vocabSize} tokens, more than the model's vocab_size ${c.vocabSize}`);
    const languageAdapters = new Map<string, Adapter>();
    for (const code of [o.source, ...o.targets]) {
      const adapter = await loadAdapterHubAdapter(graph, o.langAdapters[code]!, model, code);
      owned.push(adapter);
      languageAdapters.set(code, adapter);
    }
    const type = adapterType(o.adapter)!;
    const taskAdapter = type.create(graph, o.task, type.configure('files', { reductionFactor: o.reductionFactor }), model, o.seed + 17);
    owned.push(taskAdapter);
    const head = task.head(graph, c.hiddenSize, o.seed + 29);
    owned.push(head);
    const encoding: Encoding = { tokenizer, maxLength: Math.min(o.maxLength, c.maxPositionEmbeddings - c.positionOffset) };
    const read = (split: 'train' | 'dev' | 'test', code: string) => task.read(datasetFile(task, o.data, split, code), split, code);
    const train = await read('train', o.source);
    // Every test file is read now, so a malformed one stops the run before it trains.
    const tests = new Map<string, unknown[]>();
    // QA answers are normalised as each language's test file's official evaluation does.
    const normalisations = new Map<string, AnswerMetricOptions>();
    for (const code of [o.source, ...o.targets]) {
      tests.set(code, await read('test', code));
      normalisations.set(code, answerNormalisation(datasetFile(task, o.data, 'test', code), code));
    }
    const m = taskModel({
      encoder, languageAdapters, source: o.source, taskAdapter, head,
      encode: (_code, items) => task.encode(encoding, items),
      train: o.trainSize ? train.slice(0, o.trainSize) : train, dev: await read('dev', o.source),
      batchSize: o.batchSize, seed: o.seed,
      ...(task.score ? { score: (code: string, items: readonly unknown[], outputs: BatchOutputs) => task.score!(encoding, normalisations.get(code)!, items, outputs) } : {}),
    });
    const evaluate = (onLanguage?: (code: string) => void): Promise<RunResults> =>
      languageResults(o, task.metric, () => m.data.evaluateDev(), (code) => m.evaluate(code, tests.get(code)!), onLanguage);
    return { m, evaluate, report, taskAdapter, head, encoder, dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}

/** Each dataset's head as AdapterHub's head classes describe it. */
const ADAPTERHUB_HEADS: Record<DatasetName, AdapterHubHead> = {
  xnli: { head_type: 'classification', num_labels: 3, layers: 2, label2id: { entailment: 0, neutral: 1, contradiction: 2 } },
  xcopa: { head_type: 'multiple_choice', num_choices: 2, layers: 2, label2id: { '0': 0, '1': 1 } },
  squad: { head_type: 'question_answering', num_labels: 2, layers: 1, label2id: { start: 0, end: 1 } },
};

/**
 * Writes the trained task adapter and head where PyTorch users load them:
 * adapterhub/<task>/, peft/ for LoRA (the LoRA weights only: the head is in
 * adapterhub/), and model/ (config.json and model.safetensors) when the
 * schedule fine-tuned the encoder too, since the adapter belongs with it.
 */
async function exportTaskAdapter(o: HubRunSpec, run: Awaited<ReturnType<typeof buildHubRun>>): Promise<void> {
  const config = await readJsonFile(join(o.model, 'config.json'));
  const info = { modelName: savedModelName(o.model, config), modelType: String(config.model_type) };
  const hidden = run.encoder.config.hiddenSize;
  const adapter = run.taskAdapter;
  const tensors = await hostTensors(adapter.params);
  const dir = join(o.out, 'adapterhub', o.task);
  await saveAdapterHubFolder(dir, adapter, tensors, { ...info, hiddenSize: hidden });
  await saveAdapterHubHead(dir, o.task, ADAPTERHUB_HEADS[o.task], await hostTensors(run.head.params), { ...info, hiddenSize: hidden });
  if (peftSaves(adapter)) await savePeftAdapter(join(o.out, 'peft'), adapter, tensors, info, PEFT_TASK_TYPES[o.task]);
  if (policy(o.schedule, run.encoder.config.numHiddenLayers, o.seed).trainsBase) {
    await writeSafetensors(join(o.out, 'model', 'model.safetensors'), await hostTensors(run.encoder.params), { format: 'pt' });
    await writeJsonAtomic(join(o.out, 'model', 'config.json'), config);
  }
}

/** PEFT's task type per dataset (PEFT has none for multiple choice: a plain PeftModel). */
const PEFT_TASK_TYPES = { xnli: 'SEQ_CLS', xcopa: null, squad: 'QUESTION_ANS' } as const;

/**
 * Trains the run a spec describes (made by hubRunSpec, which checked it and
 * its files) into `o.out`, which must not hold a run yet (with `resume`:
 * continues the run there from its last checkpoint); writes the run
 * directory (results.json with zero-shot on every target, and the exports)
 * and returns the results. With `resume`, a run that stopped there
 * continues from its last checkpoint instead.
 */
export async function trainHubRun(graph: Graph, o: HubRunSpec, callbacks?: TrainerCallbacks & { onEvaluate?(code: string): void; onLoad?(report: LoadReport): void }, resume = false): Promise<{ summary: TrainSummary; results: RunResults }> {
  // Before the model loads and anything is written: a step that cannot fit is refused (spec's checkRunFits names the same flags).
  checkStepFits(hubStepShape(o), stepLimits(graph.gpu), { batchSize: '--batch-size', sequence: '--max-length' });
  const run = await buildHubRun(graph, o);
  try {
    callbacks?.onLoad?.(run.report);
    // With the best checkpoint restored: export it, then evaluate. results.json comes last, so a
    // run that has one (what `thaw study --resume` keeps) has its export too.
    const finalEvaluation = async () => {
      await exportTaskAdapter(o, run);
      return run.evaluate(callbacks?.onEvaluate);
    };
    return await trainTaskRun(graph, o, run.m.model, run.m.data, { benchmark: o, load: run.report }, finalEvaluation, callbacks, resume);
  } finally {
    run.dispose();
  }
}

/** The shape of a hub run's training step, from its spec and the model's config.json (see train/step-size.ts). */
export function hubStepShape(o: HubRunSpec): StepShape {
  const path = join(o.model, 'config.json');
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new InputFileError(path, `cannot read the model's config (${(e as Error).message})`);
  }
  const c = encoderConfigFromHf(path, json);
  return taskStepShape(o, c, Math.min(o.maxLength, c.maxPositionEmbeddings - c.positionOffset), datasetTask(o.task).choices);
}

/** The spec a run on real files was made with, or undefined for another kind of run directory. */
export async function readHubRunSpec(dir: string): Promise<HubRunSpec | undefined> {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) return undefined;
  return (await readJsonFile(path)).benchmark as HubRunSpec | undefined;
}

/**
 * Re-evaluates the best checkpoint of the run in `o.out` (source dev/test
 * and zero-shot on `o.targets`) and rewrites its results.json; `o` is the
 * run's own spec (readHubRunSpec), checked again by hubRunSpec.
 */
export async function evaluateHubRun(graph: Graph, o: HubRunSpec, onLanguage?: (code: string) => void): Promise<RunResults> {
  const run = await buildHubRun(graph, o);
  return reevaluateBestCheckpoint(graph, o.out, { model: run.m.model as TaskModel<unknown>, evaluate: run.evaluate, dispose: run.dispose }, o.schedule, o.seed, onLanguage);
}
