/**
 * The `thaw` command line (commander). The options of a run (train, and a
 * study's runs) go as given to runSpec, which fills in the defaults and
 * checks them; this file checks the other commands' options.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { Gpu, gpuInstance, resolveAdapterOptions, type AdapterOptions, type MatmulVariant } from '@thaw/kernels';
import { runKernelBench } from './bench/kernel-bench.js';
import { runStepBench } from './bench/step-bench.js';
import { runMadxBench, type MadxShape } from './bench/madx-bench.js';
import { runLanguageAdapter, runPretrain } from './commands/suite.js';
import { formatRunResults, runEval, runTrain } from './commands/task.js';
import {
  collectCommand, EXECUTORS, formatStatus, formatStudy, formatSubmitted, resolveDevices, runStudyCommand, runStudyRunCommand, thisThaw, type Executor, type StudyExecution,
} from './commands/study.js';
import { rebuildReport } from './report/html.js';
import {
  DATASET_TASKS, DEFAULT_LOG_EVERY, SYNTHETIC_ENCODERS, HUB_DEFAULTS, readStudyConfig, RUN_FLAGS, runSpec, STUDY_PRESETS, studyPlan, SUITE_DEFAULTS, SUITE_TASKS, ADAPTER_TYPES, cancelStudy, studyStatus,
  type RunGiven, type RunOptionName, type SlurmSettings, type StudyOptions, type StudyPreset,
} from '@thaw/adapters';
import { deviceOf, formatKernelBench, formatLoadBench, formatMadxBench, formatStepBench, type KernelBenchReport, type LoadBenchReport, type MadxBenchReport, type StepBenchReport } from './commands/bench.js';
import { measureLoad, measureSyntheticLoad, type SyntheticShape } from './bench/load-bench.js';
import { chosenAdapter, devicesReport, formatDevices } from './commands/devices.js';
import { findKernel, formatKernelList, kernelJson } from './commands/kernels.js';
import { loadManifest } from '@thaw/kernels';
import { progressBar } from './ui/progress.js';
import { UsageError } from './ui/errors.js';
import { userStderr } from './ui/stderr.js';

/** Where the command writes: injectable for tests. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: Io = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => userStderr.write(text.endsWith('\n') ? text : `${text}\n`),
};

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer.`);
    return n;
  };
}

function nonNegativeInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer.`);
    return n;
  };
}

function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a positive number.`);
    return n;
  };
}

function adapterOptions(cmd: Command): AdapterOptions {
  const o = cmd.optsWithGlobals<{ backend?: string; device?: string }>();
  return resolveAdapterOptions({ ...(o.backend ? { backend: o.backend } : {}), ...(o.device ? { adapter: o.device } : {}) });
}

/** Opens the GPU the global options choose, runs `use` on it, and closes it, whether `use` succeeds or throws. */
async function withGpu<T>(cmd: Command, use: (gpu: Gpu, selection: AdapterOptions) => Promise<T>): Promise<T> {
  const selection = adapterOptions(cmd);
  const gpu = await Gpu.create(selection);
  try {
    return await use(gpu, selection);
  } finally {
    await gpu.destroy();
  }
}

/** The spec name of each run option's flag. */
const RUN_OPTION_OF_FLAG = new Map(Object.entries(RUN_FLAGS).map(([name, flag]) => [flag, name as RunOptionName]));

/**
 * The run options given on the command line, by their spec names and as
 * typed (runSpec checks them); `except` leaves out flags the command uses
 * for itself.
 */
function givenRunOptions(cmd: Command, except: string[] = []): RunGiven {
  return Object.fromEntries(cmd.options
    .filter((o) => o.long && RUN_OPTION_OF_FLAG.has(o.long) && !except.includes(o.long) && cmd.getOptionValueSource(o.attributeName()) === 'cli')
    .map((o) => [RUN_OPTION_OF_FLAG.get(o.long!)!, cmd.getOptionValue(o.attributeName()) as unknown]));
}

/** A value as help shows it. */
const shown = (value: unknown) => (Array.isArray(value) ? value.join(',') : String(value));

/** Help's note on an option's defaults: the suite's, and with --model AdapterHub's recipe where that differs. */
function defaults(name: RunOptionName): string {
  const suite = name in SUITE_DEFAULTS ? shown(SUITE_DEFAULTS[name as keyof typeof SUITE_DEFAULTS]) : undefined;
  const hub = name in HUB_DEFAULTS ? shown(HUB_DEFAULTS[name as keyof typeof HUB_DEFAULTS]) : undefined;
  if (suite === undefined) return hub === undefined ? '' : ` (default ${hub})`;
  return hub === undefined || hub === suite ? ` (default ${suite})` : ` (default ${suite}; with --model ${hub})`;
}

const json = (value: unknown) => JSON.stringify(value, null, 2);

/** Builds the program; `io` receives everything it prints. Failures throw (CommanderError for usage). */
export function buildProgram(io: Io = processIo): Command {
  const program = new Command('thaw')
    .description('Scheduled unfreezing of task adapters and Fisher-information dynamics on any WebGPU device.')
    .version('0.1.0')
    .option('--backend <name>', 'Dawn backend: vulkan, metal, d3d12, opengl, null (env THAW_BACKEND)')
    .option('--device <substring>', 'pick the WebGPU adapter whose name contains this, e.g. llvmpipe (env THAW_ADAPTER)')
    // One line of usage hint after an error, not the whole help.
    .showHelpAfterError('(run with --help for usage)')
    // Throw instead of exiting, so main() maps every failure to an exit code.
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });

  program
    .command('devices')
    .description('list the WebGPU adapters, the one chosen, its limits and features')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const report = await devicesReport(adapterOptions(cmd));
      io.out(opts.json ? json(report) : formatDevices(report));
    });

  program
    .command('kernels')
    .description('list the compiled kernels (reflected bindings, workgroup sizes, overrides), or show one kernel\'s WGSL')
    .argument('[name]', 'a kernel file, e.g. matmul')
    .option('--json', 'print JSON')
    .action((name: string | undefined, opts: { json?: boolean }) => {
      if (name) {
        const k = findKernel(name);
        io.out(opts.json ? json({ ...kernelJson(k), header: k.header, source: k.source }) : k.source);
      } else {
        io.out(opts.json ? json(loadManifest().kernels.map(kernelJson)) : formatKernelList());
      }
    });

  const bench = program.command('bench').description('benchmarks against peer libraries measured in the same run');
  bench
    .command('kernels')
    .description('matmul GFLOP/s (and TensorFlow.js / jax-js on the same shapes), layernorm and Fisher GB/s')
    .option('--json', 'print JSON')
    .option('--tokens <n>', 'tokens in the transformer shapes (default 2048, or 64 with --quick)', positiveInt('--tokens'))
    .option('--quick', 'small shapes: a smoke test of the benchmark, not a measurement')
    .option('--warmup <n>', 'untimed runs before timing', nonNegativeInt('--warmup'), 2)
    .option('--repeats <n>', 'timed runs; the median is reported', positiveInt('--repeats'), 5)
    .addOption(new Option('--no-peers', 'measure Thaw only'))
    .addOption(new Option('--matmul <variant>', 'matmul schedule').choices(['auto', 'subgroups', 'portable']).default('auto'))
    .action((opts: { json?: boolean; tokens?: number; quick?: boolean; warmup: number; repeats: number; peers: boolean; matmul: MatmulVariant }, cmd: Command) =>
      withGpu(cmd, async (gpu, selection) => {
        let progress = progressBar(1, 'bench kernels');
        const results = await runKernelBench(gpu, gpuInstance(selection), {
          tokens: opts.tokens ?? (opts.quick ? 64 : 2048),
          quick: Boolean(opts.quick),
          warmup: opts.warmup,
          repeats: opts.repeats,
          peers: opts.peers,
          matmulVariant: opts.matmul,
          onCase: (label, index, total) => {
            if (index === 0) progress = progressBar(total, 'bench kernels');
            else progress.tick(label);
          },
          onNote: (message) => io.err(`note: ${message}`),
        });
        progress.done();
        const report: KernelBenchReport = {
          device: deviceOf(await chosenAdapter(selection)),
          date: new Date().toISOString().slice(0, 10),
          timing: gpu.hasTimestamps ? 'timestamp-query' : 'wall-clock',
          results,
        };
        io.out(opts.json ? json(report) : formatKernelBench(report));
      }));

  bench
    .command('step')
    .description('training-step throughput of a 4-layer encoder, all trainable vs. frozen base (the trainer\'s own step); kernel time shares; the same step in PyTorch on the CPU when a python3 with torch is found')
    .option('--json', 'print JSON')
    .option('--batch <n>', 'sequences per step', positiveInt('--batch'), 32)
    .option('--sequence <n>', 'tokens per sequence (at most 128)', positiveInt('--sequence'), 64)
    .option('--warmup <n>', 'untimed steps first', nonNegativeInt('--warmup'), 2)
    .option('--steps <n>', 'timed steps', positiveInt('--steps'), DEFAULT_LOG_EVERY)
    .option('--log-every <n>', 'read the losses back every n steps, as thaw train --log-every', positiveInt('--log-every'), DEFAULT_LOG_EVERY)
    .addOption(new Option('--no-torch', 'measure Thaw only (no PyTorch peer)'))
    .action(async (opts: { json?: boolean; batch: number; sequence: number; warmup: number; steps: number; logEvery: number; torch: boolean }, cmd: Command) => {
      if (opts.sequence > 128) throw new UsageError('--sequence must be at most 128 (the benchmark encoder has 130 positions).');
      await withGpu(cmd, async (gpu, selection) => {
        const progress = progressBar(opts.torch ? 3 : 2, 'bench step');
        const configs = await runStepBench(gpu, { ...opts, onProgress: (label) => progress.tick(label) });
        progress.done();
        const report: StepBenchReport = {
          device: deviceOf(await chosenAdapter(selection)),
          date: new Date().toISOString().slice(0, 10),
          shape: { layers: 4, hidden: 128, heads: 4, ffn: 512, sequence: opts.sequence, batch: opts.batch },
          logEvery: opts.logEvery,
          configs,
        };
        io.out(opts.json ? json(report) : formatStepBench(report));
      });
    });

  bench
    .command('madx')
    .description('one MAD-X task-adapter training step and evaluation at a public model\'s shape (random weights): encoder and language adapter frozen, task adapter and head trained')
    .option('--json', 'print JSON')
    .addOption(new Option('--shape <shape>', 'the encoder\'s shape').choices(Object.keys(SYNTHETIC_ENCODERS)).default('xlmr-base'))
    .option('--layers <n>', 'encoder layers instead of the shape\'s 12', positiveInt('--layers'))
    .option('--batch <n>', 'sequences per step', positiveInt('--batch'), 32)
    .option('--sequence <n>', 'tokens per sequence', positiveInt('--sequence'), 128)
    .option('--warmup <n>', 'untimed steps first', nonNegativeInt('--warmup'), 1)
    .option('--steps <n>', 'timed steps', positiveInt('--steps'), 2)
    .option('--eval-batches <n>', 'timed evaluation batches', positiveInt('--eval-batches'), 2)
    .action(async (opts: { json?: boolean; shape: MadxShape; layers?: number; batch: number; sequence: number; warmup: number; steps: number; evalBatches: number }, cmd: Command) => {
      const shape = SYNTHETIC_ENCODERS[opts.shape];
      const positions = shape.maxPositionEmbeddings - shape.positionOffset;
      if (opts.sequence > positions) throw new UsageError(`--sequence must be at most ${positions} (${opts.shape} has ${positions} positions for tokens).`);
      await withGpu(cmd, async (gpu, selection) => {
        const progress = progressBar(3, 'bench madx');
        const result = await runMadxBench(gpu, { ...opts, onProgress: (label) => progress.tick(label) });
        progress.done();
        const report: MadxBenchReport = {
          device: deviceOf(await chosenAdapter(selection)),
          date: new Date().toISOString().slice(0, 10),
          shape: opts.shape, batch: opts.batch, sequence: opts.sequence, steps: opts.steps,
          result,
        };
        io.out(opts.json ? json(report) : formatMadxBench(report));
      });
    });

  bench
    .command('load')
    .description('load time and peak resident memory of loading a Hugging Face checkpoint folder (--model) or a synthetic one of a public model\'s shape (--synthetic), in a fresh process')
    .option('--json', 'print JSON')
    .option('--model <dir>', 'checkpoint folder: config.json with model.safetensors, its shards, or pytorch_model.bin')
    .addOption(new Option('--synthetic <shape>', 'write random weights of this shape and load them: xlmr-base (≈1.1 GB) or mbert (≈0.7 GB)').choices(Object.keys(SYNTHETIC_ENCODERS)))
    .option('--layers <n>', 'with --synthetic: encoder layers instead of the shape\'s 12', nonNegativeInt('--layers'))
    .option('--dir <dir>', 'with --synthetic: write (and keep) the checkpoint here instead of a temporary folder')
    .action((opts: { json?: boolean; model?: string; synthetic?: SyntheticShape; layers?: number; dir?: string }, cmd: Command) => {
      if ((opts.model === undefined) === (opts.synthetic === undefined)) throw new UsageError('give one of --model <dir> or --synthetic <shape>.');
      if (opts.model !== undefined && (opts.layers !== undefined || opts.dir !== undefined)) throw new UsageError('--layers and --dir go with --synthetic.');
      return (async () => {
        const selection = adapterOptions(cmd);
        const result = opts.model !== undefined ? await measureLoad(opts.model, selection) : await measureSyntheticLoad(opts.synthetic!, opts.layers, opts.dir, selection);
        const report: LoadBenchReport = {
          device: deviceOf(await chosenAdapter(selection)),
          date: new Date().toISOString().slice(0, 10),
          ...(opts.synthetic ? { synthetic: { shape: opts.synthetic, layers: opts.layers ?? SYNTHETIC_ENCODERS[opts.synthetic].numHiddenLayers } } : {}),
          result,
        };
        io.out(opts.json ? json(report) : formatLoadBench(report));
      })();
    });

  const stageOptions = (cmd: Command, defaults: { steps: number; pairs: number }) => cmd
    .option('--steps <n>', 'optimizer steps', positiveInt('--steps'), defaults.steps)
    .option('--batch-size <n>', 'sequence pairs per step', positiveInt('--batch-size'), 64)
    .option('--sequence <n>', 'tokens per sequence pair', positiveInt('--sequence'), 32)
    .option('--lr <rate>', 'learning rate', positiveNumber('--lr'), 1e-3)
    .option('--seed <n>', 'seed of data, masks, initialization and dropout', nonNegativeInt('--seed'), 1)
    .option('--pairs <n>', 'sentence pairs per language in the corpus', positiveInt('--pairs'), defaults.pairs)
    .option('--log-every <n>', 'read the losses back (log.jsonl, progress, the non-finite check) every n steps', positiveInt('--log-every'), DEFAULT_LOG_EVERY)
    .option('--resume', 'continue the run in --out from its last checkpoint (one stopped by a full disk, say), with the same options')
    .option('--json', 'print the summary as JSON');

  stageOptions(program
    .command('pretrain')
    .description('masked-LM pretraining of a base model on the built-in suite\'s languages')
    .requiredOption('--out <dir>', 'run directory (gets model.safetensors and model.json)')
    // Half the languages by default: a target the base never saw is one its
    // language adapter must carry (docs/suite.md, "The prototype's findings", 5).
    .option('--languages <codes>', 'languages with pretraining data, comma-separated', (v: string) => v.split(','), ['src', 'l1', 'l2', 'l3'])
    .option('--layers <n>', 'encoder layers', positiveInt('--layers'), 4)
    .option('--hidden <n>', 'hidden size', positiveInt('--hidden'), 64)
    .option('--heads <n>', 'attention heads', positiveInt('--heads'), 4)
    .option('--ffn <n>', 'feed-forward size', positiveInt('--ffn'), 256), { steps: 3500, pairs: 4000 })
    .action((opts: { out: string; languages: string[]; layers: number; hidden: number; heads: number; ffn: number; steps: number; batchSize: number; sequence: number; lr: number; seed: number; pairs: number; logEvery: number; json?: boolean }, cmd: Command) =>
      withGpu(cmd, async (gpu) => {
        const summary = await runPretrain(gpu, opts);
        io.out(opts.json ? json({ out: opts.out, ...summary }) : `base model in ${opts.out}: best masked-token accuracy ${(100 * summary.bestDev).toFixed(1)}% at step ${summary.bestStep}`);
      }));

  stageOptions(program
    .command('lang-adapter')
    .description('train a MAD-X language adapter (seq_bn + invertible) on one language, base frozen')
    .requiredOption('--base <dir>', 'a base model made by thaw pretrain')
    .requiredOption('--language <code>', 'the language')
    .requiredOption('--out <dir>', 'run directory (gets adapter.safetensors and adapter_config.json)'), { steps: 150, pairs: 2000 })
    .action((opts: { base: string; language: string; out: string; steps: number; batchSize: number; sequence: number; lr: number; seed: number; pairs: number; logEvery: number; json?: boolean }, cmd: Command) =>
      withGpu(cmd, async (gpu) => {
        const summary = await runLanguageAdapter(gpu, opts);
        io.out(opts.json ? json({ out: opts.out, ...summary }) : `language adapter ${opts.language} in ${opts.out}: best masked-token accuracy ${(100 * summary.bestDev).toFixed(1)}%`);
      }));

  /**
   * Options of a task run, as strings: runSpec checks them and fills in the
   * defaults, which help shows for `train` (`study` takes its preset's).
   */
  const runOptions = (cmd: Command, train: boolean) => {
    const d = (name: RunOptionName) => (train ? defaults(name) : '');
    return cmd
      .option('--task <name>', `task: of the suite (${Object.keys(SUITE_TASKS).join(', ')}), or with --model a dataset on real files (${Object.keys(DATASET_TASKS).join(', ')})${d('task')}`)
      .option('--adapter <type>', `task adapter type: ${ADAPTER_TYPES.map((t) => `${t.name} (${t.summary})`).join('; ')}${d('adapter')}`)
      .option('--k <n>', `steps between unfreezing events${d('k')}`)
      .option('--steps <n>', `optimizer steps${d('steps')}`)
      .option('--batch-size <n>', `examples per step${d('batchSize')}`)
      .option('--lr <rate>', `peak learning rate (linear decay)${d('lr')}`)
      .option('--base-lr-scale <x>', `under the full schedule, the base trains at lr × this${d('baseLrScale')}`)
      .option('--dropout <p>', `suite only: dropout in the base's layers and the head while the task trains${d('dropout')}`)
      .option('--train-size <n>', `source-language training examples (low-data runs use few; with --model, 0 is every example)${d('trainSize')}`)
      .option('--dev-size <n>', `suite only: source dev examples (model selection)${d('devSize')}`)
      .option('--test-size <n>', `suite only: test examples per language${d('testSize')}`)
      .option('--eval-every <n>', `dev evaluation (and checkpoint) interval in steps${d('evalEvery')}`)
      .option('--log-every <n>', `read the losses back every n steps: log.jsonl gets every step's line then, progress moves, and a non-finite loss stops the run naming its step (the run's results do not depend on it)${d('logEvery')}`)
      .option('--fisher-every <n>', `track tr(F) per block every n steps (0: never)${d('fisherEvery')}`)
      .option('--fisher-batches <n>', `training batches per tr(F) estimate${d('fisherBatches')}`)
      .option('--fisher-estimator <labels>', `labels of the tr(F) estimate: argmax (the model's, as the official code) or sample (paper Eq. 1)${d('fisherEstimator')}`)
      .option('--fisher-gradients <mode>', `squared gradients of the batch mean (batch-mean, official code) or of each example (per-example, paper Eq. 1)${d('fisherGradients')}`)
      .option('--sequence <n>', `suite only: tokens per sequence${d('sequence')}`)
      .option('--base <dir>', 'suite only: base model made by thaw pretrain (default: the shipped one)')
      .option('--lang-adapters <dir>', 'suite only: folder with one language adapter per language, made by thaw lang-adapter (default: the shipped ones)')
      .option('--source <code>', `source language${d('source')}`)
      .option('--targets <codes>', `target languages, closest first, comma-separated${d('targets')}`)
      .option('--overwrite', 'replace what --out already holds')
      .option('--json', 'print JSON');
  };

  /** Options of a run on real files (thaw train --model …). */
  const hubOptions = (cmd: Command) => cmd
    .option('--model <dir>', 'a Hugging Face checkpoint folder (config.json + model.safetensors, shards or pytorch_model.bin): run on real files instead of the suite')
    .option('--tokenizer <file>', 'with --model: the model\'s tokenizer.json')
    .option('--lang-adapter <code=dir>', 'with --model: an AdapterHub language adapter folder for a language; repeat for each language (the targets default to every one but the source)', (v: string, all: string[] = []) => [...all, v])
    .option('--data <dir>', 'with --model: the folder with the dataset\'s files (XNLI TSV, XCOPA JSONL, SQuAD-format JSON)')
    .option('--max-length <n>', `with --model: longest sequence in tokens${defaults('maxLength')}`)
    .option('--reduction-factor <x>', `with --model: bottleneck reduction factor of the task adapter${defaults('reductionFactor')}`)
    .addHelpText('after', '\nWith --model, an option not given takes AdapterHub\'s MAD-X recipe (docs/real-models.md); both sets of defaults are in packages/adapters/src/spec/defaults.ts.');
  const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

  hubOptions(runOptions(program
    .command('train')
    .description('train a task adapter on the source language under an unfreezing schedule, then evaluate it zero-shot on every target: on the built-in suite, or with --model on a Hugging Face checkpoint, AdapterHub language adapters and dataset files')
    .requiredOption('--out <dir>', 'run directory')
    .option('--schedule <name>', `standard, full, lpft, gu, gu-rev, rand, fun, or fixed:<layers top first, e.g. 3,1,2,0>${defaults('schedule')}`)
    .option('--seed <n>', `seed of initialization, data order, dropout and random schedules${defaults('seed')}`)
    .option('--resume', 'continue the run in --out from its last checkpoint (one stopped by a full disk, say), with the same options'), true))
    .action(async (opts: { overwrite?: boolean; resume?: boolean; json?: boolean }, cmd: Command) => {
      const spec = runSpec(givenRunOptions(cmd));
      const results = await withGpu(cmd, (gpu) => runTrain(gpu, spec, Boolean(opts.overwrite), io.err, Boolean(opts.resume)));
      io.out(opts.json ? json({ out: spec.out, ...results }) : `run in ${spec.out}\n\n${formatRunResults(results)}`);
    });

  program
    .command('eval')
    .description('evaluate a run\'s best checkpoint on the source and zero-shot on every target language; rewrites its results.json')
    .argument('<run>', 'a run directory made by thaw train')
    .option('--targets <codes>', 'target languages, comma-separated (default: the run\'s)')
    .option('--json', 'print JSON')
    .action(async (dir: string, opts: { targets?: string; json?: boolean }, cmd: Command) => {
      const results = await withGpu(cmd, (gpu) => runEval(gpu, dir, opts.targets));
      io.out(opts.json ? json(results) : formatRunResults(results));
    });

  runOptions(program
    .command('study')
    .description('the main job: task adapters under each schedule over several seeds, zero-shot on every target, tr(F) statistics vs transfer, report.html; runs inline, on local workers or on Slurm (docs/scaling.md)')
    .addOption(new Option('--preset <name>', 'smoke (minutes, for tests), default (standard vs fun, two seeds: about 16 min on a 2-core CPU), power (standard, gu, fun over five seeds: about an hour there, with an executor running two at a time), full (every schedule, three seeds: hours on a CPU)').choices(Object.keys(STUDY_PRESETS)).default('default'))
    .option('--out <dir>', 'study directory', 'thaw-study')
    .option('--schedules <names>', 'schedules, comma-separated (default: the preset\'s)', (v: string) => v.split(','))
    .option('--seeds <n>', 'seeds 1…n (default: the preset\'s)', positiveInt('--seeds'))
    .option('--resume', 'continue a study that stopped, with the same options: finished runs are kept, stopped ones continue from their last checkpoint')
    .option('--config <file>', 'a study on real files: a JSON or YAML file naming the model, tokenizer, task, data, language adapters, schedules, k and seeds, and optionally its slurm section (docs/real-models.md)')
    .addOption(new Option('--executor <name>', 'where the runs train: inline (one after the other in this process), local (worker processes), slurm (a job array)').choices([...EXECUTORS]).default('inline'))
    .option('--workers <n>', 'local: worker processes at once (default 1)', positiveInt('--workers'))
    .option('--devices <list>', 'local: WebGPU adapters the workers are pinned to, round-robin: indices of thaw devices\' list or parts of adapter names, comma-separated')
    .option('--max-parallel <n>', 'slurm: at most this many array tasks at once (the array\'s % throttle)', positiveInt('--max-parallel'))
    .option('--slurm-option <option>', 'slurm: an sbatch option passed through, e.g. --slurm-option=--partition=gpu; repeat for each (after the config\'s slurm options)', (v: string, all: string[] = []) => [...all, v])
    .option('--wait', 'slurm: wait until the aggregation job has ended, then print the results'), false)
    .action(async (opts: {
      preset: StudyPreset; out: string; schedules?: string[]; seeds?: number; resume?: boolean; overwrite?: boolean; config?: string; json?: boolean;
      executor: Executor; workers?: number; devices?: string; maxParallel?: number; slurmOption?: string[]; wait?: boolean;
    }, cmd: Command) => {
      const only = (executor: Executor, options: [string, unknown][]) => {
        const given = options.find(([, v]) => v !== undefined);
        if (given && opts.executor !== executor) throw new UsageError(`${given[0]} applies to --executor ${executor}, not ${opts.executor}`);
      };
      only('local', [['--workers', opts.workers], ['--devices', opts.devices]]);
      only('slurm', [['--max-parallel', opts.maxParallel], ['--slurm-option', opts.slurmOption], ['--wait', opts.wait]]);
      const seeds = opts.seeds ? Array.from({ length: opts.seeds }, (_, i) => i + 1) : undefined;
      let study: StudyOptions;
      let slurm: SlurmSettings = { options: [] };
      if (opts.config) {
        const own = ['out', 'schedules', 'seeds', 'resume', 'overwrite', 'json', 'config', 'executor', 'workers', 'devices', 'maxParallel', 'slurmOption', 'wait'];
        const given = cmd.options.map((o) => o.attributeName()).find((name) => !own.includes(name) && cmd.getOptionValueSource(name) === 'cli');
        if (given) throw new UsageError(`--${kebab(given)} cannot be combined with --config; set it in ${opts.config}`);
        const config = await readStudyConfig(opts.config);
        study = { out: opts.out, preset: 'config', schedules: opts.schedules ?? config.schedules, seeds: seeds ?? config.seeds, run: config.run };
        slurm = config.slurm ?? slurm;
      } else {
        const preset = STUDY_PRESETS[opts.preset];
        study = { out: opts.out, preset: opts.preset, schedules: opts.schedules ?? preset.schedules, seeds: seeds ?? preset.seeds, run: { ...preset.run, ...givenRunOptions(cmd, ['--out']) } };
      }
      const plan = studyPlan(study);
      const globals = cmd.optsWithGlobals<{ backend?: string; device?: string }>();
      const devices = opts.executor === 'local' ? await resolveDevices(opts.devices) : [];
      const execution: StudyExecution = {
        executor: opts.executor, resume: Boolean(opts.resume), overwrite: Boolean(opts.overwrite),
        workers: opts.workers ?? 1, devices: devices.length || !globals.device ? devices : [globals.device],
        ...(opts.maxParallel ? { maxParallel: opts.maxParallel } : {}), slurmOptions: [...slurm.options, ...(opts.slurmOption ?? [])],
        ...(slurm.setup ? { setup: slurm.setup } : {}), wait: Boolean(opts.wait),
        // A Slurm job is pinned to its GPU by the cluster (--gres), not by name.
        thaw: thisThaw(globals, opts.executor === 'slurm' && globals.device ? ['--device', globals.device] : []),
      };
      const outcome = await runStudyCommand((use) => withGpu(cmd, use), plan, execution, io.err);
      if ('submitted' in outcome) {
        io.out(opts.json ? json({ out: opts.out, executor: 'slurm', runs: outcome.runs, ...outcome.submitted }) : formatSubmitted(opts.out, outcome.submitted, outcome.runs));
        return;
      }
      const { results, report, failed } = outcome;
      io.out(opts.json ? json({ out: opts.out, report, ...results }) : `${formatStudy(results)}\n\nstudy in ${opts.out}\nreport: ${report}`);
      if (failed) throw new UsageError(`${failed} of ${results.planned} runs did not finish; thaw status ${opts.out} shows why, thaw study … --resume runs them again`);
    });

  program
    .command('study-run', { hidden: true })
    .description('train one run of a study (what local workers and Slurm array tasks run)')
    .argument('<dir>', 'a study folder made by thaw study')
    .requiredOption('--index <i>', 'the run: its place in study.json\'s runs, from 0', nonNegativeInt('--index'))
    .option('--log <file>', 'where this worker\'s output goes, recorded for thaw status')
    .action((dir: string, opts: { index: number; log?: string }, cmd: Command) =>
      withGpu(cmd, async (gpu) => io.out(await runStudyRunCommand(gpu, dir, opts.index, opts.log, io.err))));

  program
    .command('status')
    .description('where a study stands: each run done, running, failed (with its log and last error line) or pending, from its folders and Slurm\'s queue')
    .argument('<dir>', 'a study folder')
    .option('--json', 'print JSON: {"runs":[{"schedule","seed","dir","state","job"?}],"done":n,"total":m}')
    .action(async (dir: string, opts: { json?: boolean }) => {
      const status = await studyStatus(dir);
      io.out(opts.json ? json(status) : formatStatus(dir, status));
    });

  program
    .command('collect')
    .description('aggregate the runs of a study that have finished into results.json and report.html (a partial study says how many runs it holds)')
    .argument('<dir>', 'a study folder')
    .option('--json', 'print JSON')
    .action(async (dir: string, opts: { json?: boolean }) => {
      const { results, report } = await collectCommand(dir);
      io.out(opts.json ? json({ out: dir, report, ...results }) : `${formatStudy(results)}\n\nstudy in ${dir}\nreport: ${report}`);
    });

  program
    .command('cancel')
    .description('cancel the Slurm jobs of a study (its job arrays and aggregation jobs)')
    .argument('<dir>', 'a study folder')
    .option('--json', 'print JSON')
    .action(async (dir: string, opts: { json?: boolean }) => {
      const jobs = await cancelStudy(dir);
      io.out(opts.json ? json({ cancelled: jobs }) : `cancelled Slurm jobs ${jobs.join(', ')}; thaw status ${dir} shows the runs, thaw study … --resume starts the unfinished ones again`);
    });

  program
    .command('report')
    .description('rebuild report.html of a study or a run directory')
    .argument('<dir>', 'a study or run directory')
    .option('--json', 'print JSON')
    .action(async (dir: string, opts: { json?: boolean }) => {
      const path = await rebuildReport(dir);
      io.out(opts.json ? json({ report: path }) : `report: ${path}`);
    });

  return program;
}
