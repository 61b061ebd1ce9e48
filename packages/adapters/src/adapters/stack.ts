/**
 * Stack(a1, a2, …): AdapterHub's composition of bottleneck adapters at one
 * location of a layer (docs/method.md §1; adapter-hub/adapters at 88f18eb:
 * src/adapters/methods/bottleneck.py, compose_stack in methods/adapter_layer_base.py). With
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
 *
 * LoRA members act inside the query and value projections instead, chained
 * in the stack's order (see projectionDelta).
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

  /**
   * What the stack's LoRAs add to layer i's query or value projection W·x + b
   * (undefined if the stack has none). AdapterHub chains them rather than
   * summing: the first reads the projection's input x, each later one reads
   * the previous one's output, and only the last one's output is added:
   *
   *   h_1 = s_1 · (x·A_1ᵀ)·B_1ᵀ,   h_n = s_n · (h_{n−1}·A_nᵀ)·B_nᵀ,   y = W·x + b + h_last
   *
   * with s = α/r. Bottleneck members are skipped here. Source: adapter-hub/adapters
   * at commit 88f18ebd6c127f0e0ddf7c76cb84b37a39b82c12, src/adapters/methods/lora.py:
   * LoRALinear.forward starts from LoRAState(x, hidden_states=None, W·x + b), LoRA.forward
   * reads layer_input while hidden_states is None and hidden_states after that, and the
   * last LoRA's com(layer_output, hidden_states, scaling=1.0) adds the result;
   * compose_stack (methods/adapter_layer_base.py) passes over names the layer has no
   * LoRA for. A single LoRA is s·(x·Aᵀ)·Bᵀ, as before.
   */
  projectionDelta(layer: number, target: LoraTarget): ((x: Tensor) => Tensor) | undefined {
    const loras = this.adapters.filter((a): a is LoraAdapter => a instanceof LoraAdapter);
    if (!loras.length) return undefined;
    return (x) => loras.reduce((h, lora) => lora.delta(layer, target, h), x);
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
