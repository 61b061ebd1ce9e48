// End to end on real formats: a tiny XLM-R-shaped checkpoint with Hugging
// Face tensor names, its tokenizer.json, AdapterHub MAD-X language adapters
// for three languages and small XNLI / XCOPA / SQuAD files, all written here
// in the real layouts, through `thaw train --model … --schedule fun`, then
// `thaw eval`, then `thaw study --config`.
import { existsSync, readdirSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { HfTokenizer, readAdapterHubFolder, readSafetensors, readTorchStateDict } from '../packages/adapters/src/index.js';
import { PickleWriter } from '../packages/adapters/src/formats/pickle.js';
import { writeZip } from '../packages/adapters/src/formats/zip.js';
import { tinyXlmrConfig, writeHfCheckpoint, writeLanguageAdapter } from '../packages/adapters/test/support/hf-files.js';
import { writeXlmrTokenizer } from '../packages/adapters/test/support/tokenizer-files.js';
import { LEXICON, NAMES, writeSquad, writeXcopa, writeXnli, type Lang } from './support/real-datasets.js';
import { errorLines, thaw } from './support/thaw.js';

let root: string;
/** The options every run shares: model, tokenizer, language adapters. */
let common: string[];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'thaw-real-e2e-'));
  const words = new Set([...NAMES, '.', ...Object.values(LEXICON).flatMap((w) => Object.values(w))]);
  const tokenizerPath = writeXlmrTokenizer(join(root, 'model'), words);
  const tokenizer = await HfTokenizer.load(tokenizerPath);
  const config = tinyXlmrConfig(tokenizer.vocabSize);
  await writeHfCheckpoint(join(root, 'model'), config, 1, { extras: true });
  for (const [i, lang] of (Object.keys(LEXICON) as Lang[]).entries()) await writeLanguageAdapter(join(root, 'adapters', lang), lang, config, 10 + i, lang === 'sw');
  for (const [task, write] of [['xnli', writeXnli], ['xcopa', writeXcopa], ['squad', writeSquad]] as const) {
    await mkdir(join(root, 'data', task), { recursive: true });
    await write(join(root, 'data', task));
  }
  common = ['--model', join(root, 'model'), '--tokenizer', tokenizerPath, ...(Object.keys(LEXICON) as Lang[]).flatMap((l) => ['--lang-adapter', `${l}=${join(root, 'adapters', l)}`])];
});

/** The options of a short fun run of `task`. */
const funRun = (task: string, out: string) => [
  'train', ...common, '--task', task, '--data', join(root, 'data', task), '--schedule', 'fun', '--k', '2', '--steps', '6', '--batch-size', '4',
  '--eval-every', '3', '--fisher-every', '2', '--fisher-batches', '1', '--max-length', '40', '--lr', '1e-3', '--out', out, '--json',
];

describe('thaw on real formats (tiny XLM-R, AdapterHub adapters, dataset files)', () => {
  for (const task of ['xnli', 'xcopa', 'squad'] as const) {
    it(`${task}: train --schedule fun, export for PyTorch, eval reproduces the results`, async () => {
      const out = join(root, 'runs', task);
      const trained = await thaw(...funRun(task, out));
      expect(errorLines(trained.stderr).filter((l) => !l.startsWith('loaded ')), trained.stderr).toEqual([]);
      expect(trained.code, trained.stderr).toBe(0);
      expect(trained.stderr).toMatch(/loaded .*model\.safetensors; unused: 2 tensor\(s\) \(lm_head\.bias, roberta\.pooler\.dense\.weight\)/);
      const results = JSON.parse(trained.stdout);
      expect(results).toMatchObject({ out, task, metric: task === 'squad' ? 'f1' : 'accuracy', source: { lang: 'en' } });
      expect(Object.keys(results.targets)).toEqual(['de', 'sw']);
      for (const v of [results.source.dev, results.source.test, results.targets.de, results.targets.sw]) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
      // FUN unfroze blocks by tr(F), which the log tracks per block.
      const log = (await readFile(join(out, 'log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { fisher?: number[] });
      expect(log.some((e) => e.fisher?.length === 2 && e.fisher.every((x) => x >= 0))).toBe(true);
      const events = (await readFile(join(out, 'events.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { step: number; blocks: number[]; policy: string; scores?: Record<string, number> });
      expect(events.map((e) => [e.step, e.blocks, e.policy])).toEqual([[0, [1], 'fun'], [2, [0], 'fun']]);
      expect(Object.keys(events[1]!.scores!)).toEqual(['0', '1']);
      // The trained task adapter, in AdapterHub's layout, holds the best checkpoint's weights.
      const exported = join(out, 'adapterhub', task);
      for (const f of ['adapter_config.json', 'adapter.safetensors', 'pytorch_adapter.bin', 'head_config.json', 'model_head.safetensors', 'pytorch_model_head.bin']) {
        expect(existsSync(join(exported, f)), f).toBe(true);
      }
      // The configs load in AdapterHub: its model class, a float scaling.
      expect(JSON.parse(await readFile(join(exported, 'head_config.json'), 'utf8'))).toMatchObject({ model_class: 'XLMRobertaAdapterModel', model_name: 'tiny-xlm-roberta', name: task });
      expect(await readFile(join(exported, 'adapter_config.json'), 'utf8')).toContain('"scaling": 1.0,');
      const best = (await readSafetensors(join(out, 'checkpoints/best/adapter.safetensors'))).tensors;
      const folder = await readAdapterHubFolder(exported, { prefix: 'roberta', hiddenSize: 16, intermediateSize: 32, layers: 2 });
      expect(folder.name).toBe(task);
      for (const [name, t] of folder.tensors) expect(Buffer.from(t.data.buffer).equals(Buffer.from(best.get(name)!.data.buffer)), name).toBe(true);
      for (const [name, t] of (await readTorchStateDict(join(exported, 'pytorch_model_head.bin'))).tensors) {
        expect(name.startsWith(`heads.${task}.`), name).toBe(true);
        expect(Buffer.from(t.data.buffer).equals(Buffer.from(best.get(name)!.data.buffer)), name).toBe(true);
      }
      const evaluated = await thaw('eval', out, '--json');
      expect(evaluated.code, evaluated.stderr).toBe(0);
      const { out: _out, ...trainedResults } = results;
      expect(JSON.parse(evaluated.stdout)).toEqual(trainedResults);
    });
  }

  it('--adapter ia3: (IA)³ trains under fun, exports in AdapterHub\'s ia3 layout (no PEFT folder), and eval reproduces the results', async () => {
    const out = join(root, 'runs', 'xnli-ia3');
    const trained = await thaw(...funRun('xnli', out), '--adapter', 'ia3');
    expect(trained.code, trained.stderr).toBe(0);
    const events = (await readFile(join(out, 'events.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { step: number; blocks: number[] });
    expect(events.map((e) => [e.step, e.blocks])).toEqual([[0, [1]], [2, [0]]]);
    const exported = join(out, 'adapterhub', 'xnli');
    const file = JSON.parse(await readFile(join(exported, 'adapter_config.json'), 'utf8'));
    expect(file).toMatchObject({ model_class: 'XLMRobertaAdapterModel', name: 'xnli', config: { architecture: 'lora', composition_mode: 'scale', attn_matrices: ['k', 'v'], intermediate_lora: true, r: 1 } });
    expect(existsSync(join(out, 'peft'))).toBe(false);
    const folder = await readAdapterHubFolder(exported, { prefix: 'roberta', hiddenSize: 16, intermediateSize: 32, layers: 2 });
    expect(folder.type.name).toBe('ia3');
    const best = (await readSafetensors(join(out, 'checkpoints/best/adapter.safetensors'))).tensors;
    expect([...folder.tensors.keys()].sort()).toEqual([...best.keys()].filter((n) => n.includes('.loras.')).sort());
    const evaluated = await thaw('eval', out, '--json');
    expect(evaluated.code, evaluated.stderr).toBe(0);
    const { out: _out, ...trainedResults } = JSON.parse(trained.stdout);
    expect(JSON.parse(evaluated.stdout)).toEqual(trainedResults);
  });

  it('--schedule full also exports the fine-tuned encoder as a Hugging Face checkpoint', async () => {
    const out = join(root, 'runs', 'xnli-full');
    const trained = await thaw(...funRun('xnli', out).map((a) => (a === 'fun' ? 'full' : a)));
    expect(trained.code, trained.stderr).toBe(0);
    const best = (await readSafetensors(join(out, 'checkpoints/best/adapter.safetensors'))).tensors;
    const exported = (await readSafetensors(join(out, 'model', 'model.safetensors'))).tensors;
    expect([...exported.keys()]).toContain('roberta.encoder.layer.1.output.dense.weight');
    for (const [name, t] of exported) expect(Buffer.from(t.data.buffer).equals(Buffer.from(best.get(name)!.data.buffer)), name).toBe(true);
    // The folder is a checkpoint Thaw itself loads: train on it.
    const again = await thaw(...funRun('xnli', join(root, 'runs', 'xnli-on-full')).map((a) => (a === join(root, 'model') ? join(out, 'model') : a)));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/loaded .*xnli-full\/model\/model\.safetensors/);
  });

  it('study --config (YAML) runs each schedule on real files and writes the report', async () => {
    const config = join(root, 'study.yaml');
    await writeFile(config, [
      'model: model', `tokenizer: ${join(root, 'model', 'tokenizer.json')}`, 'task: xnli', 'data: data/xnli', 'source: en',
      'languages:', '  en: adapters/en', '  de: adapters/de', '  sw: adapters/sw',
      'schedules: [standard, fun]', 'seeds: 1', 'k: 2', 'steps: 4', 'batchSize: 4', 'evalEvery: 2', 'fisherEvery: 2', 'fisherBatches: 1', 'maxLength: 40', '',
    ].join('\n'));
    const out = join(root, 'study');
    const { stdout, stderr, code } = await thaw('study', '--config', config, '--out', out, '--json');
    expect(code, stderr).toBe(0);
    const results = JSON.parse(stdout);
    expect(results).toMatchObject({ task: 'xnli', source: 'en', targets: ['de', 'sw'], preset: 'config', seeds: [1] });
    expect(Object.keys(results.schedules)).toEqual(['standard', 'fun']);
    for (const schedule of ['standard', 'fun']) expect(readdirSync(join(out, 'runs', schedule))).toEqual(['seed-1']);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
  });

  it('bad input: a one-line error naming the option or file, exit code 1, nothing written', async () => {
    const out = join(root, 'runs', 'bad');
    // A language adapter whose weights file asks the unpickler to run a shell command.
    const hostile = join(root, 'adapters', 'de-hostile');
    await cp(join(root, 'adapters', 'de'), hostile, { recursive: true });
    await rm(join(hostile, 'pytorch_adapter.bin'));
    const pickle = new PickleWriter().global('os', 'system').mark().string(`touch ${join(root, 'pwned')}`).tuple().reduce().stop();
    await writeZip(join(hostile, 'pytorch_adapter.bin'), [{ name: 'archive/data.pkl', data: pickle }, { name: 'archive/version', data: Buffer.from('3\n') }]);
    // XTREME's copies of test sets come without answers: refused before training.
    const unanswered = join(root, 'data', 'squad-unanswered');
    await cp(join(root, 'data', 'squad'), unanswered, { recursive: true });
    const xquad = JSON.parse(await readFile(join(unanswered, 'xquad.sw.json'), 'utf8')) as { data: { paragraphs: { qas: { answers: unknown[] }[] }[] }[] };
    for (const p of xquad.data[0]!.paragraphs) for (const q of p.qas) q.answers = [];
    await writeFile(join(unanswered, 'xquad.sw.json'), JSON.stringify(xquad));
    const badConfig = join(root, 'bad-study.json');
    await writeFile(badConfig, JSON.stringify({ model: 'model', tokenizer: join(root, 'model', 'tokenizer.json'), task: 'xnli', data: 'data/xnli', languages: { en: 'adapters/en', de: 'adapters/de' }, fisherEstimator: 'argmx' }));
    const cases: [string[], RegExp][] = [
      [[...funRun('squad', out).map((a) => (a === join(root, 'data', 'squad') ? unanswered : a))], /xquad\.sw\.json: question 'sw-60' has no answer; scoring needs the gold answers/],
      [['study', '--config', badConfig, '--out', out], /--fisher-estimator: unknown estimator 'argmx'; choose argmax, sample/],
      [[...funRun('xnli', out).map((a) => a.replace(join(root, 'adapters', 'de'), hostile))], /de-hostile\/pytorch_adapter\.bin: archive\/data\.pkl: global os\.system is not allowed/],
      [['train', '--model', join(root, 'model'), '--task', 'xnli', '--data', join(root, 'data', 'xnli'), '--out', out], /--model needs --tokenizer/],
      [[...funRun('xnli', out), '--lang-adapter', 'fr'], /--lang-adapter.*expected <language code>=<adapter folder>/],
      [[...funRun('xnli', out), '--targets', 'de,fr'], /--lang-adapter: no language adapter for 'fr'; give --lang-adapter fr=<AdapterHub folder>/],
      [[...funRun('xcopa', out).map((a) => (a === join(root, 'data', 'xcopa') ? join(root, 'data', 'xnli') : a))], /--data .*: no xcopa train file for 'en': looked for en\/train\.en\.jsonl, train\.jsonl, COPA\/train\.jsonl/],
      [[...funRun('xnli', out), '--base', 'somewhere'], /--base applies to the built-in suite; with --model use --lang-adapter, --data and --max-length/],
      [['train', '--task', 'squad', '--out', out], /--task squad is a dataset on real files; give --model, --tokenizer, --lang-adapter and --data too/],
      [['study', '--config', join(root, 'model', 'config.json'), '--out', out], /config\.json: unknown key 'architectures'; a study config has model, tokenizer/],
    ];
    for (const [args, message] of cases) {
      const { stderr, code } = await thaw(...args);
      expect(code, args.join(' ')).toBe(1);
      const lines = errorLines(stderr);
      expect(lines[0], args.join(' ')).toMatch(message);
      expect(existsSync(out), args.join(' ')).toBe(false);
    }
    expect(existsSync(join(root, 'pwned'))).toBe(false);
    // --overwrite never deletes a folder that is not a Thaw run, such as the model's.
    const model = join(root, 'model');
    const { stderr, code } = await thaw(...funRun('xnli', model), '--overwrite');
    expect(code).toBe(1);
    expect(errorLines(stderr)[0]).toMatch(/--out .*model holds a config\.json that Thaw did not write \(a model folder\?\); choose another --out/);
    expect(existsSync(join(model, 'model.safetensors'))).toBe(true);
  });
});
