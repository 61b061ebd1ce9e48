/**
 * Writes Hugging Face checkpoints and AdapterHub adapter folders in their
 * real layouts, with random non-zero weights, for the loaders' tests and the
 * end-to-end test (nothing can be downloaded here). Tensor names and config
 * fields are spelled out here from the upstream formats (docs/formats.md §3–§4:
 * transformers' modeling_xlm_roberta.py, adapter-hub/adapters at 88f18eb), not
 * taken from Thaw's own modules, so a loader test checks Thaw against the formats.
 * Host-only: no GPU needed.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { uniform, writeSafetensors, writeTorchStateDict, type EncoderConfig, type HostTensor } from '../../src/index.js';

/** An XLM-R-shaped config for tests: tiny sizes. */
export function tinyXlmrConfig(vocabSize: number, overrides: Partial<EncoderConfig> = {}): EncoderConfig {
  return {
    prefix: 'roberta', vocabSize, hiddenSize: 16, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 32,
    maxPositionEmbeddings: 66, typeVocabSize: 1, layerNormEps: 1e-5, hiddenDropoutProb: 0.1, attentionProbsDropoutProb: 0.1,
    positionOffset: 2, padTokenId: 1, ...overrides,
  };
}

/** Hugging Face config.json of an encoder config. */
export function hfConfigJson(c: EncoderConfig): Record<string, unknown> {
  const roberta = c.prefix === 'roberta';
  return {
    architectures: [roberta ? 'XLMRobertaForMaskedLM' : 'BertForMaskedLM'], model_type: roberta ? 'xlm-roberta' : 'bert',
    vocab_size: c.vocabSize, hidden_size: c.hiddenSize, num_hidden_layers: c.numHiddenLayers, num_attention_heads: c.numAttentionHeads,
    intermediate_size: c.intermediateSize, max_position_embeddings: c.maxPositionEmbeddings, type_vocab_size: c.typeVocabSize,
    layer_norm_eps: c.layerNormEps, hidden_dropout_prob: c.hiddenDropoutProb, attention_probs_dropout_prob: c.attentionProbsDropoutProb,
    pad_token_id: c.padTokenId, hidden_act: 'gelu', position_embedding_type: 'absolute', _name_or_path: roberta ? 'tiny-xlm-roberta' : 'tiny-bert',
  };
}

/** Random tensors by name: weights around 0 with std `scale`, LayerNorm gains around 1; never all zero. */
function randomTensors(shapes: [string, number[]][], seed: number, scale = 0.05): Map<string, HostTensor> {
  const random = uniform(seed);
  return new Map(shapes.map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const gain = /LayerNorm\.weight$/.test(name);
    return [name, { shape, data: Float32Array.from({ length: n }, () => (gain ? 1 : 0) + scale * (2 * random() - 1)) }];
  }));
}

/** The encoder's tensors under Hugging Face's names (prefixed, LayerNorm weight/bias). */
export function hfEncoderShapes(c: EncoderConfig): [string, number[]][] {
  const p = c.prefix;
  const D = c.hiddenSize;
  const dense = (name: string, out: number, inp: number): [string, number[]][] => [[`${name}.weight`, [out, inp]], [`${name}.bias`, [out]]];
  const norm = (name: string): [string, number[]][] => [[`${name}.weight`, [D]], [`${name}.bias`, [D]]];
  const shapes: [string, number[]][] = [
    [`${p}.embeddings.word_embeddings.weight`, [c.vocabSize, D]],
    [`${p}.embeddings.position_embeddings.weight`, [c.maxPositionEmbeddings, D]],
    [`${p}.embeddings.token_type_embeddings.weight`, [c.typeVocabSize, D]],
    ...norm(`${p}.embeddings.LayerNorm`),
  ];
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const l = `${p}.encoder.layer.${i}`;
    for (const proj of ['query', 'key', 'value']) shapes.push(...dense(`${l}.attention.self.${proj}`, D, D));
    shapes.push(...dense(`${l}.attention.output.dense`, D, D), ...norm(`${l}.attention.output.LayerNorm`));
    shapes.push(...dense(`${l}.intermediate.dense`, c.intermediateSize, D), ...dense(`${l}.output.dense`, D, c.intermediateSize), ...norm(`${l}.output.LayerNorm`));
  }
  return shapes;
}

/** How a checkpoint's tensors are laid out on disk. */
export interface CheckpointLayout {
  /** `prefixed`: roberta.… / bert.… (saved from a model with a head); `bare`: embeddings.… (saved from the base model). */
  names?: 'prefixed' | 'bare';
  /** TensorFlow-era LayerNorm.gamma / beta names. */
  gammaBeta?: boolean;
  /** model.safetensors (default), two shards with an index, or pytorch_model.bin. */
  files?: 'single' | 'sharded' | 'bin';
  /** Also a pooler and an MLM head, which the encoder does not use. */
  extras?: boolean;
}

/**
 * Writes a checkpoint folder (config.json + weights) for `config`; returns
 * the encoder's weights under their canonical names (what a loader must give back).
 */
export async function writeHfCheckpoint(dir: string, config: EncoderConfig, seed: number, layout: CheckpointLayout = {}): Promise<Map<string, HostTensor>> {
  const weights = randomTensors(hfEncoderShapes(config), seed);
  const saved = new Map<string, HostTensor>();
  for (const [name, t] of weights) {
    let n = layout.names === 'bare' ? name.slice(config.prefix.length + 1) : name;
    if (layout.gammaBeta) n = n.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta');
    saved.set(n, t);
  }
  if (layout.extras) {
    const D = config.hiddenSize;
    for (const [n, t] of randomTensors([[`${config.prefix}.pooler.dense.weight`, [D, D]], ['lm_head.bias', [config.vocabSize]]], seed + 1)) saved.set(n, t);
  }
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), JSON.stringify(hfConfigJson(config), null, 2));
  if (layout.files === 'bin') {
    await writeTorchStateDict(join(dir, 'pytorch_model.bin'), saved);
  } else if (layout.files === 'sharded') {
    const names = [...saved.keys()];
    const half = Math.ceil(names.length / 2);
    const map: Record<string, string> = {};
    for (const [i, part] of [names.slice(0, half), names.slice(half)].entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      await writeSafetensors(join(dir, file), new Map(part.map((n) => [n, saved.get(n)!])), { format: 'pt' });
      for (const n of part) map[n] = file;
    }
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: map }));
  } else {
    await writeSafetensors(join(dir, 'model.safetensors'), saved, { format: 'pt' });
  }
  return weights;
}

/** A MAD-X language adapter's tensors (seq_bn, reduction 2, NICE reduction 2) under AdapterHub's current names. */
export function languageAdapterTensors(code: string, c: EncoderConfig, seed: number): Map<string, HostTensor> {
  const D = c.hiddenSize;
  const d = D / 2;
  const half = D / 2;
  const inner = half / 2;
  const shapes: [string, number[]][] = [];
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const a = `${c.prefix}.encoder.layer.${i}.output.adapters.${code}`;
    shapes.push([`${a}.adapter_down.0.weight`, [d, D]], [`${a}.adapter_down.0.bias`, [d]], [`${a}.adapter_up.weight`, [D, d]], [`${a}.adapter_up.bias`, [D]]);
  }
  for (const f of ['F', 'G']) {
    const n = `${c.prefix}.invertible_adapters.${code}.${f}`;
    shapes.push([`${n}.0.weight`, [inner, half]], [`${n}.0.bias`, [inner]], [`${n}.2.weight`, [half, inner]], [`${n}.2.bias`, [half]]);
  }
  return randomTensors(shapes, seed);
}

/**
 * Writes an AdapterHub language adapter folder as AdapterHub 1.x's
 * `save_adapter` does (config with sorted keys, pytorch_adapter.bin), or
 * with `legacy` as adapter-transformers (2020) did: no version, a nested v1
 * `invertible_adapter` block and legacy tensor names. Returns the weights
 * under AdapterHub's current names.
 */
export async function writeLanguageAdapter(dir: string, code: string, c: EncoderConfig, seed: number, legacy = false): Promise<Map<string, HostTensor>> {
  const weights = languageAdapterTensors(code, c, seed);
  const saved = legacy
    ? new Map([...weights].map(([n, t]) => [n.replace('.adapters.', '.layer_text_lang_adapters.').replace('.invertible_adapters.', '.invertible_lang_adapters.'), t] as const))
    : weights;
  const base = { mh_adapter: false, output_adapter: true, non_linearity: 'relu', reduction_factor: 2, original_ln_before: true, original_ln_after: true, residual_before_ln: true, adapter_residual_before_ln: false, ln_before: false, ln_after: false };
  const config = legacy
    ? { config: { ...base, invertible_adapter: { block_type: 'nice', non_linearity: 'relu', reduction_factor: 2 } }, hidden_size: c.hiddenSize, model_name: 'tiny-xlm-roberta', model_type: 'xlm-roberta', name: code, type: 'text_lang' }
    : {
      config: { ...base, architecture: null, cross_adapter: false, dropout: 0.0, init_weights: 'bert', inv_adapter: 'nice', inv_adapter_reduction_factor: 2, is_parallel: false, leave_out: [], phm_layer: false, scaling: 1.0, stochastic_depth: 0.0, use_gating: false },
      hidden_size: c.hiddenSize, model_class: 'XLMRobertaAdapterModel', model_name: 'tiny-xlm-roberta', model_type: 'xlm-roberta', name: code, version: 'adapters.1.2.0',
    };
  await mkdir(dir, { recursive: true });
  await writeTorchStateDict(join(dir, 'pytorch_adapter.bin'), saved);
  await writeFile(join(dir, 'adapter_config.json'), JSON.stringify(config, null, 2));
  return weights;
}
