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
 *
 * The registry entry `lora` at the end maps the configuration to and from
 * AdapterHub's LoRAConfig (adapter-hub/adapters at 88f18eb:
 * src/adapters/configuration/adapter_config.py) and PEFT's LoraConfig
 * (huggingface/peft at 5d602fd: src/peft/tuners/lora/config.py); PEFT
 * scales the update by lora_alpha / r too.
 */
import { linear, scale, type Graph, type Tensor } from '@thaw/autograd';
import { InputFileError } from '../errors/input-error.js';
import { versionBefore } from '../formats/pep440.js';
import type { ProjectionSite } from '../model/encoder.js';
import { uniform } from '../model/random.js';
import { AdapterParams, type Adapter, type AdapterModel, type AdapterType, type PeftFormat, type SavedConfigContext } from './adapter.js';

export interface LoraConfig {
  r: number;
  alpha: number;
}

export type LoraTarget = 'query' | 'value';

export class LoraAdapter extends AdapterParams implements Adapter {
  readonly type = 'lora';
  readonly targets: LoraTarget[] = ['query', 'value'];

  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly config: LoraConfig,
    readonly model: AdapterModel,
    seed: number,
  ) {
    super();
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

  /** (α/r)·(h·Aᵀ)·Bᵀ for layer i's query or value projection. */
  delta(layer: number, target: LoraTarget, h: Tensor): Tensor {
    const base = this.prefix(layer, target);
    const a = this.params.get(`${base}.lora_A`)!;
    const b = this.params.get(`${base}.lora_B`)!;
    return scale(linear(linear(h, a), b), this.config.alpha / this.config.r);
  }

  /** The update of the query and value projections. */
  projectionDelta(layer: number, site: ProjectionSite): ((h: Tensor) => Tensor) | undefined {
    return site === 'query' || site === 'value' ? (h) => this.delta(layer, site, h) : undefined;
  }

  /** Layer i's q and v LoRA parameters: one block. */
  block(layer: number): Tensor[] {
    return this.targets.flatMap((t) => [this.params.get(`${this.prefix(layer, t)}.lora_A`)!, this.params.get(`${this.prefix(layer, t)}.lora_B`)!]);
  }



  private prefix(layer: number, target: LoraTarget): string {
    return `${this.model.prefix}.encoder.layer.${layer}.attention.self.${target}.loras.${this.name}`;
  }
}

/**
 * `adapters` releases before 1.1.0 (0.1.0 to 1.0.1) ignored a LoRA's alpha
 * and always scaled by 1, and AdapterHub's loader keeps such adapters
 * computing what they were trained to by setting alpha to r when it reads
 * their folder (AdapterLoader._fix_backward_compat in loading.py, added by
 * adapter-hub/adapters#770; adapter-hub/adapters commit f0ca962). It applies
 * to versions written as "adapters.<version>" only, not to adapter-transformers
 * files (a bare version, or none), whose LoRA did scale by alpha / r.
 */
function alphaAsSaved({ path, version }: SavedConfigContext, c: LoraConfig): LoraConfig {
  const prefix = 'adapters.';
  if (typeof version !== 'string' || !version.startsWith(prefix)) return c;
  const before = versionBefore(version.slice(prefix.length), [1, 1, 0]);
  if (before === undefined) throw new InputFileError(path, `version ${JSON.stringify(version)} is not "adapters." followed by a PEP 440 version, which AdapterHub's loader requires`);
  return before ? { ...c, alpha: c.r } : c;
}

/** The LoRA configuration a saved LoRAConfig describes (query/value of self-attention only). */
function readLora(c: Record<string, unknown>, context: SavedConfigContext): LoraConfig {
  const { path } = context;
  const r = c.r ?? 8;
  const alpha = c.alpha ?? 8;
  if (!Number.isInteger(r) || (r as number) < 1) throw new InputFileError(path, `config.r must be a positive integer, got ${JSON.stringify(c.r)}`);
  if (typeof alpha !== 'number' || !(alpha > 0)) throw new InputFileError(path, `config.alpha must be a positive number, got ${JSON.stringify(c.alpha)}`);
  const matrices = c.attn_matrices ?? ['q', 'v'];
  if (!Array.isArray(matrices) || [...matrices].sort().join() !== 'q,v') throw new InputFileError(path, `config.attn_matrices ${JSON.stringify(matrices)} is not supported; Thaw's LoRA adapts q and v`);
  // DoRA (use_dora) and VeRA (a float vera_d or vera_b) are other methods under architecture "lora".
  const fixed = { selfattn_lora: true, intermediate_lora: false, output_lora: false, use_gating: false, use_dora: false, vera_d: null, vera_b: null };
  for (const [field, value] of Object.entries(fixed)) {
    if (c[field] !== undefined && c[field] !== value) throw new InputFileError(path, `config.${field} is ${JSON.stringify(c[field])}; Thaw's LoRA supports only ${JSON.stringify(value)}`);
  }
  if (Array.isArray(c.leave_out) && c.leave_out.length) throw new InputFileError(path, `config.leave_out ${JSON.stringify(c.leave_out)} is not supported: Thaw's LoRA covers every layer`);
  return alphaAsSaved(context, { r: r as number, alpha });
}

/** PEFT LoraConfig fields that must have these values for Thaw's LoRA to compute the same thing. */
const PEFT_FIXED: Record<string, unknown> = { bias: 'none', use_rslora: false, use_dora: false, fan_in_fan_out: false, layers_to_transform: null };

/** The LoRA configuration a PEFT adapter_config.json describes; errors name the file and the field. */
function readPeftLora(c: Record<string, unknown>, { path }: SavedConfigContext): LoraConfig {
  const r = c.r;
  if (!Number.isInteger(r) || (r as number) < 1) throw new InputFileError(path, `r must be a positive integer, got ${JSON.stringify(r)}`);
  const alpha = c.lora_alpha ?? 8;
  if (typeof alpha !== 'number' || !(alpha > 0)) throw new InputFileError(path, `lora_alpha must be a positive number, got ${JSON.stringify(c.lora_alpha)}`);
  const targets = c.target_modules;
  if (!Array.isArray(targets) || [...targets].sort().join() !== 'query,value') throw new InputFileError(path, `target_modules ${JSON.stringify(targets)} is not supported; Thaw's LoRA adapts exactly ["query", "value"]`);
  for (const [field, value] of Object.entries(PEFT_FIXED)) {
    if (c[field] !== undefined && c[field] !== value) throw new InputFileError(path, `${field} is ${JSON.stringify(c[field])}; Thaw's LoRA supports only ${JSON.stringify(value)}`);
  }
  for (const field of ['rank_pattern', 'alpha_pattern']) {
    const pattern = c[field];
    if (pattern !== undefined && pattern !== null && Object.keys(pattern as object).length) throw new InputFileError(path, `${field} ${JSON.stringify(pattern)} is not supported: Thaw's LoRA has one rank and one alpha`);
  }
  return { r: r as number, alpha };
}

/** PEFT's saved name of a LoRA tensor: base_model.model.<module>.lora_A.weight or .lora_B.weight. */
const PEFT_NAME = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/;

/** LoRA on q and v: the suite's r 8 with α 16, AdapterHub's recipe r 8 with α 8. */
export const LORA: AdapterType<LoraConfig, LoraAdapter> = {
  name: 'lora',
  summary: 'LoRA on the attention query and value projections',
  defaults: { suite: { r: 8, alpha: 16 }, files: { r: 8, alpha: 8 } },
  create: (graph, name, config, model, seed) => new LoraAdapter(graph, name, config, model, seed),
  configure: (kind) => LORA.defaults[kind],
  adapterHub: {
    claims: (c) => c.architecture === 'lora' && (c.composition_mode ?? 'add') === 'add',
    read: readLora,
    write: (adapter) => ({
      architecture: 'lora', selfattn_lora: true, intermediate_lora: false, output_lora: false, leave_out: [], r: adapter.config.r, alpha: adapter.config.alpha,
      dropout: 0.0, attn_matrices: ['q', 'v'], composition_mode: 'add', init_weights: 'lora', init_weights_seed: null, use_gating: false, use_dora: false,
      vera_d: null, vera_b: null, dtype: null,
    }),
    // LoRAConfig's r and alpha are ints and stay so.
    floats: new Set(['dropout']),
  },
  peft: {
    claims: (c) => c.peft_type === 'LORA',
    read: readPeftLora,
    write: (adapter) => ({
      peft_type: 'LORA', inference_mode: true, r: adapter.config.r, lora_alpha: adapter.config.alpha, lora_dropout: 0.0, target_modules: ['query', 'value'],
      bias: 'none', fan_in_fan_out: false, use_rslora: false, use_dora: false, init_lora_weights: true,
      layers_to_transform: null, layers_pattern: null, rank_pattern: {}, alpha_pattern: {}, modules_to_save: null,
    }),
    // LoraConfig's r and lora_alpha are ints.
    floats: new Set(['lora_dropout']),
    thawName: (saved, name, prefix) => {
      const m = PEFT_NAME.exec(saved);
      if (!m) return undefined;
      // A bare base model (AutoModel) saves names without the roberta./bert. prefix.
      const module = m[1]!.startsWith('encoder.') ? `${prefix}.${m[1]}` : m[1];
      return `${module}.loras.${name}.lora_${m[2]}`;
    },
    savedName: (thaw, adapter) => {
      const marker = `.loras.${adapter.name}.lora_`;
      const at = thaw.indexOf(marker);
      if (at < 0) throw new Error(`'${thaw}' is not a weight of LoRA adapter '${adapter.name}'`);
      return `base_model.model.${thaw.slice(0, at)}.lora_${thaw.slice(at + marker.length)}.weight`;
    },
  },
};
