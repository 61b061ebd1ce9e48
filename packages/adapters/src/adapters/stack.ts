/**
 * Stack(a1, a2, …): AdapterHub's composition of bottleneck adapters at one
 * location of a layer (paper-spec §1.3, formats-and-adapters §1.3). With
 * h the sub-block's output (after dense and dropout, before the residual),
 * x its input and LN the layer's own pretrained LayerNorm:
 *
 *   r_0 = h
 *   r_n = r_{n−1} + A_n(LN(r_{n−1} + x))     seq_bn (Pfeiffer / MAD-X)
 *   r_n = r_{n−1} + A_n(r_{n−1})             double_seq_bn (Houlsby: no LN before)
 *   out = LN(r_last + x)
 *
 * The same LN and the same x are used at every stage. With no adapter at
 * the location this is the plain post-LN residual, LN(h + x); a single
 * Houlsby adapter gives LN(h + A(h) + x).
 */
import { add, layerNorm, type Tensor } from '@thaw/autograd';
import { BottleneckAdapter, type BottleneckLocation } from './bottleneck.js';
import { LoraAdapter, type LoraTarget } from './lora.js';

/** Adapters a Stack can hold. */
export type StackMember = BottleneckAdapter | LoraAdapter;

export class Stack {
  constructor(readonly adapters: readonly StackMember[]) {}

  /** The embeddings' output through the first adapter's invertible adapter, if it has one. */
  embeddings(h: Tensor): Tensor {
    const first = this.adapters[0];
    return first instanceof BottleneckAdapter && first.invertible ? first.invertible.forward(h) : h;
  }

  /** The inverse of {@link embeddings}, for masked-LM heads (identity without an invertible adapter). */
  embeddingsInverse(h: Tensor): Tensor {
    const first = this.adapters[0];
    return first instanceof BottleneckAdapter && first.invertible ? first.invertible.inverse(h) : h;
  }

  /** The sum of the LoRA updates of layer i's query or value projection (undefined if none). */
  projectionDelta(layer: number, target: LoraTarget): ((x: Tensor) => Tensor) | undefined {
    const loras = this.adapters.filter((a): a is LoraAdapter => a instanceof LoraAdapter);
    if (!loras.length) return undefined;
    return (x) => loras.map((l) => l.delta(layer, target, x)).reduce((a, b) => add(a, b));
  }

  /** The residual-and-norm of layer `layer` at `location`, with the stack's adapters applied. */
  apply(layer: number, location: BottleneckLocation, h: Tensor, x: Tensor, ln: { weight: Tensor; bias: Tensor; eps: number }): Tensor {
    let r = h;
    for (const adapter of this.adapters) {
      if (!(adapter instanceof BottleneckAdapter) || !adapter.has(location)) continue;
      const input = adapter.originalLnBefore ? layerNorm(add(r, x), ln.weight, ln.bias, ln.eps) : r;
      r = add(r, adapter.forward(layer, location, input));
    }
    return layerNorm(add(r, x), ln.weight, ln.bias, ln.eps);
  }
}
