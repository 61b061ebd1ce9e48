/**
 * Multi-head self-attention with a key-padding mask:
 *   Q, K, V = x·Wqᵀ + bq, x·Wkᵀ + bk, x·Wvᵀ + bv           [B, T, D]
 *   split into H heads of d = D/H                            [B, H, T, d]
 *   P = softmax(Q·Kᵀ / √d, keys masked where mask = 0)      [B, H, T, T]
 *   context = merge heads of P·V                             [B, T, D]
 *   (attention-probability dropout, when p > 0, is applied to P)
 * The output projection is left to the caller (it is a plain linear).
 *
 * Two paths compute the same function. `attention` is the fused one: the
 * kernels of attention.wgsl read Q, K, V in [B, T, D], never form P, and
 * recompute it in the backward: 1 dispatch forward, 2 backward. The composed
 * one chains differentiable ops (permutes, bmm, softmax, dropout: 8
 * dispatches forward and 10 backward with dropout), so its backward is theirs. `multiHeadAttention` takes the fused path
 * wherever the kernels run (subgroups of ≥ 8 lanes, head dimension a
 * multiple of 4 up to 64) and the composed one elsewhere; both drop the same
 * probabilities for the same seed and stream.
 */
import { attentionBackward, attentionForward, attentionPreferred, attentionUnsupported } from '@thaw/kernels';
import { attentionBackwardReference, attentionForwardReference, matmulReference, permuteReference, softmaxReference } from '@thaw/kernels/reference';
import type { ReferenceOp } from '../reference.js';
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
  /**
   * true: the fused kernels wherever they run; false: the composed path (for
   * tests and comparisons). Default: the faster of the two for this head
   * dimension on this device (`attentionPreferred` of @thaw/kernels).
   */
  fused?: boolean;
}

/** Options of the fused {@link attention}. */
export interface FusedAttentionOptions {
  heads: number;
  /** [B, T] of 1 for tokens and 0 for padding (data, not differentiated). */
  mask?: Tensor;
  /** Dropout on the attention probabilities (default 0). */
  dropout?: number;
  random?: DropoutRandomness;
}

/**
 * The fused attention core: context [B, T, D] from the projections q, k, v
 * [B, T, D] (head h in columns h·d … h·d+d−1). Throws where the kernels do
 * not run (see `attentionUnsupported`); {@link multiHeadAttention} checks first.
 *   forward:  O = dropout(softmax(Q·Kᵀ/√d, masked))·V per head, lse per row saved
 *   backward: dQ, dK, dV from Q, K, V, O, lse and dO (see attention.wgsl)
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: FusedAttentionOptions): Tensor {
  const [B, T, D] = q.shape as [number, number, number];
  const { heads } = options;
  for (const t of [k, v]) {
    if (q.shape.length !== 3 || t.shape.length !== 3 || t.shape.some((n, i) => n !== q.shape[i])) throw new Error(`attention: q [${q.shape}], k [${k.shape}] and v [${v.shape}] are not all [B, T, D]`);
  }
  const mask = options.mask;
  if (mask && (mask.shape.length !== 2 || mask.shape[0] !== B || mask.shape[1] !== T)) throw new Error(`attention: mask [${mask.shape}] is not [${B}, ${T}]`);
  const p = options.dropout ?? 0;
  if (p > 0 && !options.random) throw new Error('attention: dropout needs a seed and a stream');
  const graph = q.graph;
  const gpu = graph.gpu;
  const shape = {
    B, T, D, heads, p, seed: options.random?.seed ?? 0, stream: options.random?.stream ?? 0, ...(mask ? { mask: mask.buffer } : {}),
  };
  const out = graph.empty([B, T, D], 'attention');
  const lse = graph.empty([B, heads, T], 'attention.lse');
  attentionForward(gpu, { ...shape, q: q.buffer, k: k.buffer, v: v.buffer, out: out.buffer, lse: lse.buffer });
  return graph.record({
    op: 'attention',
    // The mask is an input (never differentiated) so that the tape keeps it
    // alive until the backward has read it.
    inputs: mask ? [q, k, v, mask] : [q, k, v],
    saved: [q, k, v, out, lse, ...(mask ? [mask] : [])],
    backward(dOut) {
      // One pass computes dk and dv together, and dq is the first pass's
      // by-product: all three are written; those not needed are dropped.
      const [dq, dk, dv] = [graph.empty(q.shape, 'attention.dq'), graph.empty(k.shape, 'attention.dk'), graph.empty(v.shape, 'attention.dv')];
      attentionBackward(gpu, {
        ...shape, q: q.buffer, k: k.buffer, v: v.buffer, out: out.buffer, lse: lse.buffer, dOut: dOut.buffer, dq: dq.buffer, dk: dk.buffer, dv: dv.buffer,
      });
      return [q, k, v].map((input, i) => {
        const grad = [dq, dk, dv][i]!;
        if (input.requiresGrad) return grad;
        grad.dispose();
        return undefined;
      });
    },
  }, out);
}

/** float64 twin of {@link attention} (inputs q, k, v; the mask is fixed data). */
export function attentionReferenceOp(
  dims: { B: number; T: number; D: number; heads: number }, mask?: ArrayLike<number>, dropout = 0, random?: DropoutRandomness,
): ReferenceOp {
  const args = { ...dims, p: dropout, seed: random?.seed ?? 0, stream: random?.stream ?? 0, ...(mask ? { mask } : {}) };
  return {
    forward: ([q, k, v]) => attentionForwardReference(q!, k!, v!, args).out,
    backward: ([q, k, v], dOut) => {
      const { dq, dk, dv } = attentionBackwardReference(q!, k!, v!, dOut, args);
      return [dq, dk, dv, undefined];
    },
  };
}

/** Self-attention context vectors for x [B, T, D]. */
export function multiHeadAttention(x: Tensor, w: AttentionWeights, options: AttentionOptions): Tensor {
  const [B, T, D] = x.shape as [number, number, number];
  const { heads } = options;
  if (x.shape.length !== 3 || D % heads !== 0) throw new Error(`multiHeadAttention: [${x.shape}] is not [B, T, D] with D divisible by ${heads} heads`);
  if (options.mask && (options.mask.shape.length !== 2 || options.mask.shape[0] !== B || options.mask.shape[1] !== T)) {
    throw new Error(`multiHeadAttention: mask [${options.mask.shape}] is not [${B}, ${T}]`);
  }
  if (options.dropout && !options.random) throw new Error('multiHeadAttention: dropout needs a seed and a stream');
  const project = (p: Projection) => {
    const y = linear(x, p.weight, p.bias);
    return p.adapt ? p.adapt(y, x) : y;
  };
  const [q, k, v] = [project(w.query), project(w.key), project(w.value)];
  const gpu = x.graph.gpu;
  if (options.fused === undefined ? attentionPreferred(gpu, D, heads) : options.fused && !attentionUnsupported(gpu, D, heads)) {
    return attention(q, k, v, {
      heads, ...(options.mask ? { mask: options.mask } : {}), ...(options.dropout ? { dropout: options.dropout, random: options.random! } : {}),
    });
  }
  const scores = bmm(splitHeads(q, heads), splitHeads(k, heads), true);
  let p = softmax(scores, { scale: 1 / Math.sqrt(D / heads), ...(options.mask ? { mask: options.mask, rowsPerBatch: heads * T } : {}) });
  if (options.dropout) p = dropout(p, options.dropout, options.random!);
  return mergeHeads(bmm(p, splitHeads(v, heads)));
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
