/**
 * `thaw bench step`: training-step throughput of a 4-layer encoder (d 128,
 * 4 heads, FFN 512, sequence 64, batch 32) with a token-classification head,
 * (a) with every parameter trainable and (b) with the base frozen and only a
 * small, adapter-sized subset trainable (every layer's output LayerNorm and
 * the head). Reports ms per step, tokens per second, queue submits per step,
 * and the share of GPU time per kernel family from one profiled step.
 */
import { AdamW, crossEntropy, Graph, linear, type Tensor } from '@thaw/autograd';
import { Encoder, uniform, type EncoderConfig } from '@thaw/adapters';
import type { Gpu } from '@thaw/kernels';

/** One row of `thaw bench step --json`. */
export interface StepBenchResult {
  name: 'full' | 'frozen-base';
  tokensPerSec: number;
  msPerStep: number;
  submitsPerStep: number;
  dispatchesPerStep: number;
  /** Trainable parameters / all parameters. */
  trainableFraction: number;
  /** GPU time share per kernel family (file name), from one profiled step. */
  kernelShare: Record<string, number>;
}

export interface StepBenchOptions {
  batch: number;
  sequence: number;
  warmup: number;
  steps: number;
  onProgress?: (label: string) => void;
}

const CONFIG: EncoderConfig = {
  prefix: 'roberta', vocabSize: 1000, hiddenSize: 128, numHiddenLayers: 4, numAttentionHeads: 4, intermediateSize: 512,
  maxPositionEmbeddings: 130, typeVocabSize: 1, layerNormEps: 1e-5, hiddenDropoutProb: 0.1, attentionProbsDropoutProb: 0.1, positionOffset: 2, padTokenId: 1,
};
const CLASSES = 8;

/** Runs both configurations on `gpu`. */
export async function runStepBench(gpu: Gpu, options: StepBenchOptions): Promise<StepBenchResult[]> {
  const results: StepBenchResult[] = [];
  for (const name of ['full', 'frozen-base'] as const) {
    options.onProgress?.(name);
    results.push(await benchConfig(gpu, name, options));
  }
  return results;
}

async function benchConfig(gpu: Gpu, name: 'full' | 'frozen-base', o: StepBenchOptions): Promise<StepBenchResult> {
  const graph = new Graph(gpu);
  const encoder = new Encoder(graph, CONFIG, 1);
  const random = uniform(2);
  const D = CONFIG.hiddenSize;
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
  const optimizer = new AdamW(graph, params, { lr: 1e-4, weightDecay: 0.01 });
  const tokens = o.batch * o.sequence;
  // Ids 2 … vocab − 1: no padding token (1) and no BOS (0).
  const ids = Int32Array.from({ length: tokens }, () => 2 + Math.floor(random() * (CONFIG.vocabSize - 2)));
  const labels = Int32Array.from(ids, (id) => id % CLASSES);
  let step = 0;
  const trainStep = () => {
    graph.scope(() => {
      const hidden = encoder.forward({ ids, batch: o.batch, sequence: o.sequence }, { train: true, seed: 1, step });
      graph.backward(crossEntropy(linear(hidden, head.weight, head.bias), labels));
    });
    optimizer.update();
    optimizer.zeroGrad();
    step++;
  };
  try {
    for (let i = 0; i < o.warmup; i++) {
      trainStep();
      await gpu.throttle();
    }
    await gpu.sync();
    const { submits, dispatches } = gpu.stats;
    const start = performance.now();
    for (let i = 0; i < o.steps; i++) {
      trainStep();
      await gpu.throttle();
    }
    await gpu.sync();
    const msPerStep = (performance.now() - start) / o.steps;
    const submitsPerStep = (gpu.stats.submits - submits) / o.steps;
    const dispatchesPerStep = (gpu.stats.dispatches - dispatches) / o.steps;
    const perKernel = await gpu.profile(trainStep);
    const families = new Map<string, number>();
    for (const [kernel, ms] of perKernel) {
      const family = kernel.split('.')[0]!;
      families.set(family, (families.get(family) ?? 0) + ms);
    }
    const gpuMs = [...families.values()].reduce((a, b) => a + b, 0);
    const kernelShare = Object.fromEntries([...families].sort((a, b) => b[1] - a[1]).map(([f, ms]) => [f, ms / gpuMs]));
    return { name, tokensPerSec: tokens / (msPerStep / 1000), msPerStep, submitsPerStep, dispatchesPerStep, trainableFraction: trainable / total, kernelShare };
  } finally {
    optimizer.dispose();
    encoder.dispose();
    head.weight.dispose();
    head.bias.dispose();
  }
}
