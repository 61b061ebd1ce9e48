// thaw study --config: JSON and YAML study files, relative paths, defaults,
// and an error naming the file and the key for every malformed setting.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputFileError, readStudyConfig } from '../src/index.js';

const MINIMAL = { model: 'xlmr', tokenizer: 'xlmr/tokenizer.json', task: 'xcopa', data: 'XCOPA', languages: { en: 'a/en', qu: '/abs/qu', ht: 'a/ht' } };

async function configFile(name: string, text: string): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'thaw-config-')), name);
  await writeFile(path, text);
  return path;
}

describe('study config files', () => {
  it('reads YAML with relative paths, and the run options as given', async () => {
    const path = await configFile('study.yaml', [
      'model: xlmr', 'tokenizer: xlmr/tokenizer.json', 'task: xnli', 'data: XNLI', 'source: en',
      'languages:', '  en: adapters/en', '  de: /data/adapters/de', 'schedules: [gu, fun]', 'seeds: [4, 9]', 'k: 250', 'lr: 0.0003', 'adapter: double_seq_bn', '',
    ].join('\n'));
    const dir = join(path, '..');
    const c = await readStudyConfig(path);
    expect(c.schedules).toEqual(['gu', 'fun']);
    expect(c.seeds).toEqual([4, 9]);
    // As given: hubRunSpec fills in the defaults.
    expect(c.run).toEqual({
      source: 'en', k: 250, lr: 0.0003, adapter: 'double_seq_bn',
      model: join(dir, 'xlmr'), tokenizer: join(dir, 'xlmr/tokenizer.json'), task: 'xnli', data: join(dir, 'XNLI'),
      langAdapters: { en: join(dir, 'adapters/en'), de: '/data/adapters/de' },
    });
  });

  it('reads JSON; seeds as a count, schedules by default, targets only when given', async () => {
    const c = await readStudyConfig(await configFile('study.json', JSON.stringify({ ...MINIMAL, seeds: 2, source: 'en' })));
    expect(c.seeds).toEqual([1, 2]);
    expect(c.schedules).toEqual(['standard', 'lpft', 'gu', 'fun', 'rand']);
    expect(c.run.targets).toBeUndefined();
    expect((await readStudyConfig(await configFile('study.json', JSON.stringify({ ...MINIMAL, targets: ['ht'] })))).run.targets).toEqual(['ht']);
    expect(c.run.langAdapters.qu).toBe('/abs/qu');
  });

  it('refuses malformed settings, naming the file and the key', async () => {
    const cases: [string, string, RegExp][] = [
      ['study.json', '{"model": ', /not valid JSON/],
      ['study.yaml', 'model: [unclosed', /not valid YAML/],
      ['study.json', '[1, 2]', /expected a mapping of study settings/],
      ['study.json', JSON.stringify({ ...MINIMAL, stpes: 10 }), /unknown key 'stpes'; a study config has model, tokenizer/],
      ['study.json', JSON.stringify({ ...MINIMAL, steps: 'many' }), /'steps' must be an integer, got "many"/],
      ['study.json', JSON.stringify({ ...MINIMAL, lr: null }), /'lr' must be a number, got null/],
      ['study.json', JSON.stringify({ ...MINIMAL, model: undefined }), /'model' must be a non-empty string, got undefined/],
      ['study.json', JSON.stringify({ ...MINIMAL, languages: ['en'] }), /'languages' must map language codes to AdapterHub adapter folders/],
      ['study.json', JSON.stringify({ ...MINIMAL, targets: 'qu' }), /'targets' must be a list of language codes, got "qu"/],
      ['study.json', JSON.stringify({ ...MINIMAL, schedules: [] }), /'schedules' must be a non-empty list of schedule names/],
      ['study.json', JSON.stringify({ ...MINIMAL, seeds: 0 }), /'seeds' must be a positive count or a list of seeds, got 0/],
      ['study.json', '', /not valid JSON/],
    ];
    for (const [name, text, message] of cases) {
      const path = await configFile(name, text);
      const error = await readStudyConfig(path).then(() => undefined, (e: unknown) => e as Error);
      expect(error, text).toBeInstanceOf(InputFileError);
      expect(error!.message, text).toMatch(message);
      expect(error!.message.startsWith(`${path}: `), text).toBe(true);
    }
    await expect(readStudyConfig('/no/such/study.yaml')).rejects.toThrow(/\/no\/such\/study\.yaml: cannot read/);
  });
});
