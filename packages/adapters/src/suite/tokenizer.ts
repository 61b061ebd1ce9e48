/**
 * The suite's word-level tokenizer. Special tokens follow XLM-R's ids, so
 * the encoder's position ids and padding behave as with the real model:
 * <s> 0, <pad> 1, </s> 2, <unk> 3, <mask> 4; then every word of every
 * language, sorted.
 */
export const SPECIALS = { bos: 0, pad: 1, eos: 2, unk: 3, mask: 4 } as const;
const SPECIAL_TOKENS = ['<s>', '<pad>', '</s>', '<unk>', '<mask>'];

export class WordTokenizer {
  readonly tokens: string[];
  private readonly ids: Map<string, number>;

  constructor(words: Iterable<string>) {
    this.tokens = [...SPECIAL_TOKENS, ...[...new Set(words)].filter((w) => !SPECIAL_TOKENS.includes(w)).sort()];
    this.ids = new Map(this.tokens.map((t, i) => [t, i]));
  }

  get size(): number {
    return this.tokens.length;
  }

  id(token: string): number {
    return this.ids.get(token) ?? SPECIALS.unk;
  }

  /**
   * `<s> a </s></s> b </s>` (RoBERTa's pair format; `<s> a </s>` without b),
   * padded with <pad> to `length`. Throws if the pair does not fit.
   */
  encode(a: string[], b: string[] | undefined, length: number): Int32Array {
    const ids = [SPECIALS.bos, ...a.map((t) => this.id(t)), SPECIALS.eos, ...(b ? [SPECIALS.eos, ...b.map((t) => this.id(t)), SPECIALS.eos] : [])];
    if (ids.length > length) throw new Error(`a sequence of ${ids.length} tokens does not fit in ${length}`);
    const out = new Int32Array(length).fill(SPECIALS.pad);
    out.set(ids);
    return out;
  }

  decode(ids: ArrayLike<number>): string[] {
    return Array.from(ids, (i) => this.tokens[i] ?? '<unk>').filter((t) => t !== '<pad>');
  }
}
