/**
 * `thaw bench step`: training-step throughput of a 4-layer encoder (d 128,
 * 4 heads, FFN 512, sequence 64, batch 32) with a token-classification head,
 * (a) with every parameter trainable and (b) with the base frozen and only a
 * small, adapter-sized subset trainable (every `.output.LayerNorm.` of the
 * encoder, i.e. each layer's attention-output and output LayerNorms, and the
 * head). The step is the trainer's own (`TrainingStep`, what `thaw train`
 * runs: forward with dropout, backward, clipped AdamW, the loss monitor, and
 * a readback of the losses every `logEvery` steps). Reports ms per step,
 * tokens per second, queue submits, dispatches and readbacks per step, and
 * the share of GPU time per kernel family from one profiled step; and the
 * same step in PyTorch on the CPU when a Python with torch is found
 * (torch-peer.ts).
 */
import { crossEntropy, Graph, linear, type Tensor } from '@thaw/autograd';
import { DEFAULT_LOG_EVERY, Encoder, TrainingStep, uniform, type EncoderConfig, type StepModel, type StepReadout } from '@thaw/adapters';
import type { Gpu } from '@thaw/kernels';
import { describeBlas, runTorchPeer, type TorchMissing, type TorchRun } from './torch-peer.js';

export type StepBenchConfig = 'full' | 'frozen-base';

/** The PyTorch peer's result for one configuration, or why there is none. */
export type TorchPeerResult = {
  msPerStep: number;
  /** Thaw's ms per step ÷ PyTorch's: how many times longer Thaw's step takes (below 1, Thaw is faster). */
  ratio: number;
  /** torch's threads and the BLAS library's, of the best setting. */
  threads: number;
  blasThreads: number;
  /** ms/step at each thread count tried. */
  byThreads: Record<string, number>;
  version: string;
  /** BLAS_INFO and the BLAS library torch's process loaded, e.g. "generic via openblas-pthread/libblas.so.3". */
  blas: string;
  blasLibraries: string[];
  python: string;
} | TorchMissing;

/** One row of `thaw bench step --json`. */
export interface StepBenchResult {
  name: StepBenchConfig;
  tokensPerSec: number;
  msPerStep: number;
  submitsPerStep: number;
  dispatchesPerStep: number;
  readbacksPerStep: number;
  /** Trainable parameters / all parameters. */
  trainableFraction: number;
  /** GPU time share per kernel family (file name), from one profiled step. */
  kernelShare: Record<string, number>;
  peers: { torch: TorchPeerResult };
}

export interface StepBenchOptions {
  batch: number;
  sequence: number;
  warmup: number;
  steps: number;
  /** The trainer's --log-every: steps between readbacks of the losses. */
  logEvery?: number;
  /** Run the PyTorch peer (default true). */
  torch?: boolean;
  /** Interpreters to try for the peer (default /usr/bin/python3, then python3). */
  pythons?: readonly string[];
  onProgress?: (label: string) => void;
}

export const STEP_BENCH_CONFIG: EncoderConfig = {
  prefix: 'roberta', vocabSize: 1000, hiddenSize: 128, numHiddenLayers: 4, numAttentionHeads: 4, intermediateSize: 512,
  maxPositionEmbeddings: 130, typeVocabSize: 1, layerNormEps: 1e-5, hiddenDropoutProb: 0.1, attentionProbsDropoutProb: 0.1, positionOffset: 2, padTokenId: 1,
};
const CLASSES = 8;
/** The benchmarks' optimizer: AdamW with weight decay and clipping at 1.0, as `thaw train`. */
export const BENCH_OPTIMIZER = { lr: 1e-4, weightDecay: 0.01, maxGradNorm: 1.0 };
const CONFIGS: readonly StepBenchConfig[] = ['full', 'frozen-base'];

/** Token-classification batch: ids [batch, sequence] and one label per token. */
interface Batch {
  ids: Int32Array;
  labels: Int32Array;
}

/** Runs both configurations on `gpu`, then the PyTorch peer on the same shapes. */
export async function runStepBench(gpu: Gpu, options: StepBenchOptions): Promise<StepBenchResult[]> {
  const thaw: Omit<StepBenchResult, 'peers'>[] = [];
  for (const name of CONFIGS) {
    options.onProgress?.(name);
    thaw.push(await benchConfig(gpu, name, options));
  }
  if (options.torch !== false) options.onProgress?.('pytorch');
  const torch: TorchRun | TorchMissing = options.torch === false ? { missing: 'not run: --no-torch' } : await runTorchPeer({
    layers: STEP_BENCH_CONFIG.numHiddenLayers, hidden: STEP_BENCH_CONFIG.hiddenSize, heads: STEP_BENCH_CONFIG.numAttentionHeads,
    ffn: STEP_BENCH_CONFIG.intermediateSize, vocab: STEP_BENCH_CONFIG.vocabSize, positions: STEP_BENCH_CONFIG.maxPositionEmbeddings,
    padTokenId: STEP_BENCH_CONFIG.padTokenId, layerNormEps: STEP_BENCH_CONFIG.layerNormEps, dropout: STEP_BENCH_CONFIG.hiddenDropoutProb,
    classes: CLASSES, batch: options.batch, sequence: options.sequence, ...BENCH_OPTIMIZER,
    warmup: options.warmup, steps: options.steps, configs: [...CONFIGS],
  }, options.pythons ? { interpreters: options.pythons } : {});
  return thaw.map((r) => ({ ...r, peers: { torch: torchPeer(r, torch) } }));
}

/** The peer's entry for one of Thaw's rows; a model that differs from Thaw's is no peer. */
function torchPeer(r: Omit<StepBenchResult, 'peers'>, torch: TorchRun | TorchMissing): TorchPeerResult {
  if ('missing' in torch) return torch;
  const c = torch.configs[r.name]!;
  if (c.trainable / c.parameters !== r.trainableFraction) {
    return { missing: `torch's model differs: ${c.trainable} of ${c.parameters} parameters trainable, Thaw's fraction is ${r.trainableFraction}` };
  }
  return {
    msPerStep: c.msPerStep, ratio: r.msPerStep / c.msPerStep, threads: c.threads, blasThreads: c.blasThreads, byThreads: c.byThreads,
    version: torch.version, blas: describeBlas(torch.blas), blasLibraries: torch.blas.libraries, python: torch.python,
  };
}

/** Throws on a step whose loss or gradient norm was not finite (a broken kernel, not a slow one), naming the benchmark. */
function checked(bench: string, readout: StepReadout | undefined): void {
  const bad = readout?.firstBad;
  if (bad) throw new Error(`${bench}: ${bad.loss ? `loss ${bad.lossValue}` : `gradient norm ${bad.normValue}`} at step ${bad.step}`);
}

/** What {@link timeSteps} measured: ms and work sent to the device per timed step, and the next step's index. */
export interface TimedSteps {
  msPerStep: number;
  submitsPerStep: number;
  dispatchesPerStep: number;
  readbacksPerStep: number;
  nextStep: number;
}

/**
 * Runs `warmup` untimed steps of the trainer's step, then times `steps`
 * more, ending with the readback the trainer makes before a checkpoint or
 * at the end (every step's loss is back). Throws on a non-finite step,
 * naming `bench`.
 */
export async function timeSteps<B>(gpu: Gpu, stepper: TrainingStep<B>, batch: B, warmup: number, steps: number, bench: string): Promise<TimedSteps> {
  let step = 0;
  for (let i = 0; i < warmup; i++) checked(bench, await stepper.step(batch, step++));
  if (stepper.pending) checked(bench, await stepper.read());
  await gpu.sync();
  const { submits, dispatches, readbacks } = gpu.stats;
  const start = performance.now();
  for (let i = 0; i < steps; i++) checked(bench, await stepper.step(batch, step++));
  if (stepper.pending) checked(bench, await stepper.read());
  const msPerStep = (performance.now() - start) / steps;
  const per = (n: number) => n / steps;
  return {
    msPerStep, submitsPerStep: per(gpu.stats.submits - submits), dispatchesPerStep: per(gpu.stats.dispatches - dispatches),
    readbacksPerStep: per(gpu.stats.readbacks - readbacks), nextStep: step,
  };
}

async function benchConfig(gpu: Gpu, name: StepBenchConfig, o: StepBenchOptions): Promise<Omit<StepBenchResult, 'peers'>> {
  const graph = new Graph(gpu);
  const encoder = new Encoder(graph, STEP_BENCH_CONFIG, 1);
  const random = uniform(2);
  const D = STEP_BENCH_CONFIG.hiddenSize;
  const head = {
    weight: graph.parameter(Float32Array.from({ length: CLASSES * D }, () => (random() - 0.5) * 0.1), [CLASSES, D], 'classifier.weight'),
    bias: graph.parameter(new Float32Array(CLASSES), [CLASSES], 'classifier.bias'),
  };
  if (name === 'frozen-base') {
    encoder.setTrainable(false);
    for (const [n, t] of encoder.params) if (/\.output\.LayerNorm\./.test(n)) t.requiresGrad = true;
  }
  const params: Tensor[] = [...encoder.params.values(), head.weight, head.bias];
  const total = params.reduce((s, p) => s + p.size, 0);
  const trainable = params.filter((p) => p.requiresGrad).reduce((s, p) => s + p.size, 0);
  const tokens = o.batch * o.sequence;
  // Ids 2 … vocab − 1: no padding token (1) and no BOS (0).
  const ids = Int32Array.from({ length: tokens }, () => 2 + Math.floor(random() * (STEP_BENCH_CONFIG.vocabSize - 2)));
  const batch: Batch = { ids, labels: Int32Array.from(ids, (id) => id % CLASSES) };
  const model: StepModel<Batch> = {
    params,
    base: [...encoder.params.values()],
    loss: (b, mode) => crossEntropy(linear(encoder.forward({ ids: b.ids, batch: o.batch, sequence: o.sequence }, mode), head.weight, head.bias), b.labels),
  };
  // The trainer's step: linear decay over the bench's steps, as `thaw train` (no readback for the rate).
  const stepper = new TrainingStep(graph, model, { steps: o.warmup + o.steps + 1, ...BENCH_OPTIMIZER, seed: 1, logEvery: o.logEvery ?? DEFAULT_LOG_EVERY });
  try {
    const { nextStep, ...counts } = await timeSteps(gpu, stepper, batch, o.warmup, o.steps, 'bench step');
    const perKernel = await gpu.profile(() => stepper.record(batch, nextStep));
    checked('bench step', await stepper.read());
    const families = new Map<string, number>();
    for (const [kernel, ms] of perKernel) {
      const family = kernel.split('.')[0]!;
      families.set(family, (families.get(family) ?? 0) + ms);
    }
    const gpuMs = [...families.values()].reduce((a, b) => a + b, 0);
    const kernelShare = Object.fromEntries([...families].sort((a, b) => b[1] - a[1]).map(([f, ms]) => [f, ms / gpuMs]));
    return { name, tokensPerSec: tokens / (counts.msPerStep / 1000), ...counts, trainableFraction: trainable / total, kernelShare };
  } finally {
    stepper.dispose();
    encoder.dispose();
    head.weight.dispose();
    head.bias.dispose();
  }
}
