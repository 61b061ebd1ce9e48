/**
 * MLM corpora of the suite: monolingual text per language, no parallel
 * sentences (each language draws its own meanings from its own seed).
 *
 * The prototype (docs/suite.md, "The prototype's findings", 1) needed one more thing for
 * NLI to be learnable through a frozen base: a third of the pretraining
 * pairs are edited restatements of their first sentence (adjectives
 * dropped, one element changed, or the polarity flipped; still one
 * language, no labels), the rest unrelated sentence pairs.
 */
import { mulberry32 } from '@thaw/kernels';
import type { Language } from './languages.js';
import { meaning } from './meanings.js';
import { nliMeanings } from './nli.js';

/** `n` sentence pairs of one language for masked-LM pretraining. */
export function mlmPairs(language: Language, seed: number, n: number): [string[], string[]][] {
  const random = mulberry32((seed * 7919 + language.spec.lexiconSeed) >>> 0);
  const edits = nliMeanings((seed * 104729 + language.spec.lexiconSeed) >>> 0, n);
  return Array.from({ length: n }, (_, i) => {
    if (random() < 1 / 3) {
      // An edited restatement, whatever its NLI label would be.
      return [language.realize(edits[i]!.premise), language.realize(edits[i]!.hypothesis)];
    }
    return [language.realize(meaning(random)), language.realize(meaning(random))];
  });
}
