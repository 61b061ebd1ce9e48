/**
 * A model's own tokenizer, read from its `tokenizer.json` by Hugging Face's
 * `tokenizers` library (npm `tokenizers`: the Rust core through N-API, the
 * same code transformers' fast tokenizers run). Every model type, normalizer,
 * pre-tokenizer and post-processor the library reads is read: XLM-R's
 * Unigram with its Precompiled SentencePiece charsmap, mBERT's WordPiece,
 * RoBERTa's and GPT-2's byte-level BPE, WordLevel. Ids, special-token
 * templates and token types, truncation, windows, padding and offsets are the
 * library's. What Thaw adds on top:
 *
 *   - errors: a file the library refuses is an `InputFileError` naming the
 *     file and the section at fault (the library's own message is a serde
 *     position). A TemplateProcessing that names a special token it does
 *     not define, or a single-sequence template that uses B, is refused
 *     here: the library reads such a file and then aborts the whole process
 *     (a Rust panic) at the first encode;
 *   - offsets: the library counts characters (code points); they are
 *     converted to UTF-16 indices, as JavaScript strings and the loaders
 *     count. A special or padding token has offset null and sequence id null;
 *   - QA windows (`encodeWindows`): tokenizers 0.23 stops tokenizing a
 *     sequence at `max_length` tokens when truncation is on (the early exit
 *     of huggingface/tokenizers#1990), so the windows its `encode` returns
 *     with a stride cover only the start of a long context (reported as
 *     huggingface/tokenizers#2091). Here the question and the context are
 *     tokenized without truncation and then post-processed with the
 *     library's only-second truncation and stride, which is what `encode`
 *     did up to 0.22 and what run_qa.py users expect: every window, the
 *     last one the first that reaches the context's end. The library gives
 *     the template's token types to the first window only (the others keep
 *     the types the texts were tokenized with), so every window gets the
 *     first one's: `[SEP] B` typed 1 for mBERT, everything 0 for XLM-R;
 *   - the library keeps truncation and padding settings on the tokenizer,
 *     and its `encode` reads them on a worker thread, so one instance,
 *     configured and used one call at a time, encodes and post-processes,
 *     and a second one, never configured and built without the
 *     post-processor, tokenizes the QA texts (a post-processor that trims
 *     offsets, as RoBERTa's, would otherwise trim them twice);
 *   - the padding token: `pad_token` of `tokenizer_config.json`, else the
 *     file's padding settings, else `<pad>` or `[PAD]`.
 *
 * The truncation strategies are the library's (those of transformers' fast
 * tokenizers): `longest_first` keeps the shorter sequence whole when it
 * takes at most half the room, else gives each half the room, the odd token
 * to the longer one (the second on a tie); transformers' slow tokenizers
 * remove one token at a time and give the odd token to the first sequence.
 */
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Tokenizer, type Encoding, type TruncationStrategy as LibraryStrategy } from 'tokenizers';
import { InputFileError } from '../errors/input-error.js';
import { readJsonFile } from './input-file.js';

/**
 * How `encode` shortens a sequence or pair that does not fit `maxLength`
 * (transformers' names, the library's behaviour: see the file comment):
 * `longest_first` cuts the longer sequence first, `only_first` /
 * `only_second` cut only that sequence.
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

/** Options of {@link HfTokenizer.encodeWindows} (Hugging Face run_qa.py's names). */
export interface WindowOptions {
  /** Length of every window, special tokens included. */
  maxLength: number;
  /** Context tokens shared by consecutive windows; must be less than the room a window leaves for the context. */
  stride: number;
  /** Pad every window to `maxLength` (run_qa.py's `pad_to_max_length`); default false. */
  pad?: boolean;
}

/** A model input from {@link HfTokenizer.encode}; all arrays have the same length. */
export interface EncodedInput {
  ids: number[];
  /** Token types from the file's post-processor (all 0 for XLM-R and RoBERTa); 0 at padding. */
  tokenTypes: number[];
  /** 1 for a real or special token, 0 for padding. */
  attentionMask: number[];
  /**
   * [begin, end) UTF-16 span of each token in the text it came from (the
   * first text or the pair, see `sequenceIds`), as the library reports it
   * (a Metaspace `▁` or byte-level space belongs to the token after it unless
   * the post-processor trims it); null for special tokens and padding.
   */
  offsets: ([number, number] | null)[];
  /** 0 or 1 for a token of the first text or of the pair; null for special tokens and padding. */
  sequenceIds: (0 | 1 | null)[];
}

const STRATEGIES: Record<TruncationStrategy, LibraryStrategy> = {
  longest_first: 'LongestFirst' as LibraryStrategy,
  only_first: 'OnlyFirst' as LibraryStrategy,
  only_second: 'OnlySecond' as LibraryStrategy,
};

/** The tokenizer.json sections the library builds separately, for saying which one it refused. */
const SECTIONS = ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder'] as const;

const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A `tokenizer.json` tokenizer: the library's encodings, with UTF-16
 * offsets, for single texts, pairs and QA windows.
 */
export class HfTokenizer {
  /** One more than the largest id, added tokens included (the embedding matrix's row count). */
  readonly vocabSize: number;
  /** Special tokens the template adds to one sequence and to a pair. */
  private readonly added: { single: number; pair: number };
  /** The end of the last configured call: calls on `processor` run one after another. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    /** The tokenizer.json this was read from. */
    readonly path: string,
    /** Tokenizes without truncation, padding or post-processor; never configured. */
    private readonly tokenizer: Tokenizer,
    /** The same file, configured per call for truncation and padding. */
    private readonly processor: Tokenizer,
    /** The padding token's id (`<pad>` 1 for XLM-R, `[PAD]` 0 for mBERT). */
    readonly padId: number,
    private readonly padToken: string,
    empty: Encoding,
  ) {
    // A loop, not Math.max(...ids): XLM-R's 250,002 ids would overflow the call stack as arguments.
    let largest = -1;
    for (const id of Object.values(tokenizer.getVocab(true))) largest = Math.max(largest, id);
    this.vocabSize = largest + 1;
    this.added = { single: processor.postProcess(empty, null, true).getLength(), pair: processor.postProcess(empty, empty, true).getLength() };
  }

  /**
   * Reads `path` (a tokenizer.json, or a folder holding one) and, when
   * present beside it, `tokenizer_config.json` for the padding token
   * (`pad_token`; otherwise the file's own padding settings, `<pad>` or
   * `[PAD]`). Throws `InputFileError` for a missing or unreadable file,
   * invalid JSON, a file the library cannot build (naming the section), or
   * no padding token.
   */
  static async load(path: string): Promise<HfTokenizer> {
    if (await isDirectory(path)) path = join(path, 'tokenizer.json');
    const json = await readJsonFile(path);
    const configPath = join(dirname(path), 'tokenizer_config.json');
    const config = (await exists(configPath)) ? await readJsonFile(configPath) : {};
    if (!isObject(json.model)) throw new InputFileError(path, 'no "model" section (a tokenizer.json has one)');
    checkTemplates(path, json.post_processor);
    const build = (file: Record<string, unknown>): Tokenizer => {
      try {
        return Tokenizer.fromString(JSON.stringify(file));
      } catch (e) {
        throw new InputFileError(path, `cannot build the tokenizer: ${refusedSection(json)}(${oneLine((e as Error).message)})`);
      }
    };
    // Truncation and padding saved in the file are dropped, as transformers does per call: each call sets its own.
    const processor = build({ ...json, truncation: null, padding: null });
    const tokenizer = build({ ...json, truncation: null, padding: null, post_processor: null });

    const padding = isObject(json.padding) ? json.padding : {};
    const candidates = [tokenName(config.pad_token), typeof padding.pad_token === 'string' ? padding.pad_token : undefined, '<pad>', '[PAD]'];
    const padToken = candidates.find((t) => t !== undefined && tokenizer.tokenToId(t) !== null);
    if (padToken === undefined) {
      throw new InputFileError(path, `no padding token (looked for ${candidates.filter((t) => t !== undefined).join(', ')}; Thaw pads batches, so it needs one: set pad_token in tokenizer_config.json)`);
    }
    const empty = await tokenizer.encode('', null, { addSpecialTokens: false });
    return new HfTokenizer(path, tokenizer, processor, tokenizer.tokenToId(padToken)!, padToken, empty);
  }

  /** The id of a token string (vocabulary or added token), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.tokenizer.tokenToId(token) ?? undefined;
  }

  /** The token string of an id, or undefined. */
  idToToken(id: number): string | undefined {
    return this.tokenizer.idToToken(id) ?? undefined;
  }

  /** Special tokens the file's template adds: 2 and 4 for XLM-R and RoBERTa, 2 and 3 for BERT. */
  specialTokenCount(pair: boolean): number {
    return pair ? this.added.pair : this.added.single;
  }

  /**
   * `text` (and `pair`) through the file's template, truncated to
   * `maxLength` and padded to `padTo`, exactly as the library's `encode`.
   * Throws a RangeError when `maxLength` cannot hold the template's special
   * tokens, or the library cannot truncate as asked (`only_second` without a
   * pair, or a sequence too short to absorb the cut), and an
   * `InputFileError` naming the file when the library cannot tokenize the
   * text at all (an unknown character and no unknown token).
   */
  async encode(text: string, pair?: string, options: EncodeOptions = {}): Promise<EncodedInput> {
    const { maxLength, truncation = 'longest_first', padTo } = options;
    if (maxLength !== undefined) {
      const specials = this.specialTokenCount(pair !== undefined);
      if (!Number.isInteger(maxLength) || maxLength < specials) throw new RangeError(`maxLength ${maxLength} cannot hold the template's ${specials} special tokens`);
    }
    return this.configured(maxLength === undefined ? null : { maxLength, strategy: STRATEGIES[truncation] }, padTo, async (p) => {
      try {
        return toInput(await p.encode(text, pair ?? null), text, pair);
      } catch (e) {
        throw this.encodeError(e, text, `${truncation} truncation to maxLength ${maxLength}`);
      }
    });
  }

  /**
   * Sliding windows over `context` after `question`, as Hugging Face
   * run_qa.py makes them (`truncation="only_second"`, `stride`,
   * `return_overflowing_tokens`): each window is `question` and a run of the
   * context's tokens in the template; consecutive runs overlap by `stride`
   * tokens, the first starts at the context's first token and the last is
   * the first to reach its end (one window when the context fits). Throws a
   * RangeError when a window would leave the context no more than `stride`
   * tokens (the windows would not advance).
   */
  async encodeWindows(question: string, context: string, options: WindowOptions): Promise<EncodedInput[]> {
    const { maxLength, stride, pad = false } = options;
    const [q, c] = await Promise.all(
      [question, context].map((t) => this.tokenizer.encode(t, null, { addSpecialTokens: false }).catch((e: unknown) => Promise.reject(this.encodeError(e, t, 'no truncation')))),
    );
    const room = maxLength - this.added.pair - q!.getLength();
    // The library aborts the process (a Rust panic) on a stride its truncation cannot advance by, so it never sees one.
    if (!Number.isInteger(stride) || stride < 0 || room <= stride || maxLength - this.added.single <= stride) {
      throw new RangeError(`maxLength ${maxLength} leaves ${room} context tokens per window after a ${q!.getLength()}-token question and ${this.added.pair} special tokens; that must exceed the stride ${stride}`);
    }
    const windows = await this.configured({ maxLength, strategy: STRATEGIES.only_second, stride }, pad ? maxLength : undefined, (p) => {
      const first = p.postProcess(q!, c!, true);
      return [first, ...first.getOverflowing()].map((e) => toInput(e, question, context));
    });
    // The library gives the template's token types to the first window only; the others get the same.
    const first = windows[0]!;
    const typeOf = [0, 1].map((k) => first.tokenTypes[first.sequenceIds.indexOf(k as 0 | 1)]);
    for (const w of windows.slice(1)) w.tokenTypes = w.tokenTypes.map((t, i) => (w.sequenceIds[i] === null ? t : (typeOf[w.sequenceIds[i]!] ?? t)));
    return windows;
  }

  /**
   * The library's refusal to encode `text` as an error: a RangeError for
   * truncation the options asked for (`how`), an `InputFileError` naming
   * this file otherwise (a text it cannot tokenize, such as an unknown
   * character where the model has no unknown token).
   */
  private encodeError(e: unknown, text: string, how: string): Error {
    const message = oneLine((e as Error).message);
    const shown = JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
    if (message.startsWith('Truncation error')) return new RangeError(`cannot encode ${shown} with ${how}: ${message}`);
    return new InputFileError(this.path, `cannot encode ${shown}: ${message}`);
  }

  /**
   * Runs `use` on the processor configured with `truncation` and padding to
   * `padTo`, after every earlier configured call has finished.
   */
  private configured<T>(truncation: { maxLength: number; strategy: LibraryStrategy; stride?: number } | null, padTo: number | undefined, use: (p: Tokenizer) => T | Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      const p = this.processor;
      if (truncation) p.setTruncation(truncation.maxLength, { strategy: truncation.strategy, stride: truncation.stride ?? 0 });
      else p.disableTruncation();
      if (padTo !== undefined) p.setPadding({ maxLength: padTo, padId: this.padId, padToken: this.padToken, padTypeId: 0 });
      else p.disablePadding();
      return use(p);
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

/** The library's encoding as Thaw's input: offsets in UTF-16 units of the text each token came from. */
function toInput(e: Encoding, text: string, pair: string | undefined): EncodedInput {
  const texts = [utf16Index(text), pair === undefined ? null : utf16Index(pair)];
  const sequenceIds = e.getSequenceIds().map((s): 0 | 1 | null => (s === 0 || s === 1 ? s : null));
  const spans = e.getOffsets();
  const offsets = sequenceIds.map((s, i): [number, number] | null => {
    if (s === null) return null;
    const at = texts[s]!;
    const [b, t] = spans[i] as [number, number];
    return at ? [at(b), at(t)] : [b, t];
  });
  return { ids: e.getIds(), tokenTypes: e.getTypeIds(), attentionMask: e.getAttentionMask(), offsets, sequenceIds };
}

/** Maps a code point index of `text` to its UTF-16 index; null when the two agree (no character outside the BMP). */
function utf16Index(text: string): ((codePoint: number) => number) | null {
  if (!/[\uD800-\uDBFF]/.test(text)) return null;
  const at: number[] = [];
  let u = 0;
  for (const c of text) {
    at.push(u);
    u += c.length;
  }
  at.push(u);
  return (cp) => at[Math.min(cp, at.length - 1)]!;
}

/**
 * The section of a tokenizer.json the library refuses, in words ending with
 * a space, found by building the file with one section at a time; empty
 * when no single section is at fault.
 */
function refusedSection(json: Record<string, unknown>): string {
  const without = { ...Object.fromEntries(SECTIONS.map((s) => [s, null])), added_tokens: [] };
  const builds = (candidate: Record<string, unknown>): boolean => {
    try {
      Tokenizer.fromString(JSON.stringify(candidate));
      return true;
    } catch {
      return false;
    }
  };
  const type = (v: unknown): string => (isObject(v) && typeof v.type === 'string' ? ` (type ${JSON.stringify(v.type)})` : '');
  if (!builds({ ...json, ...without })) return `its model${type(json.model)} `;
  for (const s of SECTIONS) {
    if (json[s] !== undefined && json[s] !== null && !builds({ ...json, ...without, [s]: json[s] })) return `its ${s}${type(json[s])} `;
  }
  if (!builds({ ...json, ...without, added_tokens: json.added_tokens })) return 'its added_tokens ';
  return '';
}

/**
 * Refuses TemplateProcessing templates (also inside a Sequence) that the
 * library would read but panic on: a SpecialToken missing from
 * `special_tokens`, or sequence B in the single template.
 */
function checkTemplates(path: string, post: unknown): void {
  if (!isObject(post)) return;
  if (post.type === 'Sequence' && Array.isArray(post.processors)) for (const p of post.processors) checkTemplates(path, p);
  if (post.type !== 'TemplateProcessing') return;
  const defined = isObject(post.special_tokens) ? post.special_tokens : {};
  for (const key of ['single', 'pair'] as const) {
    for (const piece of Array.isArray(post[key]) ? post[key] : []) {
      const special = isObject(piece) && isObject(piece.SpecialToken) ? piece.SpecialToken.id : undefined;
      if (typeof special === 'string' && !(special in defined)) {
        throw new InputFileError(path, `post_processor TemplateProcessing: the ${key} template uses ${special}, which special_tokens does not define`);
      }
      if (key === 'single' && isObject(piece) && isObject(piece.Sequence) && piece.Sequence.id === 'B') {
        throw new InputFileError(path, 'post_processor TemplateProcessing: the single template uses sequence B');
      }
    }
  }
}

/** A special token's name in tokenizer_config.json: a string or a serialized AddedToken. */
function tokenName(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  return undefined;
}

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
