/**
 * LoRA on the attention query and value projections (AdapterHub's `lora`
 * with selfattn on q and v; the research's "Beyond MAD-X" experiments):
 *
 *   y = x·Wᵀ + b + (α/r) · (x·Aᵀ)·Bᵀ          A [r, in], B [out, r]
 *
 * Names: {prefix}.encoder.layer.{i}.attention.self.{query|value}.loras.{name}.lora_A / lora_B.
 * Initialization as AdapterHub and PEFT: A uniform in ±1/√in (Kaiming
 * uniform with a = √5), B = 0, so training starts from the base model.
 * A block of scheduled unfreezing is one layer's q and v pair.
 */
import { linear, scale, type Graph, type Tensor } from '@thaw/autograd';
import { uniform } from '../model/random.js';
import type { Adapter } from './adapter.js';

export interface LoraConfig {
  r: number;
  alpha: number;
}

export type LoraTarget = 'query' | 'value';

export class LoraAdapter implements Adapter {
  readonly params = new Map<string, Tensor>();
  readonly targets: LoraTarget[] = ['query', 'value'];

  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly config: LoraConfig,
    readonly model: { prefix: string; hiddenSize: number; layers: number },
    seed: number,
  ) {
    const { r } = config;
    if (!Number.isInteger(r) || r < 1) throw new Error(`LoRA rank r must be a positive integer, got ${r}`);
    const D = model.hiddenSize;
    const random = uniform(seed);
    const bound = 1 / Math.sqrt(D);
    for (let i = 0; i < model.layers; i++) {
      for (const target of this.targets) {
        const base = this.prefix(i, target);
        this.params.set(`${base}.lora_A`, graph.parameter(Float32Array.from({ length: r * D }, () => (2 * random() - 1) * bound), [r, D], `${base}.lora_A`));
        this.params.set(`${base}.lora_B`, graph.parameter(new Float32Array(D * r), [D, r], `${base}.lora_B`));
      }
    }
  }

  /** (α/r)·(x·Aᵀ)·Bᵀ for layer i's query or value projection. */
  delta(layer: number, target: LoraTarget, x: Tensor): Tensor {
    const base = this.prefix(layer, target);
    const a = this.params.get(`${base}.lora_A`)!;
    const b = this.params.get(`${base}.lora_B`)!;
    return scale(linear(linear(x, a), b), this.config.alpha / this.config.r);
  }

  /** Layer i's q and v LoRA parameters: one block. */
  block(layer: number): Tensor[] {
    return this.targets.flatMap((t) => [this.params.get(`${this.prefix(layer, t)}.lora_A`)!, this.params.get(`${this.prefix(layer, t)}.lora_B`)!]);
  }

  setTrainable(trainable: boolean): void {
    for (const t of this.params.values()) t.requiresGrad = trainable;
  }

  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
  }

  private prefix(layer: number, target: LoraTarget): string {
    return `${this.model.prefix}.encoder.layer.${layer}.attention.self.${target}.loras.${this.name}`;
  }
}
