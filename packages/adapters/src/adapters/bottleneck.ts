/**
 * The bottleneck adapter after a sub-block's output: AdapterHub's `seq_bn`
 * (Pfeiffer / MAD-X: after the FFN only) and `double_seq_bn` (Houlsby: after
 * the attention output and after the FFN).
 *
 *   A(z) = W_up · f(W_down · z + b_down) + b_up          f = ReLU (AdapterHub's pfeiffer default)
 *
 * What A reads (AdapterHub's `original_ln_before`): by default seq_bn reads
 * LN(r + x), the sub-block output after the layer's own LayerNorm, and
 * double_seq_bn (Houlsby) reads r itself; `originalLnBefore` sets it either
 * way for either placement, as AdapterHub's BnConfig does with mh_adapter
 * and original_ln_before. See Stack for the residuals.
 *
 * Parameters per layer i and location (`output` = after the FFN,
 * `attention.output` = after attention), in AdapterHub's names:
 *   {prefix}.encoder.layer.{i}.{location}.adapters.{name}.adapter_down.0.weight   [d, D]
 *   … .adapter_down.0.bias [d], .adapter_up.weight [D, d], .adapter_up.bias [D]
 * with d = D / reductionFactor. Initialization "bert": weights N(0, 0.02²), biases 0.
 *
 * With `invertible` ("pfeiffer+inv", MAD-X language adapters) the adapter
 * also owns a NICE coupling on the embeddings (invertible.ts).
 */
import { linear, type Graph, type Tensor } from '@thaw/autograd';
import { ACTIVATIONS, type NonLinearity } from '../model/activations.js';
import type { Adapter } from './adapter.js';
import { NiceCoupling } from './invertible.js';
import { normal, uniform } from '../model/random.js';

/** Where a bottleneck sits in a layer. */
export type BottleneckLocation = 'output' | 'attention.output';

/** Configuration of a bottleneck adapter (AdapterHub's names where they exist). */
export interface BottleneckConfig {
  /** `seq_bn` (after the FFN) or `double_seq_bn` (after attention and after the FFN). */
  architecture: 'seq_bn' | 'double_seq_bn';
  reductionFactor: number;
  /** A NICE invertible adapter on the embeddings, with its reduction factor (MAD-X: 2). */
  invertible?: { reductionFactor: number };
  /**
   * f of the bottleneck (and of the NICE sub-networks), by AdapterHub's
   * names: `relu` (the pfeiffer default, and the default here), `gelu` (the
   * exact one), `gelu_new` (its tanh form: what 2020 mBERT MAD-X language
   * adapters call "gelu") or `swish` (SiLU, the Houlsby default).
   */
  nonLinearity?: NonLinearity;
  /**
   * AdapterHub's original_ln_before: whether A reads LN(r + x) rather than
   * r. Default: true for seq_bn (the Pfeiffer preset), false for
   * double_seq_bn (the Houlsby preset).
   */
  originalLnBefore?: boolean;
}

export class BottleneckAdapter implements Adapter {
  /** Parameters by AdapterHub name, in a fixed order. */
  readonly params = new Map<string, Tensor>();
  readonly locations: BottleneckLocation[];
  readonly bottleneck: number;
  /** AdapterHub's original_ln_before: the adapter reads LN(r + x) rather than r (see BottleneckConfig.originalLnBefore). */
  readonly originalLnBefore: boolean;
  /** The NICE coupling on the embeddings, for "pfeiffer+inv" adapters. */
  readonly invertible: NiceCoupling | undefined;

  constructor(
    readonly graph: Graph,
    /** The adapter's name, e.g. `en` or `xnli`. */
    readonly name: string,
    readonly config: BottleneckConfig,
    readonly model: { prefix: string; hiddenSize: number; layers: number },
    seed: number,
  ) {
    this.locations = config.architecture === 'seq_bn' ? ['output'] : ['attention.output', 'output'];
    this.bottleneck = Math.max(1, Math.floor(model.hiddenSize / config.reductionFactor));
    this.originalLnBefore = config.originalLnBefore ?? config.architecture === 'seq_bn';
    const D = model.hiddenSize;
    const d = this.bottleneck;
    const random = uniform(seed);
    for (let i = 0; i < model.layers; i++) {
      for (const location of this.locations) {
        const base = this.prefix(i, location);
        this.add(`${base}.adapter_down.0.weight`, normal(d * D, 0.02, random), [d, D]);
        this.add(`${base}.adapter_down.0.bias`, new Float32Array(d), [d]);
        this.add(`${base}.adapter_up.weight`, normal(D * d, 0.02, random), [D, d]);
        this.add(`${base}.adapter_up.bias`, new Float32Array(D), [D]);
      }
    }
    if (config.invertible) {
      this.invertible = new NiceCoupling(graph, `${model.prefix}.invertible_adapters.${name}`, D, config.invertible.reductionFactor, random, config.nonLinearity ?? 'relu');
      for (const [n, t] of this.invertible.params) this.params.set(n, t);
    }
  }

  /** Whether the adapter acts at this location. */
  has(location: BottleneckLocation): boolean {
    return this.locations.includes(location);
  }

  /** A(z) for layer i at a location. */
  forward(layer: number, location: BottleneckLocation, z: Tensor): Tensor {
    const p = (rest: string) => this.param(`${this.prefix(layer, location)}.${rest}`);
    const f = ACTIVATIONS[this.config.nonLinearity ?? 'relu'];
    return linear(f(linear(z, p('adapter_down.0.weight'), p('adapter_down.0.bias'))), p('adapter_up.weight'), p('adapter_up.bias'));
  }

  /** Every parameter of layer i's adapter: one block of scheduled unfreezing. */
  block(layer: number): Tensor[] {
    const prefixes = this.locations.map((l) => `${this.prefix(layer, l)}.`);
    return [...this.params].filter(([n]) => prefixes.some((p) => n.startsWith(p))).map(([, t]) => t);
  }

  param(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`adapter '${this.name}' has no parameter '${name}'`);
    return t;
  }

  /** Sets requiresGrad on every parameter. */
  setTrainable(trainable: boolean): void {
    for (const t of this.params.values()) t.requiresGrad = trainable;
  }

  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
  }

  private prefix(layer: number, location: BottleneckLocation): string {
    return `${this.model.prefix}.encoder.layer.${layer}.${location}.adapters.${this.name}`;
  }

  private add(name: string, data: Float32Array, shape: number[]): void {
    this.params.set(name, this.graph.parameter(data, shape, name));
  }
}
