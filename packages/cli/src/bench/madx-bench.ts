/**
 * `thaw bench madx`: one MAD-X task-adapter training step, and evaluation,
 * at a public model's shape (XLM-R base or mBERT, random weights: only the
 * sizes matter to the time). The model is the research's: the encoder and a
 * language adapter frozen (seq_bn, reduction 2, with its NICE invertible
 * adapter), a task adapter (seq_bn, reduction 16) and a classification head
 * trained, composed as Stack(language, task). The step is the trainer's own
 * (`TrainingStep`: forward with dropout, backward, clipped AdamW, the loss
 * monitor); evaluation is the forward pass without dropout or gradients, as
 * `thaw eval` runs it, read back per batch.
 */
import { Graph } from '@thaw/autograd';
import {
  adapterModel, adapterType, checkStepFits, ClassificationHead, DEFAULT_LOG_EVERY, Encoder, Stack, stepLimits, SYNTHETIC_ENCODERS, TrainingStep, uniform,
  type Adapter, type EncoderConfig, type StepModel,
} from '@thaw/adapters';
import type { Gpu } from '@thaw/kernels';
import { BENCH_OPTIMIZER, timeSteps, type TimedSteps } from './step-bench.js';

/** The shapes `--shape` takes. */
export type MadxShape = keyof typeof SYNTHETIC_ENCODERS;

export interface MadxBenchOptions {
  shape: MadxShape;
  /** Encoder layers (default: the shape's 12). */
  layers?: number;
  batch: number;
  sequence: number;
  warmup: number;
  steps: number;
  /** Evaluation batches timed (each `batch` sequences). */
  evalBatches: number;
  onProgress?: (label: string) => void;
}

/** What `thaw bench madx --json` prints under `result`. */
export interface MadxBenchResult {
  config: EncoderConfig;
  /** Parameters trained (task adapter + head) and in all (encoder, both adapters, head). */
  trainable: number;
  parameters: number;
  /** Seconds to build the model on the device (random weights drawn on the host). */
  buildSeconds: number;
  msPerStep: number;
  tokensPerSec: number;
  dispatchesPerStep: number;
  /** Evaluation: ms per batch of `batch` sequences, and sequences per second. */
  evalMsPerBatch: number;
  evalSequencesPerSec: number;
}

const CLASSES = 3;

interface Batch {
  ids: Int32Array;
  labels: Int32Array;
}

/** Builds the MAD-X model at `o.shape` (`o.sequence` within its positions), times `o.steps` training steps and `o.evalBatches` evaluation batches. */
export async function runMadxBench(gpu: Gpu, o: MadxBenchOptions): Promise<MadxBenchResult> {
  const config: EncoderConfig = { ...SYNTHETIC_ENCODERS[o.shape], ...(o.layers !== undefined ? { numHiddenLayers: o.layers } : {}) };
  // A batch or a model that cannot fit this device is refused before anything is built, naming the flag or the limit.
  checkStepFits({
    batchSize: o.batch, sequencesPerExample: 1, sequence: o.sequence, hidden: config.hiddenSize, heads: config.numAttentionHeads,
    intermediate: config.intermediateSize, embeddingRows: config.vocabSize,
  }, stepLimits(gpu), { batchSize: '--batch', sequence: '--sequence' });
  o.onProgress?.('build');
  const graph = new Graph(gpu);
  const started = performance.now();
  const owned: { dispose(): void }[] = [];
  try {
    const encoder = new Encoder(graph, config, 1);
    owned.push(encoder);
    const model = adapterModel(config);
    const bottleneck = adapterType('seq_bn')!;
    const language = bottleneck.create(graph, 'en', { architecture: 'seq_bn', reductionFactor: 2, invertible: { reductionFactor: 2 } }, model, 2) as Adapter;
    owned.push(language);
    language.setTrainable(false);
    const task = bottleneck.create(graph, 'xnli', bottleneck.configure('files', { reductionFactor: 16 }), model, 3) as Adapter;
    owned.push(task);
    const head = new ClassificationHead(graph, 'xnli', config.hiddenSize, CLASSES, config.hiddenDropoutProb, 4);
    owned.push(head);
    encoder.setTrainable(false);
    await gpu.sync();
    const buildSeconds = (performance.now() - started) / 1000;

    const stack = new Stack([language, task]);
    const random = uniform(5);
    // Ids past the special tokens (0–4), as a tokenizer gives for text; every sequence full length.
    const ids = Int32Array.from({ length: o.batch * o.sequence }, () => 5 + Math.floor(random() * (config.vocabSize - 5)));
    const batch: Batch = { ids, labels: Int32Array.from({ length: o.batch }, (_, i) => i % CLASSES) };
    const hidden = (b: Batch, mode: { train: boolean; seed?: number; step?: number }) => encoder.forward({ ids: b.ids, batch: o.batch, sequence: o.sequence }, mode, stack);
    const trained = [...task.params.values(), ...head.params.values()];
    const stepModel: StepModel<Batch> = {
      params: trained,
      base: [...encoder.params.values(), ...language.params.values()],
      loss: (b, mode) => head.loss(hidden(b, mode), b.labels, mode),
    };
    for (const p of trained) p.requiresGrad = true;
    const parameters = [...stepModel.base, ...trained].reduce((s, p) => s + p.size, 0);
    const trainable = trained.reduce((s, p) => s + p.size, 0);

    const stepper = new TrainingStep(graph, stepModel, { steps: o.warmup + o.steps + 1, ...BENCH_OPTIMIZER, seed: 1, logEvery: DEFAULT_LOG_EVERY });
    let timed: TimedSteps;
    try {
      o.onProgress?.('train');
      timed = await timeSteps(gpu, stepper, batch, o.warmup, o.steps, 'bench madx');
    } finally {
      stepper.dispose();
    }

    o.onProgress?.('eval');
    const evalBatch = async () => {
      const logits = graph.noGrad(() => graph.scope(() => head.logits(hidden(batch, { train: false }), { train: false })));
      await logits.read();
      logits.dispose();
    };
    await evalBatch();
    const evalStart = performance.now();
    for (let i = 0; i < o.evalBatches; i++) await evalBatch();
    const evalMsPerBatch = (performance.now() - evalStart) / o.evalBatches;
    return {
      config, trainable, parameters, buildSeconds,
      msPerStep: timed.msPerStep, tokensPerSec: (o.batch * o.sequence) / (timed.msPerStep / 1000), dispatchesPerStep: timed.dispatchesPerStep,
      evalMsPerBatch, evalSequencesPerSec: o.batch / (evalMsPerBatch / 1000),
    };
  } finally {
    for (const x of owned.reverse()) x.dispose();
  }
}
