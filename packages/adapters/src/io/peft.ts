/**
 * Hugging Face PEFT LoRA folders (docs/formats.md §5; huggingface/peft at 5d602fd:
 * src/peft/utils/save_and_load.py, tuners/lora/config.py):
 *
 *   adapter_config.json         {"peft_type": "LORA", "r", "lora_alpha", "target_modules", …}
 *   adapter_model.safetensors   base_model.model.{prefix}.encoder.layer.{i}.attention.self.{query|value}.lora_A.weight [r, D]
 *                               … .lora_B.weight [D, r]          (metadata {"format": "pt"})
 *
 * PEFT scales the update by lora_alpha / r, as Thaw's LoRA does. Only what
 * Thaw's LoRA computes is accepted: targets exactly query and value, no
 * rsLoRA, DoRA, bias training, per-layer ranks or a subset of layers;
 * anything else is refused by name, since the loaded adapter would compute
 * something other than it did in PEFT.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Graph } from '@thaw/autograd';
import { LoraAdapter } from '../adapters/lora.js';
import { fillAdapter, type AdapterModel, type SavedModelInfo } from './adapterhub.js';
import { readJsonFile } from './input-file.js';
import { InputFileError } from './input-error.js';
import { readSafetensors, writeSafetensors, type HostTensor } from './safetensors.js';
import { writePythonJsonAtomic } from './python-json.js';

/** PEFT LoraConfig fields that must have these values for Thaw's LoRA to compute the same thing. */
const FIXED: Record<string, unknown> = { bias: 'none', use_rslora: false, use_dora: false, fan_in_fan_out: false, layers_to_transform: null };

/** LoraConfig fields typed float (r and lora_alpha are ints there): written as floats, as PEFT's to_json_file writes them. */
const PEFT_FLOATS: ReadonlySet<string> = new Set(['lora_dropout']);

/** PEFT's saved name of a Thaw LoRA tensor, and back. */
const PEFT_NAME = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/;

/**
 * Reads a PEFT LoRA folder as a frozen Thaw LoRA adapter called `name`;
 * errors name the file and the field or tensor.
 */
export async function loadPeftLora(graph: Graph, dir: string, model: AdapterModel, name: string): Promise<LoraAdapter> {
  const configPath = join(dir, 'adapter_config.json');
  if (!existsSync(configPath)) throw new InputFileError(dir, 'is not a PEFT adapter folder: it has no adapter_config.json');
  const c = await readJsonFile(configPath);
  if (c.peft_type !== 'LORA') throw new InputFileError(configPath, `peft_type ${JSON.stringify(c.peft_type)} is not supported; Thaw reads LORA`);
  const r = c.r;
  if (!Number.isInteger(r) || (r as number) < 1) throw new InputFileError(configPath, `r must be a positive integer, got ${JSON.stringify(r)}`);
  const alpha = c.lora_alpha ?? 8;
  if (typeof alpha !== 'number' || !(alpha > 0)) throw new InputFileError(configPath, `lora_alpha must be a positive number, got ${JSON.stringify(c.lora_alpha)}`);
  const targets = c.target_modules;
  if (!Array.isArray(targets) || [...targets].sort().join() !== 'query,value') throw new InputFileError(configPath, `target_modules ${JSON.stringify(targets)} is not supported; Thaw's LoRA adapts exactly ["query", "value"]`);
  for (const [field, value] of Object.entries(FIXED)) {
    if (c[field] !== undefined && c[field] !== value) throw new InputFileError(configPath, `${field} is ${JSON.stringify(c[field])}; Thaw's LoRA supports only ${JSON.stringify(value)}`);
  }
  for (const field of ['rank_pattern', 'alpha_pattern']) {
    const pattern = c[field];
    if (pattern !== undefined && pattern !== null && Object.keys(pattern as object).length) throw new InputFileError(configPath, `${field} ${JSON.stringify(pattern)} is not supported: Thaw's LoRA has one rank and one alpha`);
  }
  const weights = join(dir, 'adapter_model.safetensors');
  if (!existsSync(weights)) throw new InputFileError(dir, 'holds no adapter_model.safetensors (PEFT\'s safe_serialization format)');
  const tensors = new Map<string, HostTensor>();
  for (const [saved, t] of (await readSafetensors(weights)).tensors) {
    const m = PEFT_NAME.exec(saved);
    if (!m) throw new InputFileError(weights, `tensor '${saved}' is not a LoRA weight (expected base_model.model.<module>.lora_A.weight or .lora_B.weight)`);
    // A bare base model (AutoModel) saves names without the roberta./bert. prefix.
    const module = m[1]!.startsWith('encoder.') ? `${model.prefix}.${m[1]}` : m[1];
    tensors.set(`${module}.loras.${name}.lora_${m[2]}`, t);
  }
  const adapter = new LoraAdapter(graph, name, { r: r as number, alpha }, model, 0);
  try {
    fillAdapter(graph, weights, adapter.params, tensors);
  } catch (e) {
    adapter.dispose();
    throw e;
  }
  adapter.setTrainable(false);
  return adapter;
}

/**
 * Writes a Thaw LoRA adapter as a PEFT folder that `PeftModel.from_pretrained`
 * loads: adapter_config.json and adapter_model.safetensors, atomically.
 * `tensors` are the adapter's weights under Thaw's names.
 */
export async function savePeftLora(dir: string, adapter: LoraAdapter, tensors: Map<string, HostTensor>, model: SavedModelInfo, taskType: 'SEQ_CLS' | 'QUESTION_ANS' | null): Promise<void> {
  const saved = new Map<string, HostTensor>();
  const marker = `.loras.${adapter.name}.lora_`;
  for (const [name, t] of tensors) {
    const at = name.indexOf(marker);
    if (at < 0) throw new Error(`savePeftLora: '${name}' is not a weight of LoRA adapter '${adapter.name}'`);
    saved.set(`base_model.model.${name.slice(0, at)}.lora_${name.slice(at + marker.length)}.weight`, t);
  }
  await writeSafetensors(join(dir, 'adapter_model.safetensors'), saved, { format: 'pt' });
  await writePythonJsonAtomic(join(dir, 'adapter_config.json'), {
    peft_type: 'LORA', task_type: taskType, base_model_name_or_path: model.modelName, inference_mode: true,
    r: adapter.config.r, lora_alpha: adapter.config.alpha, lora_dropout: 0.0, target_modules: ['query', 'value'],
    bias: 'none', fan_in_fan_out: false, use_rslora: false, use_dora: false, init_lora_weights: true,
    layers_to_transform: null, layers_pattern: null, rank_pattern: {}, alpha_pattern: {}, modules_to_save: null,
  }, PEFT_FLOATS);
}
