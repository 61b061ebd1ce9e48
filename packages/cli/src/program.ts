/** The `thaw` command line (commander). */
import { Command, InvalidArgumentError, Option } from 'commander';
import { Gpu, gpuInstance, resolveAdapterOptions, type AdapterOptions, type MatmulVariant } from '@thaw/kernels';
import { runKernelBench } from './bench/kernel-bench.js';
import { runStepBench } from './bench/step-bench.js';
import { runLanguageAdapter, runPretrain } from './commands/suite.js';
import { deviceOf, formatKernelBench, formatStepBench, type KernelBenchReport, type StepBenchReport } from './commands/bench.js';
import { chosenAdapter, devicesReport, formatDevices } from './commands/devices.js';
import { findKernel, formatKernelList, kernelJson } from './commands/kernels.js';
import { loadManifest } from '@thaw/kernels';
import { progressBar } from './ui/progress.js';
import { UsageError } from './ui/errors.js';

/** Where the command writes: injectable for tests. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: Io = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
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
  const o = cmd.optsWithGlobals<{ backend?: string; adapter?: string }>();
  return resolveAdapterOptions({ ...(o.backend ? { backend: o.backend } : {}), ...(o.adapter ? { adapter: o.adapter } : {}) });
}

const json = (value: unknown) => JSON.stringify(value, null, 2);

/** Builds the program; `io` receives everything it prints. Failures throw (CommanderError for usage). */
export function buildProgram(io: Io = processIo): Command {
  const program = new Command('thaw')
    .description('Scheduled unfreezing of task adapters and Fisher-information dynamics on any WebGPU device.')
    .version('0.1.0')
    .option('--backend <name>', 'Dawn backend: vulkan, metal, d3d12, opengl, null (env THAW_BACKEND)')
    .option('--adapter <substring>', 'pick the adapter whose name contains this, e.g. llvmpipe (env THAW_ADAPTER)')
    .showHelpAfterError()
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
    .action(async (opts: { json?: boolean; tokens?: number; quick?: boolean; warmup: number; repeats: number; peers: boolean; matmul: MatmulVariant }, cmd: Command) => {
      const selection = adapterOptions(cmd);
      const gpu = await Gpu.create(selection);
      try {
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
      } finally {
        await gpu.destroy();
      }
    });

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
      const selection = adapterOptions(cmd);
      const gpu = await Gpu.create(selection);
      try {
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
      } finally {
        await gpu.destroy();
      }
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
    // language adapter must carry (suite-findings, finding 5).
    .option('--languages <codes>', 'languages with pretraining data, comma-separated', (v: string) => v.split(','), ['src', 'l1', 'l2', 'l3'])
    .option('--layers <n>', 'encoder layers', positiveInt('--layers'), 4)
    .option('--hidden <n>', 'hidden size', positiveInt('--hidden'), 64)
    .option('--heads <n>', 'attention heads', positiveInt('--heads'), 4)
    .option('--ffn <n>', 'feed-forward size', positiveInt('--ffn'), 256), { steps: 3500, pairs: 4000 })
    .action(async (opts: { out: string; languages: string[]; layers: number; hidden: number; heads: number; ffn: number; steps: number; batchSize: number; sequence: number; lr: number; seed: number; pairs: number; json?: boolean }, cmd: Command) => {
      const gpu = await Gpu.create(adapterOptions(cmd));
      try {
        const summary = await runPretrain(gpu, opts);
        io.out(opts.json ? json({ out: opts.out, ...summary }) : `base model in ${opts.out}: best masked-token accuracy ${(100 * summary.bestDev).toFixed(1)}% at step ${summary.bestStep}`);
      } finally {
        await gpu.destroy();
      }
    });

  stageOptions(program
    .command('lang-adapter')
    .description('train a MAD-X language adapter (seq_bn + invertible) on one language, base frozen')
    .requiredOption('--base <dir>', 'a base model made by thaw pretrain')
    .requiredOption('--language <code>', 'the language')
    .requiredOption('--out <dir>', 'run directory (gets adapter.safetensors and adapter_config.json)'), { steps: 150, pairs: 2000 })
    .action(async (opts: { base: string; language: string; out: string; steps: number; batchSize: number; sequence: number; lr: number; seed: number; pairs: number; json?: boolean }, cmd: Command) => {
      const gpu = await Gpu.create(adapterOptions(cmd));
      try {
        const summary = await runLanguageAdapter(gpu, opts);
        io.out(opts.json ? json({ out: opts.out, ...summary }) : `language adapter ${opts.language} in ${opts.out}: best masked-token accuracy ${(100 * summary.bestDev).toFixed(1)}%`);
      } finally {
        await gpu.destroy();
      }
    });

  return program;
}
