/**
 * AdapterHub adapter folders (formats-and-adapters §1.6):
 *
 *   adapter_config.json    {"config": {…}, "hidden_size", "model_class", "model_name",
 *                           "model_type", "name", "version"}
 *   adapter.safetensors    the weights (AdapterHub's use_safetensors=True), or
 *   pytorch_adapter.bin    the same as a torch.save state dict (AdapterHub's default)
 *
 * Read: bottleneck adapters (`seq_bn` = Pfeiffer: output adapter only;
 * `double_seq_bn` = Houlsby: attention and output adapters), with a NICE
 * invertible adapter when the config asks for one (`inv_adapter`, or the v1
 * nested `invertible_adapter` block), and LoRA on query/value
 * (`architecture: "lora"`). Tensor names may carry the base-model prefix or
 * not, and legacy adapter-transformers names (`layer_text_lang_adapters`,
 * `invertible_lang_adapters`, …) are renamed; the saved adapter name is
 * replaced by the name it is loaded as. Config fields Thaw's adapters do not
 * implement (layer norms of the adapter's own, gating, scaling, parallel
 * placement, left-out layers, other activations) are refused by name rather
 * than silently ignored, because the loaded adapter would compute something
 * else than it did in PyTorch.
 *
 * Written: the config with every field AdapterHub's BnConfig / LoRAConfig
 * has, keys sorted and indented by 2 as AdapterHub writes them, and the
 * weights both as adapter.safetensors and as pytorch_adapter.bin, so any
 * AdapterHub version loads the folder with `load_adapter(dir)`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Graph, Tensor } from '@thaw/autograd';
import { ACTIVATIONS, type NonLinearity } from '../model/activations.js';
import { BottleneckAdapter, type BottleneckConfig } from '../adapters/bottleneck.js';
import { LoraAdapter, type LoraConfig } from '../adapters/lora.js';
import { readJsonFile } from './input-file.js';
import { InputFileError } from './input-error.js';
import { readSafetensors, writeSafetensors, type HostTensor } from './safetensors.js';
import { readTorchStateDict, writeTorchStateDict } from './torch-bin.js';
import { writeJsonAtomic } from '../train/run-dir.js';

/** The model an adapter attaches to. */
export interface AdapterModel {
  prefix: string;
  hiddenSize: number;
  layers: number;
}

/** What an AdapterHub folder holds, read and checked but not yet on the GPU. */
export type AdapterHubContents =
  | { kind: 'bottleneck'; name: string; config: BottleneckConfig; tensors: Map<string, HostTensor> }
  | { kind: 'lora'; name: string; config: LoraConfig; tensors: Map<string, HostTensor> };

/** The AdapterHub format version whose names and config fields this module follows. */
const FORMAT_VERSION = 'adapters.1.2.0';

/** BnConfig fields whose value must be this for Thaw's bottleneck to compute what AdapterHub computes. */
const BOTTLENECK_FIXED: Record<string, unknown> = {
  ln_before: false, ln_after: false, is_parallel: false, scaling: 1.0, use_gating: false,
  adapter_residual_before_ln: false, residual_before_ln: true, original_ln_after: true, cross_adapter: false,
  phm_layer: false, stochastic_depth: 0.0,
};

/** Legacy adapter-transformers names → current ones (AdapterHub's legacy_weights_mapping). */
const LEGACY_NAMES: [RegExp, string][] = [
  [/\.(attention_text_task_adapters|attention_text_lang_adapters|layer_text_task_adapters|layer_text_lang_adapters)\./, '.adapters.'],
  [/(^|\.)invertible_lang_adapters\./, '$1invertible_adapters.'],
];

/** The bottleneck configuration an AdapterHub config describes; errors name the file and the field. */
function bottleneckConfig(path: string, c: Record<string, unknown>, legacy: boolean): BottleneckConfig {
  for (const [field, value] of Object.entries(BOTTLENECK_FIXED)) {
    if (c[field] !== undefined && c[field] !== value) throw new InputFileError(path, `config.${field} is ${JSON.stringify(c[field])}; Thaw's bottleneck adapters support only ${JSON.stringify(value)}`);
  }
  if (Array.isArray(c.leave_out) && c.leave_out.length) throw new InputFileError(path, `config.leave_out ${JSON.stringify(c.leave_out)} is not supported: Thaw's bottleneck adapters cover every layer`);
  const mh = c.mh_adapter === true;
  const out = c.output_adapter !== false;
  if (!out) throw new InputFileError(path, 'config.output_adapter is false; Thaw reads seq_bn (output adapter) and double_seq_bn (attention and output adapters)');
  const architecture = mh ? 'double_seq_bn' : 'seq_bn';
  const lnBefore = c.original_ln_before ?? !mh;
  if (lnBefore !== !mh) throw new InputFileError(path, `config.original_ln_before is ${String(lnBefore)}; Thaw's ${architecture} uses ${String(!mh)}`);
  let rf: unknown = c.reduction_factor ?? 16;
  if (typeof rf === 'object' && rf !== null && !Array.isArray(rf)) {
    const perLayer = rf as Record<string, unknown>;
    if (Object.keys(perLayer).some((k) => k !== 'default')) throw new InputFileError(path, `config.reduction_factor ${JSON.stringify(rf)} varies by layer, which Thaw does not support`);
    rf = perLayer.default;
  }
  if (typeof rf !== 'number' || !(rf > 0)) throw new InputFileError(path, `config.reduction_factor must be a positive number, got ${JSON.stringify(c.reduction_factor)}`);
  // Files without a version were written by adapter-transformers, whose "gelu" was the tanh
  // approximation and whose "gelu_orig" the exact GELU (AdapterHub's ACTIVATION_RENAME).
  const named = legacy && c.non_linearity === 'gelu' ? 'gelu_new' : legacy && c.non_linearity === 'gelu_orig' ? 'gelu' : (c.non_linearity ?? 'relu');
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
  return { architecture, reductionFactor: rf, nonLinearity: act as NonLinearity, ...(inv ? { invertible: { reductionFactor: invRf as number } } : {}) };
}

/** The LoRA configuration an AdapterHub config describes (query/value of self-attention only). */
function loraConfig(path: string, c: Record<string, unknown>): LoraConfig {
  const r = c.r ?? 8;
  const alpha = c.alpha ?? 8;
  if (!Number.isInteger(r) || (r as number) < 1) throw new InputFileError(path, `config.r must be a positive integer, got ${JSON.stringify(c.r)}`);
  if (typeof alpha !== 'number' || !(alpha > 0)) throw new InputFileError(path, `config.alpha must be a positive number, got ${JSON.stringify(c.alpha)}`);
  const matrices = c.attn_matrices ?? ['q', 'v'];
  if (!Array.isArray(matrices) || [...matrices].sort().join() !== 'q,v') throw new InputFileError(path, `config.attn_matrices ${JSON.stringify(matrices)} is not supported; Thaw's LoRA adapts q and v`);
  for (const [field, value] of Object.entries({ selfattn_lora: true, intermediate_lora: false, output_lora: false, composition_mode: 'add', use_gating: false })) {
    if (c[field] !== undefined && c[field] !== value) throw new InputFileError(path, `config.${field} is ${JSON.stringify(c[field])}; Thaw's LoRA supports only ${JSON.stringify(value)}`);
  }
  return { r: r as number, alpha };
}

/** `name` of a saved tensor as Thaw names it: legacy names renamed, the model prefix added, the adapter renamed. */
function thawName(name: string, saved: string, loadAs: string, prefix: string): string {
  let n = name;
  for (const [from, to] of LEGACY_NAMES) n = n.replace(from, to);
  if (/^(encoder|invertible_adapters)\./.test(n)) n = `${prefix}.${n}`;
  // Replacement functions, so that `$` in an adapter name is not a replacement pattern.
  for (const kind of ['adapters', 'invertible_adapters', 'loras']) n = n.replace(`.${kind}.${saved}.`, () => `.${kind}.${loadAs}.`);
  return n;
}

/**
 * Reads an AdapterHub folder: its config, checked against what Thaw
 * implements, and its weights (adapter.safetensors, else
 * pytorch_adapter.bin) renamed to Thaw's names with the adapter called
 * `loadAs` (default: the saved name).
 */
export async function readAdapterHubFolder(dir: string, model: AdapterModel, loadAs?: string): Promise<AdapterHubContents> {
  const configPath = join(dir, 'adapter_config.json');
  if (!existsSync(configPath)) throw new InputFileError(dir, 'is not an AdapterHub adapter folder: it has no adapter_config.json');
  const file = await readJsonFile(configPath);
  const c = file.config;
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw new InputFileError(configPath, "has no 'config' object (AdapterHub writes {\"config\": {…}, \"name\": …})");
  const config = c as Record<string, unknown>;
  const saved = file.name;
  if (typeof saved !== 'string' || !saved) throw new InputFileError(configPath, "has no adapter 'name'");
  if (file.hidden_size !== undefined && file.hidden_size !== model.hiddenSize) throw new InputFileError(configPath, `hidden_size ${JSON.stringify(file.hidden_size)} does not match the model's ${model.hiddenSize}`);
  const architecture = config.architecture ?? null;
  const legacy = file.version === undefined;
  const name = loadAs ?? saved;
  const safetensors = join(dir, 'adapter.safetensors');
  const bin = join(dir, 'pytorch_adapter.bin');
  const raw = existsSync(safetensors) ? (await readSafetensors(safetensors)).tensors
    : existsSync(bin) ? (await readTorchStateDict(bin)).tensors
    : undefined;
  if (!raw) throw new InputFileError(dir, 'holds no adapter weights: expected adapter.safetensors or pytorch_adapter.bin');
  const tensors = new Map([...raw].map(([n, t]) => [thawName(n, saved, name, model.prefix), t] as const));
  if (architecture === null || architecture === 'bottleneck') return { kind: 'bottleneck', name, config: bottleneckConfig(configPath, config, legacy), tensors };
  if (architecture === 'lora') return { kind: 'lora', name, config: loraConfig(configPath, config), tensors };
  throw new InputFileError(configPath, `config.architecture '${String(architecture)}' is not supported; Thaw loads bottleneck adapters (seq_bn, double_seq_bn, with or without NICE) and LoRA`);
}

/**
 * Copies named host tensors into an adapter's parameters; every parameter
 * must be there with its shape, and every tensor must be used. `file` names
 * the folder in errors.
 */
export function fillAdapter(graph: Graph, file: string, params: ReadonlyMap<string, Tensor>, tensors: ReadonlyMap<string, HostTensor>): void {
  for (const [name, p] of params) {
    const t = tensors.get(name);
    if (!t) throw new InputFileError(file, `lacks the weight '${name}'`);
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) throw new InputFileError(file, `weight '${name}' has shape [${t.shape}], expected [${p.shape}]`);
  }
  const extra = [...tensors.keys()].find((n) => !params.has(n));
  if (extra) throw new InputFileError(file, `holds '${extra}', which the adapter its config describes does not have`);
  for (const [name, p] of params) graph.gpu.write(p.buffer, tensors.get(name)!.data);
}

/** Loads an AdapterHub folder as a frozen adapter on the GPU (a language adapter, or a task adapter to start from). */
export async function loadAdapterHubAdapter(graph: Graph, dir: string, model: AdapterModel, loadAs?: string): Promise<BottleneckAdapter | LoraAdapter> {
  const contents = await readAdapterHubFolder(dir, model, loadAs);
  const adapter = contents.kind === 'bottleneck'
    ? new BottleneckAdapter(graph, contents.name, contents.config, model, 0)
    : new LoraAdapter(graph, contents.name, contents.config, model, 0);
  try {
    fillAdapter(graph, dir, adapter.params, contents.tensors);
  } catch (e) {
    adapter.dispose();
    throw e;
  }
  adapter.setTrainable(false);
  return adapter;
}

/** Identifies the base model in a saved adapter_config.json. */
export interface SavedModelInfo {
  /** e.g. xlm-roberta-base (config.json's _name_or_path, or the folder's name). */
  modelName: string;
  /** e.g. xlm-roberta or bert. */
  modelType: string;
}

/** The AdapterHub config a Thaw adapter corresponds to. */
function savedConfig(adapter: BottleneckAdapter | LoraAdapter): Record<string, unknown> {
  if (adapter instanceof LoraAdapter) {
    return {
      architecture: 'lora', selfattn_lora: true, intermediate_lora: false, output_lora: false, attn_matrices: ['q', 'v'],
      r: adapter.config.r, alpha: adapter.config.alpha, dropout: 0.0, composition_mode: 'add', init_weights: 'lora', use_gating: false,
    };
  }
  const c = adapter.config;
  const mh = c.architecture === 'double_seq_bn';
  return {
    architecture: null, mh_adapter: mh, output_adapter: true, reduction_factor: c.reductionFactor, non_linearity: c.nonLinearity ?? 'relu',
    original_ln_before: !mh, original_ln_after: true, ln_before: false, ln_after: false, init_weights: 'bert', is_parallel: false,
    scaling: 1.0, use_gating: false, residual_before_ln: true, adapter_residual_before_ln: false, inv_adapter: c.invertible ? 'nice' : null,
    inv_adapter_reduction_factor: c.invertible ? c.invertible.reductionFactor : null, cross_adapter: false, leave_out: [], dropout: 0.0,
    phm_layer: false, stochastic_depth: 0.0,
  };
}

/** JSON with object keys sorted at every level, as Python's json.dump(sort_keys=True). */
function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortedKeys((value as Record<string, unknown>)[k])]));
  return value;
}

/**
 * Writes an adapter as an AdapterHub folder: adapter_config.json,
 * adapter.safetensors and pytorch_adapter.bin (names with the model prefix,
 * as `save_adapter` on an AdapterModel writes them), each atomically.
 */
export async function saveAdapterHubFolder(dir: string, adapter: BottleneckAdapter | LoraAdapter, tensors: Map<string, HostTensor>, model: SavedModelInfo & { hiddenSize: number }): Promise<void> {
  const config = {
    config: savedConfig(adapter), hidden_size: model.hiddenSize, model_class: null, model_name: model.modelName,
    model_type: model.modelType, name: adapter.name, version: FORMAT_VERSION,
  };
  await writeSafetensors(join(dir, 'adapter.safetensors'), tensors);
  await writeTorchStateDict(join(dir, 'pytorch_adapter.bin'), tensors);
  await writeJsonAtomic(join(dir, 'adapter_config.json'), sortedKeys(config));
}
