/**
 * One run of the research's setting on real files: a Hugging Face encoder
 * (frozen), its tokenizer.json, AdapterHub MAD-X language adapters (frozen,
 * one per language), a task adapter and head trained on the source
 * language's benchmark data under an unfreezing schedule, and zero-shot
 * evaluation on each target language's test file with that language's
 * adapter swapped in. The run directory is the suite's (config.json with
 * every option under `benchmark`, log.jsonl, checkpoints, results.json), plus
 * the trained task adapter and head in AdapterHub's layout under
 * `adapterhub/`, and for LoRA a PEFT folder under `peft/`, which PyTorch
 * users load directly.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Graph } from '@thaw/autograd';
import type { Adapter } from '../adapters/adapter.js';
import { BottleneckAdapter } from '../adapters/bottleneck.js';
import { LoraAdapter } from '../adapters/lora.js';
import type { StackMember } from '../adapters/stack.js';
import { OptionError } from '../errors/option-error.js';
import { HfTokenizer } from '../formats/hf-tokenizer.js';
import { loadAdapterHubAdapter, saveAdapterHubFolder, saveAdapterHubHead, type AdapterHubHead } from '../checkpoints/adapterhub.js';
import { loadHfEncoder, savedModelName, type LoadReport } from '../checkpoints/hf-checkpoint.js';
import { readJsonFile } from '../formats/input-file.js';
import { savePeftLora } from '../checkpoints/peft.js';
import { writeSafetensors } from '../formats/safetensors.js';
import { policy } from '../schedules/policies.js';
import { taskModel, type BatchOutputs } from '../train/task-model.js';
import type { AnswerMetricOptions } from '../datasets/metrics.js';
import { writeJsonAtomic } from '../formats/json-files.js';
import { hostTensors, reevaluateBestCheckpoint, type RunResults, type TaskModel, type TrainerCallbacks, type TrainSummary } from '../train/trainer.js';
import { checkFreshOut, checkTaskRunOptions, languageResults, trainTaskRun, type TaskRunOptions } from '../train/run-options.js';
import { answerNormalisation, datasetFile, datasetTask, type DatasetName, type Encoding } from './tasks.js';

/** Everything a benchmark run is made from (config.json's `benchmark`). */
export interface BenchmarkRunOptions extends TaskRunOptions {
  /** A Hugging Face checkpoint folder (config.json + weights). */
  model: string;
  /** The model's tokenizer.json. */
  tokenizer: string;
  /** AdapterHub language adapter folders by language code; the source's and every target's are needed. */
  langAdapters: Record<string, string>;
  task: DatasetName;
  /** The folder with the benchmark's files (see DatasetTask.files). */
  data: string;
  /** Bottleneck reduction factor (AdapterHub's task-adapter default 16); LoRA uses AdapterHub's r 8, alpha 8. */
  reductionFactor: number;
  /** Longest sequence in tokens, special tokens included. */
  maxLength: number;
}

/** Defaults of a benchmark run: AdapterHub's MAD-X task-adapter recipe (seq_bn, reduction 16, lr 1e-4, batch 32). */
export const BENCHMARK_DEFAULTS: Omit<BenchmarkRunOptions, 'out' | 'model' | 'tokenizer' | 'langAdapters' | 'task' | 'data' | 'targets'> = {
  source: 'en', schedule: 'standard', adapter: 'seq_bn', reductionFactor: 16, k: 100, steps: 1000, batchSize: 32, lr: 1e-4,
  baseLrScale: 0.1, trainSize: 0, seed: 1, fisherEvery: 50, fisherBatches: 4, fisherEstimator: 'argmax', fisherGradients: 'batch-mean',
  evalEvery: 100, maxLength: 128,
};

/** AdapterHub's `lora` defaults. */
const LORA_TASK_ADAPTER = { r: 8, alpha: 8 };

/**
 * Checks a run's options and that every file it needs exists (model,
 * tokenizer, each language's adapter, each split's data file), before
 * anything is written; errors name the option or the file.
 */
export function checkBenchmarkOptions(o: BenchmarkRunOptions): void {
  const task = datasetTask(o.task);
  if (!existsSync(join(o.model, 'config.json'))) throw new OptionError(`--model ${o.model}: not a Hugging Face checkpoint folder (no config.json)`);
  if (!existsSync(o.tokenizer)) throw new OptionError(`--tokenizer ${o.tokenizer}: no such file`);
  checkTaskRunOptions(o, 0);
  if (!Number.isInteger(o.maxLength) || o.maxLength < 1) throw new OptionError(`--max-length must be a positive integer, got ${o.maxLength}`);
  if (!(o.reductionFactor > 0)) throw new OptionError(`--reduction-factor must be a positive number, got ${o.reductionFactor}`);
  for (const code of [o.source, ...o.targets]) {
    const dir = o.langAdapters[code];
    if (!dir) throw new OptionError(`--lang-adapter: no language adapter for '${code}'; give --lang-adapter ${code}=<AdapterHub folder>`);
    if (!existsSync(join(dir, 'adapter_config.json'))) throw new OptionError(`--lang-adapter ${code}=${dir}: not an AdapterHub adapter folder (no adapter_config.json)`);
  }
  const must = (fn: () => string) => {
    try {
      fn();
    } catch (e) {
      throw new OptionError(`--data ${(e as Error).message}`);
    }
  };
  must(() => datasetFile(task, o.data, 'train', o.source));
  must(() => datasetFile(task, o.data, 'dev', o.source));
  for (const code of [o.source, ...o.targets]) must(() => datasetFile(task, o.data, 'test', code));
  const configPath = join(o.model, 'config.json');
  let layers: unknown;
  try {
    layers = (JSON.parse(readFileSync(configPath, 'utf8')) as { num_hidden_layers?: unknown }).num_hidden_layers;
  } catch (e) {
    throw new OptionError(`--model ${configPath}: not valid JSON (${(e as Error).message})`);
  }
  if (!Number.isInteger(layers) || (layers as number) < 1) throw new OptionError(`--model ${configPath}: num_hidden_layers must be a positive integer, got ${JSON.stringify(layers)}`);
  try {
    policy(o.schedule, layers as number, o.seed);
  } catch (e) {
    // The policy's messages name --schedule.
    throw new OptionError((e as Error).message);
  }
}

/** The model, data and evaluation of a run, built from its options. */
async function buildBenchmarkRun(graph: Graph, o: BenchmarkRunOptions) {
  const task = datasetTask(o.task);
  const tokenizer = await HfTokenizer.load(o.tokenizer);
  const { encoder, report } = await loadHfEncoder(graph, o.model);
  const c = encoder.config;
  const model = { prefix: c.prefix, hiddenSize: c.hiddenSize, layers: c.numHiddenLayers };
  const owned: { dispose(): void }[] = [encoder];
  const dispose = () => { for (const x of owned.reverse()) x.dispose(); };
  try {
    if (tokenizer.vocabSize > c.vocabSize) throw new OptionError(`--tokenizer ${o.tokenizer} has ${tokenizer.vocabSize} tokens, more than the model's vocab_size ${c.vocabSize}`);
    const languageAdapters = new Map<string, StackMember>();
    for (const code of [o.source, ...o.targets]) {
      const adapter = await loadAdapterHubAdapter(graph, o.langAdapters[code]!, model, code);
      owned.push(adapter);
      languageAdapters.set(code, adapter);
    }
    const taskAdapter: StackMember & Adapter = o.adapter === 'lora'
      ? new LoraAdapter(graph, o.task, LORA_TASK_ADAPTER, model, o.seed + 17)
      : new BottleneckAdapter(graph, o.task, { architecture: o.adapter, reductionFactor: o.reductionFactor }, model, o.seed + 17);
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

/** Each benchmark's head as AdapterHub's head classes describe it. */
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
async function exportTaskAdapter(o: BenchmarkRunOptions, run: Awaited<ReturnType<typeof buildBenchmarkRun>>): Promise<void> {
  const config = await readJsonFile(join(o.model, 'config.json'));
  const info = { modelName: savedModelName(o.model, config), modelType: String(config.model_type) };
  const hidden = run.encoder.config.hiddenSize;
  const adapter = run.taskAdapter as BottleneckAdapter | LoraAdapter;
  const tensors = await hostTensors(adapter.params);
  const dir = join(o.out, 'adapterhub', o.task);
  await saveAdapterHubFolder(dir, adapter, tensors, { ...info, hiddenSize: hidden });
  await saveAdapterHubHead(dir, o.task, ADAPTERHUB_HEADS[o.task], await hostTensors(run.head.params), { ...info, hiddenSize: hidden });
  if (adapter instanceof LoraAdapter) await savePeftLora(join(o.out, 'peft'), adapter, tensors, info, PEFT_TASK_TYPES[o.task]);
  if (policy(o.schedule, run.encoder.config.numHiddenLayers, o.seed).trainsBase) {
    await writeSafetensors(join(o.out, 'model', 'model.safetensors'), await hostTensors(run.encoder.params), { format: 'pt' });
    await writeJsonAtomic(join(o.out, 'model', 'config.json'), config);
  }
}

/** PEFT's task type per benchmark (PEFT has none for multiple choice: a plain PeftModel). */
const PEFT_TASK_TYPES = { xnli: 'SEQ_CLS', xcopa: null, squad: 'QUESTION_ANS' } as const;

/** Trains one benchmark run and writes its run directory (results.json with zero-shot on every target). */
export async function trainBenchmarkRun(graph: Graph, o: BenchmarkRunOptions, callbacks?: TrainerCallbacks & { onEvaluate?(code: string): void; onLoad?(report: LoadReport): void }): Promise<{ summary: TrainSummary; results: RunResults }> {
  checkBenchmarkOptions(o);
  checkFreshOut(o.out);
  const run = await buildBenchmarkRun(graph, o);
  try {
    callbacks?.onLoad?.(run.report);
    // With the best checkpoint restored: export it, then evaluate. results.json comes last, so a
    // run that has one (what `thaw study --resume` keeps) has its export too.
    const finalEvaluation = async () => {
      await exportTaskAdapter(o, run);
      return run.evaluate(callbacks?.onEvaluate);
    };
    return await trainTaskRun(graph, o, run.m.model, run.m.data, { benchmark: o, load: run.report }, finalEvaluation, callbacks);
  } finally {
    run.dispose();
  }
}

/** The options a benchmark run was made with, or undefined for another kind of run directory. */
export async function readBenchmarkOptions(dir: string): Promise<BenchmarkRunOptions | undefined> {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) return undefined;
  return (await readJsonFile(path)).benchmark as BenchmarkRunOptions | undefined;
}

/**
 * Re-evaluates a benchmark run's best checkpoint (source dev/test and
 * zero-shot on `targets`, by default the run's own) and rewrites results.json.
 */
export async function evaluateBenchmarkRun(graph: Graph, dir: string, targets?: string[], onLanguage?: (code: string) => void): Promise<RunResults> {
  const saved = await readBenchmarkOptions(dir);
  if (!saved) throw new OptionError(`${join(dir, 'config.json')}: not a benchmark run (no 'benchmark' options)`);
  const o: BenchmarkRunOptions = { ...saved, out: dir, ...(targets ? { targets } : {}) };
  checkBenchmarkOptions(o);
  const run = await buildBenchmarkRun(graph, o);
  return reevaluateBestCheckpoint(graph, dir, { model: run.m.model as TaskModel<unknown>, evaluate: run.evaluate, dispose: run.dispose }, o.schedule, o.seed, onLanguage);
}
