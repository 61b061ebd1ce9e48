import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { mulberry32 } from '@thaw/kernels/reference';
import { HfTokenizer } from '../src/formats/hf-tokenizer.js';
import { InputFileError } from '../src/errors/input-error.js';
import {
  bertTokenizerConfig,
  bertTokenizerJson,
  writeBertTokenizer,
  writeTokenizerFiles,
  writeXlmrTokenizer,
  xlmrTokenizerConfig,
  xlmrTokenizerJson,
  type XlmrTokenizerOptions,
} from './support/tokenizer-files.js';

const WORDS = [
  'Paris', 'is', 'the', 'capital', 'of', 'France', 'Berlin', 'and', 'city', 'in', 'Germany', 'ist', 'die', 'Hauptstadt', 'von', 'Deutschland',
  'café', 'über', 'Straße', 'naïve', 'résumé', 'Ελλάδα', 'Москва', 'столица', 'России', 'это', 'город', '東京', '日本', '首都', 'です',
];

/** Sentences whose text no normalizer here changes (NFC, no control characters): every token's span must spell its surface. */
const SENTENCES = [
  'Paris is the capital of France.',
  'Berlin ist die Hauptstadt von Deutschland!',
  'Москва — столица России, это город.',
  'Ein café über der Straße; naïve résumé?',
  '東京は日本の首都です。',
  'Ελλάδα (Paris) "city" - and: Germany',
  'Parisian capitals, Berliners.',
];

const root = mkdtempSync(join(tmpdir(), 'thaw-hftok-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `t${dirs++}`);

/** The library's encode (its .d.ts files do not resolve under NodeNext, so typed here). */
interface Reference {
  encode(text: string, options?: { text_pair?: string; add_special_tokens?: boolean; return_token_type_ids?: boolean }): { ids: number[]; tokens: string[]; token_type_ids?: number[] };
}

/** The library itself, built from the same files: what our ids must equal. */
function reference(path: string): Reference {
  const configPath = join(dirname(path), 'tokenizer_config.json');
  const config = existsSync(configPath) ? JSON.parse(readFileSync(configPath, 'utf8')) : {};
  return new Tokenizer(JSON.parse(readFileSync(path, 'utf8')), config) as Reference;
}

/** The characters of the text a library token stands for (markers removed). */
function surface(token: string): string {
  return token.replace(/^##/, '').replaceAll('\u2581', ' ').trim();
}

/** For every token of `text` except unknowns and whitespace-only tokens: its span spells its surface. */
function expectSpansSpellTokens(tok: HfTokenizer, ref: Reference, text: string): void {
  const { ids, offsets } = tok.tokenize(text);
  const tokens = ref.encode(text, { add_special_tokens: false }).tokens;
  expect(ids).toEqual(ref.encode(text, { add_special_tokens: false }).ids);
  expect(offsets).toHaveLength(ids.length);
  let checked = 0;
  tokens.forEach((token, i) => {
    const [b, e] = offsets[i]!;
    if (token === '[UNK]' || surface(token) === '') return;
    expect(text.slice(b, e), `token ${i} ${JSON.stringify(token)} of ${JSON.stringify(text)}`).toBe(surface(token));
    checked++;
  });
  expect(checked).toBeGreaterThan(0);
}

/** Offsets inside the text, begin ≤ end, in order. */
function expectOrderedSpans(offsets: [number, number][], text: string): void {
  let last = 0;
  for (const [b, e] of offsets) {
    expect(b).toBeGreaterThanOrEqual(last);
    expect(e).toBeGreaterThanOrEqual(b);
    expect(e).toBeLessThanOrEqual(text.length);
    last = b;
  }
}

async function xlmr(options: XlmrTokenizerOptions = {}, words: string[] = WORDS): Promise<{ tok: HfTokenizer; ref: Reference; path: string }> {
  const path = writeXlmrTokenizer(freshDir(), words, options);
  return { tok: await HfTokenizer.load(path), ref: reference(path), path };
}

async function bert(lowercase = false, words: string[] = WORDS): Promise<{ tok: HfTokenizer; ref: Reference; path: string }> {
  const path = writeBertTokenizer(freshDir(), words, { lowercase });
  return { tok: await HfTokenizer.load(path), ref: reference(path), path };
}

describe('HfTokenizer, XLM-R convention (Unigram)', () => {
  it('detects the convention and its special tokens', async () => {
    const { tok, path } = await xlmr();
    const vocab = (JSON.parse(readFileSync(path, 'utf8')).model.vocab as unknown[]).length;
    expect(tok.convention).toBe('xlmr');
    expect([tok.clsId, tok.padId, tok.sepId, tok.unkId]).toEqual([0, 1, 2, 3]);
    expect(tok.maskId).toBe(vocab - 1);
    expect(tok.vocabSize).toBe(vocab);
    expect(tok.specialTokenCount(false)).toBe(2);
    expect(tok.specialTokenCount(true)).toBe(4);
  });

  it('gives the library ids for whole texts, alone and as pairs', async () => {
    const { tok, ref } = await xlmr();
    for (const text of SENTENCES) {
      expect(tok.tokenize(text).ids).toEqual(ref.encode(text, { add_special_tokens: false }).ids);
      expect(tok.encode(text).ids).toEqual(ref.encode(text).ids);
      expect(tok.encode(text, SENTENCES[0]).ids).toEqual(ref.encode(text, { text_pair: SENTENCES[0]! }).ids);
    }
  });

  it('splits words into several pieces and maps every piece to its characters', async () => {
    const { tok, ref } = await xlmr();
    expect(tok.tokenize('capital').ids.length).toBeGreaterThan(1);
    for (const text of SENTENCES) expectSpansSpellTokens(tok, ref, text);
    const text = 'Paris is the capital';
    expect(tok.tokenize(text).offsets).toEqual([[0, 3], [3, 5], [6, 8], [9, 12], [13, 17], [17, 20]]);
  });

  it('spans an unknown character (fused by Unigram) exactly', async () => {
    const { tok } = await xlmr();
    const text = 'Москва — столица';
    const { ids, offsets } = tok.tokenize(text);
    const k = ids.indexOf(tok.unkId);
    expect(k).toBeGreaterThan(0);
    expect(text.slice(...offsets[k]!)).toBe('—');
  });

  it('keeps whitespace out of spans, with runs of spaces, tabs, newlines and edges (Strip + Replace normalizer)', async () => {
    const { tok, ref } = await xlmr({ normalizer: 'spm' });
    for (const text of ['  Paris   is\tthe capital \n', '\nBerlin\n\nist  die Hauptstadt  ', ' ', '']) {
      expectOrderedSpans(tok.tokenize(text).offsets, text);
      if (text.trim()) expectSpansSpellTokens(tok, ref, text);
      else expect(tok.tokenize(text).ids).toEqual(ref.encode(text, { add_special_tokens: false }).ids);
    }
  });

  it('maps text that NFKC changes back onto the original characters', async () => {
    const { tok, ref } = await xlmr({ normalizer: 'nfkc' });
    // Fullwidth letters: NFKC gives "Paris" -> ▁Par + is, each fullwidth letter one UTF-16 unit.
    const full = '\uFF30\uFF41\uFF52\uFF49\uFF53 is';
    expect(tok.tokenize(full).ids).toEqual(ref.encode(full, { add_special_tokens: false }).ids);
    expect(tok.tokenize(full).offsets).toEqual([[0, 3], [3, 5], [6, 8]]);
    // A decomposed é composes under NFKC: the piece holding é spans both code units.
    const decomposed = 'cafe\u0301';
    expect(tok.tokenize(decomposed).ids).toEqual(tok.tokenize('café').ids);
    expect(tok.tokenize(decomposed).offsets).toEqual([[0, 2], [2, 5]]);
    // A ligature becomes two letters; both tokens made from it span it.
    const lig = 'the \uFB01';
    const { ids, offsets } = tok.tokenize(lig);
    expect(ids).toEqual(ref.encode(lig, { add_special_tokens: false }).ids);
    expect(offsets.slice(-2)).toEqual([[4, 5], [4, 5]]);
  });

  it('aligns around special tokens written in the text, for both Metaspace prepend schemes', async () => {
    const results: number[][] = [];
    for (const prependScheme of ['always', 'first'] as const) {
      const { tok, ref } = await xlmr({ prependScheme });
      const text = 'Paris is <mask>capital.';
      const { ids, offsets } = tok.tokenize(text);
      // Under "first" the section after <mask> gets no ▁, so its ids differ from re-tokenizing the word alone.
      expect(ids).toEqual(ref.encode(text, { add_special_tokens: false }).ids);
      const k = ids.indexOf(tok.maskId);
      expect(text.slice(...offsets[k]!)).toBe('<mask>');
      expect(text.slice(offsets[k + 1]![0], offsets.at(-1)![1])).toBe('capital.');
      expectSpansSpellTokens(tok, ref, text);
      results.push(ids);
    }
    expect(results[0]).not.toEqual(results[1]);
  });

  it('reads the same template from RobertaProcessing and TemplateProcessing: <s> A </s></s> B </s>, token types 0', async () => {
    const roberta = (await xlmr({ postProcessor: 'RobertaProcessing' })).tok;
    const template = (await xlmr({ postProcessor: 'TemplateProcessing' })).tok;
    for (const tok of [roberta, template]) {
      expect(tok.withSpecialTokens([10, 11], [12])).toEqual({
        ids: [0, 10, 11, 2, 2, 12, 2],
        tokenTypes: [0, 0, 0, 0, 0, 0, 0],
        sequenceIds: [null, 0, 0, null, null, 1, null],
      });
      expect(tok.withSpecialTokens([10])).toEqual({ ids: [0, 10, 2], tokenTypes: [0, 0, 0], sequenceIds: [null, 0, null] });
    }
  });

  it('loads from a folder, and without tokenizer_config.json', async () => {
    const dir = freshDir();
    const path = writeTokenizerFiles(dir, xlmrTokenizerJson(WORDS), null);
    const bare = await HfTokenizer.load(path);
    const viaDir = await HfTokenizer.load(dir);
    expect(viaDir.path).toBe(path);
    for (const text of SENTENCES) expect(bare.tokenize(text)).toEqual(viaDir.tokenize(text));
    expect([bare.clsId, bare.padId, bare.sepId, bare.unkId]).toEqual([0, 1, 2, 3]);
  });
});

describe('HfTokenizer, BERT convention (WordPiece)', () => {
  it('detects the convention and mBERT special ids', async () => {
    const { tok, path } = await bert();
    const vocab = JSON.parse(readFileSync(path, 'utf8')).model.vocab as Record<string, number>;
    expect(tok.convention).toBe('bert');
    expect([tok.padId, tok.unkId, tok.clsId, tok.sepId, tok.maskId]).toEqual([0, 100, 101, 102, 103]);
    expect(tok.vocabSize).toBe(Math.max(...Object.values(vocab)) + 1);
    expect(tok.idToToken(1)).not.toMatch(/^\[unused/);
    expect(tok.specialTokenCount(false)).toBe(2);
    expect(tok.specialTokenCount(true)).toBe(3);
  });

  it('gives the library ids and token types, alone and as pairs', async () => {
    const { tok, ref } = await bert();
    for (const text of SENTENCES) {
      expect(tok.tokenize(text).ids).toEqual(ref.encode(text, { add_special_tokens: false }).ids);
      const single = ref.encode(text, { return_token_type_ids: true });
      expect(tok.encode(text)).toMatchObject({ ids: single.ids, tokenTypes: single.token_type_ids });
      const pair = ref.encode(text, { text_pair: SENTENCES[1]!, return_token_type_ids: true });
      const ours = tok.encode(text, SENTENCES[1]);
      expect(ours.ids).toEqual(pair.ids);
      expect(ours.tokenTypes).toEqual(pair.token_type_ids);
      expect(ours.tokenTypes).toContain(1);
    }
  });

  it('maps every ## piece, punctuation mark and CJK character to its characters', async () => {
    const { tok, ref } = await bert();
    expect(tok.tokenize('capital').ids.length).toBeGreaterThan(1);
    for (const text of SENTENCES) expectSpansSpellTokens(tok, ref, text);
    expect(tok.tokenize('Paris, capital.').offsets).toEqual([[0, 3], [3, 5], [5, 6], [7, 11], [11, 14], [14, 15]]);
  });

  it('spans a whole word for [UNK], and a [MASK] written in the text', async () => {
    const { tok } = await bert();
    const text = 'the \uFF30\uFF41\uFF52\uFF49\uFF53 xyz. [MASK] は';
    const { ids, offsets } = tok.tokenize(text);
    const spans = ids.flatMap((id, i) => (id === tok.unkId || id === tok.maskId ? [text.slice(...offsets[i]!)] : []));
    expect(spans).toEqual(['\uFF30\uFF41\uFF52\uFF49\uFF53', 'xyz', '[MASK]', 'は']);
    expect(text.slice(...offsets[ids.indexOf(tok.unkId) + 2]!)).toBe('.');
  });

  it('maps lower-cased, accent-stripped text (uncased) back to the original, final sigma included', async () => {
    const { tok, ref } = await bert(true, [...WORDS, 'ΟΔΟΣ']);
    const text = 'CAFÉ Über ΟΔΟΣ';
    const { ids, offsets } = tok.tokenize(text);
    expect(ids).toEqual(ref.encode(text, { add_special_tokens: false }).ids);
    expect(ids).not.toContain(tok.unkId);
    expect(ref.encode(text, { add_special_tokens: false }).tokens).toEqual(['ca', '##fe', 'ub', '##er', 'οδ', '##ος']);
    expect(offsets).toEqual([[0, 2], [2, 4], [5, 7], [7, 9], [10, 12], [12, 14]]);
  });
});

describe('HfTokenizer.encode', () => {
  const words = ['one', 'two', 'six', 'ten'];
  /** n three-letter words: n tokens, each word its own piece. */
  const text = (n: number): string => Array.from({ length: n }, (_, i) => words[i % 4]).join(' ');

  it('truncates longest_first one token at a time from the longer sequence, the second on ties', async () => {
    const { tok } = await bert(false, words);
    expect(tok.tokenize(text(6)).ids).toHaveLength(6);
    // 10 + 4 tokens, room 15 - 3 = 12: only the first loses (2).
    let out = tok.encode(text(10), text(4), { maxLength: 15 });
    expect(out.ids).toHaveLength(15);
    expect(out.sequenceIds.filter((s) => s === 0)).toHaveLength(8);
    expect(out.sequenceIds.filter((s) => s === 1)).toHaveLength(4);
    // 6 + 6, room 12 - 3 = 9: (6,6) -> (6,5) -> (5,5) -> (5,4).
    out = tok.encode(text(6), text(6), { maxLength: 12, truncation: 'longest_first' });
    expect(out.ids).toEqual(tok.withSpecialTokens(tok.tokenize(text(6)).ids.slice(0, 5), tok.tokenize(text(6)).ids.slice(0, 4)).ids);
    // A single sequence keeps maxLength - 2.
    expect(tok.encode(text(10), undefined, { maxLength: 5 }).ids).toEqual(tok.withSpecialTokens(tok.tokenize(text(10)).ids.slice(0, 3)).ids);
    // Fits: untouched.
    expect(tok.encode(text(3), text(3), { maxLength: 9 }).ids).toHaveLength(9);
  });

  it('truncates only_first and only_second, and refuses what they cannot do', async () => {
    const { tok } = await xlmr({}, words);
    const a = tok.tokenize(text(8)).ids;
    const b = tok.tokenize(text(5)).ids;
    expect(tok.encode(text(8), text(5), { maxLength: 14, truncation: 'only_first' }).ids).toEqual(tok.withSpecialTokens(a.slice(0, 5), b).ids);
    expect(tok.encode(text(8), text(5), { maxLength: 14, truncation: 'only_second' }).ids).toEqual(tok.withSpecialTokens(a, b.slice(0, 2)).ids);
    expect(() => tok.encode(text(8), text(5), { maxLength: 12, truncation: 'only_second' })).toThrow(RangeError);
    expect(() => tok.encode(text(8), undefined, { maxLength: 6, truncation: 'only_second' })).toThrow(/needs a pair/);
    expect(() => tok.encode(text(2), text(2), { maxLength: 3 })).toThrow(/cannot hold/);
  });

  it('pads with the padding id, mask 0, type 0 and null offsets; keeps offsets of both texts', async () => {
    const { tok } = await bert(false, WORDS);
    const first = 'Paris is';
    const second = 'the capital';
    const out = tok.encode(first, second, { padTo: 12 });
    // Paris is -> Par ##is is; the capital -> the capi ##tal.
    expect(out.ids).toEqual([101, ...tok.tokenize(first).ids, 102, ...tok.tokenize(second).ids, 102, 0, 0, 0]);
    expect(out.attentionMask).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
    expect(out.tokenTypes).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0]);
    expect(out.sequenceIds).toEqual([null, 0, 0, 0, null, 1, 1, 1, null, null, null, null]);
    expect(out.offsets).toEqual([null, [0, 3], [3, 5], [6, 8], null, [0, 3], [4, 8], [8, 11], null, null, null, null]);
    expect(tok.encode(first, second, { padTo: 3 }).ids).toHaveLength(9);
    const x = (await xlmr()).tok;
    const padded = x.encode('Paris', undefined, { padTo: 6 });
    expect(padded.ids).toEqual([0, ...x.tokenize('Paris').ids, 2, 1, 1]);
    expect(padded.attentionMask).toEqual([1, 1, 1, 1, 0, 0]);
  });
});

describe('HfTokenizer robustness', () => {
  it('keeps ids and ordered, in-bounds offsets on random mixed text', async () => {
    const alphabet = [...'Paris capital Москва 東京 é ü ß', ' ', '  ', '\t', '\n', 'e\u0301', '\uFF21', '\uFB01', '\u00A0', '\u200B', '\u0007', '😀', '—', '<mask>', '[MASK]', 'ΟΔΟΣ', '.', ','];
    const random = mulberry32(7);
    const tokenizers = [await xlmr({ normalizer: 'spm' }), await xlmr({ normalizer: 'nfkc' }), await bert(false), await bert(true)];
    for (let round = 0; round < 60; round++) {
      const text = Array.from({ length: 1 + Math.floor(random() * 25) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
      for (const { tok, ref } of tokenizers) {
        const { ids, offsets } = tok.tokenize(text);
        expect(ids).toEqual(ref.encode(text, { add_special_tokens: false }).ids);
        expectOrderedSpans(offsets, text);
      }
    }
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
    await expectLoadError('{"model": {"type": "Unigram",', /invalid JSON/);
  });

  it('JSON that is not an object', async () => {
    await expectLoadError('[1, 2]', /expected a JSON object, got an array/);
  });

  it('no model', async () => {
    const { model: _, ...rest } = xlmrTokenizerJson(WORDS);
    await expectLoadError(rest, /no "model" section/);
  });

  it('an unsupported model type', async () => {
    const json = xlmrTokenizerJson(WORDS);
    await expectLoadError({ ...json, model: { type: 'BPE', vocab: { a: 0 }, merges: [] } }, /unsupported model type "BPE"/);
  });

  it('a Unigram vocab that is not [piece, score] pairs', async () => {
    const json = xlmrTokenizerJson(WORDS);
    await expectLoadError({ ...json, model: { type: 'Unigram', unk_id: 3, vocab: ['<s>', '<pad>'] } }, /\[piece, score\] pairs/);
  });

  it('a Unigram unk_id outside the vocab', async () => {
    const json = xlmrTokenizerJson(WORDS) as { model: { unk_id: number } };
    json.model.unk_id = 999;
    await expectLoadError(json, /model\.unk_id 999 is not an index into model\.vocab/);
  });

  it('a WordPiece vocab that is not an object from piece to id', async () => {
    const json = bertTokenizerJson(WORDS) as { model: { vocab: unknown } };
    json.model.vocab = ['[PAD]', '[UNK]'];
    await expectLoadError(json, /model\.vocab of a WordPiece model must be a non-empty object from piece to id/);
  });

  it('added_tokens that are not {id, content} objects', async () => {
    await expectLoadError({ ...xlmrTokenizerJson(WORDS), added_tokens: ['<s>'] }, /"added_tokens" must be a list of \{id, content\} objects/);
  });

  it('a RobertaProcessing cls that is not a [token, id] pair', async () => {
    const json = xlmrTokenizerJson(WORDS, { postProcessor: 'RobertaProcessing' }) as { post_processor: Record<string, unknown> };
    json.post_processor.cls = '<s>';
    await expectLoadError(json, /post_processor RobertaProcessing: "cls" must be a \[token, id\] pair/);
  });

  it('a component the library does not know', async () => {
    await expectLoadError({ ...xlmrTokenizerJson(WORDS), normalizer: { type: 'Frobnicate' } }, /cannot build the tokenizer.*Frobnicate/);
  });

  it('XLM-R without <mask>', async () => {
    const json = xlmrTokenizerJson(WORDS) as { added_tokens: { content: string }[]; model: { vocab: [string, number][] } };
    json.added_tokens = json.added_tokens.filter((t) => t.content !== '<mask>');
    json.model.vocab = json.model.vocab.filter(([p]) => p !== '<mask>');
    await expectLoadError(json, /no <mask> token \(the XLM-R convention needs/);
  });

  it('BERT without [CLS] and [SEP]', async () => {
    const json = bertTokenizerJson(WORDS) as { added_tokens: { content: string }[]; model: { vocab: Record<string, number> } };
    json.added_tokens = json.added_tokens.filter((t) => t.content !== '[CLS]' && t.content !== '[SEP]');
    delete json.model.vocab['[CLS]'];
    delete json.model.vocab['[SEP]'];
    await expectLoadError(json, /no \[CLS\], \[SEP\] tokens \(the BERT convention needs/);
  });

  it('a template naming a token the vocabulary lacks', async () => {
    const json = bertTokenizerJson(WORDS) as { post_processor: { single: unknown[]; special_tokens: object } };
    json.post_processor.single = [{ SpecialToken: { id: '[BOS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }];
    await expectLoadError(json, /post_processor TemplateProcessing: unknown special token \[BOS\]/);
  });

  it('an invalid tokenizer_config.json names that file', async () => {
    const dir = freshDir();
    writeTokenizerFiles(dir, xlmrTokenizerJson(WORDS), xlmrTokenizerConfig());
    writeFileSync(join(dir, 'tokenizer_config.json'), '{"bos_token": ');
    await expectError(join(dir, 'tokenizer.json'), /invalid JSON/, join(dir, 'tokenizer_config.json'));
    writeTokenizerFiles(dir, bertTokenizerJson(WORDS), bertTokenizerConfig());
    await expect(HfTokenizer.load(dir)).resolves.toBeInstanceOf(HfTokenizer);
  });
});
