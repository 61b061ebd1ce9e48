/**
 * A BERT / XLM-R style encoder: word + position (+ token type) embeddings with
 * LayerNorm, then post-LN layers of multi-head self-attention and a GELU
 * feed-forward block. Parameters carry Hugging Face names
 * (`roberta.encoder.layer.{i}.attention.self.query.weight`, …) so real
 * checkpoints map onto them one to one.
 *
 *   h0   = Dropout(LN_emb(E_word[ids] + E_pos[positions] + E_type[types]))
 *   a    = LN_attn(Dropout(Wo · MHA(h)) + h)
 *   out  = LN_out(Dropout(W2 · gelu(W1 · a)) + a)      (gelu: hidden_act, exact or tanh form)
 *
 * Each dropout runs inside the kernel next to it: the embeddings' in their
 * LayerNorm, the hidden dropouts in the residual LayerNorms
 * (`residualLayerNorm`), with the masks the separate `dropout` op would draw
 * from the same stream, so the result is the same bits. The FFN's bias and
 * gelu run in the epilogue of W1's matmul (unless an adapter scales W1's
 * output before the activation).
 */
import {
  embeddingSum, layerNorm, linear, multiHeadAttention, residualLayerNorm, type DropoutRandomness, type Graph, type NormDropoutOptions, type Tensor,
} from '@thaw/autograd';
import { ACTIVATIONS, EPILOGUE_ACTIVATIONS } from './activations.js';
import { normal, uniform } from './random.js';

/** Where a residual step acts: after the attention block or after the FFN (Hugging Face's module names). */
export type ResidualLocation = 'attention.output' | 'output';

/**
 * Projections whose output adapters may change: self-attention's query, key
 * and value, and the FFN's first dense layer (`intermediate.dense`, before
 * its activation).
 */
export type ProjectionSite = 'query' | 'key' | 'value' | 'intermediate';

/** A layer's own LayerNorm. */
export interface LayerNormWeights {
  weight: Tensor;
  bias: Tensor;
  eps: number;
}

/**
 * What the encoder asks of active adapters (adapters/stack.ts gives it):
 * the residual-and-norm of a sub-block (`LN(Dropout(h) + x)` without
 * adapters), and optionally a change of the embeddings and of projections'
 * outputs.
 */
export interface AdapterSetup {
  /**
   * The residual-and-norm at `location`: h is the sub-block's output before
   * its dropout, `dropout` that dropout (absent in evaluation), which the
   * setup applies to h first; x the sub-block's input.
   */
  residual(layer: number, location: ResidualLocation, h: Tensor, x: Tensor, ln: LayerNormWeights, dropout?: NormDropoutOptions): Tensor;
  /** The embeddings' output after the invertible adapter, if any. */
  embeddings?(h: Tensor): Tensor;
  /** Its inverse, which masked-LM heads apply before the vocabulary projection. */
  embeddingsInverse?(h: Tensor): Tensor;
  /** How adapters change layer i's projection output y = x·Wᵀ + b at `site` (undefined: they do not). */
  projection?(layer: number, site: ProjectionSite): ((y: Tensor, x: Tensor) => Tensor) | undefined;
}

/** Shape of an encoder (names follow Hugging Face's config.json). */
export interface EncoderConfig {
  /** Parameter name prefix: `roberta` (XLM-R) or `bert` (mBERT). */
  prefix: string;
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  layerNormEps: number;
  hiddenDropoutProb: number;
  attentionProbsDropoutProb: number;
  /**
   * 0 for BERT (positions 0, 1, 2, …); for XLM-R, padding_idx + 1 = 2
   * (non-padding tokens count up from it, padding gets padding_idx).
   */
  positionOffset: number;
  /** Id of the padding token (XLM-R 1, mBERT 0). */
  padTokenId: number;
  /** The FFN's activation (Hugging Face's hidden_act): the exact GELU by default, or its tanh form. */
  hiddenAct?: 'gelu' | 'gelu_new';
}

/** One forward pass's inputs. */
export interface EncoderInput {
  /** Token ids, batch × sequence. */
  ids: Int32Array;
  batch: number;
  sequence: number;
  /** 1 for tokens, 0 for padding (batch × sequence); default all 1. */
  attentionMask?: Float32Array;
  /** Token type ids (default all 0). */
  tokenTypes?: Int32Array;
}

/** Dropout on (training) or off (evaluation), and where its random numbers come from. */
export interface ForwardMode {
  train: boolean;
  /** The run's seed and the step (both required when training with dropout): masks are a function of them. */
  seed?: number;
  step?: number;
  /** Micro-batch within the step (gradient accumulation), so each gets its own masks. Default 0. */
  microBatch?: number;
}

/**
 * The dropout seed of one step: the run's seed and the step mixed by a
 * 32-bit hash, so masks never repeat with the step (a stream counter alone
 * would wrap after 2³² / 65536 steps).
 */
export function stepSeed(seed: number, step: number): number {
  let h = (seed ^ Math.imul(step >>> 0, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Builds the parameter names of a layer. */
const layerName = (prefix: string, i: number, rest: string) => `${prefix}.encoder.layer.${i}.${rest}`;

/** One encoder parameter: its Hugging Face name, shape, and how a fresh encoder initializes it. */
export interface EncoderParamSpec {
  name: string;
  shape: number[];
  /** `normal`: N(0, 0.02²) (weights and embeddings); `zeros` (biases); `ones` (LayerNorm gains). */
  init: 'normal' | 'zeros' | 'ones';
}

/**
 * Every parameter of an encoder of `config`, in the encoder's fixed order
 * (the order its random initialization draws in): embeddings, then each
 * layer's attention, FFN and LayerNorms.
 */
export function encoderParamSpecs(c: EncoderConfig): EncoderParamSpec[] {
  const D = c.hiddenSize;
  const specs: EncoderParamSpec[] = [];
  const weight = (name: string, shape: number[]) => specs.push({ name, shape, init: 'normal' });
  const dense = (name: string, out: number, inp: number) => {
    weight(`${name}.weight`, [out, inp]);
    specs.push({ name: `${name}.bias`, shape: [out], init: 'zeros' });
  };
  const norm = (name: string) => specs.push({ name: `${name}.weight`, shape: [D], init: 'ones' }, { name: `${name}.bias`, shape: [D], init: 'zeros' });
  const p = c.prefix;
  weight(`${p}.embeddings.word_embeddings.weight`, [c.vocabSize, D]);
  weight(`${p}.embeddings.position_embeddings.weight`, [c.maxPositionEmbeddings, D]);
  weight(`${p}.embeddings.token_type_embeddings.weight`, [c.typeVocabSize, D]);
  norm(`${p}.embeddings.LayerNorm`);
  for (let i = 0; i < c.numHiddenLayers; i++) {
    for (const proj of ['query', 'key', 'value']) dense(layerName(p, i, `attention.self.${proj}`), D, D);
    dense(layerName(p, i, 'attention.output.dense'), D, D);
    norm(layerName(p, i, 'attention.output.LayerNorm'));
    dense(layerName(p, i, 'intermediate.dense'), c.intermediateSize, D);
    dense(layerName(p, i, 'output.dense'), D, c.intermediateSize);
    norm(layerName(p, i, 'output.LayerNorm'));
  }
  return specs;
}

export class Encoder {
  /** Every parameter, by Hugging Face name, in a fixed order. */
  readonly params = new Map<string, Tensor>();

  /**
   * An encoder whose parameters are initialized from `seed` (see
   * {@link encoderParamSpecs}), or, with `'empty'`, allocated on the GPU
   * with undefined contents and no host copy, for a loader that fills
   * every one of them (a checkpoint of hundreds of megabytes is then never
   * generated on the host first).
   */
  constructor(readonly graph: Graph, readonly config: EncoderConfig, seed: number | 'empty') {
    const random = seed === 'empty' ? undefined : uniform(seed);
    for (const { name, shape, init } of encoderParamSpecs(config)) {
      if (!random) {
        this.params.set(name, this.graph.emptyParameter(shape, name));
        continue;
      }
      const n = shape.reduce((a, b) => a * b, 1);
      const data = init === 'normal' ? normal(n, 0.02, random) : new Float32Array(n).fill(init === 'ones' ? 1 : 0);
      this.params.set(name, this.graph.parameter(data, shape, name));
    }
  }

  /** The parameter called `name`; throws naming it when it does not exist. */
  param(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`encoder has no parameter '${name}'`);
    return t;
  }

  /** Sets requiresGrad on every parameter (true: full fine-tuning; false: a frozen base). */
  setTrainable(trainable: boolean): void {
    for (const t of this.params.values()) t.requiresGrad = trainable;
  }

  /** Hidden states [batch, sequence, hidden] of the last layer, with `adapters` active if given. */
  forward(input: EncoderInput, mode: ForwardMode, adapters?: AdapterSetup): Tensor {
    const c = this.config;
    const g = this.graph;
    const { batch: B, sequence: T } = input;
    const p = c.prefix;
    if (input.ids.length !== B * T) throw new Error(`encoder: ${input.ids.length} ids for batch ${B} × sequence ${T}`);
    if (T + c.positionOffset > c.maxPositionEmbeddings) throw new Error(`encoder: sequence ${T} exceeds ${c.maxPositionEmbeddings - c.positionOffset} positions`);

    // Dropout streams: one per call site of this step and micro-batch, in call order.
    const dropping = mode.train && (c.hiddenDropoutProb > 0 || c.attentionProbsDropoutProb > 0);
    if (dropping && (mode.seed === undefined || mode.step === undefined)) {
      throw new Error('encoder: training with dropout needs mode.seed and mode.step (otherwise every step would reuse the same masks)');
    }
    let site = 0;
    const nextRandom = (): DropoutRandomness => ({ seed: stepSeed(mode.seed!, mode.step!), stream: ((mode.microBatch ?? 0) * 1024 + site++) >>> 0 });
    // The hidden dropout's options at its place in the stream order (undefined when off).
    const hiddenDropout = (): NormDropoutOptions | undefined => (mode.train && c.hiddenDropoutProb > 0 ? { dropout: c.hiddenDropoutProb, random: nextRandom() } : undefined);

    const positions = this.positionIds(input.ids, B, T);
    const types = input.tokenTypes ?? new Int32Array(B * T);
    // (word + position) + token type, in one gather launch.
    let h = embeddingSum([
      { table: this.param(`${p}.embeddings.word_embeddings.weight`), ids: input.ids },
      { table: this.param(`${p}.embeddings.position_embeddings.weight`), ids: positions },
      { table: this.param(`${p}.embeddings.token_type_embeddings.weight`), ids: types },
    ], [B, T]);
    h = layerNorm(h, this.param(`${p}.embeddings.LayerNorm.weight`), this.param(`${p}.embeddings.LayerNorm.bias`), c.layerNormEps, hiddenDropout());
    if (adapters?.embeddings) h = adapters.embeddings(h);

    const mask = input.attentionMask ? g.tensor(input.attentionMask, [B, T], 'attention_mask') : undefined;
    for (let i = 0; i < c.numHiddenLayers; i++) {
      const w = (rest: string) => this.param(layerName(p, i, rest));
      const dense = (name: string, x: Tensor) => linear(x, w(`${name}.weight`), w(`${name}.bias`));
      const adapt = (site: ProjectionSite) => adapters?.projection?.(i, site);
      const projection = (name: 'query' | 'key' | 'value') => {
        const change = adapt(name);
        return { weight: w(`attention.self.${name}.weight`), bias: w(`attention.self.${name}.bias`), ...(change ? { adapt: change } : {}) };
      };
      const context = multiHeadAttention(h, { query: projection('query'), key: projection('key'), value: projection('value') }, {
        heads: c.numAttentionHeads,
        ...(mask ? { mask } : {}),
        ...(mode.train && c.attentionProbsDropoutProb > 0 ? { dropout: c.attentionProbsDropoutProb, random: nextRandom() } : {}),
      });
      const norm = (name: string) => ({ weight: w(`${name}.LayerNorm.weight`), bias: w(`${name}.LayerNorm.bias`), eps: c.layerNormEps });
      // LN(Dropout(out) + input), the dropout's stream drawn right after `out`, as the separate op drew it.
      const residual = (location: ResidualLocation, out: Tensor, input: Tensor) => {
        const ln = norm(location);
        const dropout = hiddenDropout();
        return adapters ? adapters.residual(i, location, out, input, ln, dropout) : residualLayerNorm(out, input, ln.weight, ln.bias, ln.eps, dropout);
      };
      const attended = residual('attention.output', dense('attention.output.dense', context), h);
      // The FFN's activation runs in intermediate.dense's matmul epilogue,
      // unless an adapter changes that projection's output before it ((IA)³).
      const act = c.hiddenAct ?? 'gelu';
      const changeInner = adapt('intermediate');
      const hidden = changeInner
        ? ACTIVATIONS[act](changeInner(dense('intermediate.dense', attended), attended))
        : linear(attended, w('intermediate.dense.weight'), w('intermediate.dense.bias'), { activation: EPILOGUE_ACTIVATIONS[act] });
      const ffn = dense('output.dense', hidden);
      h = residual('output', ffn, attended);
    }
    return h;
  }

  /**
   * Position ids. With positionOffset 0 (BERT): 0, 1, 2, … per row. Otherwise
   * as XLM-R computes them: non-padding tokens count up from padTokenId + 1
   * (= positionOffset), padding tokens get padTokenId.
   */
  positionIds(ids: Int32Array, B: number, T: number): Int32Array {
    const c = this.config;
    if (c.positionOffset === 0) return Int32Array.from({ length: B * T }, (_, i) => i % T);
    const pad = c.positionOffset - 1;
    const out = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      let count = 0;
      for (let t = 0; t < T; t++) {
        const i = b * T + t;
        out[i] = ids[i] === c.padTokenId ? pad : pad + ++count;
      }
    }
    return out;
  }

  /** Releases every parameter. */
  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
  }
}
