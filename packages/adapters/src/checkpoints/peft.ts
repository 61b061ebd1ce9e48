/**
 * Hugging Face PEFT adapter folders (docs/formats.md §5; huggingface/peft at 5d602fd:
 * src/peft/utils/save_and_load.py):
 *
 *   adapter_config.json         {"peft_type": "LORA", "r", "lora_alpha", "target_modules", …}
 *   adapter_model.safetensors   base_model.model.{prefix}.encoder.layer.{i}.attention.self.{query|value}.lora_A.weight [r, D]
 *                               … .lora_B.weight [D, r]          (metadata {"format": "pt"})
 *
 * This module handles the folder; the registry entry whose PEFT form claims
 * the config (adapters/registry.ts; today LoRA's) reads and writes the
 * config and maps the tensors' names, accepting only what Thaw's adapter
 * computes and refusing anything else by name, since the loaded adapter
 * would compute something other than it did in PEFT.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Graph } from '@thaw/autograd';
import type { Adapter, AdapterModel } from '../adapters/adapter.js';
import { adapterTypeOf, adapterTypeOfConfig } from '../adapters/registry.js';
import { readJsonFile } from '../formats/input-file.js';
import { InputFileError } from '../errors/input-error.js';
import { readSafetensors, writeSafetensors, type HostTensor } from '../formats/safetensors.js';
import { writePythonJsonAtomic } from '../formats/python-json.js';
import type { SavedModelInfo } from './adapterhub.js';
import { fillParams, heldTensor, type StoredTensor } from './fill-params.js';

/** PEFT's task types of the heads Thaw saves (null: none, a bare adapter). */
export type PeftTaskType = 'SEQ_CLS' | 'QUESTION_ANS' | null;

/**
 * Reads a PEFT folder as a frozen Thaw adapter called `name`; errors name
 * the file and the field or tensor.
 */
export async function loadPeftAdapter(graph: Graph, dir: string, model: AdapterModel, name: string): Promise<Adapter> {
  const configPath = join(dir, 'adapter_config.json');
  if (!existsSync(configPath)) throw new InputFileError(dir, 'is not a PEFT adapter folder: it has no adapter_config.json');
  const c = await readJsonFile(configPath);
  const type = adapterTypeOfConfig('peft', c, configPath);
  const form = type.peft!;
  const config = form.read(c, { path: configPath, version: undefined });
  const weights = join(dir, 'adapter_model.safetensors');
  if (!existsSync(weights)) throw new InputFileError(dir, 'holds no adapter_model.safetensors (PEFT\'s safe_serialization format)');
  const stored = new Map<string, StoredTensor>();
  for (const [saved, t] of (await readSafetensors(weights)).tensors) {
    const thaw = form.thawName(saved, name, model.prefix);
    if (!thaw) throw new InputFileError(weights, `tensor '${saved}' is not a ${type.name} weight PEFT saves`);
    stored.set(thaw, heldTensor(weights, t, saved));
  }
  const adapter = type.create(graph, name, config, model, 0);
  try {
    await fillParams(adapter.params, stored, weights, { owner: `the ${type.name} adapter of adapter_config.json` });
  } catch (e) {
    adapter.dispose();
    throw e;
  }
  adapter.setTrainable(false);
  return adapter;
}

/** Whether PEFT has an adapter's type (then {@link savePeftAdapter} writes it). */
export function peftSaves(adapter: Adapter): boolean {
  return adapterTypeOf(adapter).peft !== undefined;
}

/**
 * Writes a Thaw adapter as a PEFT folder that `PeftModel.from_pretrained`
 * loads: adapter_config.json and adapter_model.safetensors, atomically.
 * `tensors` are the adapter's weights under Thaw's names.
 */
export async function savePeftAdapter(dir: string, adapter: Adapter, tensors: Map<string, HostTensor>, model: SavedModelInfo, taskType: PeftTaskType): Promise<void> {
  const type = adapterTypeOf(adapter);
  const form = type.peft;
  if (!form) throw new Error(`savePeftAdapter: PEFT has no ${type.name} adapters`);
  const saved = new Map([...tensors].map(([name, t]) => [form.savedName(name, adapter), t] as const));
  await writeSafetensors(join(dir, 'adapter_model.safetensors'), saved, { format: 'pt' });
  await writePythonJsonAtomic(join(dir, 'adapter_config.json'), { ...form.write(adapter), task_type: taskType, base_model_name_or_path: model.modelName }, form.floats);
}
