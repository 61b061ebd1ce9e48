// Where the datasets on real files look for their files, and how QA answers are normalised per file.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DATASET_TASKS, InputFileError, datasetFile } from '../src/index.js';
import { answerNormalisation } from '../src/hub/tasks.js';
import { HfTokenizer } from '../src/formats/hf-tokenizer.js';
import { writeXlmrTokenizer } from './support/tokenizer-files.js';

describe('dataset files', () => {
  it('finds a split in the distribution\'s own folders, and the English datasets only for English', async () => {
    const data = await mkdtemp(join(tmpdir(), 'thaw-data-'));
    await mkdir(join(data, 'XNLI-MT-1.0', 'multinli'), { recursive: true });
    await writeFile(join(data, 'XNLI-MT-1.0', 'multinli', 'multinli.train.de.tsv'), 'premise\thypo\tlabel\n');
    await writeFile(join(data, 'train.tsv'), 'sentence1\tsentence2\tgold_label\n');
    expect(datasetFile(DATASET_TASKS.xnli, data, 'train', 'de')).toBe(join(data, 'XNLI-MT-1.0', 'multinli', 'multinli.train.de.tsv'));
    expect(datasetFile(DATASET_TASKS.xnli, data, 'train', 'en')).toBe(join(data, 'train.tsv'));
    // A source without its own file is an error, not a silent switch to English MNLI.
    const error = (() => {
      try {
        datasetFile(DATASET_TASKS.xnli, `${data}/`, 'train', 'fr');
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(InputFileError);
    expect(error!.message).toBe(`${data}/: no xnli train file for 'fr': looked for multinli.train.fr.tsv, XNLI-MT-1.0/multinli/multinli.train.fr.tsv`);
  });

  it('tests English COPA on its validation file, which has labels (its test file has none)', async () => {
    const data = await mkdtemp(join(tmpdir(), 'thaw-data-'));
    await writeFile(join(data, 'val.jsonl'), '');
    expect(datasetFile(DATASET_TASKS.xcopa, data, 'test', 'en')).toBe(join(data, 'val.jsonl'));
    expect(() => datasetFile(DATASET_TASKS.xcopa, data, 'test', 'qu')).toThrow(/no xcopa test file for 'qu': looked for qu\/test\.qu\.jsonl, data\/qu\/test\.qu\.jsonl, test\.qu\.jsonl$/);
  });

  it('scores MLQA files with MLQA\'s normalisation and every other QA file with SQuAD\'s', () => {
    expect(answerNormalisation('/d/MLQA_V1/test/test-context-zh-question-zh.json', 'zh')).toEqual({ language: 'zh' });
    expect(answerNormalisation('/d/dev-context-de-question-de.json', 'de')).toEqual({ language: 'de' });
    expect(answerNormalisation('/d/xquad.zh.json', 'zh')).toEqual({});
    expect(answerNormalisation('/d/tydiqa.goldp.ar.dev.json', 'ar')).toEqual({});
    // A language MLQA's script does not know keeps SQuAD's rules even in an MLQA-named file.
    expect(answerNormalisation('/d/test-context-sw-question-sw.json', 'sw')).toEqual({});
  });

  it('trains QA on every window of a long context; windows without the answer target the first token', async () => {
    const words = Array.from({ length: 20 }, (_, i) => `w${i}`);
    const context = words.join(' ');
    const start = context.indexOf('w17');
    const example = { id: 'q', question: 'why one', context, answers: [{ text: 'w17', start }] };
    // Every word one piece: 2 question tokens + 4 specials leave 8 context tokens per window; overlap 3 → windows from 0, 5, 10, 15.
    const tokenizer = await HfTokenizer.load(writeXlmrTokenizer(await mkdtemp(join(tmpdir(), 'thaw-tok-')), [...words, 'why', 'one']));
    const batch = await DATASET_TASKS.squad.encode({ tokenizer, maxLength: 14 }, [example]);
    expect(batch.examples).toBe(4);
    expect(batch.sequences).toBe(4);
    // w17 is in windows 3 (w10…w17, after <s> q q </s></s>: position 5 + 7) and 4 (w15…w19: position 5 + 2).
    expect([...batch.labels]).toEqual([0, 0, 12, 7]);
    expect([...batch.ends!]).toEqual([0, 0, 12, 7]);
  });
});
