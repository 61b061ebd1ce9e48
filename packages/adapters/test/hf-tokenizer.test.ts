// HfTokenizer against the tokenizers library itself: for an XLM-R file around
// a real SentencePiece model (Precompiled charsmap), an mBERT-style WordPiece
// file, a RoBERTa-style byte-level BPE file and today's XLM-R converter
// layout, on multilingual stress texts, every id, token type, attention bit,
// sequence id and offset must be what the library's own Tokenizer returns;
// then templates, truncation, padding, QA windows and answer spans, and one
// test per malformed file.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tokenizer, type Encoding, type TruncationStrategy as LibraryStrategy } from 'tokenizers';
import { HfTokenizer, type EncodedInput } from '../src/formats/hf-tokenizer.js';
import { decodeBestSpan, qaFeatures, type TextQaExample } from '../src/datasets/squad.js';
import { InputFileError } from '../src/errors/input-error.js';
import { OptionError } from '../src/errors/option-error.js';
import { bertTokenizerConfig, bertTokenizerJson, wordLevelTokenizerJson, writeTokenizerFiles, writeXlmrTokenizer, xlmrTokenizerConfig, xlmrTokenizerJson } from './support/tokenizer-files.js';

/** Multilingual stress texts: each exercises a normalization, a script or a spacing case. */
const STRESS = [
  'Ｐａｒｉｓ ｉｓ ＡＢＣ – fullwidth forms',
  'The ﬁnal ﬂight and the ﬁrst ﬁle',
  'café vs cafe\u0301, naïve vs nai\u0308ve, résumé',
  'non\u00A0breaking\u202Fspaces and zero\u200Bwidth\u200Bspaces',
  'Москва — столица России, Привет мир!',
  '東京は日本の首都です。北京是中国的首都。',
  'القاهرة هي عاصمة مصر.',
  'नई दिल्ली भारत की राजधानी है।',
  'Emoji 😀👍🏽 and 👨‍👩‍👧 families, 🇫🇷 flags',
  'MixedCASE Words, UPPER lower MiXeD',
  '   leading, trailing and   multiple   spaces   ',
  'Tabs\tand\nnewlines\r\nin one text',
  'Ελλάδα και Αθήνα 2024 ½ ① ™…',
];

/** An answer in each stress text, most after a character normalization changes or outside the BMP. */
const ANSWERS = ['ＡＢＣ', 'ﬁrst ﬁle', 'nai\u0308ve', 'breaking', 'столица', '東京は日本の首都です', 'عاصمة', 'भारत', 'families', 'UPPER', 'trailing', 'newlines', 'Αθήνα'];

const FIXTURES = join(import.meta.dirname, 'fixtures');
const root = mkdtempSync(join(tmpdir(), 'thaw-hftok-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `t${dirs++}`);

/** The stress texts' words, for the vocabularies built by the test writers. */
const WORDS = STRESS.flatMap((t) => t.split(/[\s,.!?;:—–()]+/u)).filter(Boolean);

interface Subject {
  name: string;
  path: string;
  tok: HfTokenizer;
  /** The same file read by the library directly: what every result must equal. */
  lib: Tokenizer;
  /** True where a token's span includes the space before it (Metaspace without WhitespaceSplit). */
  spaceInSpan: boolean;
}

const subjects: Subject[] = [];
beforeAll(async () => {
  const files = [
    { name: 'XLM-R (SentencePiece Unigram, Precompiled)', path: join(FIXTURES, 'xlmr-spm', 'tokenizer.json'), spaceInSpan: false },
    { name: 'mBERT (WordPiece)', path: writeTokenizerFiles(freshDir(), bertTokenizerJson(WORDS), bertTokenizerConfig()), spaceInSpan: false },
    { name: 'RoBERTa (byte-level BPE)', path: join(FIXTURES, 'bpe-bytelevel', 'tokenizer.json'), spaceInSpan: false },
    { name: 'XLM-R, today\'s converter layout', path: writeXlmrTokenizer(freshDir(), WORDS), spaceInSpan: true },
    { name: 'WordLevel', path: writeTokenizerFiles(freshDir(), wordLevelTokenizerJson(WORDS), bertTokenizerConfig()), spaceInSpan: false },
  ];
  for (const f of files) subjects.push({ ...f, tok: await HfTokenizer.load(f.path), lib: Tokenizer.fromFile(f.path) });
});

/** A code point index of `text` as a UTF-16 index, counted independently of the code under test. */
const utf16 = (text: string, codePoint: number): number => Array.from(text).slice(0, codePoint).join('').length;

/** What HfTokenizer must return for the library's encoding `e` of `text` (and `pair`). */
function expected(e: Encoding, text: string, pair?: string): EncodedInput {
  const sequenceIds = e.getSequenceIds().map((s) => (s === 0 || s === 1 ? s : null));
  return {
    ids: e.getIds(),
    tokenTypes: e.getTypeIds(),
    attentionMask: e.getAttentionMask(),
    sequenceIds,
    offsets: e.getOffsets().map(([b, t], i) => {
      const s = sequenceIds[i];
      if (s === null || s === undefined) return null;
      const source = s === 0 ? text : pair!;
      return [utf16(source, b!), utf16(source, t!)];
    }),
  };
}

/** The library's encoding with the given truncation and padding (reset afterwards). */
async function libraryEncode(lib: Tokenizer, text: string, pair: string | undefined, o: { maxLength?: number; strategy?: string; padTo?: number } = {}): Promise<Encoding> {
  if (o.maxLength !== undefined) lib.setTruncation(o.maxLength, { strategy: (o.strategy ?? 'LongestFirst') as LibraryStrategy });
  if (o.padTo !== undefined) lib.setPadding({ maxLength: o.padTo, padId: lib.tokenToId('<pad>') ?? lib.tokenToId('[PAD]')! });
  try {
    return await lib.encode(text, pair ?? null);
  } finally {
    lib.disableTruncation();
    lib.disablePadding();
  }
}

describe('HfTokenizer is the library: ids, token types and offsets on the stress texts', () => {
  it('single texts, on every file', async () => {
    let tokens = 0;
    for (const s of subjects) {
      for (const text of STRESS) {
        const ours = await s.tok.encode(text);
        expect(ours, `${s.name}: ${JSON.stringify(text)}`).toEqual(expected(await s.lib.encode(text), text));
        tokens += ours.ids.length;
      }
    }
    expect(tokens).toBeGreaterThan(600);
  });

  it('pairs, on every file (offsets into each text of the pair)', async () => {
    for (const s of subjects) {
      for (let i = 0; i < STRESS.length; i++) {
        const [a, b] = [STRESS[i]!, STRESS[(i + 5) % STRESS.length]!];
        expect(await s.tok.encode(a, b), `${s.name}: ${JSON.stringify(a)} + ${JSON.stringify(b)}`).toEqual(expected(await s.lib.encode(a, b), a, b));
      }
    }
  });

  it('gives UTF-16 spans where the library counts code points (after an emoji), ordered and inside the text', async () => {
    for (const s of subjects) {
      const text = STRESS[8]!;
      const out = await s.tok.encode(text);
      const at = text.indexOf('families');
      const k = out.offsets.findIndex((o) => o !== null && o[1] > at);
      expect(out.offsets[k]![0], s.name).toBeGreaterThanOrEqual(at - (s.spaceInSpan ? 1 : 0));
      expect(text.slice(out.offsets[k]![0], out.offsets.at(-2)![1]).trim(), s.name).toBe('families, 🇫🇷 flags');
      for (const t of STRESS) {
        let last = 0;
        for (const o of (await s.tok.encode(t)).offsets) {
          if (!o) continue;
          expect(o[0]).toBeGreaterThanOrEqual(last);
          expect(o[1]).toBeGreaterThanOrEqual(o[0]);
          expect(o[1]).toBeLessThanOrEqual(t.length);
          last = o[0];
        }
      }
    }
  });

  it('maps normalized text back to the original: the Precompiled charsmap folds fullwidth letters and ligatures', async () => {
    const s = subjects[0]!;
    const text = 'Ｐａｒｉｓ ﬁnal';
    const out = await s.tok.encode(text);
    const pieces = out.ids.flatMap((id, i) => (out.offsets[i] ? [[s.tok.idToToken(id), text.slice(...out.offsets[i]!)]] : []));
    // The library gives the first ▁ the span of the character it precedes.
    expect(pieces).toEqual([['▁', 'Ｐ'], ['P', 'Ｐ'], ['ar', 'ａｒ'], ['is', 'ｉｓ'], ['▁fin', 'ﬁn'], ['a', 'a'], ['l', 'l']]);
  });
});

describe('HfTokenizer templates from the post-processor', () => {
  it('XLM-R and RoBERTa: <s> A </s> and <s> A </s></s> B </s>, token types 0; mBERT and WordLevel: [CLS] A [SEP] B [SEP], B typed 1', async () => {
    const shape = (e: EncodedInput) => e.ids.map((id, i) => (e.sequenceIds[i] === null ? id : `${e.sequenceIds[i] === 0 ? 'A' : 'B'}${e.tokenTypes[i]}`)).join(' ').replace(/(A0 )*A0/g, 'A0').replace(/B(\d)( B\1)*/g, 'B$1');
    const expectations: [number, string, string][] = [
      [0, '0 A0 2', '0 A0 2 2 B0 2'],
      [1, '101 A0 102', '101 A0 102 B1 102'],
      [2, '0 A0 2', '0 A0 2 2 B0 2'],
      [3, '0 A0 2', '0 A0 2 2 B0 2'],
      [4, '101 A0 102', '101 A0 102 B1 102'],
    ];
    for (const [k, single, pair] of expectations) {
      const s = subjects[k]!;
      expect(shape(await s.tok.encode('Москва столица')), s.name).toBe(single);
      expect(shape(await s.tok.encode('Москва', 'столица')), s.name).toBe(pair);
      expect([s.tok.specialTokenCount(false), s.tok.specialTokenCount(true)]).toEqual([2, k === 1 || k === 4 ? 3 : 4]);
    }
    expect(subjects.map((s) => s.tok.padId)).toEqual([1, 0, 1, 1, 0]);
  });
});

describe('HfTokenizer truncation and padding are the library\'s', () => {
  const long = STRESS.slice(0, 6).join(' ');
  const short = STRESS[9]!;

  it('longest_first, only_first and only_second equal the library on every file', async () => {
    const cases: [string, string | undefined, number, 'longest_first' | 'only_first' | 'only_second', string][] = [
      [long, undefined, 12, 'longest_first', 'LongestFirst'],
      [long, short, 20, 'longest_first', 'LongestFirst'],
      [long, long, 21, 'longest_first', 'LongestFirst'],
      [long, short, 60, 'only_first', 'OnlyFirst'],
      [short, long, 60, 'only_second', 'OnlySecond'],
    ];
    for (const s of subjects) {
      for (const [a, b, maxLength, truncation, strategy] of cases) {
        const ours = await s.tok.encode(a, b, { maxLength, truncation });
        expect(ours.ids).toHaveLength(maxLength);
        expect(ours, `${s.name} ${truncation} ${maxLength}`).toEqual(expected(await libraryEncode(s.lib, a, b, { maxLength, strategy }), a, b));
      }
    }
  });

  it('longest_first splits the room as the fast tokenizers do: the odd token to the longer sequence', async () => {
    const s = subjects[1]!;
    const lengths = async (a: string, b: string, maxLength: number) => {
      const out = await s.tok.encode(a, b, { maxLength });
      return [0, 1].map((k) => out.sequenceIds.filter((x) => x === k).length);
    };
    const words = (n: number) => Array.from({ length: n }, () => 'vs').join(' ');
    expect((await s.tok.encode(words(1))).ids).toHaveLength(3);
    // Room 12 - 3 = 9 for 6 + 6 tokens: 4 + 5 (transformers' slow tokenizers keep 5 + 4).
    expect(await lengths(words(6), words(6), 12)).toEqual([4, 5]);
    // 10 + 4 tokens in room 12: the shorter stays whole.
    expect(await lengths(words(10), words(4), 15)).toEqual([8, 4]);
  });

  it('refuses what cannot be truncated, with a RangeError', async () => {
    const { tok } = subjects[0]!;
    await expect(tok.encode(long, short, { maxLength: 3 })).rejects.toThrow(/cannot hold the template's 4 special tokens/);
    await expect(tok.encode(long, undefined, { maxLength: 10, truncation: 'only_second' })).rejects.toThrow(RangeError);
    await expect(tok.encode(long, 'столица', { maxLength: 6, truncation: 'only_second' })).rejects.toThrow(/too short/);
  });

  it('pads with the padding id, mask 0, type 0 and null offsets, as the library; never shortens', async () => {
    for (const s of subjects) {
      const ours = await s.tok.encode(short, 'столица', { padTo: 40 });
      expect(ours.ids).toHaveLength(40);
      expect(ours).toEqual(expected(await libraryEncode(s.lib, short, 'столица', { padTo: 40 }), short, 'столица'));
      const n = ours.attentionMask.indexOf(0);
      expect(ours.ids.slice(n)).toEqual(new Array(40 - n).fill(s.tok.padId));
      expect(ours.offsets.slice(n).every((o) => o === null)).toBe(true);
      expect((await s.tok.encode(long, undefined, { padTo: 3 })).ids.length).toBeGreaterThan(3);
    }
  });

  it('keeps calls with different settings apart when they run at once', async () => {
    const { tok } = subjects[0]!;
    const [cut, whole, padded] = await Promise.all([tok.encode(long, undefined, { maxLength: 8 }), tok.encode(long), tok.encode(short, undefined, { padTo: 64 })]);
    expect(cut.ids).toHaveLength(8);
    expect(whole.ids.length).toBeGreaterThan(8);
    expect(whole.attentionMask.every((m) => m === 1)).toBe(true);
    expect(padded.ids).toHaveLength(64);
  });
});

describe('HfTokenizer QA windows (run_qa.py: only_second, stride)', () => {
  const question = 'Где столица?';
  const context = STRESS.join(' ');

  it('covers the whole context in windows that overlap by the stride, as tokenizers 0.22 did', async () => {
    for (const s of subjects) {
      // The pair untruncated, by the library: every window must be a run of its context tokens, spans included.
      const whole = expected(await s.lib.encode(question, context), question, context);
      const part = (e: EncodedInput, k: 0 | 1) => e.sequenceIds.flatMap((x, i) => (x === k ? [[e.ids[i], e.tokenTypes[i], e.offsets[i]]] : []));
      const [q, c] = [part(whole, 0), part(whole, 1)];
      const [maxLength, stride] = [48, 8];
      const room = maxLength - s.tok.specialTokenCount(true) - q.length;
      const windows = await s.tok.encodeWindows(question, context, { maxLength, stride });
      expect(windows.length, s.name).toBe(Math.ceil((c.length - room) / (room - stride)) + 1);
      windows.forEach((w, k) => {
        const got = part(w, 1);
        const want = c.slice(k * (room - stride), k * (room - stride) + room);
        // RoBERTa's post-processor takes a later window's first token for a text's first, so it does not trim
        // the space that token starts with (tokenizers does so up to 0.22 too); every other span is the untruncated one.
        if (k > 0 && s.name.includes('byte-level')) {
          const [id, type, [b, e]] = got[0] as [number, number, [number, number]];
          const [wantId, wantType, [wantB, wantE]] = want[0] as [number, number, [number, number]];
          expect([id, type]).toEqual([wantId, wantType]);
          expect(b === wantB || (b === wantB - 1 && /\s/.test(context[b]!))).toBe(true);
          expect(e === wantE || e === wantE - 1).toBe(true);
          got[0] = want[0]!;
        }
        expect(got, `${s.name} window ${k}`).toEqual(want);
        expect(part(w, 0)).toEqual(q);
        expect(w.ids.length).toBe(k + 1 < windows.length ? maxLength : w.ids.length);
      });
      expect(part(windows.at(-1)!, 1).at(-1)).toEqual(c.at(-1));
      // The first window is the library's own only_second truncation.
      expect(windows[0]).toEqual(expected(await libraryEncode(s.lib, question, context, { maxLength, strategy: 'OnlySecond' }), question, context));
    }
  });

  it('tokenizers 0.23 itself drops windows when it truncates with a stride (huggingface/tokenizers#2091): the reason encodeWindows post-processes', async () => {
    const s = subjects[0]!;
    s.lib.setTruncation(48, { strategy: 'OnlySecond' as LibraryStrategy, stride: 8 });
    const own = await s.lib.encode(question, context);
    s.lib.disableTruncation();
    const ours = await s.tok.encodeWindows(question, context, { maxLength: 48, stride: 8 });
    // If this fails, the library covers the context again and encodeWindows could call encode directly.
    expect(1 + own.getOverflowing().length).toBeLessThan(ours.length);
  });

  it('pads windows on request and refuses a stride the windows cannot advance by', async () => {
    const { tok } = subjects[1]!;
    const windows = await tok.encodeWindows(question, context, { maxLength: 40, stride: 4, pad: true });
    expect(windows.every((w) => w.ids.length === 40)).toBe(true);
    await expect(tok.encodeWindows(question, context, { maxLength: 12, stride: 8 })).rejects.toThrow(/must exceed the stride 8/);
  });

  it('maps every stress answer to its tokens and decodes it back from the offsets, on every file', async () => {
    const examples: TextQaExample[] = STRESS.map((c, i) => ({ id: `s${i}`, question, context: c, answers: [{ text: ANSWERS[i]!, start: c.indexOf(ANSWERS[i]!) }] }));
    for (const e of examples) expect(e.answers[0]!.start).toBeGreaterThanOrEqual(0);
    for (const s of subjects) {
      const features = await qaFeatures(examples, s.tok, { maxLength: 40, docStride: 8 });
      const starts = features.map((f) => Array.from({ length: 40 }, (_, p) => (p === f.start ? 10 : 0)));
      const ends = features.map((f) => Array.from({ length: 40 }, (_, p) => (p === f.end ? 10 : 0)));
      const decoded = decodeBestSpan(starts, ends, features, examples);
      // Where the ▁ spans the space before a word, the decoded text starts with that space, as run_qa.py's would.
      expect(decoded.map((d) => (s.spaceInSpan ? d.trimStart() : d)), s.name).toEqual(ANSWERS);
    }
  });

  it('turns a question too long for the windows into an OptionError naming the example', async () => {
    const { tok } = subjects[0]!;
    const example: TextQaExample = { id: 'long-q', question: STRESS.join(' '), context: 'столица', answers: [] };
    await expect(qaFeatures([example], tok, { maxLength: 40, docStride: 8 })).rejects.toThrow(OptionError);
    await expect(qaFeatures([example], tok, { maxLength: 40, docStride: 8 })).rejects.toThrow(/example 'long-q'/);
  });
});

describe('HfTokenizer.load', () => {
  it('reads a folder, takes pad_token from tokenizer_config.json, and counts added tokens in vocabSize', async () => {
    const dir = freshDir();
    const path = writeTokenizerFiles(dir, xlmrTokenizerJson(WORDS), { ...xlmrTokenizerConfig(), pad_token: '</s>' });
    const tok = await HfTokenizer.load(dir);
    expect(tok.path).toBe(path);
    expect(tok.padId).toBe(2);
    const vocab = (xlmrTokenizerJson(WORDS).model as { vocab: unknown[] }).vocab.length;
    expect(tok.vocabSize).toBe(vocab);
    expect(tok.tokenToId('<mask>')).toBe(vocab - 1);
    expect(tok.idToToken(0)).toBe('<s>');
    expect(tok.tokenToId('no such token')).toBeUndefined();
  });

  it('ignores truncation and padding saved in the file (each call sets its own, as transformers does)', async () => {
    const json = {
      ...xlmrTokenizerJson(WORDS),
      truncation: { direction: 'Right', max_length: 5, strategy: 'LongestFirst', stride: 0 },
      padding: { strategy: { Fixed: 64 }, direction: 'Right', pad_to_multiple_of: null, pad_id: 1, pad_type_id: 0, pad_token: '<pad>' },
    };
    const tok = await HfTokenizer.load(writeTokenizerFiles(freshDir(), json, null));
    const plain = await HfTokenizer.load(writeXlmrTokenizer(freshDir(), WORDS));
    expect([tok.specialTokenCount(false), tok.specialTokenCount(true)]).toEqual([2, 4]);
    const text = STRESS[4]!;
    expect((await tok.encode(text)).ids.length).toBeGreaterThan(5);
    expect(await tok.encode(text)).toEqual(await plain.encode(text));
    expect(await tok.encodeWindows('Где?', STRESS.join(' '), { maxLength: 40, stride: 8 })).toEqual(await plain.encodeWindows('Где?', STRESS.join(' '), { maxLength: 40, stride: 8 }));
  });
});

describe('HfTokenizer on a vocabulary of XLM-R\'s size', () => {
  it('loads 250,002 pieces and counts them', async () => {
    const json = xlmrTokenizerJson(WORDS) as { added_tokens: { content: string; id: number }[]; model: { vocab: [string, number][] } };
    const mask = json.model.vocab.pop()!;
    for (let i = 0; json.model.vocab.length < 250_001; i++) json.model.vocab.push([`\u2581x${i.toString(36)}`, -20]);
    json.model.vocab.push(mask);
    json.added_tokens.find((t) => t.content === '<mask>')!.id = 250_001;
    const tok = await HfTokenizer.load(writeTokenizerFiles(freshDir(), json, xlmrTokenizerConfig()));
    expect(tok.vocabSize).toBe(250_002);
    expect(tok.tokenToId('<mask>')).toBe(250_001);
  });
});

describe('HfTokenizer errors (InputFileError naming the file, one line)', () => {
  /** Writes `content` as tokenizer.json (a string as is, else as JSON) and expects load to fail naming that file. */
  async function expectLoadError(content: unknown, pattern: RegExp): Promise<void> {
    const path = writeTokenizerFiles(freshDir(), {}, null);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    await expectError(path, pattern);
  }

  async function expectError(path: string, pattern: RegExp, named = path): Promise<void> {
    const error = await HfTokenizer.load(path).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InputFileError);
    const message = (error as InputFileError).message;
    expect(message.startsWith(`${named}: `)).toBe(true);
    expect(message).toMatch(pattern);
    expect(message).not.toContain('\n');
  }

  it('a missing file', async () => {
    await expectError(join(freshDir(), 'tokenizer.json'), /cannot read.*ENOENT/);
  });

  it('an unreadable path (a file used as a folder)', async () => {
    const file = join(root, 'plain-file');
    writeFileSync(file, 'x');
    await expectError(join(file, 'tokenizer.json'), /cannot read.*ENOTDIR/);
  });

  it('invalid JSON', async () => {
    await expectLoadError('{"model": {"type": "Unigram",', /not valid JSON/);
  });

  it('JSON that is not an object', async () => {
    await expectLoadError('[1, 2]', /expected a JSON object/);
  });

  it('no model', async () => {
    const { model: _, ...rest } = xlmrTokenizerJson(WORDS);
    await expectLoadError(rest, /no "model" section/);
  });

  it('a model the library cannot read names the model and its type', async () => {
    const json = xlmrTokenizerJson(WORDS);
    await expectLoadError({ ...json, model: { type: 'Unigram', unk_id: 3, vocab: ['<s>', '<pad>'] } }, /cannot build the tokenizer: its model \(type "Unigram"\) \(/);
    await expectLoadError({ ...json, model: { type: 'Frobnicate', vocab: {} } }, /its model \(type "Frobnicate"\)/);
  });

  it('a Unigram unk_id outside the vocab', async () => {
    const json = xlmrTokenizerJson(WORDS) as { model: { unk_id: number } };
    json.model.unk_id = 999;
    await expectLoadError(json, /its model \(type "Unigram"\) \(.*[Uu]nk/);
  });

  it('a normalizer the library does not know names the normalizer', async () => {
    await expectLoadError({ ...xlmrTokenizerJson(WORDS), normalizer: { type: 'Frobnicate' } }, /cannot build the tokenizer: its normalizer \(type "Frobnicate"\) \(/);
  });

  it('a RobertaProcessing cls that is not a [token, id] pair names the post-processor', async () => {
    const json = xlmrTokenizerJson(WORDS, { postProcessor: 'RobertaProcessing' }) as { post_processor: Record<string, unknown> };
    json.post_processor.cls = '<s>';
    await expectLoadError(json, /its post_processor \(type "RobertaProcessing"\)/);
  });

  it('a template naming a token it does not define', async () => {
    const json = bertTokenizerJson(WORDS) as { post_processor: { single: unknown[] } };
    json.post_processor.single = [{ SpecialToken: { id: '[BOS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }];
    await expectLoadError(json, /post_processor TemplateProcessing: the single template uses \[BOS\], which special_tokens does not define/);
    const pairB = bertTokenizerJson(WORDS) as { post_processor: { single: unknown[] } };
    pairB.post_processor.single = [{ Sequence: { id: 'B', type_id: 0 } }];
    await expectLoadError(pairB, /the single template uses sequence B/);
  });

  it('added_tokens that are not token objects', async () => {
    await expectLoadError({ ...xlmrTokenizerJson(WORDS), added_tokens: ['<s>'] }, /cannot build the tokenizer: its added_tokens \(.*AddedTokenWithId/);
  });

  it('no padding token', async () => {
    const json = xlmrTokenizerJson(WORDS) as { added_tokens: { content: string }[]; model: { vocab: [string, number][] } };
    json.added_tokens = json.added_tokens.filter((t) => t.content !== '<pad>');
    json.model.vocab = json.model.vocab.map(([p, s]) => [p === '<pad>' ? '<nopad>' : p, s]);
    await expectLoadError(json, /no padding token \(looked for <pad>, \[PAD\]/);
  });

  it('a text the model cannot tokenize (an unknown character, no unknown token) names the file when encoding', async () => {
    const path = writeTokenizerFiles(freshDir(), { ...xlmrTokenizerJson(WORDS), model: { ...(xlmrTokenizerJson(WORDS).model as object), unk_id: null } }, null);
    const tok = await HfTokenizer.load(path);
    for (const attempt of [() => tok.encode('Москва ☃'), () => tok.encodeWindows('☃', 'Москва', { maxLength: 20, stride: 2 })]) {
      const error = await attempt().then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(InputFileError);
      expect((error as Error).message).toMatch(new RegExp(`^${path}: cannot encode ".*☃": .*unk`));
    }
  });

  it('an invalid tokenizer_config.json names that file', async () => {
    const dir = freshDir();
    writeTokenizerFiles(dir, xlmrTokenizerJson(WORDS), xlmrTokenizerConfig());
    writeFileSync(join(dir, 'tokenizer_config.json'), '{"bos_token": ');
    await expectError(join(dir, 'tokenizer.json'), /not valid JSON/, join(dir, 'tokenizer_config.json'));
    writeTokenizerFiles(dir, bertTokenizerJson(WORDS), bertTokenizerConfig());
    await expect(HfTokenizer.load(dir)).resolves.toBeInstanceOf(HfTokenizer);
  });
});
