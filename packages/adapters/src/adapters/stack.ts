/**
 * Stack(a1, a2, …): AdapterHub's composition of adapters, in order (docs/method.md §1;
 * adapter-hub/adapters at 88f18eb: compose_stack in src/adapters/methods/adapter_layer_base.py).
 * Stack calls its members' hooks (./adapter.ts) and knows none of their classes.
 *
 * Residual steps (bottleneck adapters). With h the sub-block's output
 * (after dense and dropout, before the residual), x its input and LN the
 * layer's own pretrained LayerNorm, each member with a step at the location
 * takes the residual branch one step further:
 *
 *   r_0 = h,   r_n = step_n(r_{n−1}, x, LN),   out = LN(r_last + x)
 *
 * (a seq_bn step is r + A(LN(r + x)), a Houlsby one r + A(r); see
 * ./bottleneck.ts). With no step at the location this is the plain post-LN
 * residual, LN(h + x), and the sub-block's dropout runs inside the norm's
 * kernel (`residualLayerNorm`); with steps it runs first, on its own, since
 * the steps read the dropped h. Every LN(· + x) is one fused kernel.
 *
 * Projections (LoRA, IA³). AdapterHub's LoRALinear chains the members that
 * act on a projection (src/adapters/methods/lora.py at the same commit):
 * additive members each read the previous one's update (the first reads the
 * projection's input x), and only the last update is added,
 *
 *   u_1 = Δ_1(x),   u_n = Δ_n(u_{n−1}),   y' = y + u_last
 *
 * while scaling members multiply their vectors, y' = y ⊙ (s_1 ⊙ s_2 ⊙ …),
 * here applied one after the other. AdapterHub would feed one kind's state
 * into the other's if both acted on one projection, which computes neither
 * method, so Thaw refuses that stack.
 *
 * Embeddings: only the first member's invertible adapter applies (AdapterHub's rule).
 */
import { add, dropout as dropoutOp, residualLayerNorm, type NormDropoutOptions, type Tensor } from '@thaw/autograd';
import type { LayerNormWeights, ProjectionSite, ResidualLocation } from '../model/encoder.js';
import type { Adapter } from './adapter.js';

export class Stack {
  constructor(readonly adapters: readonly Adapter[]) {}

  /** The embeddings' output through the first member's invertible adapter, if it has one. */
  embeddings(h: Tensor): Tensor {
    return this.adapters[0]?.embeddings?.()?.forward(h) ?? h;
  }

  /** The inverse of {@link embeddings}, for masked-LM heads (identity without an invertible adapter). */
  embeddingsInverse(h: Tensor): Tensor {
    return this.adapters[0]?.embeddings?.()?.inverse(h) ?? h;
  }

  /** How the members change layer i's projection output y = x·Wᵀ + b at `site` (undefined if none acts there). */
  projection(layer: number, site: ProjectionSite): ((y: Tensor, x: Tensor) => Tensor) | undefined {
    const acting = (hook: 'projectionDelta' | 'activationScale') =>
      this.adapters.flatMap((a) => {
        const f = a[hook]?.(layer, site);
        return f ? [{ name: a.name, f }] : [];
      });
    const deltas = acting('projectionDelta');
    const scales = acting('activationScale');
    if (deltas.length && scales.length) {
      throw new Error(`Stack: '${deltas[0]!.name}' adds to layer ${layer}'s ${site} projection and '${scales[0]!.name}' scales it; AdapterHub chains the two kinds into something neither computes, so Thaw does not stack them on one projection`);
    }
    if (deltas.length) return (y, x) => add(y, deltas.reduce((u, d) => d.f(u), x));
    if (scales.length) return (y) => scales.reduce((v, s) => s.f(v), y);
    return undefined;
  }

  /**
   * The residual-and-norm of layer `layer` at `location`, with the members'
   * residual steps applied; h is the sub-block's output before `dropout`.
   */
  residual(layer: number, location: ResidualLocation, h: Tensor, x: Tensor, ln: LayerNormWeights, dropout?: NormDropoutOptions): Tensor {
    const steps = this.adapters.flatMap((a) => a.residualStep?.(layer, location) ?? []);
    if (!steps.length) return residualLayerNorm(h, x, ln.weight, ln.bias, ln.eps, dropout);
    const p = dropout?.dropout ?? 0;
    const r = steps.reduce((branch, step) => step(branch, x, ln), p > 0 ? dropoutOp(h, p, dropout!.random!) : h);
    return residualLayerNorm(r, x, ln.weight, ln.bias, ln.eps);
  }
}
