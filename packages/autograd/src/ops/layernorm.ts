/**
 * layerNorm over the last axis: y = (x − mean)·rstd·γ + β, saving mean and
 * rstd for the backward (dx, dγ, dβ; see layernorm.wgsl for the formulas),
 * optionally followed by dropout in the same kernel (the embeddings' norm).
 *
 * residualLayerNorm: the post-LN residual step of BERT and XLM-R,
 * LN(Dropout(y) + r), in one kernel, with the dropout's mask bits equal to
 * the `dropout` op's for the same randomness, so it computes exactly what
 * layerNorm(add(dropout(y, p, random), r), γ, β) computes, in one pass
 * forward and one (plus a small reduction for dγ, dβ) backward.
 */
import { layerNormBackward, layerNormForward, type LayerNormDropout } from '@thaw/kernels';
import { fusedLayerNormBackwardReference, fusedLayerNormForwardReference } from '@thaw/kernels/reference';
import type { ReferenceOp } from '../reference.js';
import type { Tensor } from '../tensor.js';
import type { DropoutRandomness } from './dropout.js';

/** Dropout fused into a norm: its probability and randomness (p = 0, or no options: none). */
export interface NormDropoutOptions {
  dropout?: number;
  /** Required when dropout > 0: the same randomness the `dropout` op would be given. */
  random?: DropoutRandomness;
}

function fusedDropout(op: string, options: NormDropoutOptions | undefined, at: 'input' | 'output'): LayerNormDropout | undefined {
  const p = options?.dropout ?? 0;
  if (p === 0) return undefined;
  if (!options?.random) throw new Error(`${op}: dropout ${p} needs its randomness (seed and stream)`);
  return { p, seed: options.random.seed, stream: options.random.stream, at };
}

function checkNormParams(op: string, D: number, gamma: Tensor, beta: Tensor): void {
  for (const p of [gamma, beta]) {
    if (p.shape.length !== 1 || p.shape[0] !== D) throw new Error(`${op}: ${p.name || 'parameter'} must be [${D}], got [${p.shape}]`);
  }
}

/**
 * The shared forward and backward of both ops: s = drop_in(x) + r (when
 * given), y = drop_out(LN(s)·γ + β).
 */
function normOp(op: string, x: Tensor, residual: Tensor | undefined, gamma: Tensor, beta: Tensor, eps: number, dropout: LayerNormDropout | undefined): Tensor {
  const D = x.shape.at(-1)!;
  checkNormParams(op, D, gamma, beta);
  if (residual && (residual.shape.length !== x.shape.length || residual.shape.some((d, i) => d !== x.shape[i]))) {
    throw new Error(`${op}: shapes [${x.shape}] and [${residual.shape}] differ`);
  }
  const graph = x.graph;
  const gpu = graph.gpu;
  const rows = x.size / D;
  const inputs = residual ? [x, residual, gamma, beta] : [x, gamma, beta];
  // s is saved only when it differs from x and a backward may follow.
  const combined = Boolean(residual) || dropout?.at === 'input';
  const recording = graph.gradEnabled && inputs.some((t) => t.requiresGrad);
  const sum = combined && recording ? graph.empty(x.shape, `${op}.sum`) : undefined;
  const y = graph.empty(x.shape, op);
  const mean = graph.empty([rows], `${op}.mean`);
  const rstd = graph.empty([rows], `${op}.rstd`);
  layerNormForward(gpu, {
    x: x.buffer, gamma: gamma.buffer, beta: beta.buffer, y: y.buffer, mean: mean.buffer, rstd: rstd.buffer, rows, D, eps,
    ...(residual ? { residual: residual.buffer } : {}), ...(dropout ? { dropout } : {}), ...(sum ? { sum: sum.buffer } : {}),
  });
  const normInput = sum ?? x;
  return graph.record({
    op,
    inputs,
    saved: [normInput, gamma, mean, rstd],
    backward(dy) {
      // Each output is computed only when its input leads to something
      // trainable; dγ and dβ together when either is trainable.
      const throughDropout = dropout?.at === 'input' && x.requiresGrad;
      const ds = residual?.requiresGrad || (x.requiresGrad && !throughDropout) ? graph.empty(x.shape, `${op}.ds`) : undefined;
      const dInput = throughDropout ? graph.empty(x.shape, `${op}.dx`) : undefined;
      const params = gamma.requiresGrad || beta.requiresGrad;
      const dgamma = params ? graph.empty(gamma.shape, `${op}.dgamma`) : undefined;
      const dbeta = params ? graph.empty(beta.shape, `${op}.dbeta`) : undefined;
      layerNormBackward(gpu, {
        x: normInput.buffer, gamma: gamma.buffer, mean: mean.buffer, rstd: rstd.buffer, dy: dy.buffer, rows, D,
        ...(dropout ? { dropout } : {}), ...(ds ? { dx: ds.buffer } : {}), ...(dInput ? { dInput: dInput.buffer } : {}),
        ...(dgamma && dbeta ? { dgamma: dgamma.buffer, dbeta: dbeta.buffer } : {}),
      });
      // Without an input dropout, x and r share the gradient of s (a view: no copy).
      const dx = !x.requiresGrad ? undefined : dInput ?? (residual?.requiresGrad ? graph.view(ds!, x.shape, `${op}.dx`) : ds);
      return [dx, ...(residual ? [residual.requiresGrad ? ds : undefined] : []), gamma.requiresGrad ? dgamma : undefined, beta.requiresGrad ? dbeta : undefined];
    },
  }, y);
}

/** LayerNorm over the last axis, then dropout with probability `options.dropout` (default none) in the same kernel. */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5, options?: NormDropoutOptions): Tensor {
  return normOp('layerNorm', x, undefined, gamma, beta, eps, fusedDropout('layerNorm', options, 'output'));
}

/**
 * LN(Dropout(y) + r)·γ + β over the last axis, in one kernel (Hugging Face's
 * BertSelfOutput / BertOutput after their dense layer). With dropout 0 (or
 * no options) it is LN(y + r).
 */
export function residualLayerNorm(y: Tensor, r: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5, options?: NormDropoutOptions): Tensor {
  return normOp('residualLayerNorm', y, r, gamma, beta, eps, fusedDropout('residualLayerNorm', options, 'input'));
}

function referenceDropout(options: NormDropoutOptions | undefined, at: 'input' | 'output') {
  const p = options?.dropout ?? 0;
  return p > 0 && options?.random ? { dropout: { p, seed: options.random.seed, stream: options.random.stream, at } } : {};
}

/** float64 twin of {@link layerNorm} (inputs: x, γ, β). */
export function layerNormReference(rows: number, D: number, eps = 1e-5, options?: NormDropoutOptions): ReferenceOp {
  const args = (x: Float64Array, gamma: Float64Array, beta: Float64Array) => ({ x, gamma, beta, rows, D, eps, ...referenceDropout(options, 'output') });
  return {
    forward: ([x, gamma, beta]) => fusedLayerNormForwardReference(args(x!, gamma!, beta!)).y,
    backward: ([x, gamma, beta], dy) => {
      const { dInput, dgamma, dbeta } = fusedLayerNormBackwardReference(args(x!, gamma!, beta!), dy);
      return [dInput, dgamma, dbeta];
    },
  };
}

/** float64 twin of {@link residualLayerNorm} (inputs: y, r, γ, β). */
export function residualLayerNormReference(rows: number, D: number, eps = 1e-5, options?: NormDropoutOptions): ReferenceOp {
  const args = (y: Float64Array, r: Float64Array, gamma: Float64Array, beta: Float64Array) => ({ x: y, residual: r, gamma, beta, rows, D, eps, ...referenceDropout(options, 'input') });
  return {
    forward: ([y, r, gamma, beta]) => fusedLayerNormForwardReference(args(y!, r!, gamma!, beta!)).y,
    backward: ([y, r, gamma, beta], dy) => {
      const { ds, dInput, dgamma, dbeta } = fusedLayerNormBackwardReference(args(y!, r!, gamma!, beta!), dy);
      return [dInput, ds, dgamma, dbeta];
    },
  };
}
