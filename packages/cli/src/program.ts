/** The `thaw` command line (commander). */
import { Command, InvalidArgumentError, Option } from 'commander';
import { Gpu, gpuInstance, resolveAdapterOptions, type AdapterOptions, type MatmulVariant } from '@thaw/kernels';
import { runKernelBench } from './bench/kernel-bench.js';
import { runStepBench } from './bench/step-bench.js';
import { runLanguageAdapter, runPretrain } from './commands/suite.js';
import { formatRunResults, formatStudy, runBenchmarkTrain, runEval, runStudyCommand, runTrain } from './commands/task.js';
import { rebuildReport } from './report/html.js';
import { BENCHMARK_DEFAULTS, DATASET_TASKS, readStudyConfig, RUN_DEFAULTS, STUDY_PRESETS, SUITE_TASKS, TASK_ADAPTER_TYPES, type DatasetName, type BenchmarkRunOptions, type StudyOptions, type StudyPreset, type SuiteRunOptions } from '@thaw/adapters';
import { deviceOf, formatKernelBench, formatStepBench, type KernelBenchReport, type StepBenchReport } from './commands/bench.js';
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

function dropoutRate(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n >= 0 && n < 1)) throw new InvalidArgumentError(`${name} must be in [0, 1).`);
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
    .description('training-step throughput of a 4-layer encoder, all trainable vs. frozen base; kernel time shares')
    .option('--json', 'print JSON')
    .option('--batch <n>', 'sequences per step', positiveInt('--batch'), 32)
    .option('--sequence <n>', 'tokens per sequence (at most 128)', positiveInt('--sequence'), 64)
    .option('--warmup <n>', 'untimed steps first', nonNegativeInt('--warmup'), 2)
    .option('--steps <n>', 'timed steps', positiveInt('--steps'), 5)
    .action(async (opts: { json?: boolean; batch: number; sequence: number; warmup: number; steps: number }, cmd: Command) => {
      if (opts.sequence > 128) throw new UsageError('--sequence must be at most 128 (the benchmark encoder has 130 positions).');
      await withGpu(cmd, async (gpu, selection) => {
        const progress = progressBar(2, 'bench step');
        const configs = await runStepBench(gpu, { ...opts, onProgress: (label) => progress.tick(label) });
        progress.done();
        const report: StepBenchReport = {
          device: deviceOf(await chosenAdapter(selection)),
          date: new Date().toISOString().slice(0, 10),
          shape: { layers: 4, hidden: 128, heads: 4, ffn: 512, sequence: opts.sequence, batch: opts.batch },
          configs,
        };
        io.out(opts.json ? json(report) : formatStepBench(report));
      });
    });

  const stageOptions = (cmd: Command, defaults: { steps: number; pairs: number }) => cmd
    .option('--steps <n>', 'optimizer steps', positiveInt('--steps'), defaults.steps)
    .option('--batch-size <n>', 'sequence pairs per step', positiveInt('--batch-size'), 64)
    .option('--sequence <n>', 'tokens per sequence pair', positiveInt('--sequence'), 32)
    .option('--lr <rate>', 'learning rate', positiveNumber('--lr'), 1e-3)
    .option('--seed <n>', 'seed of data, masks, initialization and dropout', nonNegativeInt('--seed'), 1)
    .option('--pairs <n>', 'sentence pairs per language in the corpus', positiveInt('--pairs'), defaults.pairs)
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
    .action((opts: { out: string; languages: string[]; layers: number; hidden: number; heads: number; ffn: number; steps: number; batchSize: number; sequence: number; lr: number; seed: number; pairs: number; json?: boolean }, cmd: Command) =>
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
    .action((opts: { base: string; language: string; out: string; steps: number; batchSize: number; sequence: number; lr: number; seed: number; pairs: number; json?: boolean }, cmd: Command) =>
      withGpu(cmd, async (gpu) => {
        const summary = await runLanguageAdapter(gpu, opts);
        io.out(opts.json ? json({ out: opts.out, ...summary }) : `language adapter ${opts.language} in ${opts.out}: best masked-token accuracy ${(100 * summary.bestDev).toFixed(1)}%`);
      }));

  /** Options of a task run; with `defaults` false (study) an absent option keeps the preset's value. */
  const runOptions = (cmd: Command, defaults: boolean) => {
    const d = <T>(value: T): T | undefined => (defaults ? value : undefined);
    return cmd
      .addOption(new Option('--task <name>', `task: of the suite (${Object.keys(SUITE_TASKS).join(', ')}), or with --model a dataset on real files (${Object.keys(DATASET_TASKS).join(', ')}; default xnli)`).choices([...Object.keys(SUITE_TASKS), ...Object.keys(DATASET_TASKS)]).default(d(RUN_DEFAULTS.task)))
      .addOption(new Option('--adapter <type>', 'task adapter type').choices([...TASK_ADAPTER_TYPES]).default(d(RUN_DEFAULTS.adapter)))
      .option('--k <n>', 'steps between unfreezing events', positiveInt('--k'), d(RUN_DEFAULTS.k))
      .option('--steps <n>', 'optimizer steps', positiveInt('--steps'), d(RUN_DEFAULTS.steps))
      .option('--batch-size <n>', 'examples per step', positiveInt('--batch-size'), d(RUN_DEFAULTS.batchSize))
      .option('--lr <rate>', 'peak learning rate (linear decay)', positiveNumber('--lr'), d(RUN_DEFAULTS.lr))
      .option('--base-lr-scale <x>', 'under the full schedule, the base trains at lr × this', positiveNumber('--base-lr-scale'), d(RUN_DEFAULTS.baseLrScale))
      .option('--dropout <p>', 'suite only: dropout in the base\'s layers and the head while the task trains', dropoutRate('--dropout'), d(RUN_DEFAULTS.dropout))
      .option('--train-size <n>', 'source-language training examples (low-data runs use few)', positiveInt('--train-size'), d(RUN_DEFAULTS.trainSize))
      .option('--dev-size <n>', 'source dev examples (model selection)', positiveInt('--dev-size'), d(RUN_DEFAULTS.devSize))
      .option('--test-size <n>', 'test examples per language', positiveInt('--test-size'), d(RUN_DEFAULTS.testSize))
      .option('--eval-every <n>', 'dev evaluation (and checkpoint) interval in steps', positiveInt('--eval-every'), d(RUN_DEFAULTS.evalEvery))
      .option('--fisher-every <n>', 'track tr(F) per block every n steps (0: never)', nonNegativeInt('--fisher-every'), d(RUN_DEFAULTS.fisherEvery))
      .option('--fisher-batches <n>', 'training batches per tr(F) estimate', positiveInt('--fisher-batches'), d(RUN_DEFAULTS.fisherBatches))
      .addOption(new Option('--fisher-estimator <labels>', 'labels of the tr(F) estimate: the model\'s argmax (official code) or a sample (paper Eq. 1)').choices(['argmax', 'sample']).default(d(RUN_DEFAULTS.fisherEstimator)))
      .addOption(new Option('--fisher-gradients <mode>', 'squared gradients of the batch mean (official code) or of each example (paper Eq. 1)').choices(['batch-mean', 'per-example']).default(d(RUN_DEFAULTS.fisherGradients)))
      .option('--sequence <n>', 'tokens per sequence', positiveInt('--sequence'), d(RUN_DEFAULTS.sequence))
      .option('--base <dir>', 'base model made by thaw pretrain (default: the shipped one)', d(RUN_DEFAULTS.base))
      .option('--lang-adapters <dir>', 'folder with one language adapter per language, made by thaw lang-adapter (default: the shipped ones)', d(RUN_DEFAULTS.languageAdapters))
      .option('--source <code>', 'source language', d(RUN_DEFAULTS.source))
      .option('--targets <codes>', 'target languages, closest first, comma-separated', (v: string) => v.split(','), d(RUN_DEFAULTS.targets))
      .option('--overwrite', 'replace what --out already holds')
      .option('--json', 'print JSON');
  };

  /** Options of a run on a real checkpoint (thaw train --model …). */
  const benchmarkOptions = (cmd: Command) => cmd
    .option('--model <dir>', 'a Hugging Face checkpoint folder (config.json + model.safetensors, shards or pytorch_model.bin): run on real files instead of the suite')
    .option('--tokenizer <file>', 'with --model: the model\'s tokenizer.json')
    .option('--lang-adapter <code=dir>', 'with --model: an AdapterHub language adapter folder for a language; repeat for each language', (v: string, all: Record<string, string> = {}) => {
      const at = v.indexOf('=');
      if (at < 1 || at === v.length - 1) throw new InvalidArgumentError('expected <language code>=<adapter folder>, e.g. en=adapters/en.');
      return { ...all, [v.slice(0, at)]: v.slice(at + 1) };
    })
    .option('--data <dir>', 'with --model: the folder with the dataset\'s files (XNLI TSV, XCOPA JSONL, SQuAD-format JSON)')
    .option('--max-length <n>', `with --model: longest sequence in tokens (default ${BENCHMARK_DEFAULTS.maxLength})`, positiveInt('--max-length'))
    .option('--reduction-factor <x>', `with --model: bottleneck reduction factor of the task adapter (default ${BENCHMARK_DEFAULTS.reductionFactor})`, positiveNumber('--reduction-factor'))
    .addHelpText('after', `\nThe defaults shown are the suite's. With --model, an option not given takes AdapterHub's MAD-X recipe instead: --task xnli, --source ${BENCHMARK_DEFAULTS.source}, --steps ${BENCHMARK_DEFAULTS.steps}, --lr ${BENCHMARK_DEFAULTS.lr}, --k ${BENCHMARK_DEFAULTS.k}, --fisher-every ${BENCHMARK_DEFAULTS.fisherEvery}, --fisher-batches ${BENCHMARK_DEFAULTS.fisherBatches}, --train-size all, and every language with a --lang-adapter but the source as a target (docs/real-models.md).`);
  type BenchmarkFlags = { model?: string; tokenizer?: string; langAdapter?: Record<string, string>; data?: string; maxLength?: number; reductionFactor?: number };
  /** Options that only runs on real checkpoints take, and those only suite runs take. */
  const BENCHMARK_ONLY = ['tokenizer', 'langAdapter', 'data', 'maxLength', 'reductionFactor'];
  const SUITE_ONLY = ['base', 'langAdapters', 'sequence', 'devSize', 'testSize', 'dropout'];
  const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  /** A benchmark run's options: its defaults, overridden by the options given on the command line. */
  const benchmarkRun = (opts: RunFlags & BenchmarkFlags & { out: string; schedule: string; seed: number }, cmd: Command): BenchmarkRunOptions => {
    const misplaced = SUITE_ONLY.find((name) => cmd.getOptionValueSource(name) === 'cli');
    if (misplaced) throw new UsageError(`--${kebab(misplaced)} applies to the built-in suite; with --model use --lang-adapter, --data and --max-length`);
    for (const name of ['tokenizer', 'data', 'langAdapter'] as const) if (!opts[name]) throw new UsageError(`--model needs --${kebab(name)}`);
    const given = <K extends keyof BenchmarkRunOptions>(key: K): Partial<BenchmarkRunOptions> => (cmd.getOptionValueSource(String(key)) === 'cli' ? { [key]: opts[key as keyof typeof opts] } : {});
    const task = cmd.getOptionValueSource('task') === 'cli' ? opts.task! : 'xnli';
    if (!(task in DATASET_TASKS)) throw new UsageError(`--task ${task} is a task of the built-in suite; with --model choose ${Object.keys(DATASET_TASKS).join(', ')}`);
    const source = cmd.getOptionValueSource('source') === 'cli' ? opts.source! : BENCHMARK_DEFAULTS.source;
    const langAdapters = opts.langAdapter!;
    return {
      ...BENCHMARK_DEFAULTS,
      ...(['adapter', 'k', 'steps', 'batchSize', 'lr', 'baseLrScale', 'trainSize', 'fisherEvery', 'fisherBatches', 'fisherEstimator', 'fisherGradients', 'evalEvery', 'maxLength', 'reductionFactor'] as const)
        .reduce((acc, key) => ({ ...acc, ...given(key) }), {}),
      out: opts.out, schedule: opts.schedule, seed: opts.seed, model: opts.model!, tokenizer: opts.tokenizer!, data: opts.data!, langAdapters,
      task: task as DatasetName, source,
      targets: cmd.getOptionValueSource('targets') === 'cli' ? opts.targets! : Object.keys(langAdapters).filter((code) => code !== source),
    };
  };
  type RunFlags = Partial<Omit<SuiteRunOptions, 'languageAdapters'>> & { langAdapters?: string; overwrite?: boolean; json?: boolean };
  const runShape = (flags: RunFlags): Partial<SuiteRunOptions> => {
    const { langAdapters, overwrite: _o, json: _j, ...rest } = flags;
    const shape: Partial<SuiteRunOptions> = { ...rest, ...(langAdapters !== undefined ? { languageAdapters: langAdapters } : {}) };
    return Object.fromEntries(Object.entries(shape).filter(([, v]) => v !== undefined)) as Partial<SuiteRunOptions>;
  };

  benchmarkOptions(runOptions(program
    .command('train')
    .description('train a task adapter on the source language under an unfreezing schedule, then evaluate it zero-shot on every target: on the built-in suite, or with --model on a Hugging Face checkpoint, AdapterHub language adapters and dataset files')
    .requiredOption('--out <dir>', 'run directory')
    .option('--schedule <name>', 'standard, full, lpft, gu, gu-rev, rand, fun, or fixed:<layers top first, e.g. 3,1,2,0>', RUN_DEFAULTS.schedule)
    .option('--seed <n>', 'seed of initialization, data order, dropout and random schedules', nonNegativeInt('--seed'), RUN_DEFAULTS.seed), true))
    .action(async (opts: RunFlags & BenchmarkFlags & { out: string; schedule: string; seed: number }, cmd: Command) => {
      if (opts.model) {
        const o = benchmarkRun(opts, cmd);
        const results = await withGpu(cmd, (gpu) => runBenchmarkTrain(gpu, { ...o, ...(opts.overwrite ? { overwrite: true } : {}) }, io.err));
        io.out(opts.json ? json({ out: o.out, ...results }) : `run in ${o.out}\n\n${formatRunResults(results)}`);
        return;
      }
      const misplaced = BENCHMARK_ONLY.find((name) => cmd.getOptionValueSource(name) === 'cli');
      if (misplaced) throw new UsageError(`--${kebab(misplaced)} applies to runs on a real checkpoint; give --model <dir> too`);
      if (opts.task && opts.task in DATASET_TASKS) throw new UsageError(`--task ${opts.task} is a dataset on real files; give --model, --tokenizer, --lang-adapter and --data too`);
      const o = { ...RUN_DEFAULTS, ...runShape(opts), out: opts.out, schedule: opts.schedule, seed: opts.seed } as SuiteRunOptions;
      const results = await withGpu(cmd, (gpu) => runTrain(gpu, { ...o, ...(opts.overwrite ? { overwrite: true } : {}) }));
      io.out(opts.json ? json({ out: o.out, ...results }) : `run in ${o.out}\n\n${formatRunResults(results)}`);
    });

  program
    .command('eval')
    .description('evaluate a run\'s best checkpoint on the source and zero-shot on every target language; rewrites its results.json')
    .argument('<run>', 'a run directory made by thaw train')
    .option('--targets <codes>', 'target languages, comma-separated (default: the run\'s)', (v: string) => v.split(','))
    .option('--json', 'print JSON')
    .action(async (dir: string, opts: { targets?: string[]; json?: boolean }, cmd: Command) => {
      const results = await withGpu(cmd, (gpu) => runEval(gpu, dir, opts.targets));
      io.out(opts.json ? json(results) : formatRunResults(results));
    });

  runOptions(program
    .command('study')
    .description('the main job: task adapters under each schedule over several seeds, zero-shot on every target, tr(F) statistics vs transfer, report.html')
    .addOption(new Option('--preset <name>', 'smoke (minutes, for tests), default (standard vs fun, two seeds: about 16 min on a 2-core CPU), full (every schedule, three seeds: hours on a CPU)').choices(['smoke', 'default', 'full']).default('default'))
    .option('--out <dir>', 'study directory', 'thaw-study')
    .option('--schedules <names>', 'schedules, comma-separated (default: the preset\'s)', (v: string) => v.split(','))
    .option('--seeds <n>', 'seeds 1…n (default: the preset\'s)', positiveInt('--seeds'))
    .option('--resume', 'continue a study that stopped: finished runs are kept')
    .option('--config <file>', 'a study on real files: a JSON or YAML file naming the model, tokenizer, task, data, language adapters, schedules, k and seeds (docs/real-models.md)'), false)
    .action(async (opts: RunFlags & { preset: StudyPreset; out: string; schedules?: string[]; seeds?: number; resume?: boolean; config?: string }, cmd: Command) => {
      const seeds = opts.seeds ? Array.from({ length: opts.seeds }, (_, i) => i + 1) : undefined;
      let study: StudyOptions;
      if (opts.config) {
        const given = cmd.options.map((o) => o.attributeName()).find((name) => !['out', 'schedules', 'seeds', 'resume', 'overwrite', 'json', 'config'].includes(name) && cmd.getOptionValueSource(name) === 'cli');
        if (given) throw new UsageError(`--${kebab(given)} cannot be combined with --config; set it in ${opts.config}`);
        const config = await readStudyConfig(opts.config);
        study = { out: opts.out, preset: 'config', schedules: opts.schedules ?? config.schedules, seeds: seeds ?? config.seeds, run: config.run };
      } else {
        const preset = STUDY_PRESETS[opts.preset];
        study = { out: opts.out, preset: opts.preset, schedules: opts.schedules ?? preset.schedules, seeds: seeds ?? preset.seeds, run: { ...preset.run, ...runShape(opts) } };
      }
      const { results, report } = await withGpu(cmd, (gpu) => runStudyCommand(gpu, { ...study, ...(opts.overwrite ? { overwrite: true } : {}), ...(opts.resume ? { resume: true } : {}) }));
      io.out(opts.json ? json({ out: opts.out, report, ...results }) : `${formatStudy(results)}\n\nstudy in ${opts.out}\nreport: ${report}`);
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
