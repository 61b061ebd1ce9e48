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
 *
 * The registry entries `seq_bn` and `double_seq_bn` at the end map the
 * configuration to and from AdapterHub's BnConfig (adapter-hub/adapters at
 * 88f18eb: src/adapters/configuration/adapter_config.py).
 */
import { add, linear, residualLayerNorm, type Graph, type Tensor } from '@thaw/autograd';
import { InputFileError } from '../errors/input-error.js';
import { ACTIVATIONS, EPILOGUE_ACTIVATIONS, type NonLinearity } from '../model/activations.js';
import type { ResidualLocation } from '../model/encoder.js';
import { normal, uniform } from '../model/random.js';
import { AdapterParams, type Adapter, type AdapterModel, type AdapterType, type ConfigFormat, type Invertible, type ResidualStep, type RunKind, type SavedConfigContext } from './adapter.js';
import { NiceCoupling } from './invertible.js';

/** Where a bottleneck sits in a layer. */
export type BottleneckLocation = ResidualLocation;

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

export class BottleneckAdapter extends AdapterParams implements Adapter {
  readonly type: BottleneckConfig['architecture'];
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
    readonly model: AdapterModel,
    seed: number,
  ) {
    super();
    this.type = config.architecture;
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
    // f runs in the down projection's matmul epilogue.
    const f = EPILOGUE_ACTIVATIONS[this.config.nonLinearity ?? 'relu'];
    return linear(linear(z, p('adapter_down.0.weight'), p('adapter_down.0.bias'), { activation: f }), p('adapter_up.weight'), p('adapter_up.bias'));
  }

  /** The NICE coupling, for "pfeiffer+inv" adapters. */
  embeddings(): Invertible | undefined {
    return this.invertible;
  }

  /** r + A(LN(r + x)) (original_ln_before) or r + A(r), where the adapter sits. */
  residualStep(layer: number, location: ResidualLocation): ResidualStep | undefined {
    if (!this.has(location)) return undefined;
    return (r, x, ln) => add(r, this.forward(layer, location, this.originalLnBefore ? residualLayerNorm(r, x, ln.weight, ln.bias, ln.eps) : r));
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



  private prefix(layer: number, location: BottleneckLocation): string {
    return `${this.model.prefix}.encoder.layer.${layer}.${location}.adapters.${this.name}`;
  }

  private add(name: string, data: Float32Array, shape: number[]): void {
    this.params.set(name, this.graph.parameter(data, shape, name));
  }
}

/** BnConfig fields whose value must be this for Thaw's bottleneck to compute what AdapterHub computes. */
const BOTTLENECK_FIXED: Record<string, unknown> = {
  ln_before: false, ln_after: false, is_parallel: false, scaling: 1.0, use_gating: false,
  adapter_residual_before_ln: false, residual_before_ln: true, original_ln_after: true, cross_adapter: false,
  phm_layer: false, stochastic_depth: 0.0,
};

/** The bottleneck configuration a saved BnConfig describes; errors name the file and the field. */
function readBottleneck(c: Record<string, unknown>, { path, version }: SavedConfigContext): BottleneckConfig {
  for (const [field, value] of Object.entries(BOTTLENECK_FIXED)) {
    if (c[field] !== undefined && c[field] !== value) throw new InputFileError(path, `config.${field} is ${JSON.stringify(c[field])}; Thaw's bottleneck adapters support only ${JSON.stringify(value)}`);
  }
  if (Array.isArray(c.leave_out) && c.leave_out.length) throw new InputFileError(path, `config.leave_out ${JSON.stringify(c.leave_out)} is not supported: Thaw's bottleneck adapters cover every layer`);
  // AdapterHub rebuilds a saved config as a plain BnConfig, not through the preset it came
  // from: these four fields have no default there, and a missing one fails to load.
  for (const field of ['mh_adapter', 'output_adapter', 'reduction_factor', 'non_linearity']) {
    if (c[field] === undefined) throw new InputFileError(path, `config.${field} is missing; AdapterHub's BnConfig requires it`);
  }
  const flag = (field: string, fallback: boolean): boolean => {
    const v = c[field] ?? fallback;
    if (typeof v !== 'boolean') throw new InputFileError(path, `config.${field} must be true or false, got ${JSON.stringify(c[field])}`);
    return v;
  };
  const mh = flag('mh_adapter', false);
  if (!flag('output_adapter', true)) throw new InputFileError(path, 'config.output_adapter is false; Thaw reads bottlenecks after the FFN, alone (seq_bn) or with ones after attention (double_seq_bn)');
  const architecture = mh ? 'double_seq_bn' : 'seq_bn';
  // BnConfig's default, whatever the placement: only the seq_bn preset sets it to true.
  const originalLnBefore = flag('original_ln_before', false);
  let rf: unknown = c.reduction_factor;
  if (typeof rf === 'object' && rf !== null && !Array.isArray(rf)) {
    const perLayer = rf as Record<string, unknown>;
    if (Object.keys(perLayer).some((k) => k !== 'default')) throw new InputFileError(path, `config.reduction_factor ${JSON.stringify(rf)} varies by layer, which Thaw does not support`);
    rf = perLayer.default;
  }
  if (typeof rf !== 'number' || !(rf > 0)) throw new InputFileError(path, `config.reduction_factor must be a positive number, got ${JSON.stringify(c.reduction_factor)}`);
  // Files without a version were written by adapter-transformers, whose "gelu" was the tanh
  // approximation and whose "gelu_orig" the exact GELU (AdapterHub's ACTIVATION_RENAME).
  const legacy = version === undefined;
  const named = legacy && c.non_linearity === 'gelu' ? 'gelu_new' : legacy && c.non_linearity === 'gelu_orig' ? 'gelu' : c.non_linearity;
  // AdapterHub resolves names through transformers' activations, where silu is swish.
  const act = named === 'silu' ? 'swish' : named;
  if (typeof act !== 'string' || !(act in ACTIVATIONS)) {
    throw new InputFileError(path, `config.non_linearity '${String(named)}' is not supported; Thaw's adapters use ${Object.keys(ACTIVATIONS).join(', ')}`);
  }
  const nested = c.invertible_adapter as { block_type?: unknown; reduction_factor?: unknown; non_linearity?: unknown } | undefined | null;
  const inv = c.inv_adapter ?? nested?.block_type ?? null;
  if (inv !== null && inv !== 'nice') throw new InputFileError(path, `config.inv_adapter '${String(inv)}' is not supported; Thaw implements the NICE invertible adapter`);
  const invRf = c.inv_adapter_reduction_factor ?? nested?.reduction_factor ?? 2;
  if (inv && (typeof invRf !== 'number' || !(invRf > 0))) throw new InputFileError(path, `config.inv_adapter_reduction_factor must be a positive number, got ${JSON.stringify(invRf)}`);
  return { architecture, reductionFactor: rf, nonLinearity: act as NonLinearity, originalLnBefore, ...(inv ? { invertible: { reductionFactor: invRf as number } } : {}) };
}

/**
 * Every field of AdapterHub's BnConfig (a saved bottleneck config is
 * rebuilt as a plain BnConfig, so none may be left to a preset's defaults).
 */
function writeBottleneck(adapter: BottleneckAdapter): Record<string, unknown> {
  const c = adapter.config;
  return {
    architecture: null, mh_adapter: c.architecture === 'double_seq_bn', output_adapter: true, reduction_factor: c.reductionFactor, non_linearity: c.nonLinearity ?? 'relu',
    original_ln_before: adapter.originalLnBefore, original_ln_after: true, ln_before: false, ln_after: false, init_weights: 'bert', init_weights_seed: null,
    is_parallel: false, scaling: 1.0, use_gating: false, residual_before_ln: true, adapter_residual_before_ln: false, inv_adapter: c.invertible ? 'nice' : null,
    inv_adapter_reduction_factor: c.invertible ? c.invertible.reductionFactor : null, cross_adapter: false, leave_out: [], dropout: 0.0,
    phm_layer: false, phm_dim: 4, factorized_phm_W: true, shared_W_phm: false, shared_phm_rule: true, factorized_phm_rule: false, phm_c_init: 'normal',
    phm_init_range: 0.0001, learn_phm: true, hypercomplex_nonlinearity: 'glorot-uniform', phm_rank: 1, phm_bias: true, stochastic_depth: 0.0,
  };
}

/** BnConfig's float fields: written as floats, since AdapterHub refuses an int scaling. */
const BOTTLENECK_FLOATS: ReadonlySet<string> = new Set(['reduction_factor', 'scaling', 'inv_adapter_reduction_factor', 'dropout', 'phm_init_range', 'stochastic_depth']);

/** The registry entry of one bottleneck placement. */
function bottleneckType(architecture: BottleneckConfig['architecture'], summary: string, defaults: Record<RunKind, BottleneckConfig>): AdapterType<BottleneckConfig, BottleneckAdapter> {
  const adapterHub: ConfigFormat<BottleneckConfig, BottleneckAdapter> = {
    // A BnConfig (architecture null, or "bottleneck" in older files), told apart by mh_adapter.
    claims: (c) => (c.architecture === undefined || c.architecture === null || c.architecture === 'bottleneck') && (c.mh_adapter === true) === (architecture === 'double_seq_bn'),
    read: readBottleneck,
    write: writeBottleneck,
    floats: BOTTLENECK_FLOATS,
  };
  return {
    name: architecture,
    summary,
    defaults,
    create: (graph, name, config, model, seed) => new BottleneckAdapter(graph, name, config, model, seed),
    configure: (kind, options) => ({ ...defaults[kind], ...(options.reductionFactor !== undefined ? { reductionFactor: options.reductionFactor } : {}) }),
    adapterHub,
  };
}

/** Pfeiffer / MAD-X task adapters: a bottleneck after the FFN. The suite's model is small, so its bottleneck is D/4; real files use AdapterHub's MAD-X recipe, D/16. */
export const SEQ_BN = bottleneckType('seq_bn', 'bottleneck after the FFN, Pfeiffer / MAD-X', {
  suite: { architecture: 'seq_bn', reductionFactor: 4 },
  files: { architecture: 'seq_bn', reductionFactor: 16 },
});

/** Houlsby task adapters: bottlenecks after attention and after the FFN. */
export const DOUBLE_SEQ_BN = bottleneckType('double_seq_bn', 'bottlenecks after attention and after the FFN, Houlsby', {
  suite: { architecture: 'double_seq_bn', reductionFactor: 4 },
  files: { architecture: 'double_seq_bn', reductionFactor: 16 },
});
