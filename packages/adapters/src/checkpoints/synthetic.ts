/**
 * Synthetic Hugging Face checkpoints: a folder with config.json and
 * model.safetensors holding random weights for an encoder of a given shape
 * (XLM-R base, mBERT, or any {@link EncoderConfig}), for measuring how
 * checkpoints of real sizes load (`thaw bench load`) and for tests of that.
 * Nothing of a real model can be downloaded where these run, and only the
 * sizes matter to a load.
 *
 * The file is written tensor by tensor in pieces of {@link PIECE_VALUES}
 * values, so writing a 1.1 GB checkpoint takes a few megabytes of memory.
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encoderParamSpecs, type EncoderConfig } from '../model/encoder.js';
import { uniform } from '../model/random.js';
import { writeSafetensorsPieces, type TensorPieces } from '../formats/safetensors.js';

/** Values generated and written at a time (4 MiB). */
const PIECE_VALUES = 1 << 20;

/** The encoder shapes of the public checkpoints Thaw is measured on. */
export const SYNTHETIC_ENCODERS = {
  /** xlm-roberta-base: 250,002 tokens, 12 layers of 768, 514 positions, one token type (≈ 1.1 GB in float32). */
  'xlmr-base': {
    prefix: 'roberta', vocabSize: 250_002, hiddenSize: 768, numHiddenLayers: 12, numAttentionHeads: 12, intermediateSize: 3072,
    maxPositionEmbeddings: 514, typeVocabSize: 1, layerNormEps: 1e-5, hiddenDropoutProb: 0.1, attentionProbsDropoutProb: 0.1,
    positionOffset: 2, padTokenId: 1,
  },
  /** bert-base-multilingual-cased: 119,547 tokens, 12 layers of 768, 512 positions, two token types (≈ 0.7 GB). */
  mbert: {
    prefix: 'bert', vocabSize: 119_547, hiddenSize: 768, numHiddenLayers: 12, numAttentionHeads: 12, intermediateSize: 3072,
    maxPositionEmbeddings: 512, typeVocabSize: 2, layerNormEps: 1e-12, hiddenDropoutProb: 0.1, attentionProbsDropoutProb: 0.1,
    positionOffset: 0, padTokenId: 0,
  },
} as const satisfies Record<string, EncoderConfig>;

/** The config.json Hugging Face writes for an encoder of `config` (what {@link encoderConfigFromHf} reads back). */
export function hfConfigOf(config: EncoderConfig, name: string): Record<string, unknown> {
  const roberta = config.prefix === 'roberta';
  return {
    _name_or_path: name,
    architectures: [roberta ? 'XLMRobertaForMaskedLM' : 'BertForMaskedLM'],
    model_type: roberta ? 'xlm-roberta' : 'bert',
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    num_hidden_layers: config.numHiddenLayers,
    num_attention_heads: config.numAttentionHeads,
    intermediate_size: config.intermediateSize,
    max_position_embeddings: config.maxPositionEmbeddings,
    type_vocab_size: config.typeVocabSize,
    layer_norm_eps: config.layerNormEps,
    hidden_dropout_prob: config.hiddenDropoutProb,
    attention_probs_dropout_prob: config.attentionProbsDropoutProb,
    pad_token_id: config.padTokenId,
    hidden_act: config.hiddenAct ?? 'gelu',
    position_embedding_type: 'absolute',
  };
}

/**
 * Writes a checkpoint folder for `config` into `dir` (created if needed):
 * config.json and model.safetensors with every encoder weight, uniform
 * random values in ±0.05 around 0, LayerNorm gains around 1.
 * Returns the weight file's path and size in bytes.
 */
export async function writeSyntheticCheckpoint(dir: string, config: EncoderConfig, name: string, seed = 1): Promise<{ file: string; bytes: number }> {
  const random = uniform(seed);
  const tensors = new Map<string, TensorPieces>();
  for (const spec of encoderParamSpecs(config)) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const centre = spec.init === 'ones' ? 1 : 0;
    tensors.set(spec.name, {
      shape: spec.shape,
      *pieces() {
        const piece = new Float32Array(Math.min(count, PIECE_VALUES));
        for (let done = 0; done < count; done += piece.length) {
          const values = piece.subarray(0, Math.min(piece.length, count - done));
          for (let i = 0; i < values.length; i++) values[i] = centre + 0.05 * (2 * random() - 1);
          yield values;
        }
      },
    });
  }
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), JSON.stringify(hfConfigOf(config, name), null, 2));
  const file = join(dir, 'model.safetensors');
  await writeSafetensorsPieces(file, tensors, { format: 'pt' });
  return { file, bytes: (await stat(file)).size };
}
