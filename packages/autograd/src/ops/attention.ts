/**
 * Multi-head self-attention with a key-padding mask, composed from
 * differentiable ops (so its backward is theirs):
 *   Q, K, V = x·Wqᵀ + bq, x·Wkᵀ + bk, x·Wvᵀ + bv           [B, T, D]
 *   split into H heads of d = D/H                            [B, H, T, d]
 *   P = softmax(Q·Kᵀ / √d, keys masked where mask = 0)      [B, H, T, T]
 *   context = merge heads of P·V                             [B, T, D]
 *   (attention-probability dropout, when p > 0, is applied to P)
 * The output projection is left to the caller (it is a plain linear).
 */
import { matmulReference, permuteReference, softmaxReference } from '@thaw/kernels/reference';
import { bmm } from './bmm.js';
import { dropout, type DropoutRandomness } from './dropout.js';
import { linear } from './linear.js';
import { mergeHeads, splitHeads } from './shape.js';
import { softmax } from './softmax.js';
import type { Tensor } from '../tensor.js';

/** One projection: y = x·Wᵀ + b, then `adapt(y, x)` when given (an adapter's update or scaling of it). */
export interface Projection {
  weight: Tensor;
  bias?: Tensor;
  adapt?: (y: Tensor, x: Tensor) => Tensor;
}

/** The projections of one attention block (Hugging Face names: query, key, value). */
export interface AttentionWeights {
  query: Projection;
  key: Projection;
  value: Projection;
}

export interface AttentionOptions {
  heads: number;
  /** [B, T] of 1 for tokens and 0 for padding. */
  mask?: Tensor;
  /** Dropout on the attention probabilities (default 0). */
  dropout?: number;
  random?: DropoutRandomness;
}

/** Self-attention context vectors for x [B, T, D]. */
export function multiHeadAttention(x: Tensor, w: AttentionWeights, options: AttentionOptions): Tensor {
  const [B, T, D] = x.shape as [number, number, number];
  const { heads } = options;
  if (x.shape.length !== 3 || D % heads !== 0) throw new Error(`multiHeadAttention: [${x.shape}] is not [B, T, D] with D divisible by ${heads} heads`);
  if (options.mask && (options.mask.shape.length !== 2 || options.mask.shape[0] !== B || options.mask.shape[1] !== T)) {
    throw new Error(`multiHeadAttention: mask [${options.mask.shape}] is not [${B}, ${T}]`);
  }
  const project = (p: Projection) => {
    const y = linear(x, p.weight, p.bias);
    return splitHeads(p.adapt ? p.adapt(y, x) : y, heads);
  };
  const [q, k, v] = [project(w.query), project(w.key), project(w.value)];
  const scores = bmm(q, k, true);
  let p = softmax(scores, { scale: 1 / Math.sqrt(D / heads), ...(options.mask ? { mask: options.mask, rowsPerBatch: heads * T } : {}) });
  if (options.dropout) {
    if (!options.random) throw new Error('multiHeadAttention: dropout needs a seed and a stream');
    p = dropout(p, options.dropout, options.random);
  }
  return mergeHeads(bmm(p, v));
}

/**
 * float64 forward of {@link multiHeadAttention} without dropout, on plain
 * arrays: x [B·T·D], weights [D·D], biases [D], mask [B·T] (or undefined).
 */
export function multiHeadAttentionReference(
  x: Float64Array, wq: Float64Array, bq: Float64Array, wk: Float64Array, bk: Float64Array, wv: Float64Array, bv: Float64Array,
  dims: { B: number; T: number; D: number; heads: number }, mask?: ArrayLike<number>,
): Float64Array {
  const { B, T, D, heads } = dims;
  const d = D / heads;
  const project = (w: Float64Array, b: Float64Array) =>
    permuteReference(matmulReference({ a: x, b: w, bias: b, M: B * T, N: D, K: D, transB: true }), [B, T, heads, d], [0, 2, 1, 3]);
  const [q, k, v] = [project(wq, bq), project(wk, bk), project(wv, bv)];
  const scores = matmulReference({ a: q, b: k, M: T, N: T, K: d, transB: true, batch: B * heads });
  const p = softmaxReference(scores, B * heads * T, T, 1 / Math.sqrt(d), mask, heads * T);
  const context = matmulReference({ a: p, b: v, M: T, N: d, K: T, batch: B * heads });
  return permuteReference(context, [B, heads, T, d], [0, 2, 1, 3]);
}
