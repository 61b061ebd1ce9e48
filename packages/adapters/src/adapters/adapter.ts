/**
 * The contract every adapter type implements, and the one place that says
 * where an adapter may act in the encoder.
 *
 * Every adapter has its parameters under AdapterHub's names, one block per
 * layer (the unit of scheduled unfreezing), and freezing. Where it acts is
 * a set of optional hooks; each returns undefined where the adapter does not
 * act (that layer, location or projection), and Stack (./stack.ts) calls the
 * hooks of its members in order without knowing their classes:
 *
 *   embeddings        an invertible change of the embeddings' output, and
 *                     its inverse for masked-LM heads (NICE, MAD-X)
 *   projectionDelta   h ↦ an update added to a projection's output, reading
 *                     the projection's input or the previous member's
 *                     update (LoRA)
 *   activationScale   y ↦ y scaled, on a projection's output (IA³)
 *   residualStep      r ↦ r + A(…) after a sub-block, before the layer's
 *                     residual LayerNorm (bottleneck adapters)
 *
 * A new adapter type implements this interface and registers an
 * {@link AdapterType} in ./registry.ts: its creation, its defaults on the
 * suite and on real files, and how AdapterHub (and PEFT, where it has the
 * type) write its configuration. docs/extending.md walks through one.
 */
import type { Graph, Tensor } from '@thaw/autograd';
import type { EncoderConfig, LayerNormWeights, ProjectionSite, ResidualLocation } from '../model/encoder.js';

export type { LayerNormWeights, ProjectionSite, ResidualLocation };

/** The model an adapter attaches to. */
export interface AdapterModel {
  /** Parameter name prefix: `roberta` or `bert`. */
  prefix: string;
  hiddenSize: number;
  /** The FFN's inner width (Hugging Face's intermediate_size). */
  intermediateSize: number;
  layers: number;
}

/** The {@link AdapterModel} of an encoder configuration. */
export function adapterModel(c: EncoderConfig): AdapterModel {
  return { prefix: c.prefix, hiddenSize: c.hiddenSize, intermediateSize: c.intermediateSize, layers: c.numHiddenLayers };
}

/** An invertible map of the embeddings' output [B, T, D]. */
export interface Invertible {
  forward(h: Tensor): Tensor;
  inverse(h: Tensor): Tensor;
}

/**
 * One residual step at a location: r is the residual branch so far (the
 * sub-block's output plus earlier steps), x the sub-block's input; returns
 * the new r.
 */
export type ResidualStep = (r: Tensor, x: Tensor, ln: LayerNormWeights) => Tensor;

export interface Adapter {
  /** The adapter's name, e.g. `en` (a language) or `xnli` (a task). */
  readonly name: string;
  /** Its type's name in the registry (`seq_bn`, `lora`, …). */
  readonly type: string;
  /** Every parameter, by AdapterHub name, in a fixed order. */
  readonly params: Map<string, Tensor>;
  /** Layer i's parameters: one block of scheduled unfreezing. */
  block(layer: number): Tensor[];
  /** Sets requiresGrad on every parameter. */
  setTrainable(trainable: boolean): void;
  /** Releases every parameter. */
  dispose(): void;

  /** The adapter's invertible map of the embeddings, if it has one. */
  embeddings?(): Invertible | undefined;
  /** What it adds to layer i's projection at `site`, as a function of the input it reads. */
  projectionDelta?(layer: number, site: ProjectionSite): ((h: Tensor) => Tensor) | undefined;
  /** How it scales the output of layer i's projection at `site`. */
  activationScale?(layer: number, site: ProjectionSite): ((y: Tensor) => Tensor) | undefined;
  /** Its residual step in layer i at `location`. */
  residualStep?(layer: number, location: ResidualLocation): ResidualStep | undefined;
}

/**
 * What every adapter type shares: its parameters by name, in the order the
 * type adds them, and freezing and releasing them all.
 */
export abstract class AdapterParams {
  /** Every parameter, by AdapterHub name, in a fixed order. */
  readonly params = new Map<string, Tensor>();

  /** Sets requiresGrad on every parameter. */
  setTrainable(trainable: boolean): void {
    for (const t of this.params.values()) t.requiresGrad = trainable;
  }

  /** Releases every parameter. */
  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
  }
}

/** Where a run's task adapter is trained: the built-in suite or real files (an AdapterHub recipe). */
export type RunKind = 'suite' | 'files';

/** What a format's reader knows about the file beside its configuration. */
export interface SavedConfigContext {
  /** The config file, named in errors. */
  path: string;
  /** The file's `version` field (AdapterHub writes "adapters.<version>"; adapter-transformers wrote none or a bare one). */
  version: unknown;
}

/** How one format (AdapterHub, PEFT) stores a type's configuration. */
export interface ConfigFormat<C, A extends Adapter> {
  /** Whether a saved configuration describes this type. */
  claims(config: Record<string, unknown>): boolean;
  /** The configuration it describes; throws InputFileError naming the file and the field Thaw cannot compute. */
  read(config: Record<string, unknown>, context: SavedConfigContext): C;
  /** The configuration to save for an adapter of this type, every field the format's class has. */
  write(adapter: A): Record<string, unknown>;
  /** Keys the format types float, so that Python reads them back as floats. */
  readonly floats: ReadonlySet<string>;
}

/**
 * How PEFT stores a type: its configuration, and its tensors' names
 * (`base_model.model.<module>.<…>.weight`) mapped to Thaw's.
 */
export interface PeftFormat<C, A extends Adapter> extends ConfigFormat<C, A> {
  /** Thaw's name of a saved tensor of the adapter `name` (undefined: not one of the type's tensors). */
  thawName(saved: string, name: string, prefix: string): string | undefined;
  /** PEFT's name of one of the adapter's tensors. */
  savedName(thaw: string, adapter: A): string;
}

/**
 * An adapter type: one entry of the registry (./registry.ts). Methods are
 * declared as methods so that an entry of any configuration type can stand
 * in the registry's list.
 */
export interface AdapterType<C = unknown, A extends Adapter = Adapter> {
  /** The name `--adapter` takes and {@link Adapter.type} holds. */
  readonly name: string;
  /** One line for help texts. */
  readonly summary: string;
  /** A task adapter's configuration on the suite and on real files, side by side. */
  readonly defaults: Readonly<Record<RunKind, C>>;
  /** A new adapter with fresh weights; `seed` draws them. */
  create(graph: Graph, name: string, config: C, model: AdapterModel, seed: number): A;
  /**
   * The configuration of a task adapter of a run of `kind`, with the run's
   * bottleneck reduction factor where the type has one.
   */
  configure(kind: RunKind, options: { reductionFactor?: number }): C;
  /** Its AdapterHub `adapter_config.json` form. */
  readonly adapterHub: ConfigFormat<C, A>;
  /** Its PEFT form, where PEFT has the same method. */
  readonly peft?: PeftFormat<C, A>;
}
