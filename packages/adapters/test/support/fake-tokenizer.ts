/** A tokenizer for tests of the real-data loaders, without a tokenizer.json. */
import type { TextTokenizer } from '../../src/formats/text-tokenizer.js';

/**
 * A whitespace tokenizer with character offsets and XLM-R's template
 * `<s> a </s></s> b </s>` (<s> 0, <pad> 1, </s> 2); words get ids from 10 on.
 */
export function fakeTokenizer(): TextTokenizer {
  const vocab = new Map<string, number>();
  return {
    tokenize(text) {
      const ids: number[] = [];
      const offsets: [number, number][] = [];
      for (const m of text.matchAll(/\S+/g)) {
        if (!vocab.has(m[0])) vocab.set(m[0], 10 + vocab.size);
        ids.push(vocab.get(m[0])!);
        offsets.push([m.index!, m.index! + m[0].length]);
      }
      return { ids, offsets };
    },
    withSpecialTokens(a, b) {
      if (b === undefined) return { ids: [0, ...a, 2], tokenTypes: new Array(a.length + 2).fill(0), sequenceIds: [null, ...a.map(() => 0 as const), null] };
      const ids = [0, ...a, 2, 2, ...b, 2];
      return { ids, tokenTypes: new Array(ids.length).fill(0), sequenceIds: [null, ...a.map(() => 0 as const), null, null, ...b.map(() => 1 as const), null] };
    },
    specialTokenCount: (pair) => (pair ? 4 : 2),
    padId: 1,
  };
}
