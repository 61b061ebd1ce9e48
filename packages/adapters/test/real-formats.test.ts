// Hugging Face checkpoints, AdapterHub and PEFT adapter folders: what Thaw
// writes it reads back bit for bit, the real layouts (prefix or not,
// gamma/beta, shards, .bin, legacy adapter names) load, and every malformed
// input gives an InputFileError naming the file and the problem.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BottleneckAdapter, InputFileError, LoraAdapter, hostTensors, loadAdapterHubAdapter, readAdapterHubFolder, loadHfEncoder, loadPeftAdapter, readSafetensors, readTorchStateDict,
  adapterModelClass, saveAdapterHubFolder, saveAdapterHubHead, savePeftAdapter, savedModelName, writeSafetensors, type AdapterHubHead,
  encoderConfigFromHf, encoderParamSpecs, PIECE_BYTES, writeSyntheticCheckpoint, type BottleneckConfig, type HostTensor,
} from '../src/index.js';
import { versionBefore } from '../src/formats/pep440.js';
import { hfConfigJson, tinyXlmrConfig, writeHfCheckpoint, writeLanguageAdapter } from './support/hf-files.js';
import { useGraph } from './support/tiny.js';

const graph = useGraph();

/** The fields of AdapterHub's BnConfig dataclass (configuration/adapter_config.py). */
const BN_CONFIG_FIELDS = [
  'mh_adapter', 'output_adapter', 'reduction_factor', 'non_linearity', 'original_ln_before', 'original_ln_after', 'ln_before', 'ln_after', 'init_weights',
  'init_weights_seed', 'is_parallel', 'scaling', 'use_gating', 'residual_before_ln', 'adapter_residual_before_ln', 'inv_adapter', 'inv_adapter_reduction_factor',
  'cross_adapter', 'leave_out', 'dropout', 'phm_layer', 'phm_dim', 'factorized_phm_W', 'shared_W_phm', 'shared_phm_rule', 'factorized_phm_rule', 'phm_c_init',
  'phm_init_range', 'learn_phm', 'hypercomplex_nonlinearity', 'phm_rank', 'phm_bias', 'stochastic_depth',
];

/** The fields of AdapterHub's LoRAConfig dataclass. */
const LORA_CONFIG_FIELDS = [
  'architecture', 'selfattn_lora', 'intermediate_lora', 'output_lora', 'leave_out', 'r', 'alpha', 'dropout', 'attn_matrices', 'composition_mode', 'init_weights',
  'init_weights_seed', 'use_gating', 'use_dora', 'vera_d', 'vera_b', 'dtype',
];

const tmp = () => mkdtemp(join(tmpdir(), 'thaw-real-'));

/** Every tensor equal bit for bit. */
function expectSameTensors(actual: Map<string, HostTensor>, expected: Map<string, HostTensor>): void {
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [name, t] of expected) {
    expect(actual.get(name)!.shape, name).toEqual(t.shape);
    expect(Buffer.from(actual.get(name)!.data.buffer).equals(Buffer.from(t.data.buffer)), name).toBe(true);
  }
}

/** The error a promise rejects with (fails the test if it resolves). */
async function failure(promise: Promise<unknown>): Promise<Error> {
  const result = await promise.then(() => undefined, (e: unknown) => e as Error);
  if (!result) throw new Error('expected a rejection');
  return result;
}

describe('Hugging Face checkpoints', () => {
  const config = tinyXlmrConfig(40);
  const layouts = [
    { names: 'prefixed', files: 'single' },
    { names: 'bare', gammaBeta: true, files: 'sharded' },
    { names: 'prefixed', files: 'bin', extras: true },
  ] as const;
  for (const layout of layouts) {
    it(`loads ${JSON.stringify(layout)} bit for bit, reporting unused tensors`, async () => {
      const dir = await tmp();
      const weights = await writeHfCheckpoint(dir, config, 3, layout);
      const { encoder, report } = await loadHfEncoder(graph(), dir);
      try {
        expect(encoder.config).toEqual(config);
        expectSameTensors(await hostTensors(encoder.params), weights);
        expect([...encoder.params.values()].every((p) => !p.requiresGrad)).toBe(true);
        expect(report.unexpected).toEqual('extras' in layout ? ['lm_head.bias', 'roberta.pooler.dense.weight'] : []);
        expect(report.files.length).toBe(layout.files === 'sharded' ? 2 : 1);
      } finally {
        encoder.dispose();
      }
    });
  }

  it('streams tensors larger than one piece onto the GPU at their offsets: a synthetic safetensors checkpoint and a .bin, bit for bit', async () => {
    // Word embeddings of 262,200 × 16 float32 = 16.8 MB: two pieces of PIECE_BYTES.
    const big = tinyXlmrConfig(262_200, { numHiddenLayers: 1 });
    expect(4 * big.vocabSize * big.hiddenSize).toBeGreaterThan(PIECE_BYTES);
    const synthetic = await tmp();
    const { file, bytes } = await writeSyntheticCheckpoint(synthetic, big, 'synthetic-tiny', 4);
    expect(encoderConfigFromHf(join(synthetic, 'config.json'), JSON.parse(await readFile(join(synthetic, 'config.json'), 'utf8')) as Record<string, unknown>)).toEqual(big);
    const written = (await readSafetensors(file)).tensors;
    expect([...written.keys()].sort()).toEqual(encoderParamSpecs(big).map((p) => p.name).sort());
    expect(bytes).toBeGreaterThan(4 * big.vocabSize * big.hiddenSize);
    for (const [name, t] of written) {
      const centre = /LayerNorm\.weight$/.test(name) ? 1 : 0;
      expect(t.data.every((v) => Math.abs(v - centre) <= 0.05), name).toBe(true);
      expect(new Set(t.data).size, name).toBeGreaterThan(t.data.length / 2);
    }
    const bin = await tmp();
    const binWeights = await writeHfCheckpoint(bin, big, 6, { files: 'bin' });
    for (const [dir, weights] of [[synthetic, written], [bin, binWeights]] as const) {
      const { encoder } = await loadHfEncoder(graph(), dir);
      try {
        expectSameTensors(await hostTensors(encoder.params), weights);
      } finally {
        encoder.dispose();
      }
    }
  });

  it('maps a BERT config: bert.* names, positions from 0, two token types', async () => {
    const bert = tinyXlmrConfig(30, { prefix: 'bert', positionOffset: 0, padTokenId: 0, typeVocabSize: 2, layerNormEps: 1e-12 });
    const dir = await tmp();
    const weights = await writeHfCheckpoint(dir, bert, 5, { gammaBeta: true });
    const { encoder } = await loadHfEncoder(graph(), dir);
    try {
      expect(encoder.config).toEqual(bert);
      expectSameTensors(await hostTensors(encoder.params), weights);
    } finally {
      encoder.dispose();
    }
  });

  it('reads hidden_act gelu_new and gelu_pytorch_tanh as the tanh form of GELU', async () => {
    for (const act of ['gelu_new', 'gelu_pytorch_tanh']) {
      const dir = await tmp();
      await writeHfCheckpoint(dir, config, 8);
      await writeFile(join(dir, 'config.json'), JSON.stringify({ ...hfConfigJson(config), hidden_act: act }));
      const { encoder } = await loadHfEncoder(graph(), dir);
      expect(encoder.config.hiddenAct, act).toBe('gelu_new');
      encoder.dispose();
    }
  });

  it('refuses malformed checkpoints, naming the file and the problem', async () => {
    const cases: [string, (dir: string) => Promise<void>, RegExp][] = [
      ['architecture', async (d) => writeFile(join(d, 'config.json'), JSON.stringify({ ...hfConfigJson(config), model_type: 'gpt2', architectures: ['GPT2LMHeadModel'] })), /config\.json: model_type "gpt2" is not supported; Thaw loads xlm-roberta, roberta, bert encoders \(the file names GPT2LMHeadModel\)/],
      ['activation', async (d) => writeFile(join(d, 'config.json'), JSON.stringify({ ...hfConfigJson(config), hidden_act: 'relu' })), /config\.json: hidden_act 'relu' is not supported; Thaw's encoder runs gelu \(exact\) or gelu_new \(tanh form\)/],
      ['missing field', async (d) => writeFile(join(d, 'config.json'), JSON.stringify({ ...hfConfigJson(config), hidden_size: undefined })), /config\.json: hidden_size must be a non-negative integer, got undefined/],
      ['heads', async (d) => writeFile(join(d, 'config.json'), JSON.stringify({ ...hfConfigJson(config), num_attention_heads: 3 })), /hidden_size 16 is not a multiple of num_attention_heads 3/],
      ['config json', async (d) => writeFile(join(d, 'config.json'), '{"model_type": '), /config\.json: not valid JSON/],
      ['no weights', async (d) => rm(join(d, 'model.safetensors')), /holds no weights: expected model\.safetensors, model\.safetensors\.index\.json with its shards, or pytorch_model\.bin/],
      ['missing tensor', async (d) => {
        const { tensors } = await readSafetensors(join(d, 'model.safetensors'));
        tensors.delete('roberta.encoder.layer.1.output.dense.weight');
        await writeSafetensors(join(d, 'model.safetensors'), tensors);
      }, /lacks 'roberta\.encoder\.layer\.1\.output\.dense\.weight', which the encoder of config\.json needs/],
      ['wrong shape', async (d) => {
        const { tensors } = await readSafetensors(join(d, 'model.safetensors'));
        tensors.set('roberta.embeddings.word_embeddings.weight', { shape: [41, 16], data: new Float32Array(41 * 16).fill(0.5) });
        await writeSafetensors(join(d, 'model.safetensors'), tensors);
      }, /model\.safetensors: tensor 'roberta\.embeddings\.word_embeddings\.weight' has shape \[41,16\], but the encoder of config\.json needs \[40,16\]/],
      ['index lies', async (d) => {
        await writeFile(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'roberta.pooler.dense.weight': 'model.safetensors' } }));
      }, /model\.safetensors\.index\.json: lists 'roberta\.pooler\.dense\.weight' in model\.safetensors, which does not hold it/],
      ['index path', async (d) => {
        await writeFile(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: '../elsewhere.safetensors' } }));
      }, /weight_map must map tensor names to shard file names in the same folder/],
    ];
    for (const [name, spoil, message] of cases) {
      const dir = await tmp();
      await writeHfCheckpoint(dir, config, 7);
      await spoil(dir);
      const error = await failure(loadHfEncoder(graph(), dir));
      expect(error, name).toBeInstanceOf(InputFileError);
      expect(error.message, name).toMatch(message);
      expect(error.message.startsWith(dir), name).toBe(true);
    }
  });
});

describe('AdapterHub adapter folders', () => {
  const config = tinyXlmrConfig(40);
  const model = { prefix: 'roberta', hiddenSize: 16, intermediateSize: 32, layers: 2 };

  it('loads an AdapterHub 1.x folder (pytorch_adapter.bin) under another name, bit for bit', async () => {
    const dir = await tmp();
    const weights = await writeLanguageAdapter(dir, 'en', config, 11);
    const adapter = await loadAdapterHubAdapter(graph(), dir, model, 'de');
    try {
      expect(adapter.name).toBe('de');
      expect('invertible' in adapter && adapter.invertible).toBeTruthy();
      const renamed = new Map([...weights].map(([n, t]) => [n.replace('.en.', '.de.'), t] as const));
      expectSameTensors(await hostTensors(adapter.params), renamed);
    } finally {
      adapter.dispose();
    }
  });

  it('loads a legacy adapter-transformers folder: no version, nested invertible_adapter, old tensor names', async () => {
    const dir = await tmp();
    const weights = await writeLanguageAdapter(dir, 'sw', config, 12, true);
    const adapter = await loadAdapterHubAdapter(graph(), dir, model);
    try {
      expectSameTensors(await hostTensors(adapter.params), weights);
    } finally {
      adapter.dispose();
    }
  });

  it('reads activations by AdapterHub\'s names, with the legacy renames (gelu → gelu_new, gelu_orig → gelu)', async () => {
    const cases: [boolean, string, string][] = [
      [true, 'gelu', 'gelu_new'], [true, 'gelu_orig', 'gelu'], [false, 'gelu', 'gelu'], [false, 'gelu_new', 'gelu_new'], [false, 'swish', 'swish'], [false, 'silu', 'swish'],
    ];
    for (const [legacy, written, read] of cases) {
      const dir = await tmp();
      await writeLanguageAdapter(dir, 'sw', config, 15, legacy);
      const c = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8')) as { config: Record<string, unknown> };
      c.config.non_linearity = written;
      await writeFile(join(dir, 'adapter_config.json'), JSON.stringify(c));
      const contents = await readAdapterHubFolder(dir, model);
      expect(contents.type.name === 'seq_bn' && (contents.config as BottleneckConfig).nonLinearity, `${written}${legacy ? ' (legacy)' : ''}`).toBe(read);
    }
  });

  it('loads a Houlsby (double_seq_bn, swish) folder as AdapterHub writes it by default', async () => {
    const dir = await tmp();
    const weights = await writeLanguageAdapter(dir, 'en', config, 16);
    // Add the attention-output adapters a Houlsby adapter has, and say so in the config.
    for (const [n, t] of [...weights]) if (n.includes('.output.adapters.')) weights.set(n.replace('.output.adapters.', '.attention.output.adapters.'), { shape: t.shape, data: t.data.map((v) => -v) });
    for (const n of [...weights.keys()]) if (n.includes('invertible')) weights.delete(n);
    await writeSafetensors(join(dir, 'adapter.safetensors'), weights);
    const c = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8')) as { config: Record<string, unknown> };
    Object.assign(c.config, { mh_adapter: true, original_ln_before: false, non_linearity: 'swish', inv_adapter: null });
    await writeFile(join(dir, 'adapter_config.json'), JSON.stringify(c));
    const adapter = await loadAdapterHubAdapter(graph(), dir, model);
    try {
      expect(adapter instanceof BottleneckAdapter && adapter.config).toMatchObject({ architecture: 'double_seq_bn', nonLinearity: 'swish' });
      expectSameTensors(await hostTensors(adapter.params), weights);
    } finally {
      adapter.dispose();
    }
  });

  it('writes the AdapterHub layout (config keys, both weight files) and reads it back bit for bit', async () => {
    const dir = await tmp();
    const weights = await writeLanguageAdapter(dir, 'en', config, 14);
    const adapter = await loadAdapterHubAdapter(graph(), dir, model);
    const out = await tmp();
    await saveAdapterHubFolder(out, adapter, await hostTensors(adapter.params), { modelName: 'tiny-xlm-roberta', modelType: 'xlm-roberta', hiddenSize: 16 });
    adapter.dispose();
    const text = await readFile(join(out, 'adapter_config.json'), 'utf8');
    const file = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(file)).toEqual(['config', 'hidden_size', 'model_class', 'model_name', 'model_type', 'name', 'version']);
    expect(file).toEqual(expect.objectContaining({ hidden_size: 16, model_class: 'XLMRobertaAdapterModel', model_name: 'tiny-xlm-roberta', name: 'en', model_type: 'xlm-roberta', version: 'adapters.1.2.0' }));
    // Every BnConfig field, so that nothing is left to BnConfig's defaults, keys sorted.
    expect(Object.keys(file.config as object)).toEqual([...BN_CONFIG_FIELDS, 'architecture'].sort());
    expect(file.config).toMatchObject({ architecture: null, mh_adapter: false, output_adapter: true, reduction_factor: 2, non_linearity: 'relu', original_ln_before: true, inv_adapter: 'nice', inv_adapter_reduction_factor: 2 });
    // Python reads 1 as an int and AdapterHub's bottleneck refuses an int scaling: float fields carry a decimal point.
    for (const line of ['"scaling": 1.0', '"dropout": 0.0', '"stochastic_depth": 0.0', '"reduction_factor": 2.0', '"inv_adapter_reduction_factor": 2.0', '"phm_init_range": 0.0001', '"phm_dim": 4', '"hidden_size": 16']) {
      expect(text).toContain(`  ${line}`);
    }
    expectSameTensors((await readSafetensors(join(out, 'adapter.safetensors'))).tensors, weights);
    expectSameTensors((await readTorchStateDict(join(out, 'pytorch_adapter.bin'))).tensors, weights);
    const back = await loadAdapterHubAdapter(graph(), out, model);
    try {
      expectSameTensors(await hostTensors(back.params), weights);
    } finally {
      back.dispose();
    }
  });

  it('writes a LoRA config with LoRAConfig\'s types: int r and alpha, float dropout', async () => {
    const lora = new LoraAdapter(graph(), 'xnli', { r: 4, alpha: 8 }, model, 3);
    const out = await tmp();
    await saveAdapterHubFolder(out, lora, await hostTensors(lora.params), { modelName: 'tiny-bert', modelType: 'bert', hiddenSize: 16 });
    lora.dispose();
    const text = await readFile(join(out, 'adapter_config.json'), 'utf8');
    const file = JSON.parse(text) as { config: object; model_class: string };
    expect(file.model_class).toBe('BertAdapterModel');
    expect(Object.keys(file.config)).toEqual(LORA_CONFIG_FIELDS.sort());
    for (const line of ['"r": 4', '"alpha": 8', '"dropout": 0.0']) expect(text).toContain(`    ${line},`);
  });

  it('reads a LoRA saved by adapters < 1.1.0 with alpha = r, as AdapterHub does; other versions keep alpha / r; DoRA, VeRA and leave_out refused', async () => {
    const lora = new LoraAdapter(graph(), 'xnli', { r: 4, alpha: 16 }, model, 3);
    const dir = await tmp();
    await saveAdapterHubFolder(dir, lora, await hostTensors(lora.params), { modelName: 'tiny-xlm-roberta', modelType: 'xlm-roberta', hiddenSize: 16 });
    lora.dispose();
    const file = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    const cases: [string | undefined, number][] = [
      ['adapters.1.0.1', 4], ['adapters.0.1.0', 4], ['adapters.1.1.0rc1', 4], ['adapters.1.1.0.dev0', 4], ['adapters.1.0.1.post2', 4],
      ['adapters.1.1.0', 16], ['adapters.1.1.0.post1', 16], ['adapters.1.2.0', 16], ['adapters.2.0', 16], ['3.2.1', 16], [undefined, 16],
    ];
    for (const [version, alpha] of cases) {
      await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...file, version }));
      const contents = await readAdapterHubFolder(dir, model);
      expect(contents.type.name === 'lora' && contents.config, String(version)).toEqual({ r: 4, alpha });
    }
    for (const [field, value, message] of [
      ['use_dora', true, /config\.use_dora is true; Thaw's LoRA supports only false/],
      ['vera_d', 0.1, /config\.vera_d is 0\.1; Thaw's LoRA supports only null/],
      ['leave_out', [1], /config\.leave_out \[1\] is not supported: Thaw's LoRA covers every layer/],
    ] as const) {
      await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...file, config: { ...(file.config as object), [field]: value } }));
      const refused = await failure(readAdapterHubFolder(dir, model));
      expect(refused, field).toBeInstanceOf(InputFileError);
      expect(refused.message, field).toMatch(message);
    }
    await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...file, version: 'adapters.one' }));
    const error = await failure(readAdapterHubFolder(dir, model));
    expect(error).toBeInstanceOf(InputFileError);
    expect(error.message).toBe(`${join(dir, 'adapter_config.json')}: version "adapters.one" is not "adapters." followed by a PEP 440 version, which AdapterHub's loader requires`);
  });

  it('compares PEP 440 versions with a release as packaging.version does', () => {
    const cases: [string, boolean | undefined][] = [
      ['1.0.1', true], ['1.1', false], ['1.1.0', false], ['1.1.0a1', true], ['1.1.0-rc.2', true], ['1.1.0.dev3', true], ['1.1.0.post1.dev0', false],
      ['1.1.0+local', false], ['1!0.1', false], ['v1.0', true], ['1.10.0', false], ['0.9.99', true], ['1.1.x', undefined], ['', undefined],
    ];
    for (const [version, before] of cases) expect(versionBefore(version, [1, 1, 0]), version).toBe(before);
  });

  it('writes head_config.json with exactly the arguments of AdapterHub\'s head class and the model class', async () => {
    const heads: [AdapterHubHead, string[]][] = [
      [{ head_type: 'classification', num_labels: 3, layers: 2, label2id: { a: 0, b: 1, c: 2 } }, ['num_labels', 'layers', 'activation_function', 'label2id', 'use_pooler', 'bias', 'dropout_prob']],
      [{ head_type: 'multiple_choice', num_choices: 2, layers: 2, label2id: { '0': 0, '1': 1 } }, ['num_choices', 'layers', 'activation_function', 'label2id', 'use_pooler', 'dropout_prob']],
      [{ head_type: 'question_answering', num_labels: 2, layers: 1, label2id: { start: 0, end: 1 } }, ['num_labels', 'layers', 'activation_function', 'label2id', 'dropout_prob']],
    ];
    for (const [head, keywords] of heads) {
      const out = await tmp();
      const tensors = new Map([['heads.t.1.weight', { shape: [2, 16], data: new Float32Array(32).fill(0.5) }]]);
      await saveAdapterHubHead(out, 't', head, tensors, { modelName: 'tiny-xlm-roberta', modelType: 'xlm-roberta', hiddenSize: 16 });
      const file = JSON.parse(await readFile(join(out, 'head_config.json'), 'utf8')) as { config: Record<string, unknown> };
      expect(file).toMatchObject({ model_class: 'XLMRobertaAdapterModel', model_name: 'tiny-xlm-roberta', model_type: 'xlm-roberta', name: 't', hidden_size: 16 });
      expect(Object.keys(file.config).sort(), head.head_type).toEqual(['head_type', ...keywords].sort());
      expect(file.config).toMatchObject({ ...head, activation_function: 'tanh', dropout_prob: null });
      expectSameTensors((await readSafetensors(join(out, 'model_head.safetensors'))).tensors, tensors);
      expectSameTensors((await readTorchStateDict(join(out, 'pytorch_model_head.bin'))).tensors, tensors);
    }
  });

  it('names the base model by _name_or_path, else by its folder\'s name, never by the path it was given by', () => {
    expect(savedModelName('/data/models/xlm-roberta-base/', {})).toBe('xlm-roberta-base');
    expect(savedModelName('checkpoints/tiny', { _name_or_path: '' })).toBe('tiny');
    expect(savedModelName('.', {})).toBe(basename(process.cwd()));
    expect(savedModelName('/data/models/x', { _name_or_path: 'FacebookAI/xlm-roberta-base' })).toBe('FacebookAI/xlm-roberta-base');
    expect(adapterModelClass('roberta')).toBe('RobertaAdapterModel');
    expect(() => adapterModelClass('gpt2')).toThrow(/no AdapterHub model class is known for model_type "gpt2"/);
  });

  it('refuses configs Thaw would compute differently, and broken folders', async () => {
    const cases: [string, (dir: string, c: Record<string, unknown>) => Promise<void> | void, RegExp][] = [
      ['leave_out', (_d, c) => { (c.config as Record<string, unknown>).leave_out = [1]; }, /config\.leave_out \[1\] is not supported/],
      ['ln_before', (_d, c) => { (c.config as Record<string, unknown>).ln_before = true; }, /config\.ln_before is true; Thaw's bottleneck adapters support only false/],
      ['activation', (_d, c) => { (c.config as Record<string, unknown>).non_linearity = 'leakyrelu'; }, /config\.non_linearity 'leakyrelu' is not supported; Thaw's adapters use relu, gelu, gelu_new, swish/],
      ['prefix tuning', (_d, c) => { (c.config as Record<string, unknown>).architecture = 'prefix_tuning'; }, /config\.architecture "prefix_tuning" is not a type Thaw reads from AdapterHub folders; it reads seq_bn, double_seq_bn, lora, ia3/],
      ['per-layer rf', (_d, c) => { (c.config as Record<string, unknown>).reduction_factor = { default: 2, '1': 4 }; }, /varies by layer/],
      ['required field', (_d, c) => { delete (c.config as Record<string, unknown>).mh_adapter; }, /config\.mh_adapter is missing; AdapterHub's BnConfig requires it/],
      ['flag type', (_d, c) => { (c.config as Record<string, unknown>).original_ln_before = 'yes'; }, /config\.original_ln_before must be true or false, got "yes"/],
      ['no output adapter', (_d, c) => { (c.config as Record<string, unknown>).output_adapter = false; }, /config\.output_adapter is false; Thaw reads bottlenecks after the FFN/],
      ['hidden size', (_d, c) => { c.hidden_size = 768; }, /hidden_size 768 does not match the model's 16/],
      ['no config object', (_d, c) => { delete c.config; }, /has no 'config' object/],
      ['no weights', async (d) => rm(join(d, 'pytorch_adapter.bin')), /holds no adapter weights: expected adapter\.safetensors or pytorch_adapter\.bin/],
      ['missing weight', async (d) => {
        const { tensors } = await readTorchStateDict(join(d, 'pytorch_adapter.bin'));
        tensors.delete('roberta.encoder.layer.0.output.adapters.en.adapter_up.bias');
        await writeSafetensors(join(d, 'adapter.safetensors'), tensors);
      }, /lacks 'roberta\.encoder\.layer\.0\.output\.adapters\.en\.adapter_up\.bias', which the seq_bn adapter of adapter_config\.json needs/],
      ['extra weight', async (d) => {
        const { tensors } = await readTorchStateDict(join(d, 'pytorch_adapter.bin'));
        tensors.set('roberta.encoder.layer.0.attention.output.adapters.en.adapter_up.bias', { shape: [16], data: new Float32Array(16).fill(0.25) });
        await writeSafetensors(join(d, 'adapter.safetensors'), tensors);
      }, /holds 'roberta\.encoder\.layer\.0\.attention\.output\.adapters\.en\.adapter_up\.bias', which the seq_bn adapter of adapter_config\.json does not have/],
      ['not a folder', async (d) => rm(join(d, 'adapter_config.json')), /is not an AdapterHub adapter folder: it has no adapter_config\.json/],
    ];
    for (const [name, spoil, message] of cases) {
      const dir = await tmp();
      await writeLanguageAdapter(dir, 'en', config, 13);
      const c = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      await spoil(dir, c);
      if (name !== 'not a folder') await writeFile(join(dir, 'adapter_config.json'), JSON.stringify(c));
      const error = await failure(loadAdapterHubAdapter(graph(), dir, model));
      expect(error, name).toBeInstanceOf(InputFileError);
      expect(error.message, name).toMatch(message);
      expect(error.message.startsWith(dir), name).toBe(true);
    }
  });
});

describe('PEFT LoRA folders', () => {
  const model = { prefix: 'roberta', hiddenSize: 16, intermediateSize: 32, layers: 2 };

  /** A LoRA adapter whose B is not zero, saved as a PEFT folder; its weights under Thaw's names. */
  async function savedLora(dir: string): Promise<Map<string, HostTensor>> {
    const lora = new LoraAdapter(graph(), 'xnli', { r: 4, alpha: 8 }, model, 3);
    const weights = await hostTensors(lora.params);
    for (const t of weights.values()) t.data.forEach((v, i) => (t.data[i] = v + 0.03 * Math.sin(i)));
    await savePeftAdapter(dir, lora, weights, { modelName: 'tiny-xlm-roberta', modelType: 'xlm-roberta' }, 'SEQ_CLS');
    lora.dispose();
    return weights;
  }

  it('writes PEFT names and config, and reads them back bit for bit', async () => {
    const dir = await tmp();
    const weights = await savedLora(dir);
    const saved = await readSafetensors(join(dir, 'adapter_model.safetensors'));
    expect(saved.metadata).toEqual({ format: 'pt' });
    expect([...saved.tensors.keys()]).toContain('base_model.model.roberta.encoder.layer.0.attention.self.query.lora_A.weight');
    expect(saved.tensors.get('base_model.model.roberta.encoder.layer.1.attention.self.value.lora_B.weight')!.shape).toEqual([16, 4]);
    const text = await readFile(join(dir, 'adapter_config.json'), 'utf8');
    const c = JSON.parse(text) as Record<string, unknown>;
    expect(c).toMatchObject({ peft_type: 'LORA', task_type: 'SEQ_CLS', base_model_name_or_path: 'tiny-xlm-roberta', r: 4, lora_alpha: 8, target_modules: ['query', 'value'], bias: 'none' });
    // LoraConfig types r and lora_alpha int, lora_dropout float.
    for (const line of ['"r": 4', '"lora_alpha": 8', '"lora_dropout": 0.0']) expect(text).toContain(`  ${line},`);
    const back = await loadPeftAdapter(graph(), dir, model, 'xnli');
    try {
      expectSameTensors(await hostTensors(back.params), weights);
      expect(back instanceof LoraAdapter && back.config).toEqual({ r: 4, alpha: 8 });
    } finally {
      back.dispose();
    }
  });

  it('reads a folder saved from a bare base model (names without the roberta. prefix)', async () => {
    const dir = await tmp();
    const weights = await savedLora(dir);
    const path = join(dir, 'adapter_model.safetensors');
    const saved = (await readSafetensors(path)).tensors;
    await writeSafetensors(path, new Map([...saved].map(([n, t]) => [n.replace('base_model.model.roberta.', 'base_model.model.'), t] as const)));
    const back = await loadPeftAdapter(graph(), dir, model, 'xnli');
    try {
      expectSameTensors(await hostTensors(back.params), weights);
    } finally {
      back.dispose();
    }
  });

  it('refuses LoRA variants Thaw does not compute, and foreign tensors', async () => {
    const cases: [string, (dir: string, c: Record<string, unknown>) => Promise<void> | void, RegExp][] = [
      ['targets', (_d, c) => { c.target_modules = ['query', 'key', 'value']; }, /target_modules \["query","key","value"\] is not supported/],
      ['dora', (_d, c) => { c.use_dora = true; }, /use_dora is true; Thaw's LoRA supports only false/],
      ['type', (_d, c) => { c.peft_type = 'IA3'; }, /peft_type "IA3" is not a type Thaw reads from PEFT folders; it reads lora/],
      ['rank pattern', (_d, c) => { c.rank_pattern = { query: 2 }; }, /rank_pattern \{"query":2\} is not supported/],
      ['foreign tensor', async (d) => {
        const { tensors } = await readSafetensors(join(d, 'adapter_model.safetensors'));
        tensors.set('base_model.model.classifier.dense.weight', { shape: [2], data: new Float32Array([1, 2]) });
        await writeSafetensors(join(d, 'adapter_model.safetensors'), tensors);
      }, /tensor 'base_model\.model\.classifier\.dense\.weight' is not a lora weight PEFT saves/],
    ];
    for (const [name, spoil, message] of cases) {
      const dir = await tmp();
      await savedLora(dir);
      const c = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      await spoil(dir, c);
      await writeFile(join(dir, 'adapter_config.json'), JSON.stringify(c));
      const error = await failure(loadPeftAdapter(graph(), dir, model, 'xnli'));
      expect(error, name).toBeInstanceOf(InputFileError);
      expect(error.message, name).toMatch(message);
    }
  });
});
