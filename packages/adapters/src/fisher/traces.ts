/**
 * tr(F) per block: the trace of the Fisher information of each block's
 * parameters (paper §3.3 Eq. 1 and App. D Algorithm 2; docs/method.md §4),
 * estimated from squared gradients:
 *
 *   batch-mean (official code):  F += (∇ mean_b NLL(ŷ))² / |b|      per batch b
 *   per-example (paper Eq. 1):   F += Σ_{x ∈ b} (∇ NLL_x(ŷ_x))² / |b|
 *   tr(F)_j = Σ over every element of block j's parameters of F
 *
 * Labels ŷ come from the model itself: its argmax (official code) or a sample
 * from its softmax (Eq. 1, drawn with the estimator's own seeded generator).
 * The estimate runs on the current weights in evaluation mode (no dropout),
 * with every block's parameters temporarily requiring gradients so frozen
 * blocks can be scored; the training state is left as it was: weights,
 * requiresGrad flags, existing gradients, optimizer moments and the
 * training's dropout randomness are all untouched.
 */
import { crossEntropy, type Graph, type Tensor } from '@thaw/autograd';
import { fisherAccumulate, mulberry32, segmentTraces } from '@thaw/kernels';

/** How to estimate tr(F). */
export interface FisherOptions {
  /** `argmax` (official code, default) or `sample` (paper Eq. 1). */
  labels?: 'argmax' | 'sample';
  /** `batch-mean` (official code, default) or `per-example` (paper Eq. 1). */
  gradients?: 'batch-mean' | 'per-example';
  /** Seed of the label sampler. */
  seed?: number;
}

/** One batch as the estimator sees it: a forward that returns logits [rows, classes]. */
export interface FisherBatch {
  /** Examples in the batch (the divisor |b|). */
  size: number;
  /** Logits of the whole batch in evaluation mode, rows = examples (or 2·examples for span QA). */
  logits(): Tensor;
  /** Logits of example `i` alone, for the per-example estimator (rows of that example only). */
  exampleLogits?(i: number): Tensor;
}

/** Row-wise argmax or softmax sample of logits [rows, C]. */
function labelsFrom(values: Float32Array, C: number, mode: 'argmax' | 'sample', random: () => number): Int32Array {
  const rows = values.length / C;
  return Int32Array.from({ length: rows }, (_, r) => {
    const row = values.subarray(r * C, (r + 1) * C);
    let best = 0;
    for (let c = 1; c < C; c++) if (row[c]! > row[best]!) best = c;
    if (mode === 'argmax') return best;
    const m = row[best]!;
    const weights = Array.from(row, (z) => Math.exp(z - m));
    let u = random() * weights.reduce((a, b) => a + b, 0);
    for (let c = 0; c < C; c++) if ((u -= weights[c]!) < 0) return c;
    return C - 1;
  });
}

/**
 * tr(F) of every block over the given batches. `blocks[j]` lists block j's
 * parameters; `params` lists every parameter of the model (their flags are
 * set so that only block parameters get gradients, and restored after).
 */
export async function fisherTraces(graph: Graph, args: {
  blocks: readonly (readonly Tensor[])[];
  params: readonly Tensor[];
  batches: Iterable<FisherBatch>;
  options?: FisherOptions;
}): Promise<number[]> {
  const gpu = graph.gpu;
  const labelsMode = args.options?.labels ?? 'argmax';
  const gradientsMode = args.options?.gradients ?? 'batch-mean';
  const random = mulberry32(args.options?.seed ?? 0);
  const blockParams = args.blocks.flat();
  const inBlocks = new Set(blockParams);
  // Stash the training state this touches: flags and any live gradients.
  const flags = new Map(args.params.map((p) => [p, p.requiresGrad] as const));
  const grads = new Map(blockParams.map((p) => [p, p.grad] as const));
  for (const p of args.params) p.requiresGrad = inBlocks.has(p);
  for (const p of blockParams) p.grad = undefined;
  // One flat Fisher buffer: every block parameter at its own offset (a
  // parameter listed in two blocks has one place). It may be larger than one
  // binding (as may a parameter's gradient); fisherAccumulate and
  // segmentTraces then bind it chunk by chunk, with the same bits.
  const offsets = new Map<Tensor, number>();
  let total = 0;
  for (const p of blockParams) {
    if (offsets.has(p)) continue;
    offsets.set(p, total);
    total += p.size;
  }
  const fisher = gpu.upload(new Float32Array(Math.max(1, total)), 'fisher');

  /** Backward of the mean NLL of `logits` against model labels; F += grad² · scale. */
  const accumulate = async (logits: () => Tensor, scale: number) => {
    const z = graph.scope(logits);
    const labels = labelsFrom(await z.read(), z.shape.at(-1)!, labelsMode, random);
    graph.scope(() => graph.backward(crossEntropy(z, labels)));
    z.dispose();
    for (const p of blockParams) {
      if (!p.grad) continue;
      fisherAccumulate(gpu, { fisher, grad: p.grad.buffer, n: p.size, scale, offset: offsets.get(p)! });
      p.grad.dispose();
      p.grad = undefined;
    }
  };

  try {
    for (const batch of args.batches) {
      if (gradientsMode === 'batch-mean') {
        await accumulate(() => batch.logits(), 1 / batch.size);
      } else {
        if (!batch.exampleLogits) throw new Error('the per-example Fisher estimator needs FisherBatch.exampleLogits');
        for (let i = 0; i < batch.size; i++) await accumulate(() => batch.exampleLogits!(i), 1 / batch.size);
      }
      await gpu.throttle();
    }
    // One launch: a deterministic tree sum per parameter (its segment of the
    // flat buffer, summed exactly as a buffer of its own would be), then a
    // fixed-order sum per block on the host.
    if (!blockParams.length) return args.blocks.map(() => 0);
    const sums = gpu.alloc(4 * blockParams.length, 'fisher traces');
    let perParam: Float32Array;
    try {
      segmentTraces(gpu, { values: fisher, traces: sums, segments: blockParams.map((p) => ({ offset: offsets.get(p)!, length: p.size })) });
      perParam = await gpu.read(sums, blockParams.length);
    } finally {
      gpu.release(sums);
    }
    let k = 0;
    return args.blocks.map((block) => block.reduce((s) => s + perParam[k++]!, 0));
  } finally {
    gpu.release(fisher);
    for (const [p, flag] of flags) p.requiresGrad = flag;
    for (const [p, g] of grads) {
      p.grad?.dispose();
      p.grad = g;
    }
  }
}
