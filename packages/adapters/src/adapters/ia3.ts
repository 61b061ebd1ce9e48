/**
 * (IA)³, "Infused Adapter by Inhibiting and Amplifying Inner Activations"
 * (Liu et al. 2022, arXiv:2205.05638 §3.3), as AdapterHub implements it
 * (`ia3`: IA3Config and the IA3 module, adapter-hub/adapters at 88f18eb:
 * src/adapters/configuration/adapter_config.py, src/adapters/methods/lora.py).
 * A learned vector scales the output of three projections of every layer:
 *
 *   K' = (x·W_kᵀ + b_k) ⊙ α·l_k        l_k [D]
 *   V' = (x·W_vᵀ + b_v) ⊙ α·l_v        l_v [D]
 *   U' = (a·W_1ᵀ + b_1) ⊙ α·l_ff       l_ff [I], then the FFN's GELU
 *
 * with α the config's alpha (1 by default, AdapterHub's `scaling`) and every
 * l initialised to ones, so training starts from the base model. The bias is
 * scaled with the product because AdapterHub's LoRALinear scales the whole
 * output of the wrapped Linear. Where the FFN vector acts follows AdapterHub,
 * which wraps `intermediate.dense`: it scales the FFN's first projection
 * before its activation, while the paper scales the activation's output.
 * PEFT's IA3 follows the paper (its feed-forward vector scales the input of
 * `output.dense`), so a PEFT IA3 folder computes something else, and Thaw
 * reads and writes (IA)³ in AdapterHub's layout only.
 *
 * Names: {prefix}.encoder.layer.{i}.attention.self.{key|value}.loras.{name}.lora_B [D, 1]
 * and {prefix}.encoder.layer.{i}.intermediate.dense.loras.{name}.lora_B [I, 1]
 * (AdapterHub keeps the vector as a one-column lora_B). A block of scheduled
 * unfreezing is one layer's three vectors.
 *
 * Gradients (the scaleColumns op): dy ⊙ α·l into the projection, and
 * α·Σ_rows dy ⊙ y into l, a fixed-order column reduction.
 */
import { reshape, scale, scaleColumns, type Graph, type Tensor } from '@thaw/autograd';
import { InputFileError } from '../errors/input-error.js';
import type { ProjectionSite } from '../model/encoder.js';
import { AdapterParams, type Adapter, type AdapterModel, type AdapterType, type SavedConfigContext } from './adapter.js';

export interface Ia3Config {
  /** AdapterHub's alpha: the vectors act as α·l (default 1). */
  alpha: number;
}

/** The projections (IA)³ scales, and where their vectors live. */
const SITES = { key: 'attention.self.key', value: 'attention.self.value', intermediate: 'intermediate.dense' } as const;
type Ia3Site = keyof typeof SITES;

export class Ia3Adapter extends AdapterParams implements Adapter {
  readonly type = 'ia3';

  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly config: Ia3Config,
    readonly model: AdapterModel,
  ) {
    super();
    if (!(config.alpha > 0) || !Number.isFinite(config.alpha)) throw new Error(`(IA)³ alpha must be a positive number, got ${config.alpha}`);
    for (let i = 0; i < model.layers; i++) {
      for (const site of Object.keys(SITES) as Ia3Site[]) {
        const width = site === 'intermediate' ? model.intermediateSize : model.hiddenSize;
        const name = this.vectorName(i, site);
        this.params.set(name, graph.parameter(new Float32Array(width).fill(1), [width, 1], name));
      }
    }
  }

  /** y ⊙ α·l at layer i's key, value or FFN projection. */
  activationScale(layer: number, site: ProjectionSite): ((y: Tensor) => Tensor) | undefined {
    if (site === 'query') return undefined;
    const l = this.params.get(this.vectorName(layer, site))!;
    const { alpha } = this.config;
    return (y) => {
      const scaled = scaleColumns(y, reshape(l, [l.shape[0]!]));
      return alpha === 1 ? scaled : scale(scaled, alpha);
    };
  }

  /** Layer i's three vectors: one block. */
  block(layer: number): Tensor[] {
    return (Object.keys(SITES) as Ia3Site[]).map((site) => this.params.get(this.vectorName(layer, site))!);
  }



  private vectorName(layer: number, site: Ia3Site): string {
    return `${this.model.prefix}.encoder.layer.${layer}.${SITES[site]}.loras.${this.name}.lora_B`;
  }
}

/** IA3Config fields whose value must be this for Thaw's (IA)³ to compute what AdapterHub computes. */
const FIXED: Record<string, unknown> = {
  selfattn_lora: true, intermediate_lora: true, output_lora: false, r: 1, dropout: 0.0, use_gating: false, use_dora: false, vera_d: null, vera_b: null,
};

/** The (IA)³ configuration a saved IA3Config describes; errors name the file and the field. */
function readIa3(c: Record<string, unknown>, { path }: SavedConfigContext): Ia3Config {
  for (const [field, value] of Object.entries(FIXED)) {
    if (c[field] !== undefined && c[field] !== value) throw new InputFileError(path, `config.${field} is ${JSON.stringify(c[field])}; Thaw's (IA)³ supports only ${JSON.stringify(value)}`);
  }
  const matrices = c.attn_matrices ?? ['k', 'v'];
  if (!Array.isArray(matrices) || [...matrices].sort().join() !== 'k,v') throw new InputFileError(path, `config.attn_matrices ${JSON.stringify(matrices)} is not supported; Thaw's (IA)³ scales k and v`);
  if (Array.isArray(c.leave_out) && c.leave_out.length) throw new InputFileError(path, `config.leave_out ${JSON.stringify(c.leave_out)} is not supported: Thaw's (IA)³ covers every layer`);
  const alpha = c.alpha ?? 1;
  if (typeof alpha !== 'number' || !(alpha > 0)) throw new InputFileError(path, `config.alpha must be a positive number, got ${JSON.stringify(c.alpha)}`);
  return { alpha };
}

/** (IA)³ on keys, values and the FFN: the same configuration on the suite and on real files (it has no size to choose). */
export const IA3: AdapterType<Ia3Config, Ia3Adapter> = {
  name: 'ia3',
  summary: '(IA)³: learned scales of keys, values and the FFN',
  defaults: { suite: { alpha: 1 }, files: { alpha: 1 } },
  // The vectors start at ones: there is nothing to draw, so the seed goes unused.
  create: (graph, name, config, model) => new Ia3Adapter(graph, name, config, model),
  configure: (kind) => IA3.defaults[kind],
  adapterHub: {
    // AdapterHub saves IA3Config under LoRA's architecture, told apart by the composition.
    claims: (c) => c.architecture === 'lora' && c.composition_mode === 'scale',
    read: readIa3,
    write: (adapter) => ({
      architecture: 'lora', selfattn_lora: true, intermediate_lora: true, output_lora: false, leave_out: [], r: 1, alpha: adapter.config.alpha,
      dropout: 0.0, attn_matrices: ['k', 'v'], composition_mode: 'scale', init_weights: 'ia3', init_weights_seed: null, use_gating: false, use_dora: false,
      vera_d: null, vera_b: null, dtype: null,
    }),
    floats: new Set(['dropout']),
  },
};
