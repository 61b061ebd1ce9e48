/** Small encoders and a token-classification task for tests (and the f64 twin of the encoder). */
import { afterAll, beforeAll } from 'vitest';
import { Gpu, type GpuOptions } from '@thaw/kernels';
import { embeddingReference, geluReference, geluTanhReference, layerNormForwardReference, matmulReference, relativeError } from '@thaw/kernels/reference';
import { AdamW, crossEntropy, Graph, linear, multiHeadAttentionReference, type Tensor } from '@thaw/autograd';
import { Encoder, uniform, type EncoderConfig } from '../../src/index.js';

export function tinyConfig(overrides: Partial<EncoderConfig> = {}): EncoderConfig {
  return {
    prefix: 'roberta', vocabSize: 13, hiddenSize: 16, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 32,
    maxPositionEmbeddings: 12, typeVocabSize: 1, layerNormEps: 1e-5, hiddenDropoutProb: 0.1, attentionProbsDropoutProb: 0.1,
    positionOffset: 2, padTokenId: 1, ...overrides,
  };
}

/** One Gpu and Graph per test file (or describe block); `options.maxStorageBindingBytes` lowers the binding limit to exercise chunked launches. */
export function useGraph(options: GpuOptions = {}): () => Graph {
  let gpu: Gpu | undefined;
  let graph: Graph | undefined;
  beforeAll(async () => {
    gpu = await Gpu.create(options);
    graph = new Graph(gpu);
  });
  afterAll(async () => {
    await gpu?.destroy();
  });
  return () => graph!;
}

/** A fixed batch: ids, a padding mask (the last two tokens of row 1 are padding), labels that depend on token identity. */
export function tinyBatch(config: EncoderConfig, batch: number, sequence: number, seed: number, classes: number) {
  const random = uniform(seed);
  const mask = Float32Array.from({ length: batch * sequence }, (_, i) => (Math.floor(i / sequence) === 1 && i % sequence >= sequence - 2 ? 0 : 1));
  // Real tokens avoid the padding id; padded positions hold it.
  const ids = Int32Array.from(mask, (m) => (m ? 2 + Math.floor(random() * (config.vocabSize - 2)) : config.padTokenId));
  const labels = Int32Array.from(ids, (id, i) => (mask[i] ? id % classes : -100));
  return { ids, mask, labels, batch, sequence };
}

/** Encoder + token classifier trained with AdamW; `step()` returns the loss tensor's value. */
export function tinyTrainer(graph: Graph, config: EncoderConfig, seed: number, classes = 5) {
  const encoder = new Encoder(graph, config, seed);
  const random = uniform(seed + 1);
  const D = config.hiddenSize;
  const head = {
    weight: graph.parameter(Float32Array.from({ length: classes * D }, () => (random() - 0.5) * 0.2), [classes, D], 'classifier.weight'),
    bias: graph.parameter(new Float32Array(classes), [classes], 'classifier.bias'),
  };
  const params = [...encoder.params.values(), head.weight, head.bias];
  const optimizer = new AdamW(graph, params, { lr: 1e-3, weightDecay: 0.01 });
  let step = 0;
  /** One training step; the loss stays on the GPU unless read. */
  const trainStep = (batch: ReturnType<typeof tinyBatch>): Tensor => {
    const loss = graph.scope(() => {
      const hidden = encoder.forward({ ids: batch.ids, batch: batch.batch, sequence: batch.sequence, attentionMask: batch.mask }, { train: true, seed, step });
      const l = crossEntropy(linear(hidden, head.weight, head.bias), batch.labels);
      graph.backward(l);
      return l;
    });
    optimizer.update();
    optimizer.zeroGrad();
    step++;
    return loss;
  };
  const dispose = () => {
    optimizer.dispose();
    encoder.dispose();
    head.weight.dispose();
    head.bias.dispose();
  };
  return { encoder, head, params, optimizer, trainStep, dispose };
}

/**
 * A bottleneck of a Stack for encoderReference: with `mhAdapter` it acts after
 * attention too; `originalLnBefore` (default: not mhAdapter, as the seq_bn and
 * double_seq_bn presets) makes it read LN(r + x) rather than r; f is ReLU unless given.
 */
export interface StackMemberReference { name: string; bottleneck: number; mhAdapter?: boolean; originalLnBefore?: boolean; activation?: (x: number) => number }

/**
 * float64 forward of {@link Encoder} without dropout, from float64 copies of
 * its parameters (by name): the reference for the end-to-end layer check.
 */

export function encoderReference(c: EncoderConfig, params: Map<string, Float64Array>, ids: Int32Array, mask: Float32Array, B: number, T: number, stack: StackMemberReference[] = []): Float64Array {
  const P = (name: string) => {
    const v = params.get(name);
    if (!v) throw new Error(`no parameter ${name}`);
    return v;
  };
  const D = c.hiddenSize;
  const p = c.prefix;
  const rows = B * T;
  const addArrays = (a: Float64Array, b: Float64Array) => a.map((v, i) => v + b[i]!);
  // XLM-R position ids: cumulative count of non-padding tokens, + padding_idx; padding gets padding_idx.
  const pad = c.positionOffset - 1;
  const positions = new Int32Array(rows);
  for (let b = 0; b < B; b++) {
    let count = 0;
    for (let t = 0; t < T; t++) positions[b * T + t] = ids[b * T + t] === c.padTokenId ? pad : pad + ++count;
  }
  let h = addArrays(addArrays(embeddingReference(P(`${p}.embeddings.word_embeddings.weight`), ids, D),
    embeddingReference(P(`${p}.embeddings.position_embeddings.weight`), positions, D)),
    embeddingReference(P(`${p}.embeddings.token_type_embeddings.weight`), new Int32Array(rows), D));
  const ln = (x: Float64Array, name: string) => layerNormForwardReference(x, P(`${name}.weight`), P(`${name}.bias`), rows, D, c.layerNormEps).y;
  const dense = (x: Float64Array, name: string, inF: number, outF: number) =>
    matmulReference({ a: x, b: P(`${name}.weight`), bias: P(`${name}.bias`), M: rows, N: outF, K: inF, transB: true });
  h = ln(h, `${p}.embeddings.LayerNorm`);
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const L = `${p}.encoder.layer.${i}`;
    const ctx = multiHeadAttentionReference(h, P(`${L}.attention.self.query.weight`), P(`${L}.attention.self.query.bias`),
      P(`${L}.attention.self.key.weight`), P(`${L}.attention.self.key.bias`), P(`${L}.attention.self.value.weight`), P(`${L}.attention.self.value.bias`),
      { B, T, D, heads: c.numAttentionHeads }, mask);
    // An mh_adapter acts after attention too; each reads LN(r + x) (original_ln_before) or r, then r += A(…); at the end LN(r + x).
    const adapt = (r0: Float64Array, x: Float64Array, location: string, lnName: string) => {
      let r = r0;
      for (const { name, bottleneck, mhAdapter = false, originalLnBefore = !mhAdapter, activation = (v: number) => Math.max(v, 0) } of stack) {
        if (location === 'attention.output' && !mhAdapter) continue;
        const A = `${L}.${location}.adapters.${name}`;
        const z = originalLnBefore ? ln(addArrays(r, x), lnName) : r;
        const down = matmulReference({ a: z, b: P(`${A}.adapter_down.0.weight`), bias: P(`${A}.adapter_down.0.bias`), M: rows, N: bottleneck, K: D, transB: true }).map(activation);
        r = addArrays(r, matmulReference({ a: down, b: P(`${A}.adapter_up.weight`), bias: P(`${A}.adapter_up.bias`), M: rows, N: D, K: bottleneck, transB: true }));
      }
      return ln(addArrays(r, x), lnName);
    };
    const attended = adapt(dense(ctx, `${L}.attention.output.dense`, D, D), h, 'attention.output', `${L}.attention.output.LayerNorm`);
    const inner = dense(attended, `${L}.intermediate.dense`, D, c.intermediateSize).map(c.hiddenAct === 'gelu_new' ? geluTanhReference : geluReference);
    // Stack(a1, a2, …) at the FFN output: r += A(LN(r + x)) (Pfeiffer) or A(r) (Houlsby), then LN(r + x).
    h = adapt(dense(inner, `${L}.output.dense`, c.intermediateSize, D), attended, 'output', `${L}.output.LayerNorm`);
  }
  return h;
}

/**
 * Relative error of a GPU gradient against central finite differences of a
 * float64 loss over the chosen elements of `values` (perturbed in place and restored).
 */
export function finiteDifferenceError(values: Float64Array, grad: ArrayLike<number>, indices: number[], loss: () => number, h = 1e-6): number {
  const fd = new Float64Array(values.length);
  for (const i of indices) {
    const keep = values[i]!;
    values[i] = keep + h;
    const up = loss();
    values[i] = keep - h;
    const down = loss();
    values[i] = keep;
    fd[i] = (up - down) / (2 * h);
  }
  return relativeError(grad, fd, indices);
}
