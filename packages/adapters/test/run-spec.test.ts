// The run spec: options as given (command-line strings, preset and config
// values) become a defaulted, checked spec, and every error names the flag.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { HUB_DEFAULTS, OptionError, SUITE_DEFAULTS, hubRunSpec, isHubRunSpec, runSpec, suiteRunSpec, type RunGiven } from '../src/index.js';

/** The OptionError message `make` throws. */
function messageOf(make: () => unknown): string {
  try {
    make();
  } catch (e) {
    expect(e).toBeInstanceOf(OptionError);
    return (e as Error).message;
  }
  throw new Error('no error');
}

describe('suiteRunSpec', () => {
  it('fills in the suite defaults, in their order, with out last', () => {
    const spec = suiteRunSpec({ out: 'runs/x' });
    expect(spec).toEqual({ ...SUITE_DEFAULTS, out: 'runs/x' });
    expect(Object.keys(spec)).toEqual([...Object.keys(SUITE_DEFAULTS), 'out']);
  });

  it('reads command-line strings as the spec types, and takes preset values as they are', () => {
    const spec = suiteRunSpec({ out: 'x', k: '50', lr: '0.001', dropout: '0.1', targets: 'l7,l1', fisherEvery: '0', logEvery: '25', schedule: 'fixed:3,1,2,0' });
    expect(spec).toMatchObject({ k: 50, lr: 0.001, dropout: 0.1, targets: ['l7', 'l1'], fisherEvery: 0, logEvery: 25, schedule: 'fixed:3,1,2,0' });
    expect(suiteRunSpec({ ...SUITE_DEFAULTS, out: 'x', steps: 1500 })).toEqual({ ...SUITE_DEFAULTS, out: 'x', steps: 1500 });
  });

  it('refuses a bad option, naming its flag', () => {
    const cases: [RunGiven, RegExp][] = [
      [{ k: '0' }, /^--k must be a positive integer, got 0$/],
      [{ steps: 'many' }, /^--steps must be a positive integer, got many$/],
      [{ batchSize: 2.5 }, /^--batch-size must be a positive integer, got 2.5$/],
      [{ lr: '-1' }, /^--lr must be a positive number, got -1$/],
      [{ fisherEvery: '-1' }, /^--fisher-every must be a non-negative integer, got -1$/],
      [{ logEvery: '0' }, /^--log-every must be a positive integer, got 0$/],
      [{ trainSize: '0' }, /^--train-size must be a positive integer, got 0$/],
      [{ dropout: 1 }, /^--dropout must be in \[0, 1\), got 1$/],
      [{ adapter: 'prefix' }, /^--adapter: unknown adapter 'prefix'; choose seq_bn, double_seq_bn, lora, ia3$/],
      [{ fisherGradients: 'sum' }, /^--fisher-gradients: unknown mode 'sum'; choose batch-mean, per-example$/],
      [{ task: 'poetry' }, /^--task: unknown task 'poetry'; the suite has nli, copa, qa, and with --model Thaw reads xnli, xcopa, squad$/],
      [{ task: 'xnli' }, /^--task xnli is a dataset on real files; give --model, --tokenizer, --lang-adapter and --data too$/],
      [{ tokenizer: 'tokenizer.json' }, /^--tokenizer applies to runs on a real checkpoint; give --model <dir> too$/],
      [{ maxLength: '64' }, /^--max-length applies to runs on a real checkpoint/],
      [{ source: 'xx' }, /^--source: unknown language 'xx'; the suite has src, l1/],
      [{ targets: 'l1,xx' }, /^--targets: unknown language 'xx'/],
      [{ targets: ['src', 'l1'] }, /^--targets must not include the source language 'src'$/],
      [{ languageAdapters: '/nonexistent-thaw' }, /^--lang-adapters: no language adapter for 'src' \(expected \/nonexistent-thaw\/src\/adapter\.safetensors\)/],
      [{ base: '/nonexistent-thaw' }, /^--base \/nonexistent-thaw holds no base model \(model\.json\)/],
      [{ sequence: '100' }, /^--sequence 100 does not fit the base's 32 positions$/],
      [{ schedule: 'sideways' }, /^--schedule: unknown schedule 'sideways'; use standard/],
      [{ schedule: 'fixed:3,3,1,0' }, /^--schedule: fixed:3,3,1,0 must list every layer 0…3 once/],
      [{ out: undefined }, /^--out is required$/],
    ];
    for (const [given, message] of cases) expect(messageOf(() => suiteRunSpec({ out: 'x', ...given })), JSON.stringify(given)).toMatch(message);
  });
});

describe('hubRunSpec', () => {
  let root = '';
  let files: RunGiven = {};

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'thaw-spec-'));
    await mkdir(join(root, 'model'));
    await writeFile(join(root, 'model', 'config.json'), JSON.stringify({ model_type: 'xlm-roberta', num_hidden_layers: 2 }));
    await writeFile(join(root, 'model', 'tokenizer.json'), '{}');
    for (const lang of ['en', 'de', 'sw']) {
      await mkdir(join(root, 'adapters', lang), { recursive: true });
      await writeFile(join(root, 'adapters', lang, 'adapter_config.json'), '{}');
    }
    await mkdir(join(root, 'xnli'));
    for (const file of ['multinli.train.en.tsv', 'xnli.dev.tsv', 'xnli.test.tsv']) await writeFile(join(root, 'xnli', file), '');
    files = {
      out: 'runs/x', model: join(root, 'model'), tokenizer: join(root, 'model', 'tokenizer.json'), data: join(root, 'xnli'),
      langAdapters: ['en', 'de', 'sw'].map((lang) => `${lang}=${join(root, 'adapters', lang)}`),
    };
  });

  it("fills in AdapterHub's recipe; the targets are every language with an adapter but the source", () => {
    const spec = hubRunSpec(files);
    const langAdapters = Object.fromEntries(['en', 'de', 'sw'].map((lang) => [lang, join(root, 'adapters', lang)]));
    expect(spec).toEqual({ ...HUB_DEFAULTS, model: files.model, tokenizer: files.tokenizer, data: files.data, langAdapters, targets: ['de', 'sw'], out: 'runs/x' });
    expect(Object.keys(spec)).toEqual([...Object.keys(HUB_DEFAULTS), 'model', 'tokenizer', 'data', 'langAdapters', 'targets', 'out']);
    // A study config gives the adapters as a mapping, and may set any option; 0 training examples is every one.
    expect(hubRunSpec({ ...files, langAdapters, targets: ['sw'], trainSize: 0, steps: 20 })).toMatchObject({ langAdapters, targets: ['sw'], trainSize: 0, steps: 20 });
    expect(isHubRunSpec(runSpec(files))).toBe(true);
    expect(isHubRunSpec(runSpec({ out: 'x' }))).toBe(false);
  });

  it('refuses a bad option or a missing file, naming its flag', () => {
    const cases: [RunGiven, RegExp][] = [
      [{ base: 'somewhere' }, /^--base applies to the built-in suite; with --model use --lang-adapter, --data and --max-length$/],
      [{ dropout: '0.1' }, /^--dropout applies to the built-in suite/],
      [{ tokenizer: undefined }, /^--model needs --tokenizer$/],
      [{ task: 'nli' }, /^--task nli is a task of the built-in suite; with --model choose xnli, xcopa, squad$/],
      [{ task: 'poetry' }, /^--task: unknown dataset 'poetry'; with --model choose xnli, xcopa, squad$/],
      [{ langAdapters: ['fr'] }, /^--lang-adapter: expected <language code>=<adapter folder>, e.g. en=adapters\/en, got 'fr'$/],
      [{ targets: 'de,fr' }, /^--lang-adapter: no language adapter for 'fr'; give --lang-adapter fr=<AdapterHub folder>$/],
      [{ maxLength: '0' }, /^--max-length must be a positive integer, got 0$/],
      [{ reductionFactor: '-1' }, /^--reduction-factor must be a positive number, got -1$/],
      [{ model: root }, /^--model .*: not a Hugging Face checkpoint folder \(no config\.json\)$/],
      [{ tokenizer: join(root, 'none.json') }, /^--tokenizer .*none\.json: no such file$/],
      [{ task: 'xcopa' }, /^--data .*: no xcopa train file for 'en': looked for en\/train\.en\.jsonl, train\.jsonl, COPA\/train\.jsonl$/],
      [{ schedule: 'fixed:0,1,2' }, /^--schedule: fixed:0,1,2 must list every layer 0…1 once/],
    ];
    for (const [given, message] of cases) expect(messageOf(() => hubRunSpec({ ...files, ...given })), JSON.stringify(given)).toMatch(message);
  });
});
