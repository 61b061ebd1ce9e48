/**
 * What every adapter type offers the rest of Thaw: its parameters under
 * AdapterHub's names, the block of each layer (the unit of scheduled
 * unfreezing), and freezing. Where an adapter acts in the encoder is the
 * business of Stack (adapters/stack.ts), which calls the type-specific
 * methods (a bottleneck's forward, a LoRA's delta, a NICE coupling).
 */
import type { Tensor } from '@thaw/autograd';

export interface Adapter {
  /** The adapter's name, e.g. `en` (a language) or `xnli` (a task). */
  readonly name: string;
  /** Every parameter, by AdapterHub name, in a fixed order. */
  readonly params: Map<string, Tensor>;
  /** Layer i's parameters: one block of scheduled unfreezing. */
  block(layer: number): Tensor[];
  /** Sets requiresGrad on every parameter. */
  setTrainable(trainable: boolean): void;
  /** Releases every parameter. */
  dispose(): void;
}
