// The cross-lingual dataset files: XNLI / XNLI-MT / MNLI TSVs,
// XCOPA / COPA JSONL and SQuAD-format QA JSON read in their real layouts,
// run_qa.py-style windows and span decoding, the official metrics on
// hand-computed cases, and one test per malformed input.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readMnliTrain, readXnli } from '../src/datasets/xnli.js';
import { COPA_QUESTIONS, copaPairs, readCopa } from '../src/datasets/copa.js';
import { decodeBestSpan, qaFeatures, readSquad, type TextQaExample } from '../src/datasets/squad.js';
import { accuracy, exactMatch, f1, normalizeAnswer } from '../src/datasets/metrics.js';
import { InputFileError } from '../src/errors/input-error.js';
import { OptionError } from '../src/errors/option-error.js';
import { HfTokenizer } from '../src/formats/hf-tokenizer.js';
import { writeXlmrTokenizer } from './support/tokenizer-files.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'thaw-bench-'));
});

/** Writes `text` to a fresh file in the test folder and returns its path. */
let files = 0;
async function file(name: string, text: string): Promise<string> {
  const path = join(dir, `${files++}-${name}`);
  await writeFile(path, text);
  return path;
}

/** Expects `promise` to reject with an InputFileError for `path` whose message matches every pattern. */
async function rejects(promise: Promise<unknown>, path: string, ...patterns: RegExp[]): Promise<void> {
  const error = await promise.then(
    () => {
      throw new Error('expected the read to fail');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InputFileError);
  const message = (error as InputFileError).message;
  expect(message.startsWith(`${path}: `)).toBe(true);
  expect(message).not.toContain('\n');
  for (const p of patterns) expect(message).toMatch(p);
}

// ---------------------------------------------------------------- XNLI

const XNLI_HEADER = [
  'language', 'gold_label', 'sentence1_binary_parse', 'sentence2_binary_parse', 'sentence1_parse', 'sentence2_parse',
  'sentence1', 'sentence2', 'promptID', 'pairID', 'genre', 'label1', 'label2', 'label3', 'label4', 'label5',
  'sentence1_tokenized', 'sentence2_tokenized', 'match',
];

/** An XNLI row with the full header's 19 fields. */
function xnliRow(language: string, label: string, s1: string, s2: string, pairId: string): string {
  return [language, label, '', '', '', '', s1, s2, '31193', pairId, 'facetoface', label, label, label, label, label, s1, s2, 'True'].join('\t');
}

const XNLI_DEV = [
  XNLI_HEADER.join('\t'),
  xnliRow('ar', 'contradiction', 'وقال، ماما، لقد عدت للمنزل.', 'لم ينطق ببنت شفة.', '1'),
  xnliRow('de', 'entailment', 'Und er sagte: Mama, ich bin daheim.', 'Er rief seine Mutter an, sobald er zu Hause war.', '2'),
  xnliRow('en', 'neutral', 'And he said, "Mama, I\'m home.', 'He called his mom as soon as the school bus dropped him off.', '3'),
  xnliRow('de', 'contradiction', 'Er sagte "nichts', 'Er sagte etwas.', '4'),
  xnliRow('en', 'entailment', 'He said "nothing.', 'He was silent.', '5'),
  xnliRow('zh', 'neutral', '他说，妈妈，我回来了。', '校车把他放下后，他立即给他妈妈打了电话。', '6'),
  '',
].join('\r\n');

describe('XNLI', () => {
  it('reads one language of the interleaved dev file, columns by name, quotes literal', async () => {
    const path = await file('xnli.dev.tsv', XNLI_DEV);
    const en = await readXnli(path, 'en');
    expect(en).toEqual([
      { premise: 'And he said, "Mama, I\'m home.', hypothesis: 'He called his mom as soon as the school bus dropped him off.', label: 1, id: '3' },
      { premise: 'He said "nothing.', hypothesis: 'He was silent.', label: 0, id: '5' },
    ]);
    const de = await readXnli(path, 'de');
    expect(de.map((e) => [e.label, e.id])).toEqual([[0, '2'], [2, '4']]);
    expect(de[1]!.premise).toBe('Er sagte "nichts');
    const zh = await readXnli(path, 'zh');
    expect(zh[0]!.premise).toBe('他说，妈妈，我回来了。');
  });

  it('reads every language when none is given, in file order', async () => {
    const path = await file('xnli.test.tsv', XNLI_DEV);
    const all = await readXnli(path);
    expect(all.map((e) => e.id)).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(all.map((e) => e.label)).toEqual([2, 0, 1, 2, 0, 1]);
  });

  it('finds columns by name in another column order', async () => {
    const path = await file('reordered.tsv', 'sentence2\tpairID\tgold_label\tsentence1\tlanguage\nB\t7\tneutral\tA\tsw\n');
    expect(await readXnli(path, 'sw')).toEqual([{ premise: 'A', hypothesis: 'B', label: 1, id: '7' }]);
  });

  it('reads XNLI-MT training data, mapping contradictory to contradiction (2)', async () => {
    const text = 'premise\thypo\tlabel\n'
      + 'Konzeptionell cremeabschöpfung hat zwei grundlegende Dimensionen\tProdukt und Geographie sind das, was creme abschöpfen\tneutral\n'
      + 'Sie "wissen\twährend der Saison\tentailment\n'
      + 'Eine unserer Nummer\tEin Mitglied\tcontradictory\n';
    const path = await file('multinli.train.de.tsv', text);
    const rows = await readMnliTrain(path);
    expect(rows.map((r) => r.label)).toEqual([1, 0, 2]);
    expect(rows[1]).toEqual({ premise: 'Sie "wissen', hypothesis: 'während der Saison', label: 0 });
  });

  it('reads the original MNLI train.tsv layout, detected by its header', async () => {
    const header = 'index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label';
    const row = (i: number, s1: string, s2: string, label: string) => [i, 31193, `${31193}n`, 'government', '( x )', '( y )', '(ROOT x)', '(ROOT y)', s1, s2, label, label].join('\t');
    const path = await file('train.tsv', [header, row(0, 'Conceptually cream skimming', 'Product and geography', 'neutral'), row(1, 'you know during the season', 'You lose the things', 'contradiction')].join('\n'));
    expect(await readMnliTrain(path)).toEqual([
      { premise: 'Conceptually cream skimming', hypothesis: 'Product and geography', label: 1, id: '31193n' },
      { premise: 'you know during the season', hypothesis: 'You lose the things', label: 2, id: '31193n' },
    ]);
  });
});

// ---------------------------------------------------------------- COPA

const XCOPA = [
  '{"premise": "Mees keeras kraani lahti.", "choice1": "Tualett täitus veega.", "choice2": "Kraanist voolas vett.", "question": "effect", "label": 1, "idx": 1, "changed": false}',
  '',
  '{"premise": "Tüdruk leidis oma helveste seest putuka.", "choice1": "Ta valas piima kaussi.", "choice2": "Ta kaotas isu.", "question": "effect", "label": 1, "idx": 2, "changed": true}',
  '   ',
  '{"premise": "The man broke his toe.", "choice1": "He dropped a hammer on his foot.", "choice2": "He got a hole in his sock.", "question": "cause", "label": 0, "idx": 3}',
  '',
].join('\n');

describe('COPA', () => {
  it('reads XCOPA / SuperGLUE JSONL, skipping blank lines', async () => {
    const path = await file('val.et.jsonl', XCOPA);
    const rows = await readCopa(path);
    expect(rows.map((r) => [r.idx, r.label, r.question, r.changed])).toEqual([[1, 1, 'effect', false], [2, 1, 'effect', true], [3, 0, 'cause', undefined]]);
    expect(rows[0]!.choice2).toBe('Kraanist voolas vett.');
  });

  it('pairs the premise plus the question phrase with each alternative', async () => {
    const [, , cause] = await readCopa(await file('copa.jsonl', XCOPA));
    expect(copaPairs(cause!)).toEqual([
      ['The man broke his toe. What was the cause?', 'He dropped a hammer on his foot.'],
      ['The man broke his toe. What was the cause?', 'He got a hole in his sock.'],
    ]);
    const effect = { premise: 'P.', choice1: 'A.', choice2: 'B.', question: 'effect', label: 0, idx: 0 } as const;
    expect(copaPairs(effect)[1]).toEqual(['P. What happened as a result?', 'B.']);
    expect(COPA_QUESTIONS.effect).toBe('What happened as a result?');
  });
});

// ---------------------------------------------------------------- SQuAD format

/** A two-article SQuAD v1.1 file; answer_start values are Python (code point) indices. */
const SQUAD = {
  version: '1.1',
  data: [
    {
      title: 'Zürich',
      paragraphs: [
        {
          context: 'Zürich ist die größte Stadt der Schweiz. Sie liegt am Zürichsee.',
          qas: [
            { id: 'de-1', question: 'Welche ist die größte Stadt der Schweiz?', answers: [{ text: 'Zürich', answer_start: 0 }] },
            { id: 'de-2', question: 'Woran liegt sie?', answers: [{ text: 'am Zürichsee', answer_start: 51 }, { text: 'Zürichsee', answer_start: 54 }] },
          ],
        },
        {
          // 𝄞 (U+1D11E) is one code point but two UTF-16 units: answer_start 10 (Python) is 11 in JS.
          context: 'Der Clef 𝄞 heißt Violinschlüssel.',
          qas: [{ id: 'de-3', question: 'Wie heißt er?', answers: [{ text: 'Violinschlüssel', answer_start: 17 }] }],
        },
      ],
    },
    {
      title: 'Beijing',
      paragraphs: [
        { context: '北京是中国的首都。', qas: [{ id: 'zh-1', question: '中国的首都是哪里？', answers: [{ text: '北京', answer_start: 0 }] }, { id: 'zh-2', question: '？', answers: [] }] },
      ],
    },
  ],
};

describe('SQuAD-format QA', () => {
  it('reads multi-paragraph articles, non-ASCII contexts and code-point answer offsets', async () => {
    const examples = await readSquad(await file('xquad.de.json', JSON.stringify(SQUAD)));
    expect(examples.map((e) => e.id)).toEqual(['de-1', 'de-2', 'de-3', 'zh-1', 'zh-2']);
    for (const e of examples) {
      for (const a of e.answers) expect(e.context.slice(a.start, a.start + a.text.length)).toBe(a.text);
    }
    expect(examples[1]!.answers).toEqual([{ text: 'am Zürichsee', start: 51 }, { text: 'Zürichsee', start: 54 }]);
    expect(examples[2]!.answers[0]!.start).toBe(18);
    expect(examples[4]!.answers).toEqual([]);
    expect(examples[3]!.context).toBe('北京是中国的首都。');
  });
});

/** A context of 20 distinct words w0 … w19 (a word's characters: `w${i}`). */
const WORDS = Array.from({ length: 20 }, (_, i) => `w${i}`);
const CONTEXT = WORDS.join(' ');
/** The character index of word `w` in CONTEXT. */
const charOf = (w: number): number => (w === 0 ? 0 : WORDS.slice(0, w).join(' ').length + 1);
function qaExample(id: string, question: string, first: number, last: number): TextQaExample {
  const start = charOf(first);
  const end = charOf(last) + `w${last}`.length;
  return { id, question, context: CONTEXT, answers: [{ text: CONTEXT.slice(start, end), start }] };
}

/**
 * An XLM-R-style tokenizer.json in which every word here is one piece: w0 … w19, the question words.
 * Laid out as xlm-roberta-base's (WhitespaceSplit, then Metaspace), so a span leaves out the space before its word.
 */
let tokenizer: HfTokenizer;
beforeAll(async () => {
  tokenizer = await HfTokenizer.load(writeXlmrTokenizer(join(dir, 'tokenizer'), [...WORDS, 'why', 'not', 'q', 'x', 'q1', 'q2', 'q3', 'q4', 'q5', 'here'], { whitespaceSplit: true }));
});

describe('qaFeatures', () => {
  // 2 question tokens + 4 specials + 8 context tokens = 14; overlap 3, so windows start 0, 5, 10, 15.
  const options = { maxLength: 14, docStride: 3 };
  const qPositions = 1 + 2 + 2; // <s> q q </s></s>: context starts at position 5

  it('splits the context into overlapping windows padded to maxLength', async () => {
    const features = await qaFeatures([qaExample('a', 'why not', 6, 7)], tokenizer, options);
    expect(features.length).toBe(4);
    const spans = features.map((f) => f.offsets.filter((o) => o !== null).map((o) => CONTEXT.slice(o![0], o![1])));
    expect(spans[0]).toEqual(WORDS.slice(0, 8));
    expect(spans[1]).toEqual(WORDS.slice(5, 13));
    expect(spans[2]).toEqual(WORDS.slice(10, 18));
    expect(spans[3]).toEqual(WORDS.slice(15, 20));
    for (let w = 0; w + 1 < spans.length; w++) expect(spans[w]!.slice(-3)).toEqual(spans[w + 1]!.slice(0, 3));
    for (const f of features) {
      expect(f.ids.length).toBe(14);
      expect(f.tokenTypes.length).toBe(14);
      expect(f.offsets.length).toBe(14);
      expect(f.exampleIndex).toBe(0);
    }
    // The last window: 2 + 4 + 5 = 11 real tokens, then 3 pads.
    expect(features[3]!.attentionMask).toEqual([...new Array(11).fill(1), 0, 0, 0]);
    expect(features[3]!.ids.slice(11)).toEqual([1, 1, 1]);
    expect(features[3]!.ids[10]).toBe(2);
    expect(features[0]!.ids.slice(0, 5)).toEqual([0, features[0]!.ids[1], features[0]!.ids[2], 2, 2]);
    expect(features[0]!.offsets.slice(0, qPositions)).toEqual([null, null, null, null, null]);
  });

  it('targets the answer tokens where the window holds the answer, CLS elsewhere', async () => {
    const features = await qaFeatures([qaExample('a', 'why not', 6, 7)], tokenizer, options);
    // Window 0 holds w6 w7 at positions 5 + 6, 5 + 7; window 1 (from w5) at 5 + 1, 5 + 2.
    expect([features[0]!.start, features[0]!.end]).toEqual([11, 12]);
    expect([features[1]!.start, features[1]!.end]).toEqual([6, 7]);
    expect([features[2]!.start, features[2]!.end]).toEqual([0, 0]);
    expect([features[3]!.start, features[3]!.end]).toEqual([0, 0]);
    for (const f of features.slice(0, 2)) {
      const [a, b] = [f.offsets[f.start]!, f.offsets[f.end]!];
      expect(CONTEXT.slice(a[0], b[1])).toBe('w6 w7');
    }
  });

  it('sends an answer cut by a window edge to CLS in that window only', async () => {
    // w7..w8: window 0 ends at w7, window 1 (w5..w12) holds it.
    const features = await qaFeatures([qaExample('b', 'why not', 7, 8)], tokenizer, options);
    expect([features[0]!.start, features[0]!.end]).toEqual([0, 0]);
    expect([features[1]!.start, features[1]!.end]).toEqual([7, 8]);
  });

  it('targets the tokens that contain an answer starting or ending inside a word', async () => {
    // Answer "6 w7 w" starts inside w6 and ends inside w8: tokens w6..w8.
    const start = CONTEXT.indexOf('w6') + 1;
    const text = CONTEXT.slice(start, CONTEXT.indexOf('w8') + 1);
    const [f] = await qaFeatures([{ id: 'c', question: 'q x', context: CONTEXT, answers: [{ text, start }] }], tokenizer, { ...options, maxLength: 40 });
    expect([f!.start, f!.end]).toEqual([5 + 6, 5 + 8]);
  });

  it('keeps the whole question, as run_qa.py, and strips its leading spaces', async () => {
    const features = await qaFeatures([qaExample('d', '   q1 q2 q3 q4 q5', 2, 2)], tokenizer, { maxLength: 40, docStride: 3 });
    expect(features.length).toBe(1);
    // <s> q1 q2 q3 q4 q5 </s></s> then the context.
    expect(features[0]!.offsets.findIndex((o) => o !== null)).toBe(8);
    expect([features[0]!.start, features[0]!.end]).toEqual([10, 10]);
  });

  it('gives an example without answers CLS targets, and keeps examples apart', async () => {
    const examples: TextQaExample[] = [{ id: 'e', question: 'q', context: 'short context here', answers: [] }, qaExample('f', 'why not', 1, 1)];
    const features = await qaFeatures(examples, tokenizer, { maxLength: 40, docStride: 3 });
    expect(features.map((f) => f.exampleIndex)).toEqual([0, 1]);
    expect([features[0]!.start, features[0]!.end]).toEqual([0, 0]);
    expect([features[1]!.start, features[1]!.end]).toEqual([5 + 1, 5 + 1]);
  });

  it('refuses windows that would not advance', async () => {
    await expect(qaFeatures([qaExample('g', 'why not', 1, 1)], tokenizer, { maxLength: 14, docStride: 8 })).rejects.toThrow(OptionError);
  });
});

describe('decodeBestSpan', () => {
  const options = { maxLength: 14, docStride: 3 };

  /** Small distinct non-zero logits, with peaks added at given positions. */
  function logits(features: number, peaks: [feature: number, position: number, value: number][]): number[][] {
    const out = Array.from({ length: features }, (_, f) => Array.from({ length: 14 }, (_, p) => 0.01 * ((7 * p + 3 * f) % 11) - 0.05));
    for (const [f, p, v] of peaks) out[f]![p] = v;
    return out;
  }

  it('recovers the gold text from logits peaked at it, in whichever window', async () => {
    const examples = [qaExample('a', 'why not', 6, 7), qaExample('b', 'why not', 16, 18)];
    const features = await qaFeatures(examples, tokenizer, options);
    expect(features.length).toBe(8);
    // Example a: peaks at its targets in window 1 (features 0..3); example b: in its last window (feature 7).
    const a = features[1]!;
    const b = features[7]!;
    expect(b.start).not.toBe(0);
    const start = logits(8, [[1, a.start, 5], [7, b.start, 4]]);
    const end = logits(8, [[1, a.end, 5], [7, b.end, 4]]);
    expect(decodeBestSpan(start, end, features, examples)).toEqual(['w6 w7', 'w16 w17 w18']);
  });

  it('skips non-context positions, reversed spans and spans over maxAnswerLength', async () => {
    const examples = [qaExample('a', 'why not', 6, 7)];
    const features = await qaFeatures(examples, tokenizer, options);
    // Feature 0: w0 at 5 … w7 at 12. Higher peaks at CLS (0) and a question token (1), and a
    // start (w7, 12) after an end (w0, 5); the spans those could make with other positions are
    // pushed down (start at 5, end at 12), so the best valid pair is (6, 8) = w1..w3, score 6.
    const start = logits(4, [[0, 0, 20], [0, 1, 19], [0, 12, 9], [0, 6, 3], [0, 5, -9]]);
    const end = logits(4, [[0, 0, 20], [0, 1, 19], [0, 5, 9], [0, 8, 3], [0, 12, -9]]);
    expect(decodeBestSpan(start, end, features, examples)).toEqual(['w1 w2 w3']);
    // With maxAnswerLength 2, w1..w3 (3 tokens) is out; the best remaining pair differs.
    const [short] = decodeBestSpan(start, end, features, examples, { maxAnswerLength: 2 });
    expect(short).not.toBe('w1 w2 w3');
    expect(short!.split(' ').length).toBeLessThanOrEqual(2);
  });
});

// ---------------------------------------------------------------- metrics

describe('metrics', () => {
  it('accuracy counts matches', () => {
    expect(accuracy([0, 2, 1, 1], [0, 1, 1, 2])).toBe(0.5);
    expect(accuracy(new Int32Array([1, 1, 0]), [1, 1, 0])).toBe(1);
    expect(() => accuracy([1], [1, 0])).toThrow(RangeError);
  });

  it('normalises like SQuAD v1.1: case, ASCII punctuation, English articles, whitespace', () => {
    expect(normalizeAnswer('  The  Eiffel-Tower, (Paris)!  ')).toBe('eiffeltower paris');
    expect(normalizeAnswer('A man, an apple and THE end')).toBe('man apple and end');
    // Articles only as whole words, with Python's Unicode word boundaries: the "a" of "zoéa" and
    // the "an" of "anä" are inside words (JavaScript's ASCII \b would cut them out).
    expect(normalizeAnswer('Zoéa anä anvil theory')).toBe('zoéa anä anvil theory');
    // SQuAD's punctuation is ASCII only: "«»" stay.
    expect(normalizeAnswer('«Paris»')).toBe('«paris»');
  });

  it('exact match: normalised equality, max over golds, mean ×100', () => {
    const golds = [['The Eiffel Tower', 'Eiffel Tower'], ['1889'], ['Gustave Eiffel']];
    expect(exactMatch(['eiffel tower.', '1887', 'Gustave Eiffel'], golds)).toBeCloseTo(200 / 3, 10);
    expect(exactMatch(['an eiffel tower'], [['Eiffel Tower']])).toBe(100);
  });

  it('F1: token overlap against the best gold, mean ×100', () => {
    // pred "big red barn" vs gold "the red barn door": common {red, barn} = 2; P 2/3, R 2/3 ("the" removed → 3 tokens), F1 2/3.
    expect(f1(['big red barn'], [['the red barn door']])).toBeCloseTo(200 / 3, 10);
    // Max over golds: vs "red" P 1/3 R 1 → 0.5; vs "red barn" P 2/3 R 1 → 0.8.
    expect(f1(['big red barn'], [['red', 'red barn']])).toBeCloseTo(80, 10);
    // Repeated tokens count as a bag: pred "x x y" vs gold "x y y": common = min counts x1 + y1 = 2; P 2/3 R 2/3 → 2/3.
    expect(f1(['x x y'], [['x y y']])).toBeCloseTo(200 / 3, 10);
    // Mean over examples: (1 + 0) / 2.
    expect(f1(['Paris', 'London'], [['paris!'], ['Rome']])).toBe(50);
    // v1.1: no shared token is 0, even for two answers that normalise to nothing.
    expect(f1(['the'], [['a']])).toBe(0);
    expect(exactMatch(['the'], [['a']])).toBe(100);
    expect(() => f1(['x'], [[]])).toThrow(RangeError);
  });

  it('MLQA normalisation: Unicode punctuation and per-language articles', () => {
    expect(normalizeAnswer('«El Prado»', { language: 'es' })).toBe('prado');
    expect(normalizeAnswer('Los Ángeles; la ciudad', { language: 'es' })).toBe('ángeles ciudad');
    expect(normalizeAnswer('Der Rhein und die Donau', { language: 'de' })).toBe('rhein und donau');
    expect(normalizeAnswer('Derby', { language: 'de' })).toBe('derby');
    expect(normalizeAnswer('chiếc xe của tôi', { language: 'vi' })).toBe('xe tôi');
    expect(normalizeAnswer('“The” end…', { language: 'en' })).toBe('end');
    expect(normalizeAnswer('नई दिल्ली।', { language: 'hi' })).toBe('नई दिल्ली');
    // MLQA's Arabic rule removes the letters ال wherever they occur.
    expect(normalizeAnswer('الكتاب', { language: 'ar' })).toBe('كتاب');
    expect(() => normalizeAnswer('x', { language: 'fr' as 'en' })).toThrow(OptionError);
    // Without a language the German article stays.
    expect(normalizeAnswer('Der Rhein')).toBe('der rhein');
  });

  it('MLQA zh: characters are tokens, other runs are words', () => {
    expect(normalizeAnswer('北京，中国 abc def', { language: 'zh' })).toBe('北 京 中 国 abc def');
    // "北京市" vs "北京": 2 shared of 3 / 2 → P 2/3, R 1, F1 0.8; whole-string SQuAD F1 would be 0.
    expect(f1(['北京市'], [['北京']], { language: 'zh' })).toBeCloseTo(80, 10);
    expect(f1(['北京市'], [['北京']])).toBe(0);
    expect(exactMatch(['北京。'], [['北京']], { language: 'zh' })).toBe(100);
  });
});

// ---------------------------------------------------------------- malformed inputs

describe('malformed inputs', () => {
  it('XNLI: empty file', async () => {
    const path = await file('empty.tsv', '');
    await rejects(readXnli(path), path, /empty file/);
  });

  it('XNLI: header only', async () => {
    const path = await file('header.tsv', `${XNLI_HEADER.join('\t')}\n`);
    await rejects(readXnli(path), path, /line 1/, /no examples/);
  });

  it('XNLI: missing columns, naming them and the header found', async () => {
    const path = await file('cols.tsv', 'language\tgold_label\tsentence1\nen\tneutral\tA\n');
    await rejects(readXnli(path, 'en'), path, /line 1/, /missing column sentence2/, /header has: language, gold_label, sentence1/);
  });

  it('XNLI: a row with too few fields', async () => {
    const path = await file('short.tsv', [XNLI_HEADER.join('\t'), xnliRow('en', 'neutral', 'A', 'B', '1'), 'en\tneutral\t\t\t\t\tA'].join('\n'));
    await rejects(readXnli(path, 'en'), path, /line 3/, /7 fields/, /sentence2/);
  });

  it('XNLI: an unknown label, naming it and the spellings', async () => {
    const path = await file('label.tsv', [XNLI_HEADER.join('\t'), xnliRow('en', 'neutral', 'A', 'B', '1'), xnliRow('en', '-', 'C', 'D', '2')].join('\n'));
    await rejects(readXnli(path, 'en'), path, /line 3/, /unknown label '-'/, /entailment, neutral, contradiction, contradictory/);
  });

  it('XNLI: a language with no rows lists the languages present', async () => {
    const path = await file('lang.tsv', XNLI_DEV);
    await rejects(readXnli(path, 'fr'), path, /no rows for language 'fr'/, /ar, de, en, zh/);
  });

  it('XNLI: a file that does not exist', async () => {
    const path = join(dir, 'missing.tsv');
    await rejects(readXnli(path), path, /cannot read/, /ENOENT/);
  });

  it('MNLI train: empty file', async () => {
    const path = await file('empty-train.tsv', '\n\n');
    await rejects(readMnliTrain(path), path, /empty file/);
  });

  it('MNLI train: XNLI-MT header missing a column', async () => {
    const path = await file('mt-cols.tsv', 'premise\tlabel\nA\tneutral\n');
    await rejects(readMnliTrain(path), path, /line 1/, /missing column hypo/, /header has: premise, label/);
  });

  it('MNLI train: neither layout', async () => {
    const path = await file('neither.tsv', 'text\tclass\nA\t1\n');
    await rejects(readMnliTrain(path), path, /missing columns sentence1, sentence2, gold_label/, /premise, hypo, label/, /header has: text, class/);
  });

  it('MNLI train: a row with too few fields', async () => {
    const path = await file('mt-short.tsv', 'premise\thypo\tlabel\nA\tB\tneutral\nA B neutral\n');
    await rejects(readMnliTrain(path), path, /line 3/, /1 field,/, /hypo/);
  });

  it('MNLI train: an unknown label', async () => {
    const path = await file('mt-label.tsv', 'premise\thypo\tlabel\nA\tB\tneutral\nA\tB\tcontradicts\n');
    await rejects(readMnliTrain(path), path, /line 3/, /unknown label 'contradicts'/, /contradictory/);
  });

  it('COPA: empty file', async () => {
    const path = await file('empty.jsonl', '\n  \n');
    await rejects(readCopa(path), path, /empty file/);
  });

  it('COPA: invalid JSON', async () => {
    const path = await file('bad.jsonl', `${XCOPA.split('\n')[0]}\n{"premise": "x",\n`);
    await rejects(readCopa(path), path, /line 2/, /invalid JSON/);
  });

  it('COPA: a line that is not an object', async () => {
    const path = await file('array.jsonl', '["premise"]\n');
    await rejects(readCopa(path), path, /line 1/, /expected a JSON object, got an array/);
  });

  it('COPA: missing fields', async () => {
    const path = await file('missing.jsonl', '{"premise": "P", "choice1": "A", "question": "cause", "idx": 0}\n');
    await rejects(readCopa(path), path, /line 1/, /missing fields choice2, label/);
  });

  it('COPA: a field of the wrong type', async () => {
    const path = await file('type.jsonl', '{"premise": 3, "choice1": "A", "choice2": "B", "question": "cause", "label": 0, "idx": 0}\n');
    await rejects(readCopa(path), path, /line 1/, /premise must be a string, got number/);
  });

  it('COPA: a label other than 0 or 1', async () => {
    const path = await file('label.jsonl', '\n{"premise": "P", "choice1": "A", "choice2": "B", "question": "cause", "label": 2, "idx": 0}\n');
    await rejects(readCopa(path), path, /line 2/, /label must be 0 or 1, got 2/);
  });

  it('COPA: a question other than cause or effect', async () => {
    const path = await file('question.jsonl', '{"premise": "P", "choice1": "A", "choice2": "B", "question": "why", "label": 0, "idx": 0}\n');
    await rejects(readCopa(path), path, /line 1/, /question must be 'cause' or 'effect', got "why"/);
  });

  it('SQuAD: empty file', async () => {
    const path = await file('empty.json', ' \n');
    await rejects(readSquad(path), path, /empty file/);
  });

  it('SQuAD: invalid JSON', async () => {
    const path = await file('bad.json', '{"data": [');
    await rejects(readSquad(path), path, /invalid JSON/);
  });

  it('SQuAD: no top-level data array', async () => {
    const path = await file('nodata.json', '{"version": "1.1", "articles": []}');
    await rejects(readSquad(path), path, /no top-level "data" array/, /version, articles/);
  });

  it('SQuAD: an article without paragraphs', async () => {
    const path = await file('noparas.json', JSON.stringify({ data: [SQUAD.data[0], { title: 'x', context: 'y' }] }));
    await rejects(readSquad(path), path, /data\[1\]/, /"paragraphs" array/, /title, context/);
  });

  it('SQuAD: a paragraph without qas', async () => {
    const path = await file('noqas.json', JSON.stringify({ data: [{ title: 't', paragraphs: [{ context: 'c' }] }] }));
    await rejects(readSquad(path), path, /data\[0\]\.paragraphs\[0\]/, /"qas" must be an array, got undefined/);
  });

  it('SQuAD: a question without an id or question text', async () => {
    const path = await file('noq.json', JSON.stringify({ data: [{ title: 't', paragraphs: [{ context: 'c', qas: [{ id: 'q9', answers: [] }] }] }] }));
    await rejects(readSquad(path), path, /qas\[0\] \(question id 'q9'\)/, /"question" must be a string/);
  });

  it('SQuAD: an answer_start that is not an integer', async () => {
    const path = await file('start.json', JSON.stringify({ data: [{ title: 't', paragraphs: [{ context: 'abc', qas: [{ id: 'q1', question: '?', answers: [{ text: 'b', answer_start: '1' }] }] }] }] }));
    await rejects(readSquad(path), path, /question id 'q1'/, /"answer_start" must be a non-negative integer, got "1"/);
  });

  it('SQuAD: an answer past the end of the context', async () => {
    const path = await file('past.json', JSON.stringify({ data: [{ title: 't', paragraphs: [{ context: 'Bern ist die Hauptstadt.', qas: [{ id: 'q2', question: '?', answers: [{ text: 'Hauptstadt', answer_start: 20 }] }] }] }] }));
    await rejects(readSquad(path), path, /question id 'q2'/, /"Hauptstadt" at answer_start 20 runs past the end of the context \(24 characters\)/);
  });

  it('SQuAD: an answer whose text differs from the context at answer_start', async () => {
    const path = await file('mismatch.json', JSON.stringify({ data: [{ title: 't', paragraphs: [{ context: 'Bern ist die Hauptstadt.', qas: [{ id: 'q3', question: '?', answers: [{ text: 'Bern', answer_start: 1 }] }] }] }] }));
    await rejects(readSquad(path), path, /question id 'q3'/, /"Bern" at answer_start 1 does not match the context, which has "ern " there/);
  });
});
