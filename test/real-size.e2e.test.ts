// End to end at the research's real size: an XLM-R-base-shaped checkpoint
// (vocabulary 250,002, hidden 768, 12 heads; one layer, random weights),
// whose word embeddings (768 MB) are six times what lavapipe binds at once
// (128 MiB), AdapterHub MAD-X language adapters of the same width and tiny
// XNLI files; `thaw train --schedule fun` then `thaw eval` on this machine's
// adapter. The files take about 0.8 GB of disk, removed afterwards.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYNTHETIC_ENCODERS, writeSyntheticCheckpoint, type EncoderConfig } from '../packages/adapters/src/index.js';
import { writeLanguageAdapter } from '../packages/adapters/test/support/hf-files.js';
import { writeXlmrTokenizer } from '../packages/adapters/test/support/tokenizer-files.js';
import { LEXICON, NAMES, writeXnli, type Lang } from './support/real-datasets.js';
import { errorLines, thaw } from './support/thaw.js';

/** XLM-R base's shape with one layer. */
const CONFIG: EncoderConfig = { ...SYNTHETIC_ENCODERS['xlmr-base'], numHiddenLayers: 1 };

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'thaw-real-size-'));
  const model = join(root, 'model');
  const { bytes } = await writeSyntheticCheckpoint(model, CONFIG, 'xlm-roberta-base-shaped');
  expect(bytes).toBeGreaterThan(768_000_000);
  writeXlmrTokenizer(model, new Set([...NAMES, '.', ...Object.values(LEXICON).flatMap((w) => Object.values(w))]));
  for (const [i, lang] of (Object.keys(LEXICON) as Lang[]).entries()) await writeLanguageAdapter(join(root, 'adapters', lang), lang, CONFIG, 10 + i);
  await mkdir(join(root, 'data'), { recursive: true });
  await writeXnli(join(root, 'data'));
}, 300_000);

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('XLM-R-base-sized embeddings (768 MB) on this machine\'s adapter', () => {
  it('train --schedule fun (4 steps) and eval succeed, and eval reproduces the results', async () => {
    const out = join(root, 'run');
    const trained = await thaw(
      'train', '--model', join(root, 'model'), '--tokenizer', join(root, 'model', 'tokenizer.json'),
      ...(Object.keys(LEXICON) as Lang[]).flatMap((l) => ['--lang-adapter', `${l}=${join(root, 'adapters', l)}`]),
      '--task', 'xnli', '--data', join(root, 'data'), '--schedule', 'fun', '--k', '2', '--steps', '4', '--batch-size', '4',
      '--eval-every', '4', '--fisher-every', '2', '--fisher-batches', '1', '--max-length', '40', '--out', out, '--json',
    );
    expect(errorLines(trained.stderr).filter((l) => !l.startsWith('loaded ')), trained.stderr).toEqual([]);
    expect(trained.code, trained.stderr).toBe(0);
    const results = JSON.parse(trained.stdout);
    expect(Object.keys(results.targets)).toEqual(['de', 'sw']);
    const log = (await readFile(join(out, 'log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { loss: number; fisher?: number[] });
    expect(log).toHaveLength(4);
    expect(log.every((l) => Number.isFinite(l.loss))).toBe(true);
    // FUN scored the one block by tr(F) at step 0 (the head and the top adapter start trainable).
    expect(log[0]!.fisher).toHaveLength(1);
    expect(log[0]!.fisher![0]).toBeGreaterThan(0);
    const evaluated = await thaw('eval', out, '--json');
    expect(evaluated.code, evaluated.stderr).toBe(0);
    const { out: _out, ...trainedResults } = results;
    expect(JSON.parse(evaluated.stdout)).toEqual(trainedResults);
  }, 600_000);
});
