/**
 * Pointwise ops: add (the residual connection), scale, and the activations.
 *   add:      y = a + b          da = dy, db = dy
 *   scale:    y = α·x            dx = α·dy
 *   gelu:     y = x·Φ(x)         dx = dy·(Φ(x) + x·φ(x))
 *   geluTanh: y = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))   (Hugging Face's gelu_new)
 *   relu:     y = max(x, 0)      dx = dy·[x > 0]
 *   tanh:     y = tanh(x)        dx = dy·(1 − y²)
 *   swish:    y = x·σ(x)         dx = dy·σ(x)(1 + x(1 − σ(x)))   (SiLU)
 */
import { activation, activationBackward, axpby, type Activation } from '@thaw/kernels';
import {
  geluDerivativeReference, geluReference, geluTanhDerivativeReference, geluTanhReference, reluDerivativeReference, reluReference,
  swishDerivativeReference, swishReference, tanhDerivativeReference, tanhReference,
} from '@thaw/kernels/reference';
import type { ReferenceOp } from '../reference.js';
import type { Tensor } from '../tensor.js';

function sameShape(op: string, a: Tensor, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${op}: shapes [${a.shape}] and [${b.shape}] differ`);
  }
}

/** α·x + β·y as a new tensor of x's shape. */
function combine(x: Tensor, y: Tensor, alpha: number, beta: number, name: string): Tensor {
  const out = x.graph.empty(x.shape, name);
  axpby(x.graph.gpu, { x: x.buffer, y: y.buffer, out: out.buffer, n: x.size, alpha, beta });
  return out;
}

/** a + b (same shapes). */
export function add(a: Tensor, b: Tensor): Tensor {
  sameShape('add', a, b);
  return a.graph.record({
    op: 'add',
    inputs: [a, b],
    saved: [],
    // The same gradient flows to both inputs, as views of dy (no copy:
    // accumulation always writes a new buffer, never into a gradient).
    backward: (dy) => [a.requiresGrad ? a.graph.view(dy, a.shape, 'add.da') : undefined, b.requiresGrad ? a.graph.view(dy, b.shape, 'add.db') : undefined],
  }, combine(a, b, 1, 1, 'add'));
}

/** α·x. */
export function scale(x: Tensor, alpha: number): Tensor {
  return x.graph.record({
    op: 'scale',
    inputs: [x],
    saved: [],
    backward: (dy) => [combine(dy, dy, alpha, 0, 'scale.dx')],
  }, combine(x, x, alpha, 0, 'scale'));
}

function pointwise(kind: Activation, x: Tensor): Tensor {
  const graph = x.graph;
  const y = graph.empty(x.shape, kind);
  activation(graph.gpu, kind, { x: x.buffer, out: y.buffer, n: x.size });
  return graph.record({
    op: kind,
    inputs: [x],
    saved: [x],
    backward(dy) {
      const dx = graph.empty(x.shape, `${kind}.dx`);
      activationBackward(graph.gpu, kind, { x: x.buffer, dy: dy.buffer, out: dx.buffer, n: x.size });
      return [dx];
    },
  }, y);
}

/** GELU, erf form: x·Φ(x). */
export const gelu = (x: Tensor): Tensor => pointwise('gelu', x);
/** ReLU: max(x, 0). */
export const relu = (x: Tensor): Tensor => pointwise('relu', x);
/** tanh (the pooler and RoBERTa classification head). */
export const tanh = (x: Tensor): Tensor => pointwise('tanh', x);
/** GELU, tanh form (Hugging Face's `gelu_new`; legacy mBERT adapters). */
export const geluTanh = (x: Tensor): Tensor => pointwise('geluTanh', x);
/** Swish / SiLU: x·σ(x) (AdapterHub's Houlsby adapters). */
export const swish = (x: Tensor): Tensor => pointwise('swish', x);

/** float64 twins. */
export const addReference: ReferenceOp = {
  forward: ([a, b]) => a!.map((v, i) => v + b![i]!),
  backward: (_, dy) => [dy.slice(), dy.slice()],
};
export const scaleReference = (alpha: number): ReferenceOp => ({
  forward: ([x]) => x!.map((v) => alpha * v),
  backward: (_, dy) => [dy.map((v) => alpha * v)],
});
const pointwiseReference = (f: (x: number) => number, df: (x: number) => number): ReferenceOp => ({
  forward: ([x]) => x!.map(f),
  backward: ([x], dy) => [x!.map((v, i) => dy[i]! * df(v))],
});
export const geluReferenceOp = pointwiseReference(geluReference, geluDerivativeReference);
export const reluReferenceOp = pointwiseReference(reluReference, reluDerivativeReference);
export const tanhReferenceOp = pointwiseReference(tanhReference, tanhDerivativeReference);
export const geluTanhReferenceOp = pointwiseReference(geluTanhReference, geluTanhDerivativeReference);
export const swishReferenceOp = pointwiseReference(swishReference, swishDerivativeReference);
