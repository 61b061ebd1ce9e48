/** `thaw bench kernels`, `step`, `madx` and `load`: rendering of the benchmarks. */
import type { AdapterSummary } from '@thaw/kernels';
import type { KernelBenchResult } from '../bench/kernel-bench.js';
import type { LoadMeasurement } from '../bench/load-bench.js';
import type { MadxBenchResult } from '../bench/madx-bench.js';
import type { StepBenchResult } from '../bench/step-bench.js';
import { threadLabel } from '../bench/torch-peer.js';
import { table } from '../ui/table.js';

/** What `thaw bench kernels --json` prints. */
export interface KernelBenchReport {
  device: { name: string; vendor: string; architecture: string; backend?: string };
  date: string;
  timing: 'timestamp-query' | 'wall-clock';
  results: KernelBenchResult[];
}

export function deviceOf(adapter: AdapterSummary): KernelBenchReport['device'] {
  return { name: adapter.name, vendor: adapter.vendor, architecture: adapter.architecture, ...(adapter.backend ? { backend: adapter.backend } : {}) };
}

const fixed = (x: number | undefined, digits: number) => (x === undefined ? '-' : x.toFixed(digits));
/** A compute rate (GFLOP/s) or a memory rate (GB/s), whichever the row has. */
const rate = (r: { gflops?: number; gbps?: number }) => (r.gflops !== undefined ? `${fixed(r.gflops, 2)} GFLOP/s` : `${fixed(r.gbps, 2)} GB/s`);

export function formatKernelBench(report: KernelBenchReport): string {
  const rows = report.results.map((r) => [
    r.variant ? `${r.kernel} (${r.variant})` : r.kernel,
    r.shape,
    fixed(r.ms, 2),
    rate(r),
    ...(['tfjs', 'jax'] as const).map((name) => {
      const peer = r.peers[name];
      return peer ? `${rate(peer)} (${fixed(peer.ratio, 2)}×)` : '-';
    }),
  ]);
  return [
    `Device: ${report.device.name} (${report.device.backend ?? 'unknown backend'}), ${report.date}, timing by ${report.timing}`,
    '',
    table(['kernel', 'shape', 'ms', 'Thaw', 'tfjs (Thaw ÷ tfjs)', 'jax-js (Thaw ÷ jax-js)'], rows),
  ].join('\n');
}

/** What `thaw bench step --json` prints. */
export interface StepBenchReport {
  device: KernelBenchReport['device'];
  date: string;
  shape: { layers: number; hidden: number; heads: number; ffn: number; sequence: number; batch: number };
  /** The trainer's --log-every the step ran with: one readback of the losses per this many steps. */
  logEvery: number;
  configs: StepBenchResult[];
}

/** A missing peer's reason as a table cell: the reason without its details in parentheses. */
const shortReason = (missing: string) => missing.replace(/ \(.*\)$/s, '');

export function formatStepBench(report: StepBenchReport): string {
  const s = report.shape;
  const families = [...new Set(report.configs.flatMap((c) => Object.keys(c.kernelShare)))];
  const rows = report.configs.map((c) => {
    const torch = c.peers.torch;
    return [
      c.name,
      `${(100 * c.trainableFraction).toFixed(2)}%`,
      c.msPerStep.toFixed(1),
      c.tokensPerSec.toFixed(0),
      c.submitsPerStep.toFixed(1),
      c.dispatchesPerStep.toFixed(0),
      ...('missing' in torch ? [shortReason(torch.missing), '-'] : [`${torch.msPerStep.toFixed(1)} (${threadLabel({ torch: torch.threads, blas: torch.blasThreads })} thr)`, `${torch.ratio.toFixed(2)}×`]),
    ];
  });
  const shares = families.map((f) => [f, ...report.configs.map((c) => `${(100 * (c.kernelShare[f] ?? 0)).toFixed(1)}%`)]);
  const peers = report.configs.map((c) => c.peers.torch);
  const ran = peers.find((p): p is Exclude<typeof p, { missing: string }> => !('missing' in p));
  const missing = peers.find((p): p is { missing: string } => 'missing' in p);
  const torchLine = ran
    ? `PyTorch ${ran.version} on the CPU (${ran.python}), BLAS ${ran.blas}; best of ${Object.keys(ran.byThreads).join(', ')} threads; Thaw ÷ PyTorch is the ratio of ms/step (above 1: Thaw's step takes longer)`
    : `PyTorch: ${missing?.missing ?? 'not run'}`;
  return [
    `Device: ${report.device.name} (${report.device.backend ?? 'unknown backend'}), ${report.date}`,
    `Encoder: ${s.layers} layers, d ${s.hidden}, ${s.heads} heads, FFN ${s.ffn}; batch ${s.batch} × sequence ${s.sequence}; AdamW, clipping at 1.0; the trainer's step, losses read every ${report.logEvery} steps`,
    torchLine,
    '',
    table(['config', 'trainable', 'ms/step', 'tokens/s', 'submits/step', 'dispatches/step', 'PyTorch ms/step', 'Thaw ÷ PyTorch'], rows),
    '',
    'Share of GPU time per kernel family (one profiled step):',
    '',
    table(['family', ...report.configs.map((c) => c.name)], shares),
  ].join('\n');
}

/** What `thaw bench load --json` prints. */
export interface LoadBenchReport {
  device: KernelBenchReport['device'];
  date: string;
  /** The synthetic shape written and loaded, when --synthetic chose one. */
  synthetic?: { shape: string; layers: number };
  result: LoadMeasurement;
}

/** Bytes as MB (10^6), as checkpoint sizes are quoted. */
const megabytes = (bytes: number) => (bytes / 1e6).toFixed(0);

/** The human table of `thaw bench load`. */
export function formatLoadBench(report: LoadBenchReport): string {
  const r = report.result;
  const what = report.synthetic ? `synthetic ${report.synthetic.shape}, ${report.synthetic.layers} layers` : r.model;
  return [
    `Device: ${report.device.name} (${report.device.backend ?? 'unknown backend'}), ${report.date}`,
    `Checkpoint: ${what}; ${r.files.length} weight file${r.files.length === 1 ? '' : 's'}, ${r.parameters.toLocaleString('en-US')} parameters`,
    'Loaded in a fresh process; peak is its VmHWM (on a software device the GPU buffers are host memory and count in it)',
    '',
    table(['checkpoint MB', 'load s', 'RSS before MB', 'peak RSS MB', 'peak − before MB', 'peak − checkpoint MB'], [[
      megabytes(r.checkpointBytes), r.seconds.toFixed(2), megabytes(r.rssBeforeBytes), megabytes(r.peakRssBytes),
      megabytes(r.peakRssBytes - r.rssBeforeBytes), megabytes(r.peakRssBytes - r.checkpointBytes),
    ]]),
  ].join('\n');
}

/** What `thaw bench madx --json` prints. */
export interface MadxBenchReport {
  device: KernelBenchReport['device'];
  date: string;
  shape: string;
  batch: number;
  sequence: number;
  /** Timed training steps. */
  steps: number;
  result: MadxBenchResult;
}

/** The human table of `thaw bench madx`. */
export function formatMadxBench(report: MadxBenchReport): string {
  const r = report.result;
  const c = r.config;
  return [
    `Device: ${report.device.name} (${report.device.backend ?? 'unknown backend'}), ${report.date}`,
    `Model: ${report.shape} shape (vocab ${c.vocabSize.toLocaleString('en-US')}, ${c.numHiddenLayers} layers of ${c.hiddenSize}, ${c.numAttentionHeads} heads, FFN ${c.intermediateSize}), random weights; ` +
      `MAD-X: encoder and language adapter frozen, task adapter (seq_bn, reduction 16) and head trained; batch ${report.batch} × ${report.sequence} tokens`,
    `Trainable: ${r.trainable.toLocaleString('en-US')} of ${r.parameters.toLocaleString('en-US')} parameters; built in ${r.buildSeconds.toFixed(1)} s`,
    '',
    table(['ms/step', 'tokens/s', 'dispatches/step', 'eval ms/batch', 'eval sequences/s'], [[
      r.msPerStep.toFixed(0), r.tokensPerSec.toFixed(0), r.dispatchesPerStep.toFixed(0), r.evalMsPerBatch.toFixed(0), r.evalSequencesPerSec.toFixed(1),
    ]]),
  ].join('\n');
}
