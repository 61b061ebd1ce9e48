/**
 * A model's own subword tokenizer, read from its `tokenizer.json` (the
 * Hugging Face `tokenizers` format), for the real-data loaders: XLM-R's
 * SentencePiece Unigram (`<s> a </s></s> b </s>`, token types all 0) and
 * mBERT's WordPiece (`[CLS] a [SEP] b [SEP]`, token types 0 then 1).
 *
 * Tokenizing is left to `@huggingface/tokenizers` (pure JS, offline): the ids
 * are exactly what it returns for the whole text, so they match the model's
 * vocabulary the way transformers.js does. That library has no offsets, no
 * truncation and no padding; this file adds them.
 *
 * Offsets (needed to map SQuAD-style answer spans onto tokens) are recovered
 * by alignment rather than by re-tokenizing pieces, which could change ids
 * (Metaspace adds a `▁` to every piece it sees, and the library hands
 * Unigram the whole section, not words). The text is split the way the
 * library splits it (around special tokens), each section is normalized step
 * by step while tracking, for every normalized character, the span of the
 * original text it came from; then the library's tokens are matched, in
 * order, against that normalized text (`##` and the `▁` marker removed, a
 * prepended `▁` and skipped whitespace allowed for). A normalization step
 * that changes characters (NFKC, lower-casing, accent stripping, CJK
 * spacing) is applied word by word to find the changed words, and within a
 * changed word character cluster by cluster (a base and its marks), each
 * level used only where it reproduces the step's own output (it does not for
 * a final sigma, say); what a changed unit becomes shares the unit's
 * original span proportionally, and a step no split reproduces maps the
 * whole section that way. Trimming (Strip) is mapped exactly.
 *
 * Special-token templates are read from the file's post-processor
 * (TemplateProcessing, RobertaProcessing, BertProcessing) rather than
 * assumed from the model type; truncation follows transformers' semantics.
 * Every problem with the files is an `InputFileError` naming the file.
 */
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { InputFileError } from '../errors/input-error.js';
import { readText } from './input-file.js';
import type { TextTokenizer } from './text-tokenizer.js';

/** Which family of special tokens and template a tokenizer follows. */
export type TokenizerConvention = 'xlmr' | 'bert';

/**
 * How `encode` shortens a sequence or pair that does not fit `maxLength`
 * (transformers' names): `longest_first` removes one token at a time from
 * the end of the longer sequence (from the second when they are equal);
 * `only_first` / `only_second` cut only that sequence.
 */
export type TruncationStrategy = 'longest_first' | 'only_first' | 'only_second';

/** Options of {@link HfTokenizer.encode}. */
export interface EncodeOptions {
  /** Longest result, special tokens included; longer inputs are truncated. */
  maxLength?: number;
  /** How to truncate to `maxLength` (default `longest_first`). */
  truncation?: TruncationStrategy;
  /** Pad with the padding token up to this length (a longer result is left as it is). */
  padTo?: number;
}

/** A model input from {@link HfTokenizer.encode}; all arrays have the same length. */
export interface EncodedInput {
  ids: number[];
  /** Segment ids from the template (all 0 for XLM-R); 0 at padding. */
  tokenTypes: number[];
  /** 1 for a real or special token, 0 for padding. */
  attentionMask: number[];
  /**
   * [begin, end) character span of each token in the text it came from
   * (the first text or the pair, see `sequenceIds`); null for special tokens
   * and padding.
   */
  offsets: ([number, number] | null)[];
  /** 0 or 1 for a token of the first text or of the pair; null for special tokens and padding. */
  sequenceIds: (0 | 1 | null)[];
}

/** One element of a special-token template. */
type TemplatePiece = { special: number[]; typeId: number } | { sequence: 0 | 1; typeId: number };

interface Template {
  single: TemplatePiece[];
  pair: TemplatePiece[];
}

/** Normalized text with, for each UTF-16 unit, the [begin, end) span of the original text it came from. */
interface MappedText {
  text: string;
  begin: number[];
  end: number[];
}

/** A normalization step: trimming (mapped exactly) or a function (mapped by segments). */
type Step = { strip: [boolean, boolean] } | { apply: (s: string) => string };

type Json = Record<string, unknown>;

/*
 * The parts of @huggingface/tokenizers used here, typed by hand: its .d.ts
 * files import without extensions, which NodeNext resolution cannot follow,
 * so TypeScript sees the library as untyped.
 */
interface LibNormalizer {
  config: unknown;
  normalize(text: string): string;
}
interface LibPreTokenizer {
  pre_tokenize(text: string): string[];
}
interface LibTokenizer {
  normalizer: LibNormalizer | null;
  pre_tokenizer: LibPreTokenizer | null;
  encode(text: string, options?: { text_pair?: string | null; add_special_tokens?: boolean }): { ids: number[]; tokens: string[] };
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
  get_vocab(withAddedTokens?: boolean): Map<string, number>;
}

const CONVENTIONS = {
  xlmr: { name: 'XLM-R', model: 'Unigram', cls: '<s>', sep: '</s>', pad: '<pad>', mask: '<mask>', unk: '<unk>' },
  bert: { name: 'BERT', model: 'WordPiece', cls: '[CLS]', sep: '[SEP]', pad: '[PAD]', mask: '[MASK]', unk: '[UNK]' },
} as const;

/** Whitespace runs and words: the units a normalization step is first mapped by. */
const WORDS = /\s+|\S+/gu;
/** Character clusters (a base and its combining marks): the finer units within a changed word, unless they do not reproduce the word's output (final sigma, Hangul jamo). */
const CLUSTERS = /\P{M}\p{M}*|\p{M}+/gu;
const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isHigh = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;

/**
 * A `tokenizer.json` tokenizer (XLM-R Unigram or BERT WordPiece) with
 * character offsets, special-token templates, truncation and padding.
 */
export class HfTokenizer implements TextTokenizer {
  /** The padding token's id (`<pad>` 1 for XLM-R, `[PAD]` 0 for mBERT). */
  readonly padId: number;
  /** The id that opens a sequence: `[CLS]`, or `<s>` (bos) for XLM-R. */
  readonly clsId: number;
  /** The id that closes a sequence: `[SEP]`, or `</s>` (eos) for XLM-R. */
  readonly sepId: number;
  /** The mask token's id, for masked-language-model training. */
  readonly maskId: number;
  /** The unknown token's id. */
  readonly unkId: number;
  /** One more than the largest id, added tokens included (the embedding matrix's row count). */
  readonly vocabSize: number;

  private readonly steps: Step[];
  /** Added tokens split off before normalization (the library's unnormalized splitter), by first UTF-16 unit. */
  private readonly unnormalizedAdded = new Map<string, string[]>();
  /** Strings that are emitted as added tokens, raw or normalized: matched literally. */
  private readonly literals: Set<string>;
  /** The Metaspace replacement character (`▁`), read as a space when aligning; null without Metaspace. */
  private readonly marker: string | null;
  /** WordPiece's continuation prefix (`##`); null for Unigram. */
  private readonly continuation: string | null;
  /** WordPiece's unknown token, which stands for a whole pre-token; null for Unigram (unknown characters come back as themselves). */
  private readonly wordUnk: string | null;

  private constructor(
    /** The tokenizer.json this was read from. */
    readonly path: string,
    /** Which convention the file follows: `xlmr` (Unigram) or `bert` (WordPiece). */
    readonly convention: TokenizerConvention,
    private readonly tokenizer: LibTokenizer,
    json: Json,
    config: Json,
    private readonly template: Template,
    ids: { pad: number; cls: number; sep: number; mask: number; unk: number },
  ) {
    this.padId = ids.pad;
    this.clsId = ids.cls;
    this.sepId = ids.sep;
    this.maskId = ids.mask;
    this.unkId = ids.unk;
    let max = -1;
    for (const id of tokenizer.get_vocab(true).values()) max = Math.max(max, id);
    this.vocabSize = max + 1;

    const normalizer = tokenizer.normalizer;
    this.steps = [];
    if (config.remove_space === true) this.steps.push({ strip: [true, true] }, { apply: (s) => s.replace(/\s+/g, ' ') });
    if (config.do_lowercase_and_remove_accent === true) this.steps.push({ apply: (s) => s.toLowerCase().replace(/\p{M}/gu, '') });
    this.steps.push(...normalizerSteps(normalizer));

    this.literals = new Set();
    for (const t of (json.added_tokens as Json[] | undefined) ?? []) {
      const content = t.content as string;
      const special = t.special === true;
      const normalized = typeof t.normalized === 'boolean' ? t.normalized : !special;
      this.literals.add(content);
      if (normalized && normalizer) this.literals.add(normalizer.normalize(content));
      else if (content) this.unnormalizedAdded.set(content[0]!, [...(this.unnormalizedAdded.get(content[0]!) ?? []), content]);
    }

    const model = json.model as Json;
    const marker = metaspaceReplacement(json.pre_tokenizer);
    this.marker = marker !== null && marker.length === 1 ? marker : null;
    const wordPiece = convention === 'bert';
    this.continuation = wordPiece ? (typeof model.continuing_subword_prefix === 'string' ? model.continuing_subword_prefix : '##') : null;
    this.wordUnk = wordPiece ? (typeof model.unk_token === 'string' ? model.unk_token : null) : null;
  }

  /**
   * Reads `path` (a tokenizer.json, or a folder holding one) and, when
   * present beside it, `tokenizer_config.json`. The convention follows the
   * model: Unigram is XLM-R's, WordPiece BERT's. Throws `InputFileError` for
   * a missing or unreadable file, invalid JSON, a missing or unsupported
   * model, or special tokens the convention needs but the file lacks.
   */
  static async load(path: string): Promise<HfTokenizer> {
    if (await isDirectory(path)) path = join(path, 'tokenizer.json');
    const json = parseJson(path, await readText(path));
    const configPath = join(dirname(path), 'tokenizer_config.json');
    const config = (await exists(configPath)) ? parseJson(configPath, await readText(configPath)) : {};

    if (!isObject(json.model)) throw new InputFileError(path, 'no "model" section (a tokenizer.json has one)');
    const model = json.model;
    const type = modelType(model);
    const convention = (Object.keys(CONVENTIONS) as TokenizerConvention[]).find((c) => CONVENTIONS[c].model === type);
    if (!convention) throw new InputFileError(path, `unsupported model type ${JSON.stringify(type ?? null)} (expected Unigram, as XLM-R, or WordPiece, as BERT)`);
    validateModel(path, type!, model);
    if (json.added_tokens !== undefined && json.added_tokens !== null) {
      if (!Array.isArray(json.added_tokens) || !json.added_tokens.every((t) => isObject(t) && Number.isInteger(t.id) && typeof t.content === 'string')) {
        throw new InputFileError(path, '"added_tokens" must be a list of {id, content} objects');
      }
    }

    // The library reads missing sections as present; give it explicit nulls.
    const complete: Json = { ...json, added_tokens: json.added_tokens ?? [] };
    for (const key of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) complete[key] ??= null;
    let tokenizer: LibTokenizer;
    try {
      tokenizer = new Tokenizer(complete, config) as LibTokenizer;
    } catch (e) {
      throw new InputFileError(path, `cannot build the tokenizer (${oneLine((e as Error).message)})`);
    }

    const c = CONVENTIONS[convention];
    const names = {
      cls: tokenName(config.cls_token) ?? tokenName(config.bos_token) ?? c.cls,
      sep: tokenName(config.sep_token) ?? tokenName(config.eos_token) ?? c.sep,
      pad: tokenName(config.pad_token) ?? c.pad,
      mask: tokenName(config.mask_token) ?? c.mask,
      unk: (type === 'WordPiece' && typeof model.unk_token === 'string' ? model.unk_token : undefined) ?? tokenName(config.unk_token) ?? c.unk,
    };
    const lookup = (name: string): number | undefined => tokenizer.token_to_id(name);
    const ids = {
      cls: lookup(names.cls),
      sep: lookup(names.sep),
      pad: lookup(names.pad),
      mask: lookup(names.mask),
      unk: type === 'Unigram' && Number.isInteger(model.unk_id) ? (model.unk_id as number) : lookup(names.unk),
    };
    const missing = (Object.keys(ids) as (keyof typeof ids)[]).filter((k) => ids[k] === undefined).map((k) => names[k]);
    if (missing.length) {
      throw new InputFileError(
        path,
        `no ${missing.join(', ')} token${missing.length > 1 ? 's' : ''} (the ${c.name} convention needs ${[names.cls, names.sep, names.pad, names.mask, names.unk].join(', ')})`,
      );
    }
    const resolved = ids as { [K in keyof typeof ids]: number };
    const template = readTemplate(path, json.post_processor, lookup, convention) ?? defaultTemplate(convention, resolved.cls, resolved.sep);
    return new HfTokenizer(path, convention, tokenizer, complete, config, template, resolved);
  }

  /** The id of a token string (vocabulary or added token), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /** The token string of an id, or undefined. */
  idToToken(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }

  /**
   * Ids of `text` without special tokens (exactly the library's), with each
   * token's [begin, end) span in `text`. Spans leave out the whitespace a
   * token carries (`▁world` spans `world`); a token made only of whitespace
   * spans that whitespace, or is empty where it stands for none. Where
   * normalization changed the text, the tokens from a changed unit share its
   * span (see the file comment).
   */
  tokenize(text: string): { ids: number[]; offsets: [number, number][] } {
    const encoding = this.tokenizer.encode(text, { add_special_tokens: false });
    return { ids: encoding.ids, offsets: this.align(text, encoding.tokens) };
  }

  /**
   * The template around `a` (and `b`): ids, token types, and the sequence
   * each position came from (null for special tokens).
   */
  withSpecialTokens(a: readonly number[], b?: readonly number[]): { ids: number[]; tokenTypes: number[]; sequenceIds: (0 | 1 | null)[] } {
    const ids: number[] = [];
    const tokenTypes: number[] = [];
    const sequenceIds: (0 | 1 | null)[] = [];
    for (const piece of b === undefined ? this.template.single : this.template.pair) {
      if ('special' in piece) {
        for (const id of piece.special) {
          ids.push(id);
          tokenTypes.push(piece.typeId);
          sequenceIds.push(null);
        }
      } else {
        const seq = piece.sequence === 0 ? a : b;
        for (const id of seq ?? []) {
          ids.push(id);
          tokenTypes.push(piece.typeId);
          sequenceIds.push(piece.sequence);
        }
      }
    }
    return { ids, tokenTypes, sequenceIds };
  }

  /** Special tokens the template adds: 2 and 4 for XLM-R, 2 and 3 for BERT. */
  specialTokenCount(pair: boolean): number {
    let n = 0;
    for (const piece of pair ? this.template.pair : this.template.single) if ('special' in piece) n += piece.special.length;
    return n;
  }

  /**
   * Tokenizes `text` (and `pair`), truncates to `maxLength` (room for text
   * = maxLength − specialTokenCount), adds the template and pads to
   * `padTo` with the padding id, mask 0, token type 0 and null offsets.
   * Throws a RangeError when `maxLength` cannot hold the special tokens, or
   * when `only_first` / `only_second` would have to remove the whole
   * sequence (or there is no pair to cut).
   */
  encode(text: string, pair?: string, options: EncodeOptions = {}): EncodedInput {
    const a = this.tokenize(text);
    const b = pair === undefined ? undefined : this.tokenize(pair);
    let [na, nb] = [a.ids.length, b?.ids.length];
    if (options.maxLength !== undefined) {
      [na, nb] = truncatedLengths(na, nb, options.maxLength - this.specialTokenCount(b !== undefined), options.maxLength, options.truncation ?? 'longest_first');
    }
    const offsetsOf = [a.offsets.slice(0, na), b?.offsets.slice(0, nb)] as const;
    const out = this.withSpecialTokens(a.ids.slice(0, na), b?.ids.slice(0, nb));
    const next = [0, 0];
    const offsets = out.sequenceIds.map((s) => (s === null ? null : offsetsOf[s]![next[s]!++]!));
    const result: EncodedInput = { ...out, attentionMask: out.ids.map(() => 1), offsets };
    for (let i = result.ids.length; i < (options.padTo ?? 0); i++) {
      result.ids.push(this.padId);
      result.tokenTypes.push(0);
      result.attentionMask.push(0);
      result.offsets.push(null);
      result.sequenceIds.push(null);
    }
    return result;
  }

  /** Spans in `text` of the library's `tokens` for it. */
  private align(text: string, tokens: readonly string[]): [number, number][] {
    const view = this.view(text);
    const n = view.text.length;
    const vt = this.marker ? view.text.replaceAll(this.marker, ' ') : view.text;
    const skipSpace = (p: number): number => {
      while (p < n && isSpace(vt[p])) p++;
      return p;
    };
    const at = (p: number): number => (p < n ? view.begin[p]! : n > 0 ? view.end[n - 1]! : 0);
    const span = (from: number, to: number): [number, number] => {
      let lo = Infinity;
      let hi = -Infinity;
      for (const keepSpace of [false, true]) {
        for (let i = from; i < to; i++) {
          if (keepSpace || !isSpace(vt[i])) {
            lo = Math.min(lo, view.begin[i]!);
            hi = Math.max(hi, view.end[i]!);
          }
        }
        if (lo !== Infinity) return [lo, hi];
      }
      return [at(from), at(from)];
    };

    const offsets: [number, number][] = [];
    let p = 0;
    for (const token of tokens) {
      let range: [number, number] | null = null;
      if (this.literals.has(token)) {
        const q = skipSpace(p);
        if (vt.startsWith(token, q)) range = [q, q + token.length];
      }
      if (!range && token === this.wordUnk) {
        const q = skipSpace(p);
        range = [q, this.preTokenEnd(vt, q)];
      }
      range ??= this.match(vt, p, token, skipSpace);
      if (range) {
        offsets.push(span(range[0], range[1]));
        p = range[1];
      } else {
        offsets.push([at(p), at(p)]);
      }
    }
    return offsets;
  }

  /** Where a model token's surface lies in the (space-canonical) normalized text `vt`, from `p` on. */
  private match(vt: string, p: number, token: string, skipSpace: (p: number) => number): [number, number] | null {
    const canonical = this.marker ? token.replaceAll(this.marker, ' ') : token;
    const candidates: string[] = [];
    const prefix = this.continuation;
    if (prefix && canonical.startsWith(prefix) && canonical.length > prefix.length) candidates.push(canonical.slice(prefix.length));
    candidates.push(canonical);
    // A leading marker the pre-tokenizer prepended stands for no character of the text.
    if (canonical.startsWith(' ')) candidates.push(canonical.slice(1));
    if (canonical.trim() === '') {
      // Whitespace only: the text's whitespace here, or just the prepended marker (zero width); never searched for.
      const c = candidates.find((c) => vt.startsWith(c, p));
      return [p, p + (c ?? '').length];
    }
    const nonEmpty = candidates.filter((c) => c.length > 0);
    for (const start of [p, skipSpace(p)]) {
      for (const c of nonEmpty) if (vt.startsWith(c, start)) return [start, start + c.length];
    }
    // Out of step (a normalization this file did not foresee): pick up at the next occurrence.
    let best: [number, number] | null = null;
    for (const c of nonEmpty) {
      const i = vt.indexOf(c, p);
      if (i >= 0 && (!best || i < best[0])) best = [i, i + c.length];
    }
    return best;
  }

  /** End of the pre-token starting at `q` (what a WordPiece `[UNK]` stands for). */
  private preTokenEnd(vt: string, q: number): number {
    let r = q;
    while (r < vt.length && !isSpace(vt[r])) r++;
    const chunk = vt.slice(q, r);
    const pre = this.tokenizer.pre_tokenizer;
    if (!pre || !chunk) return r;
    try {
      const first = pre.pre_tokenize(chunk)[0];
      if (first && chunk.startsWith(first)) return q + first.length;
    } catch {
      // A pre-tokenizer that fails on a fragment: the whole chunk is the best guess.
    }
    return r;
  }

  /** The normalized text the library tokenizes (sections split at added tokens), mapped to `text`. */
  private view(text: string): MappedText {
    const out: MappedText = { text: '', begin: [], end: [] };
    const append = (m: MappedText): void => {
      out.text += m.text;
      for (const b of m.begin) out.begin.push(b);
      for (const e of m.end) out.end.push(e);
    };
    for (const [start, end, added] of splitAdded(text, this.unnormalizedAdded)) {
      const identity = identityMap(text, start, end);
      append(added ? identity : this.normalize(identity, text));
    }
    return out;
  }

  /** Applies the normalization steps to a section, keeping the map to `original`. */
  private normalize(section: MappedText, original: string): MappedText {
    let cur = section;
    for (const step of this.steps) {
      if ('strip' in step) {
        const [left, right] = step.strip;
        const from = left ? cur.text.length - cur.text.trimStart().length : 0;
        const to = right ? cur.text.trimEnd().length : cur.text.length;
        const end = Math.max(from, to);
        cur = { text: cur.text.slice(from, end), begin: cur.begin.slice(from, end), end: cur.end.slice(from, end) };
        continue;
      }
      const out = step.apply(cur.text);
      if (out !== cur.text) cur = remap(cur, out, step.apply, original);
    }
    return cur;
  }
}

/** The steps of a (possibly nested Sequence) normalizer. */
function normalizerSteps(normalizer: LibNormalizer | null): Step[] {
  if (!normalizer) return [];
  const config = normalizer.config as Json;
  if (config.type === 'Sequence') {
    return ((normalizer as LibNormalizer & { normalizers?: (LibNormalizer | null)[] }).normalizers ?? []).flatMap(normalizerSteps);
  }
  if (config.type === 'Strip') return [{ strip: [config.strip_left === true, config.strip_right === true] }];
  return [{ apply: (s) => normalizer.normalize(s) }];
}

/**
 * Maps `out` = f(cur.text) back to the original. If applying `f` word by
 * word (and whitespace run by run) reproduces `out`, unchanged words keep
 * their map and each changed word is mapped per character cluster when that
 * reproduces the word's output, else proportionally over the word; otherwise
 * the whole text is mapped proportionally.
 */
function remap(cur: MappedText, out: string, f: (s: string) => string, original: string): MappedText {
  const mapped: MappedText = { text: out, begin: [], end: [] };
  /** Appends the map of `part`, what cur.text[s, t) became. */
  const place = (s: number, t: number, part: string): void => {
    if (part === cur.text.slice(s, t)) {
      for (let i = s; i < t; i++) {
        mapped.begin.push(cur.begin[i]!);
        mapped.end.push(cur.end[i]!);
      }
      return;
    }
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = s; i < t; i++) {
      lo = Math.min(lo, cur.begin[i]!);
      hi = Math.max(hi, cur.end[i]!);
    }
    if (lo === Infinity) lo = hi = s < cur.begin.length ? cur.begin[s]! : (cur.end.at(-1) ?? 0);
    for (let j = 0; j < part.length; j++) {
      mapped.begin.push(snapDown(original, lo + Math.floor((j * (hi - lo)) / part.length)));
      mapped.end.push(snapUp(original, lo + Math.ceil(((j + 1) * (hi - lo)) / part.length)));
    }
  };
  const words = segments(cur.text, WORDS, 0);
  const parts = words.map(([s, t]) => f(cur.text.slice(s, t)));
  if (parts.join('') !== out) {
    place(0, cur.text.length, out);
    return mapped;
  }
  words.forEach(([s, t], k) => {
    const part = parts[k]!;
    const word = cur.text.slice(s, t);
    if (part === word) return place(s, t, part);
    const clusters = segments(word, CLUSTERS, s);
    const pieces = clusters.map(([a, b]) => f(cur.text.slice(a, b)));
    if (clusters.length > 1 && pieces.join('') === part) clusters.forEach(([a, b], j) => place(a, b, pieces[j]!));
    else place(s, t, part);
  });
  return mapped;
}

/** [start, end) of each match of `pattern` (which covers every character) in `text`, shifted by `offset`. */
function segments(text: string, pattern: RegExp, offset: number): [number, number][] {
  return Array.from(text.matchAll(pattern), (m) => [offset + (m.index ?? 0), offset + (m.index ?? 0) + m[0].length]);
}

/** Moves an index off the middle of a surrogate pair, to its start. */
function snapDown(s: string, i: number): number {
  return i > 0 && i < s.length && isLow(s.charCodeAt(i)) && isHigh(s.charCodeAt(i - 1)) ? i - 1 : i;
}

/** Moves an index off the middle of a surrogate pair, to its end. */
function snapUp(s: string, i: number): number {
  return i > 0 && i < s.length && isLow(s.charCodeAt(i)) && isHigh(s.charCodeAt(i - 1)) ? i + 1 : i;
}

function identityMap(text: string, start: number, end: number): MappedText {
  const begin: number[] = [];
  const ends: number[] = [];
  for (let i = start; i < end; i++) {
    begin.push(i);
    ends.push(i + 1);
  }
  return { text: text.slice(start, end), begin, end: ends };
}

/**
 * `text` split into [start, end, isAddedToken] sections the way the
 * library's splitter does it: left to right, the longest added token that
 * starts at each position.
 */
function splitAdded(text: string, byFirst: ReadonlyMap<string, readonly string[]>): [number, number, boolean][] {
  const sections: [number, number, boolean][] = [];
  let start = 0;
  let i = 0;
  while (i < text.length) {
    let match = '';
    for (const a of byFirst.get(text[i]!) ?? []) if (a.length > match.length && text.startsWith(a, i)) match = a;
    if (match) {
      if (i > start) sections.push([start, i, false]);
      sections.push([i, i + match.length, true]);
      i += match.length;
      start = i;
    } else {
      i++;
    }
  }
  if (start < text.length) sections.push([start, text.length, false]);
  return sections;
}

/** The Metaspace replacement character, looked up through Sequence pre-tokenizers. */
function metaspaceReplacement(pre: unknown): string | null {
  if (!isObject(pre)) return null;
  if (pre.type === 'Metaspace') return typeof pre.replacement === 'string' ? pre.replacement : '\u2581';
  if (pre.type === 'Sequence' && Array.isArray(pre.pretokenizers)) {
    for (const p of pre.pretokenizers) {
      const r = metaspaceReplacement(p);
      if (r !== null) return r;
    }
  }
  return null;
}

/** The model's type, inferred as the library does when `type` is absent. */
function modelType(model: Json): string | undefined {
  if (typeof model.type === 'string') return model.type;
  if (Array.isArray(model.vocab)) return 'Unigram';
  if (isObject(model.vocab) && 'continuing_subword_prefix' in model && 'unk_token' in model) return 'merges' in model ? 'BPE' : 'WordPiece';
  return undefined;
}

function validateModel(path: string, type: string, model: Json): void {
  if (type === 'Unigram') {
    const vocab = model.vocab;
    if (!Array.isArray(vocab) || vocab.length === 0 || !vocab.every((e) => Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'number')) {
      throw new InputFileError(path, 'model.vocab of a Unigram model must be a non-empty list of [piece, score] pairs');
    }
    if (model.unk_id !== undefined && model.unk_id !== null && !(Number.isInteger(model.unk_id) && (model.unk_id as number) >= 0 && (model.unk_id as number) < vocab.length)) {
      throw new InputFileError(path, `model.unk_id ${JSON.stringify(model.unk_id)} is not an index into model.vocab (${vocab.length} pieces)`);
    }
  } else {
    const vocab = model.vocab;
    if (!isObject(vocab) || Object.keys(vocab).length === 0 || !Object.values(vocab).every((v) => Number.isInteger(v) && (v as number) >= 0)) {
      throw new InputFileError(path, 'model.vocab of a WordPiece model must be a non-empty object from piece to id');
    }
    if (typeof model.unk_token !== 'string') throw new InputFileError(path, 'model.unk_token of a WordPiece model must be a string');
  }
}

/** A special token's name in tokenizer_config.json: a string or a serialized AddedToken. */
function tokenName(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  return undefined;
}

/**
 * The template a post-processor describes; null when there is none (or
 * none of the three kinds, possibly inside a Sequence).
 */
function readTemplate(path: string, post: unknown, lookup: (name: string) => number | undefined, convention: TokenizerConvention): Template | null {
  if (!isObject(post)) return null;
  const bad = (reason: string): InputFileError => new InputFileError(path, `post_processor ${String(post.type)}: ${reason}`);
  const pairToken = (value: unknown, key: string): number => {
    if (!Array.isArray(value) || typeof value[0] !== 'string') throw bad(`"${key}" must be a [token, id] pair`);
    const id = Number.isInteger(value[1]) ? (value[1] as number) : lookup(value[0]);
    if (id === undefined) throw bad(`unknown token ${value[0]}`);
    return id;
  };
  switch (post.type) {
    case 'Sequence': {
      for (const p of Array.isArray(post.processors) ? post.processors : []) {
        const t = readTemplate(path, p, lookup, convention);
        if (t) return t;
      }
      return null;
    }
    case 'RobertaProcessing': {
      const [cls, sep] = [pairToken(post.cls, 'cls'), pairToken(post.sep, 'sep')];
      // The library (and tokenizers in Rust) give the pair's tokens type 1; XLM-R has one token type, so 0 throughout.
      const s = (id: number): TemplatePiece => ({ special: [id], typeId: 0 });
      return {
        single: [s(cls), { sequence: 0, typeId: 0 }, s(sep)],
        pair: [s(cls), { sequence: 0, typeId: 0 }, s(sep), s(sep), { sequence: 1, typeId: 0 }, s(sep)],
      };
    }
    case 'BertProcessing': {
      const [cls, sep] = [pairToken(post.cls, 'cls'), pairToken(post.sep, 'sep')];
      return {
        single: [{ special: [cls], typeId: 0 }, { sequence: 0, typeId: 0 }, { special: [sep], typeId: 0 }],
        pair: [{ special: [cls], typeId: 0 }, { sequence: 0, typeId: 0 }, { special: [sep], typeId: 0 }, { sequence: 1, typeId: 1 }, { special: [sep], typeId: 1 }],
      };
    }
    case 'TemplateProcessing': {
      const specials = isObject(post.special_tokens) ? post.special_tokens : {};
      const pieces = (items: unknown, key: string): TemplatePiece[] => {
        if (!Array.isArray(items)) throw bad(`"${key}" must be a list`);
        return items.map((item): TemplatePiece => {
          const special = isObject(item) && isObject(item.SpecialToken) ? item.SpecialToken : null;
          const sequence = isObject(item) && isObject(item.Sequence) ? item.Sequence : null;
          const typeId = Number.isInteger((special ?? sequence)?.type_id) ? ((special ?? sequence)!.type_id as number) : 0;
          if (special && typeof special.id === 'string') {
            const entry = specials[special.id];
            const listed = isObject(entry) && Array.isArray(entry.ids) && entry.ids.every(Number.isInteger) ? (entry.ids as number[]) : null;
            const id = listed ?? (lookup(special.id) === undefined ? null : [lookup(special.id)!]);
            if (!id) throw bad(`unknown special token ${special.id}`);
            return { special: id, typeId };
          }
          if (sequence && (sequence.id === 'A' || sequence.id === 'B')) return { sequence: sequence.id === 'A' ? 0 : 1, typeId };
          throw bad(`"${key}" has an item that is neither a SpecialToken nor Sequence A/B: ${JSON.stringify(item)}`);
        });
      };
      const single = pieces(post.single, 'single');
      const pair = post.pair === undefined || post.pair === null ? null : pieces(post.pair, 'pair');
      if (single.some((p) => 'sequence' in p && p.sequence === 1)) throw bad('"single" uses sequence B');
      return { single, pair: pair ?? defaultTemplate(convention, 0, 0, single).pair };
    }
    default:
      return null;
  }
}

/**
 * The convention's template (`<s> A </s></s> B </s>`, `[CLS] A [SEP] B
 * [SEP]`); from a given single template, its pair is the single one
 * followed by B and the single template's trailing special tokens.
 */
function defaultTemplate(convention: TokenizerConvention, cls: number, sep: number, single?: TemplatePiece[]): Template {
  if (single) {
    const last = single.findLastIndex((p) => 'sequence' in p);
    const tail = single.slice(last + 1);
    const typeId = convention === 'bert' ? 1 : 0;
    return { single, pair: [...single, { sequence: 1, typeId }, ...tail.map((p) => ({ ...p, typeId }))] };
  }
  if (convention === 'xlmr') {
    const s = (id: number): TemplatePiece => ({ special: [id], typeId: 0 });
    return {
      single: [s(cls), { sequence: 0, typeId: 0 }, s(sep)],
      pair: [s(cls), { sequence: 0, typeId: 0 }, s(sep), s(sep), { sequence: 1, typeId: 0 }, s(sep)],
    };
  }
  return {
    single: [{ special: [cls], typeId: 0 }, { sequence: 0, typeId: 0 }, { special: [sep], typeId: 0 }],
    pair: [{ special: [cls], typeId: 0 }, { sequence: 0, typeId: 0 }, { special: [sep], typeId: 0 }, { sequence: 1, typeId: 1 }, { special: [sep], typeId: 1 }],
  };
}

/** Kept lengths of a sequence (and pair) truncated to `room` tokens of text, transformers' way. */
function truncatedLengths(
  na: number,
  nb: number | undefined,
  room: number,
  maxLength: number,
  strategy: TruncationStrategy,
): [number, number | undefined] {
  if (room < 0) throw new RangeError(`maxLength ${maxLength} cannot hold the template's ${maxLength - room} special tokens`);
  if (strategy === 'only_second' && nb === undefined) throw new RangeError('only_second truncation needs a pair of texts');
  const excess = na + (nb ?? 0) - room;
  if (excess <= 0) return [na, nb];
  if (strategy === 'longest_first') {
    let [a, b] = [na, nb ?? 0];
    // One token at a time from the longer; from the second on a tie (as transformers does).
    for (let k = 0; k < excess; k++) {
      if (nb === undefined || a > b) a--;
      else b--;
    }
    return [a, nb === undefined ? undefined : b];
  }
  const [cut, length] = strategy === 'only_first' ? ['first', na] : ['second', nb!];
  if (length <= excess) {
    throw new RangeError(`cannot truncate with ${strategy}: ${excess} tokens must go but the ${cut} sequence has only ${length} (maxLength ${maxLength})`);
  }
  return strategy === 'only_first' ? [na - excess, nb] : [na, nb! - excess];
}

function parseJson(path: string, text: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InputFileError(path, `invalid JSON (${oneLine((e as Error).message)})`);
  }
  if (!isObject(value)) throw new InputFileError(path, `expected a JSON object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`);
  return value;
}

const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ');

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
