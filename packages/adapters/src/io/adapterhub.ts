/**
 * AdapterHub adapter folders (docs/formats.md §4; adapter-hub/adapters at 88f18eb:
 * src/adapters/loading.py, configuration/adapter_config.py):
 *
 *   adapter_config.json    {"config": {…}, "hidden_size", "model_class", "model_name",
 *                           "model_type", "name", "version"}
 *   adapter.safetensors    the weights (AdapterHub's use_safetensors=True), or
 *   pytorch_adapter.bin    the same as a torch.save state dict (AdapterHub's default)
 *
 * Read: bottleneck adapters (after the FFN only, as `seq_bn` = Pfeiffer, or
 * also after attention with `mh_adapter`, as `double_seq_bn` = Houlsby), each
 * reading LN(r + x) or r as `original_ln_before` says (false when absent, as
 * in AdapterHub's BnConfig, whatever the placement), with a NICE
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
 * has, keys sorted and indented by 2 as AdapterHub writes them, float fields
 * as floats (./python-json.ts), `model_class` the AdapterModel class of the
 * base; the weights both as adapter.safetensors and as pytorch_adapter.bin;
 * and a prediction head as head_config.json with its weights, so any
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
import { adapterModelClass } from './hf-checkpoint.js';
import { writePythonJsonAtomic } from './python-json.js';

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
 * Whether a PEP 440 version (as Python's packaging.version.Version reads it)
 * comes before `release` (a plain release such as 1.1.0): a lower release,
 * or the same release as a pre-release (1.1.0rc1) or a development release
 * (1.1.0.dev0) that is not a post-release. Undefined when `version` is not
 * PEP 440.
 */
export function versionBefore(version: string, release: readonly number[]): boolean | undefined {
  const m = /^\s*v?(?:(\d+)!)?(\d+(?:\.\d+)*)((?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)(?:[-_.]?\d+)?))?((?:-\d+)|(?:[-_.]?(?:post|rev|r)(?:[-_.]?\d+)?))?((?:[-_.]?dev(?:[-_.]?\d+)?))?(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?\s*$/i.exec(version);
  if (!m) return undefined;
  if (m[1] !== undefined && Number(m[1]) > 0) return false;
  const parts = m[2]!.split('.').map(Number);
  for (let i = 0; i < Math.max(parts.length, release.length); i++) {
    const [a, b] = [parts[i] ?? 0, release[i] ?? 0];
    if (a !== b) return a < b;
  }
  const [pre, post, dev] = [m[3], m[4], m[5]];
  return pre !== undefined || (post === undefined && dev !== undefined);
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
function loraAlphaAsSaved(path: string, version: unknown, c: LoraConfig): LoraConfig {
  const prefix = 'adapters.';
  if (typeof version !== 'string' || !version.startsWith(prefix)) return c;
  const before = versionBefore(version.slice(prefix.length), [1, 1, 0]);
  if (before === undefined) throw new InputFileError(path, `version ${JSON.stringify(version)} is not "adapters." followed by a PEP 440 version, which AdapterHub's loader requires`);
  return before ? { ...c, alpha: c.r } : c;
}

/** The LoRA configuration an AdapterHub config describes (query/value of self-attention only). */
function loraConfig(path: string, c: Record<string, unknown>): LoraConfig {
  const r = c.r ?? 8;
  const alpha = c.alpha ?? 8;
  if (!Number.isInteger(r) || (r as number) < 1) throw new InputFileError(path, `config.r must be a positive integer, got ${JSON.stringify(c.r)}`);
  if (typeof alpha !== 'number' || !(alpha > 0)) throw new InputFileError(path, `config.alpha must be a positive number, got ${JSON.stringify(c.alpha)}`);
  const matrices = c.attn_matrices ?? ['q', 'v'];
  if (!Array.isArray(matrices) || [...matrices].sort().join() !== 'q,v') throw new InputFileError(path, `config.attn_matrices ${JSON.stringify(matrices)} is not supported; Thaw's LoRA adapts q and v`);
  // DoRA (use_dora) and VeRA (a float vera_d or vera_b) are other methods under architecture "lora".
  const fixed = { selfattn_lora: true, intermediate_lora: false, output_lora: false, composition_mode: 'add', use_gating: false, use_dora: false, vera_d: null, vera_b: null };
  for (const [field, value] of Object.entries(fixed)) {
    if (c[field] !== undefined && c[field] !== value) throw new InputFileError(path, `config.${field} is ${JSON.stringify(c[field])}; Thaw's LoRA supports only ${JSON.stringify(value)}`);
  }
  if (Array.isArray(c.leave_out) && c.leave_out.length) throw new InputFileError(path, `config.leave_out ${JSON.stringify(c.leave_out)} is not supported: Thaw's LoRA covers every layer`);
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
  if (architecture === 'lora') return { kind: 'lora', name, config: loraAlphaAsSaved(configPath, file.version, loraConfig(configPath, config)), tensors };
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
  /** e.g. xlm-roberta-base (config.json's _name_or_path, or the checkpoint folder's name). */
  modelName: string;
  /** e.g. xlm-roberta or bert: config.json's model_type, which picks AdapterHub's model class. */
  modelType: string;
}

/**
 * The AdapterHub config a Thaw adapter corresponds to: every field of
 * AdapterHub's LoRAConfig or BnConfig dataclass (a saved bottleneck config
 * is rebuilt as a plain BnConfig, so none may be left to a preset's
 * defaults).
 */
function savedConfig(adapter: BottleneckAdapter | LoraAdapter): Record<string, unknown> {
  if (adapter instanceof LoraAdapter) {
    return {
      architecture: 'lora', selfattn_lora: true, intermediate_lora: false, output_lora: false, leave_out: [], r: adapter.config.r, alpha: adapter.config.alpha,
      dropout: 0.0, attn_matrices: ['q', 'v'], composition_mode: 'add', init_weights: 'lora', init_weights_seed: null, use_gating: false, use_dora: false,
      vera_d: null, vera_b: null, dtype: null,
    };
  }
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

/**
 * Keys of AdapterHub's config classes typed float (BnConfig, LoRAConfig,
 * the heads' dropout_prob): written as floats, since Python reads `1` as an
 * int and AdapterHub's bottleneck refuses an int scaling. LoRA's r and
 * alpha are ints in LoRAConfig and stay so.
 */
const ADAPTERHUB_FLOATS: ReadonlySet<string> = new Set(['reduction_factor', 'scaling', 'inv_adapter_reduction_factor', 'dropout', 'phm_init_range', 'stochastic_depth', 'dropout_prob']);

/** The fields build_full_config saves around a config: the base model's type, class, name and hidden size, the saved name, the format version. */
function savedMetadata(name: string, model: SavedModelInfo & { hiddenSize: number }): Record<string, unknown> {
  return {
    hidden_size: model.hiddenSize, model_class: adapterModelClass(model.modelType), model_name: model.modelName, model_type: model.modelType,
    name, version: FORMAT_VERSION,
  };
}

/**
 * Writes an adapter as an AdapterHub folder: adapter_config.json,
 * adapter.safetensors and pytorch_adapter.bin (names with the model prefix,
 * as `save_adapter` on an AdapterModel writes them), each atomically.
 */
export async function saveAdapterHubFolder(dir: string, adapter: BottleneckAdapter | LoraAdapter, tensors: Map<string, HostTensor>, model: SavedModelInfo & { hiddenSize: number }): Promise<void> {
  await writeSafetensors(join(dir, 'adapter.safetensors'), tensors);
  await writeTorchStateDict(join(dir, 'pytorch_adapter.bin'), tensors);
  await writePythonJsonAtomic(join(dir, 'adapter_config.json'), { config: savedConfig(adapter), ...savedMetadata(adapter.name, model) }, ADAPTERHUB_FLOATS);
}

/**
 * A prediction head as AdapterHub's head classes take it: the keyword
 * arguments of ClassificationHead, MultipleChoiceHead or
 * QuestionAnsweringHead that depend on the task.
 */
export type AdapterHubHead =
  | { head_type: 'classification'; num_labels: number; layers: number; label2id: Record<string, number> }
  | { head_type: 'multiple_choice'; num_choices: number; layers: number; label2id: Record<string, number> }
  | { head_type: 'question_answering'; num_labels: number; layers: number; label2id: Record<string, number> };

/**
 * head_config.json's `config`: the head's arguments plus the ones Thaw's
 * heads fix (tanh between layers, the first token rather than a pooler, a
 * bias on the last layer, the model's dropout). AdapterHub passes the dict
 * to the head class as keyword arguments, so each head type gets exactly
 * the arguments its class accepts: multiple choice has no `bias`, question
 * answering neither `bias` nor `use_pooler`.
 */
function headArguments(head: AdapterHubHead): Record<string, unknown> {
  const common = { activation_function: 'tanh', dropout_prob: null };
  switch (head.head_type) {
    case 'classification': return { ...head, ...common, use_pooler: false, bias: true };
    case 'multiple_choice': return { ...head, ...common, use_pooler: false };
    case 'question_answering': return { ...head, ...common };
  }
}

/**
 * Writes a prediction head into an AdapterHub folder as `save_head` does:
 * head_config.json, model_head.safetensors and pytorch_model_head.bin
 * (tensors named heads.<name>.<index>.weight / .bias), each atomically.
 */
export async function saveAdapterHubHead(dir: string, name: string, head: AdapterHubHead, tensors: Map<string, HostTensor>, model: SavedModelInfo & { hiddenSize: number }): Promise<void> {
  await writeSafetensors(join(dir, 'model_head.safetensors'), tensors);
  await writeTorchStateDict(join(dir, 'pytorch_model_head.bin'), tensors);
  await writePythonJsonAtomic(join(dir, 'head_config.json'), { config: headArguments(head), ...savedMetadata(name, model) }, ADAPTERHUB_FLOATS);
}
