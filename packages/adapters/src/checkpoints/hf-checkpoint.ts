/**
 * Hugging Face encoder checkpoints: a folder with `config.json` and the
 * weights as `model.safetensors`, as shards listed by
 * `model.safetensors.index.json` (`{"weight_map": {tensor: shard file}}`), or
 * as a PyTorch `pytorch_model.bin`.
 *
 * Supported: XLM-R / RoBERTa (`model_type` xlm-roberta or roberta, names
 * `roberta.*`, positions counted from padding_idx + 1) and BERT / mBERT
 * (`bert`, names `bert.*`, positions from 0), post-LN, absolute positions,
 * exact (erf) GELU. Names are mapped onto Thaw's encoder, which already uses
 * Hugging Face's: the base-model prefix is added when the checkpoint was
 * saved from a bare model (`embeddings.…`), and the TensorFlow-era
 * `LayerNorm.gamma`/`beta` become `weight`/`bias`. The load report lists the
 * encoder weights the files lack (an error: a frozen encoder with random
 * weights is meaningless) and the tensors nothing uses (pooler, MLM or
 * classification heads), which are only reported.
 */
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Graph } from '@thaw/autograd';
import { Encoder, type EncoderConfig } from '../model/encoder.js';
import { InputFileError } from '../errors/input-error.js';
import { readJsonFile } from '../formats/input-file.js';
import { openSafetensors, type PieceReader } from '../formats/safetensors.js';
import { fillParams, type StoredTensor } from './fill-params.js';
import { openTorchStateDict } from '../formats/torch-bin.js';

/** What a checkpoint load found (missing encoder weights are an error, not a report). */
export interface LoadReport {
  /** Tensors in the files that the encoder does not use (after renaming), sorted. */
  unexpected: string[];
  /** Integer tensors (e.g. position_ids buffers) that were skipped. */
  skipped: string[];
  /** The weight files read. */
  files: string[];
}

/**
 * The encoders Thaw loads, by config.json's model_type: their tensor-name
 * prefix, how they count positions, and the class AdapterHub loads their
 * adapters and heads into (saved as `model_class`; AdapterHub's head loader
 * requires it to equal the loading model's class name).
 */
const ARCHITECTURES: Record<string, { prefix: 'roberta' | 'bert'; positionsFromPadding: boolean; adapterModelClass: string }> = {
  'xlm-roberta': { prefix: 'roberta', positionsFromPadding: true, adapterModelClass: 'XLMRobertaAdapterModel' },
  roberta: { prefix: 'roberta', positionsFromPadding: true, adapterModelClass: 'RobertaAdapterModel' },
  bert: { prefix: 'bert', positionsFromPadding: false, adapterModelClass: 'BertAdapterModel' },
};

/** AdapterHub's model class for a checkpoint's model_type (e.g. XLMRobertaAdapterModel for xlm-roberta). */
export function adapterModelClass(modelType: string): string {
  const arch = Object.hasOwn(ARCHITECTURES, modelType) ? ARCHITECTURES[modelType] : undefined;
  if (!arch) throw new Error(`no AdapterHub model class is known for model_type ${JSON.stringify(modelType)}; Thaw exports ${Object.keys(ARCHITECTURES).join(', ')} adapters`);
  return arch.adapterModelClass;
}

/**
 * The base model's name as AdapterHub saves it (`model_name`) and PEFT
 * (`base_model_name_or_path`): config.json's _name_or_path when it has one,
 * else the checkpoint folder's own name, not the path it was given by.
 */
export function savedModelName(modelDir: string, config: Record<string, unknown>): string {
  return typeof config._name_or_path === 'string' && config._name_or_path ? config._name_or_path : basename(resolve(modelDir));
}

/** Thaw's encoder configuration from a Hugging Face config.json; errors name the file and the field. */
export function encoderConfigFromHf(path: string, json: Record<string, unknown>): EncoderConfig {
  const type = json.model_type;
  const arch = typeof type === 'string' && Object.hasOwn(ARCHITECTURES, type) ? ARCHITECTURES[type] : undefined;
  if (!arch) {
    throw new InputFileError(path, `model_type ${JSON.stringify(type)} is not supported; Thaw loads ${Object.keys(ARCHITECTURES).join(', ')} encoders${Array.isArray(json.architectures) ? ` (the file names ${json.architectures.join(', ')})` : ''}`);
  }
  const int = (field: string, fallback?: number): number => {
    const v = json[field] ?? fallback;
    if (!Number.isInteger(v) || (v as number) < 0) throw new InputFileError(path, `${field} must be a non-negative integer, got ${JSON.stringify(json[field])}`);
    return v as number;
  };
  const num = (field: string, fallback: number): number => {
    const v = json[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InputFileError(path, `${field} must be a non-negative number, got ${JSON.stringify(json[field])}`);
    return v;
  };
  // gelu_pytorch_tanh is transformers' faster spelling of the same tanh approximation.
  const named = json.hidden_act ?? 'gelu';
  const act = named === 'gelu_pytorch_tanh' ? 'gelu_new' : named;
  if (act !== 'gelu' && act !== 'gelu_new') throw new InputFileError(path, `hidden_act '${String(named)}' is not supported; Thaw's encoder runs gelu (exact) or gelu_new (tanh form)`);
  const positions = json.position_embedding_type ?? 'absolute';
  if (positions !== 'absolute') throw new InputFileError(path, `position_embedding_type '${String(positions)}' is not supported; Thaw's encoder uses absolute positions`);
  const hiddenSize = int('hidden_size');
  const heads = int('num_attention_heads');
  if (!heads || hiddenSize % heads) throw new InputFileError(path, `hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${heads}`);
  const padTokenId = int('pad_token_id', arch.positionsFromPadding ? 1 : 0);
  return {
    prefix: arch.prefix,
    vocabSize: int('vocab_size'),
    hiddenSize,
    numHiddenLayers: int('num_hidden_layers'),
    numAttentionHeads: heads,
    intermediateSize: int('intermediate_size'),
    maxPositionEmbeddings: int('max_position_embeddings'),
    typeVocabSize: int('type_vocab_size', 2),
    layerNormEps: num('layer_norm_eps', 1e-12),
    hiddenDropoutProb: num('hidden_dropout_prob', 0.1),
    attentionProbsDropoutProb: num('attention_probs_dropout_prob', 0.1),
    positionOffset: arch.positionsFromPadding ? padTokenId + 1 : 0,
    padTokenId,
    ...(act === 'gelu_new' ? { hiddenAct: act } : {}),
  };
}

/** The encoder name a checkpoint tensor maps to: prefix added to bare-model names, gamma/beta renamed. */
export function encoderName(prefix: string, name: string): string {
  const renamed = name.replace(/LayerNorm\.gamma$/, 'LayerNorm.weight').replace(/LayerNorm\.beta$/, 'LayerNorm.bias');
  return /^(embeddings|encoder)\./.test(renamed) ? `${prefix}.${renamed}` : renamed;
}

/** A source of named tensors read one at a time. */
interface WeightSource {
  file: string;
  names: string[];
  skipped: readonly string[];
  shape(name: string): readonly number[];
  readPieces(name: string): PieceReader;
  close(): Promise<void>;
}

/** The weight files of a checkpoint folder, in the order Hugging Face prefers them. */
async function weightSources(dir: string): Promise<WeightSource[]> {
  const index = join(dir, 'model.safetensors.index.json');
  const single = join(dir, 'model.safetensors');
  const bin = join(dir, 'pytorch_model.bin');
  const safetensors = async (file: string): Promise<WeightSource> => {
    const f = await openSafetensors(file);
    return { file, names: [...f.entries.keys()], skipped: f.skipped, shape: (n) => f.entries.get(n)!.shape, readPieces: (n) => f.readPieces(n), close: () => f.close() };
  };
  if (existsSync(index)) {
    const map = (await readJsonFile(index)).weight_map;
    if (typeof map !== 'object' || map === null || !Object.values(map).every((v) => typeof v === 'string' && !v.includes('/') && !v.includes('\\'))) {
      throw new InputFileError(index, 'weight_map must map tensor names to shard file names in the same folder');
    }
    const shards = [...new Set(Object.values(map as Record<string, string>))].sort();
    const sources: WeightSource[] = [];
    try {
      for (const shard of shards) {
        const source = await safetensors(join(dir, shard));
        sources.push(source);
        const held = new Set([...source.names, ...source.skipped]);
        const absent = Object.keys(map as Record<string, string>).find((n) => (map as Record<string, string>)[n] === shard && !held.has(n));
        if (absent) throw new InputFileError(index, `lists '${absent}' in ${shard}, which does not hold it`);
      }
    } catch (e) {
      await Promise.all(sources.map((s) => s.close()));
      throw e;
    }
    return sources;
  }
  if (existsSync(single)) return [await safetensors(single)];
  if (existsSync(bin)) {
    const f = await openTorchStateDict(bin);
    return [{ file: bin, names: [...f.shapes.keys()], skipped: f.skipped, shape: (n) => f.shapes.get(n)!, readPieces: (n) => f.readPieces(n), close: () => f.close() }];
  }
  throw new InputFileError(dir, 'holds no weights: expected model.safetensors, model.safetensors.index.json with its shards, or pytorch_model.bin');
}

/**
 * Loads a Hugging Face encoder checkpoint folder into a new {@link Encoder}
 * (frozen: a MAD-X base), streaming each tensor to the GPU in pieces: the
 * host holds one piece, never a whole tensor or file (a transposed or
 * deflated `.bin` tensor: its one storage). Throws
 * {@link InputFileError} for an unsupported architecture, a weight of the
 * wrong shape, or missing encoder weights; `report` lists what was unused.
 */
export async function loadHfEncoder(graph: Graph, dir: string): Promise<{ encoder: Encoder; report: LoadReport }> {
  const configPath = join(dir, 'config.json');
  const config = encoderConfigFromHf(configPath, await readJsonFile(configPath));
  const sources = await weightSources(dir);
  let encoder: Encoder | undefined;
  try {
    encoder = new Encoder(graph, config, 'empty');
    const stored = new Map<string, StoredTensor>();
    const unexpected: string[] = [];
    for (const source of sources) {
      for (const name of source.names) {
        const target = encoderName(config.prefix, name);
        if (!encoder.params.has(target)) {
          unexpected.push(name);
          continue;
        }
        if (stored.has(target)) throw new InputFileError(source.file, `holds '${name}', which another name or file already gave as '${target}'`);
        stored.set(target, { file: source.file, savedAs: name, shape: source.shape(name), readPieces: source.readPieces(name) });
      }
    }
    const files = sources.map((s) => s.file);
    await fillParams(encoder.params, stored, dir, { owner: 'the encoder of config.json', extra: 'ignore' });
    encoder.setTrainable(false);
    return { encoder, report: { unexpected: unexpected.sort(), skipped: sources.flatMap((s) => s.skipped), files } };
  } catch (e) {
    encoder?.dispose();
    throw e;
  } finally {
    await Promise.all(sources.map((s) => s.close()));
  }
}
