/**
 * What the real-data loaders (XNLI, XCOPA, SQuAD-format QA) need from a
 * subword tokenizer. `HfTokenizer` (a model's tokenizer.json) implements it;
 * keeping the contract this small lets a loader be tested with any tokenizer.
 */
export interface TextTokenizer {
  /**
   * Token ids of `text` without special tokens, with each token's
   * [begin, end) character span in `text` (UTF-16 indices, as JavaScript
   * strings count).
   */
  tokenize(text: string): { ids: number[]; offsets: [number, number][] };
  /**
   * The model's special-token template around one sequence or a pair of
   * already-tokenized sequences (XLM-R `<s> a </s></s> b </s>`, BERT
   * `[CLS] a [SEP] b [SEP]`): ids, token types, and for every position the
   * sequence it came from (0 or 1; null for a special token).
   */
  withSpecialTokens(a: readonly number[], b?: readonly number[]): { ids: number[]; tokenTypes: number[]; sequenceIds: (0 | 1 | null)[] };
  /** How many special tokens the template adds to a single sequence (false) or a pair (true). */
  specialTokenCount(pair: boolean): number;
  /** The padding token's id. */
  readonly padId: number;
}
