/**
 * The suite's pretraining pipeline: a multilingual base model by masked-LM
 * on every language's corpus, then a MAD-X language adapter per language
 * with the base frozen. Each writes a run directory (see Trainer) and a
 * loadable artifact next to it:
 *
 *   base:     model.safetensors (encoder + lm_head, Hugging Face names) and model.json
 *             ({ encoder: EncoderConfig, vocabulary: [...] })
 *   adapter:  adapter.safetensors (AdapterHub names) and adapter_config.json
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Graph } from '@thaw/autograd';
import { BottleneckAdapter, type BottleneckConfig } from '../adapters/bottleneck.js';
import { Stack } from '../adapters/stack.js';
import { OptionError } from '../errors/option-error.js';
import { checkStepFits, stepLimits } from '../train/step-size.js';
import { suiteLanguages } from './languages.js';
import { mlmPairs } from './corpus.js';
import { mlmTask } from './mlm.js';
import { WordTokenizer } from './tokenizer.js';
import { MaskedLmHead } from '../heads/heads.js';
import { writeSafetensors } from '../formats/safetensors.js';
import { fillParamsFromSafetensors } from '../checkpoints/fill-params.js';
import { adapterModel } from '../adapters/adapter.js';
import { Encoder, type EncoderConfig } from '../model/encoder.js';
import { writeJsonAtomic } from '../formats/json-files.js';
import { hostTensors, Trainer, type TrainerCallbacks, type TrainSummary } from '../train/trainer.js';

/** Options shared by both stages. */
export interface MlmStageOptions {
  out: string;
  steps: number;
  batchSize: number;
  sequence: number;
  lr: number;
  seed: number;
  /** Sentence pairs per language in the training corpus. */
  pairs: number;
  /** Continue the run in `out` from its last checkpoint (a run stopped by a full disk, say). */
  resume?: boolean;
  /** Read the losses back every n steps (default DEFAULT_LOG_EVERY, train/step.ts). */
  logEvery?: number;
}

export interface PretrainOptions extends MlmStageOptions {
  /** Languages with pretraining data (others are left to their adapters). */
  languages: string[];
  layers: number;
  hidden: number;
  heads: number;
  ffn: number;
}

/** A base model in memory: encoder, its MLM head and the tokenizer. */
export interface BaseModel {
  encoder: Encoder;
  head: MaskedLmHead;
  tokenizer: WordTokenizer;
  dispose(): void;
}



/**
 * One masked-LM stage through the Trainer: dev evaluation five times, and
 * `writeArtifact` called with the best checkpoint's weights restored, so the
 * artifact is the selected model.
 */
async function runStage(
  graph: Graph, task: ReturnType<typeof mlmTask>, o: MlmStageOptions, schedule: 'full' | 'standard',
  extraConfig: Record<string, unknown>, lang: string, writeArtifact: () => Promise<void>, callbacks?: TrainerCallbacks,
): Promise<TrainSummary> {
  const trainer = new Trainer(graph, task.model, task.data, {
    out: o.out, steps: o.steps, lr: o.lr, schedule, k: 1, seed: o.seed, evalEvery: Math.max(1, Math.floor(o.steps / 5)), resume: Boolean(o.resume),
    ...(o.logEvery !== undefined ? { logEvery: o.logEvery } : {}),
    extraConfig: { ...extraConfig, batchSize: o.batchSize, sequence: o.sequence, pairs: o.pairs },
    finalEvaluation: async () => {
      const dev = await task.data.evaluateDev();
      await writeArtifact();
      return { task: 'mlm', metric: 'masked-token accuracy', source: { lang, dev }, targets: {} };
    },
  });
  try {
    return await trainer.run(callbacks);
  } finally {
    trainer.dispose();
  }
}

/**
 * Refuses a masked-LM step that cannot fit the device's buffers or the
 * machine's memory (spec/step-size.ts), naming --batch-size and --sequence,
 * before anything is written.
 */
function checkMlmStep(graph: Graph, o: MlmStageOptions, c: EncoderConfig): void {
  checkStepFits({
    batchSize: o.batchSize, sequencesPerExample: 1, sequence: o.sequence,
    hidden: c.hiddenSize, heads: c.numAttentionHeads, intermediate: c.intermediateSize, vocab: c.vocabSize, embeddingRows: c.vocabSize,
  }, stepLimits(graph.gpu), { batchSize: '--batch-size', sequence: '--sequence' });
}

/** Masked-LM pretraining of a new base on the given languages; writes model.safetensors and model.json. */
export async function pretrainBase(graph: Graph, o: PretrainOptions, callbacks?: TrainerCallbacks): Promise<TrainSummary> {
  const languages = suiteLanguages(o.languages);
  if (o.hidden % 2 || o.hidden % o.heads) throw new OptionError(`--hidden ${o.hidden} must be even (invertible adapters split it in halves) and divisible by --heads ${o.heads}`);
  const tokenizer = new WordTokenizer(suiteLanguages().flatMap((l) => l.vocabulary()));
  const config: EncoderConfig = {
    prefix: 'roberta', vocabSize: tokenizer.size, hiddenSize: o.hidden, numHiddenLayers: o.layers, numAttentionHeads: o.heads,
    intermediateSize: o.ffn, maxPositionEmbeddings: o.sequence + 2, typeVocabSize: 1, layerNormEps: 1e-5,
    hiddenDropoutProb: 0.1, attentionProbsDropoutProb: 0.1, positionOffset: 2, padTokenId: 1,
  };
  checkMlmStep(graph, o, config);
  const encoder = new Encoder(graph, config, o.seed);
  const head = new MaskedLmHead(graph, o.hidden, encoder.param('roberta.embeddings.word_embeddings.weight'), config.layerNormEps, o.seed + 1);
  try {
    const task = mlmTask({
      encoder, head, tokenizer,
      pairs: languages.flatMap((l) => mlmPairs(l, o.seed, o.pairs)),
      devPairs: languages.flatMap((l) => mlmPairs(l, o.seed + 1, Math.max(8, Math.ceil(o.pairs / 20)))),
      batchSize: o.batchSize, sequence: o.sequence, seed: o.seed, blocks: [],
      params: [...encoder.params.values(), ...head.params.values()],
      // The trainer adds the base itself under the `full` schedule.
      checkpoint: head.params,
    });
    return await runStage(graph, task, o, 'full', { stage: 'pretrain', languages: o.languages, encoder: config }, o.languages.join(','), async () => {
      await writeSafetensors(join(o.out, 'model.safetensors'), await hostTensors([...encoder.params, ...head.params]), { stage: 'pretrain' });
      await writeJsonAtomic(join(o.out, 'model.json'), { encoder: config, vocabulary: tokenizer.tokens });
    }, callbacks);
  } finally {
    head.dispose();
    encoder.dispose();
  }
}

/**
 * Loads a base written by {@link pretrainBase}; errors name the file and the
 * tensor. `dropout`, when given, replaces the base's hidden and attention
 * dropout (what its layers do when a task trains on top of them).
 */
export async function loadBase(graph: Graph, dir: string, dropout?: number): Promise<BaseModel> {
  const metaPath = join(dir, 'model.json');
  let meta: { encoder: EncoderConfig; vocabulary: string[] };
  try {
    meta = JSON.parse(await readFile(metaPath, 'utf8')) as typeof meta;
  } catch (e) {
    throw new OptionError(`${metaPath}: cannot read the base model's description (${(e as Error).message}); make one with thaw pretrain`);
  }
  const fields: (keyof EncoderConfig)[] = ['prefix', 'vocabSize', 'hiddenSize', 'numHiddenLayers', 'numAttentionHeads', 'intermediateSize', 'maxPositionEmbeddings', 'typeVocabSize', 'layerNormEps', 'positionOffset', 'padTokenId'];
  const missing = fields.filter((f) => meta.encoder?.[f] === undefined);
  if (missing.length || !Array.isArray(meta.vocabulary)) {
    throw new OptionError(`${metaPath}: not a base model description (missing ${missing.length ? `encoder.${missing.join(', encoder.')}` : 'vocabulary'})`);
  }
  const weightsPath = join(dir, 'model.safetensors');
  const tokenizer = new WordTokenizer(meta.vocabulary);
  const config = dropout === undefined ? meta.encoder : { ...meta.encoder, hiddenDropoutProb: dropout, attentionProbsDropoutProb: dropout };
  const encoder = new Encoder(graph, config, 0);
  const head = new MaskedLmHead(graph, meta.encoder.hiddenSize, encoder.param('roberta.embeddings.word_embeddings.weight'), meta.encoder.layerNormEps, 0);
  try {
    await fillParamsFromSafetensors([...encoder.params, ...head.params], weightsPath, { owner: `the base model of ${metaPath}` });
  } catch (e) {
    head.dispose();
    encoder.dispose();
    throw e;
  }
  return { encoder, head, tokenizer, dispose: () => { head.dispose(); encoder.dispose(); } };
}

/** The MAD-X language adapter configuration: seq_bn, reduction 2, with a NICE invertible adapter. */
export const LANGUAGE_ADAPTER: BottleneckConfig = { architecture: 'seq_bn', reductionFactor: 2, invertible: { reductionFactor: 2 } };

/** Trains a language adapter on one language with the base frozen; writes adapter.safetensors and adapter_config.json. */
export async function trainLanguageAdapter(graph: Graph, base: BaseModel, o: MlmStageOptions & { language: string }, callbacks?: TrainerCallbacks): Promise<TrainSummary> {
  const [language] = suiteLanguages([o.language]) as [ReturnType<typeof suiteLanguages>[number]];
  // Another stream of the language than the base's corpus (same seed, other sentences).
  const corpusSeed = o.seed + 7919;
  const c = base.encoder.config;
  checkMlmStep(graph, o, c);
  const adapter = new BottleneckAdapter(graph, language.code, LANGUAGE_ADAPTER, adapterModel(c), o.seed);
  try {
    const task = mlmTask({
      encoder: base.encoder, head: base.head, tokenizer: base.tokenizer,
      pairs: mlmPairs(language, corpusSeed, o.pairs), devPairs: mlmPairs(language, corpusSeed + 1, Math.max(8, Math.ceil(o.pairs / 20))),
      batchSize: o.batchSize, sequence: o.sequence, seed: o.seed,
      blocks: Array.from({ length: c.numHiddenLayers }, (_, i) => adapter.block(i)),
      params: [...base.encoder.params.values(), ...base.head.params.values(), ...adapter.params.values()],
      adapters: new Stack([adapter]),
      alsoTrainable: [...adapter.invertible!.params.values()],
      // MAD-X trains the adapter alone: the MLM head stays as pretrained.
      trainHead: false,
      checkpoint: adapter.params,
    });
    return await runStage(graph, task, o, 'standard', { stage: 'lang-adapter', language: language.code, adapter: LANGUAGE_ADAPTER }, language.code, async () => {
      await writeSafetensors(join(o.out, 'adapter.safetensors'), await hostTensors(adapter.params), { language: language.code });
      await writeJsonAtomic(join(o.out, 'adapter_config.json'), {
        config: { architecture: 'bottleneck', mh_adapter: false, output_adapter: true, reduction_factor: LANGUAGE_ADAPTER.reductionFactor, non_linearity: 'relu', original_ln_before: true, original_ln_after: true, residual_before_ln: true, inv_adapter: 'nice', inv_adapter_reduction_factor: 2 },
        hidden_size: c.hiddenSize, model_type: 'xlm-roberta', name: language.code, version: 'thaw',
      });
    }, callbacks);
  } finally {
    adapter.dispose();
  }
}
