/**
 * AdapterHub adapter folders (docs/formats.md §4; adapter-hub/adapters at 88f18eb:
 * src/adapters/loading.py, configuration/adapter_config.py):
 *
 *   adapter_config.json    {"config": {…}, "hidden_size", "model_class", "model_name",
 *                           "model_type", "name", "version"}
 *   adapter.safetensors    the weights (AdapterHub's use_safetensors=True), or
 *   pytorch_adapter.bin    the same as a torch.save state dict (AdapterHub's default)
 *
 * This module handles the folder: the file names, the metadata around the
 * config, and the tensors' names. What a `config` means is each adapter
 * type's business (its registry entry, adapters/registry.ts): the entry
 * whose AdapterHub form claims the config reads it, refusing by name the
 * fields Thaw's adapter would compute differently, rather than ignoring them.
 *
 * Read: tensor names may carry the base-model prefix or not, and legacy
 * adapter-transformers names (`layer_text_lang_adapters`,
 * `invertible_lang_adapters`, …) are renamed; the saved adapter name is
 * replaced by the name it is loaded as.
 *
 * Written: the config with every field of the type's AdapterHub config
 * class, keys sorted and indented by 2 as AdapterHub writes them, float
 * fields as floats (formats/python-json.ts), `model_class` the AdapterModel
 * class of the base; the weights both as adapter.safetensors and as
 * pytorch_adapter.bin; and a prediction head as head_config.json with its
 * weights, so any AdapterHub version loads the folder with `load_adapter(dir)`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Graph } from '@thaw/autograd';
import type { Adapter, AdapterModel, AdapterType } from '../adapters/adapter.js';
import { adapterTypeOf, adapterTypeOfConfig } from '../adapters/registry.js';
import { readJsonFile } from '../formats/input-file.js';
import { InputFileError } from '../errors/input-error.js';
import { readSafetensors, writeSafetensors, type HostTensor } from '../formats/safetensors.js';
import { readTorchStateDict, writeTorchStateDict } from '../formats/torch-bin.js';
import { adapterModelClass } from './hf-checkpoint.js';
import { fillParams, storedTensors } from './fill-params.js';
import { writePythonJsonAtomic } from '../formats/python-json.js';

/** What an AdapterHub folder holds, read and checked but not yet on the GPU. */
export interface AdapterHubContents {
  /** The registry entry whose AdapterHub form claims the config. */
  type: AdapterType;
  name: string;
  /** The type's configuration (BottleneckConfig, LoraConfig, …). */
  config: unknown;
  tensors: Map<string, HostTensor>;
}

/** The AdapterHub format version whose names and config fields this module follows. */
const FORMAT_VERSION = 'adapters.1.2.0';

/** Legacy adapter-transformers names → current ones (AdapterHub's legacy_weights_mapping). */
const LEGACY_NAMES: [RegExp, string][] = [
  [/\.(attention_text_task_adapters|attention_text_lang_adapters|layer_text_task_adapters|layer_text_lang_adapters)\./, '.adapters.'],
  [/(^|\.)invertible_lang_adapters\./, '$1invertible_adapters.'],
];

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
  const type = adapterTypeOfConfig('adapterHub', config, configPath);
  const adapterConfig = type.adapterHub.read(config, { path: configPath, version: file.version });
  const name = loadAs ?? saved;
  const safetensors = join(dir, 'adapter.safetensors');
  const bin = join(dir, 'pytorch_adapter.bin');
  const raw = existsSync(safetensors) ? (await readSafetensors(safetensors)).tensors
    : existsSync(bin) ? (await readTorchStateDict(bin)).tensors
    : undefined;
  if (!raw) throw new InputFileError(dir, 'holds no adapter weights: expected adapter.safetensors or pytorch_adapter.bin');
  const tensors = new Map([...raw].map(([n, t]) => [thawName(n, saved, name, model.prefix), t] as const));
  return { type, name, config: adapterConfig, tensors };
}

/** Loads an AdapterHub folder as a frozen adapter on the GPU (a language adapter, or a task adapter to start from). */
export async function loadAdapterHubAdapter(graph: Graph, dir: string, model: AdapterModel, loadAs?: string): Promise<Adapter> {
  const contents = await readAdapterHubFolder(dir, model, loadAs);
  const adapter = contents.type.create(graph, contents.name, contents.config, model, 0);
  try {
    await fillParams(adapter.params, storedTensors(dir, contents.tensors), dir, { owner: `the ${contents.type.name} adapter of adapter_config.json` });
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

/** The heads' float field (the adapters' ones come with their types). */
const HEAD_FLOATS: ReadonlySet<string> = new Set(['dropout_prob']);

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
export async function saveAdapterHubFolder(dir: string, adapter: Adapter, tensors: Map<string, HostTensor>, model: SavedModelInfo & { hiddenSize: number }): Promise<void> {
  const form = adapterTypeOf(adapter).adapterHub;
  await writeSafetensors(join(dir, 'adapter.safetensors'), tensors);
  await writeTorchStateDict(join(dir, 'pytorch_adapter.bin'), tensors);
  await writePythonJsonAtomic(join(dir, 'adapter_config.json'), { config: form.write(adapter), ...savedMetadata(adapter.name, model) }, form.floats);
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
  await writePythonJsonAtomic(join(dir, 'head_config.json'), { config: headArguments(head), ...savedMetadata(name, model) }, HEAD_FLOATS);
}
