/**
 * Small tokenizer.json files laid out like the real XLM-R and mBERT ones
 * (added_tokens, normalizer, pre_tokenizer, post_processor, decoder, model),
 * built from a word list, for tests that need a real subword tokenizer
 * without downloading one. Words of four or more characters are split into
 * two pieces (a `▁` / word-initial half and a continuation half), shorter
 * words are whole pieces, and every character of every word is a piece too,
 * so any text made of those characters tokenizes without unknown tokens and
 * longer words come out as several tokens.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Punctuation every vocabulary gets as single pieces. */
const PUNCTUATION = [...'.,!?;:\'"()-'];

/** Choices for {@link xlmrTokenizerJson}. */
export interface XlmrTokenizerOptions {
  /**
   * `spm` (default): NFKC (standing in for SentencePiece's Precompiled
   * charsmap), then the converter's Strip(right) and Replace(" {2,}" → "▁");
   * `nfkc`: NFKC alone.
   */
  normalizer?: 'spm' | 'nfkc';
  /** `RobertaProcessing` (default, as xlm-roberta-base) or the equivalent `TemplateProcessing`. */
  postProcessor?: 'RobertaProcessing' | 'TemplateProcessing';
  /** Metaspace's prepend_scheme (default `always`). */
  prependScheme?: 'always' | 'first' | 'never';
  /**
   * Split at whitespace before Metaspace, as xlm-roberta-base's own file
   * does (older converters): a `▁` then stands for no character of the text
   * and a token's span leaves the space out. Default false (today's
   * converter: Metaspace alone, whose `▁` spans the space before a word).
   */
  whitespaceSplit?: boolean;
}

/** Choices for {@link bertTokenizerJson}. */
export interface BertTokenizerOptions {
  /** Uncased (lower-cases and strips accents, like bert-base-multilingual-uncased); default cased, like mBERT. */
  lowercase?: boolean;
}

const added = (id: number, content: string, lstrip = false) => ({ id, content, single_word: false, lstrip, rstrip: false, normalized: false, special: true });

/** The pieces of `words`: word-initial pieces, continuation pieces (both unmarked) and single characters. */
function split(words: Iterable<string>): { initial: string[]; continuation: string[]; chars: string[] } {
  const initial: string[] = [];
  const continuation: string[] = [];
  const chars: string[] = [];
  for (const word of new Set(words)) {
    const cs = [...word];
    if (cs.length === 0) continue;
    chars.push(...cs);
    if (cs.length >= 4) {
      const k = Math.ceil(cs.length / 2);
      initial.push(cs.slice(0, k).join(''));
      continuation.push(cs.slice(k).join(''));
    } else {
      initial.push(word);
    }
  }
  return { initial, continuation, chars: [...new Set(chars)] };
}

/**
 * An XLM-R-style tokenizer.json for `words`: Unigram over `▁` pieces,
 * `<s>`=0 `<pad>`=1 `</s>`=2 `<unk>`=3, the pieces (by descending score),
 * `<mask>` last; Metaspace; `<s> A </s>` / `<s> A </s></s> B </s>`.
 */
export function xlmrTokenizerJson(words: Iterable<string>, options: XlmrTokenizerOptions = {}): Record<string, unknown> {
  const { initial, continuation, chars } = split(words);
  const scores = new Map<string, number>();
  const add = (piece: string, score: number): void => {
    if (!['<s>', '<pad>', '</s>', '<unk>', '<mask>'].includes(piece)) scores.set(piece, Math.max(scores.get(piece) ?? -Infinity, score));
  };
  add('\u2581', -3);
  for (const w of initial) add(`\u2581${w}`, [...w].length < 4 ? -3.5 : -4);
  for (const w of continuation) add(w, -4.5);
  for (const c of [...PUNCTUATION, ...chars]) add(c, -9);
  const pieces = [...scores].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const vocab: [string, number][] = [['<s>', 0], ['<pad>', 0], ['</s>', 0], ['<unk>', 0], ...pieces, ['<mask>', 0]];
  const maskId = vocab.length - 1;
  const metaspace = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: options.prependScheme ?? 'always', split: true };
  const nfkc = { type: 'NFKC' };
  const normalizer =
    (options.normalizer ?? 'spm') === 'spm'
      ? { type: 'Sequence', normalizers: [nfkc, { type: 'Strip', strip_left: false, strip_right: true }, { type: 'Replace', pattern: { Regex: ' {2,}' }, content: '\u2581' }] }
      : nfkc;
  const postProcessor =
    (options.postProcessor ?? 'RobertaProcessing') === 'RobertaProcessing'
      ? { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0], trim_offsets: true, add_prefix_space: true }
      : {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
          pair: [
            { SpecialToken: { id: '<s>', type_id: 0 } },
            { Sequence: { id: 'A', type_id: 0 } },
            { SpecialToken: { id: '</s>', type_id: 0 } },
            { SpecialToken: { id: '</s>', type_id: 0 } },
            { Sequence: { id: 'B', type_id: 0 } },
            { SpecialToken: { id: '</s>', type_id: 0 } },
          ],
          special_tokens: {
            '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] },
            '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] },
          },
        };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [added(0, '<s>'), added(1, '<pad>'), added(2, '</s>'), added(3, '<unk>'), added(maskId, '<mask>', true)],
    normalizer,
    pre_tokenizer: options.whitespaceSplit ? { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, metaspace] } : metaspace,
    post_processor: postProcessor,
    decoder: { ...metaspace },
    model: { type: 'Unigram', unk_id: 3, vocab, byte_fallback: false },
  };
}

/** XLM-R's tokenizer_config.json (the parts a loader reads). */
export function xlmrTokenizerConfig(): Record<string, unknown> {
  return {
    bos_token: '<s>',
    cls_token: '<s>',
    eos_token: '</s>',
    sep_token: '</s>',
    pad_token: '<pad>',
    unk_token: '<unk>',
    mask_token: { __type: 'AddedToken', content: '<mask>', lstrip: true, normalized: false, rstrip: false, single_word: false },
    model_max_length: 512,
    tokenizer_class: 'XLMRobertaTokenizer',
  };
}

/**
 * An mBERT-style tokenizer.json for `words`: WordPiece with `##`
 * continuation pieces, `[PAD]`=0, pieces at 1–99 (then `[unusedN]` if they
 * run out), `[UNK]`=100 `[CLS]`=101 `[SEP]`=102 `[MASK]`=103, the remaining
 * pieces after; BertNormalizer, BertPreTokenizer, `[CLS] A [SEP]` /
 * `[CLS] A [SEP] B:1 [SEP]:1`.
 */
export function bertTokenizerJson(words: Iterable<string>, options: BertTokenizerOptions = {}): Record<string, unknown> {
  const lowercase = options.lowercase ?? false;
  const fold = (w: string): string => (lowercase ? w.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '') : w);
  const { initial, continuation, chars } = split([...words].map(fold));
  const specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  const pieces = [...new Set([...PUNCTUATION, ...chars, ...chars.map((c) => `##${c}`), ...initial, ...continuation.map((c) => `##${c}`)])].filter(
    (p) => !specials.includes(p),
  );
  const vocab: Record<string, number> = { '[PAD]': 0 };
  for (let id = 1; id < 100; id++) vocab[pieces.shift() ?? `[unused${id}]`] = id;
  Object.assign(vocab, { '[UNK]': 100, '[CLS]': 101, '[SEP]': 102, '[MASK]': 103 });
  pieces.forEach((p, i) => (vocab[p] = 104 + i));
  const sp = (id: string, typeId: number) => ({ SpecialToken: { id, type_id: typeId } });
  const seq = (id: string, typeId: number) => ({ Sequence: { id, type_id: typeId } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [added(0, '[PAD]'), added(100, '[UNK]'), added(101, '[CLS]'), added(102, '[SEP]'), added(103, '[MASK]')],
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [sp('[CLS]', 0), seq('A', 0), sp('[SEP]', 0)],
      pair: [sp('[CLS]', 0), seq('A', 0), sp('[SEP]', 0), seq('B', 1), sp('[SEP]', 1)],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [101], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [102], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

/**
 * A WordLevel tokenizer.json: whole words from `words` (split as BERT's
 * pre-tokenizer splits them), anything else [UNK], with mBERT's
 * normalizer, pre-tokenizer and template. Reads with bertTokenizerConfig().
 */
export function wordLevelTokenizerJson(words: Iterable<string>): Record<string, unknown> {
  const bert = bertTokenizerJson([]);
  const vocab: Record<string, number> = { '[PAD]': 0 };
  for (const [token, id] of Object.entries({ '[UNK]': 100, '[CLS]': 101, '[SEP]': 102, '[MASK]': 103 })) vocab[token] = id;
  const pieces = [...new Set([...words].flatMap((w) => w.split(/(\p{P})/u)).filter(Boolean))];
  pieces.forEach((p, i) => (vocab[p] ??= 104 + i));
  return { ...bert, decoder: null, model: { type: 'WordLevel', unk_token: '[UNK]', vocab } };
}

/** mBERT's tokenizer_config.json (the parts a loader reads). */
export function bertTokenizerConfig(options: BertTokenizerOptions = {}): Record<string, unknown> {
  return {
    do_lower_case: options.lowercase ?? false,
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    mask_token: '[MASK]',
    tokenize_chinese_chars: true,
    strip_accents: null,
    model_max_length: 512,
    tokenizer_class: 'BertTokenizer',
  };
}

/**
 * Writes `tokenizer.json` (and, unless `config` is null,
 * `tokenizer_config.json`) into `dir`, creating it; returns the
 * tokenizer.json path.
 */
export function writeTokenizerFiles(dir: string, tokenizer: unknown, config: Record<string, unknown> | null): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'tokenizer.json');
  writeFileSync(path, JSON.stringify(tokenizer, null, 2));
  if (config) writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config, null, 2));
  return path;
}

/** Writes an XLM-R-style tokenizer.json and tokenizer_config.json for `words` into `dir`; returns the tokenizer.json path. */
export function writeXlmrTokenizer(dir: string, words: Iterable<string>, options: XlmrTokenizerOptions = {}): string {
  return writeTokenizerFiles(dir, xlmrTokenizerJson(words, options), xlmrTokenizerConfig());
}

/** Writes an mBERT-style tokenizer.json and tokenizer_config.json for `words` into `dir`; returns the tokenizer.json path. */
export function writeBertTokenizer(dir: string, words: Iterable<string>, options: BertTokenizerOptions = {}): string {
  return writeTokenizerFiles(dir, bertTokenizerJson(words, options), bertTokenizerConfig(options));
}
