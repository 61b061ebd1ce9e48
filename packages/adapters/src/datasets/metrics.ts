/**
 * The metrics of the datasets on real files: accuracy (XNLI, XCOPA)
 * and SQuAD v1.1's exact match and token F1 (XQuAD, TyDiQA-GoldP; MLQA with
 * its multilingual normalisation), so numbers compare with published ones.
 *
 * SQuAD v1.1 (`evaluate-v1.1.py`): an answer is normalised by lower-casing,
 * deleting ASCII punctuation (Python's `string.punctuation`), replacing the
 * English articles a / an / the (whole words) with a space and collapsing
 * whitespace; EM is equality of normalised strings, F1 the harmonic mean of
 * token precision and recall over the normalised whitespace tokens (bag
 * overlap), 0 when no token is shared; each prediction takes its maximum
 * over the gold answers and the mean is reported ×100.
 *
 * MLQA (`mlqa_evaluation_v1.py`), chosen with `language`: punctuation is
 * every Unicode punctuation character (general categories P*) plus
 * `string.punctuation` (whose $ + < = > ^ ` | ~ are symbols in Unicode);
 * articles are per language — en: a an the; es: un una unos unas el la los
 * las; de: ein eine einer eines einem einen der die das des dem den; vi: của
 * là cái chiếc những; hi and zh: none; ar: every occurrence of the letters
 * ال (the script's pattern removes the definite-article letters wherever they
 * occur, not only as a word prefix; reproduced as is so scores match); then
 * tokens are whitespace-separated, except zh, which uses the script's mixed
 * segmentation: each character in U+4E00–U+9FA5 is a token of its own and
 * the runs between them are split on whitespace.
 *
 * Word boundaries for articles follow Python 3's Unicode `\b` (word
 * characters are letters, digits and `_` of any script), so "thé" keeps its
 * "th", as in the reference scripts; JavaScript's own `\b` is ASCII-only.
 *
 * Scales: `exactMatch` and `f1` are 0–100 like the official scripts;
 * `accuracy` is a fraction in [0, 1] like scikit-learn's and `evaluate`'s.
 */
import { OptionError } from '../errors/option-error.js';

/** The languages MLQA's evaluation script knows. */
export const MLQA_LANGUAGES = ['en', 'es', 'de', 'vi', 'hi', 'ar', 'zh'] as const;

/** A language MLQA's evaluation script knows. */
export type MlqaLanguage = (typeof MLQA_LANGUAGES)[number];

/** Options for `exactMatch`, `f1` and `normalizeAnswer`. */
export interface AnswerMetricOptions {
  /** Use MLQA's normalisation for this language; absent: SQuAD v1.1's (English, ASCII punctuation). */
  language?: MlqaLanguage;
}

/** Fraction of positions where `predicted` equals `gold` (0–1). Throws on different or zero lengths. */
export function accuracy(predicted: ArrayLike<number>, gold: ArrayLike<number>): number {
  if (predicted.length !== gold.length) throw new RangeError(`${predicted.length} predictions for ${gold.length} gold labels`);
  if (gold.length === 0) throw new RangeError('accuracy of no examples');
  let right = 0;
  for (let i = 0; i < gold.length; i++) if (predicted[i] === gold[i]) right++;
  return right / gold.length;
}

/** Python's `string.punctuation`. */
const ASCII_PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;
/** MLQA's PUNCT: Unicode categories P* plus `string.punctuation`. */
const UNICODE_PUNCTUATION = /[\p{P}$+<=>^`|~]/gu;

/** A whole-word alternation with Python 3 Unicode word boundaries. */
const words = (alternatives: string): RegExp => new RegExp(`(?<![\\p{L}\\p{N}_])(?:${alternatives})(?![\\p{L}\\p{N}_])`, 'gu');

const ARTICLES: Record<MlqaLanguage, RegExp | null> = {
  en: words('a|an|the'),
  es: words('un|una|unos|unas|el|la|los|las'),
  de: words('ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des'),
  vi: words('của|là|cái|chiếc|những'),
  hi: null,
  ar: /ال/gu,
  zh: null,
};

/** Python's `str.split()` whitespace (JavaScript's `\s` plus the separators \x1c–\x1f and NEL). */
const WHITESPACE = /[\s\x1c-\x1f\x85]+/u;
const splitWords = (text: string): string[] => text.split(WHITESPACE).filter((t) => t !== '');

/** MLQA's mixed segmentation: each CJK character (U+4E00–U+9FA5) alone, whitespace words between. */
function mixedSegmentation(text: string): string[] {
  const out: string[] = [];
  let run = '';
  for (const ch of text) {
    if (/[\u4e00-\u9fa5]/u.test(ch)) {
      out.push(...splitWords(run), ch);
      run = '';
    } else run += ch;
  }
  out.push(...splitWords(run));
  return out;
}

/**
 * An answer normalised as SQuAD v1.1's script does, or MLQA's for
 * `language` (see the module comment for both rules); tokens are joined by
 * single spaces. Throws `OptionError` for a language MLQA's script lacks.
 */
export function normalizeAnswer(answer: string, options: AnswerMetricOptions = {}): string {
  const { language } = options;
  const lower = answer.toLowerCase();
  if (language === undefined) {
    return splitWords(lower.replace(ASCII_PUNCTUATION, '').replace(ARTICLES.en!, ' ')).join(' ');
  }
  if (!(MLQA_LANGUAGES as readonly string[]).includes(language)) {
    throw new OptionError(`MLQA's evaluation has no language '${language}'; it has ${MLQA_LANGUAGES.join(', ')}`);
  }
  const articles = ARTICLES[language];
  let text = lower.replace(UNICODE_PUNCTUATION, '');
  if (articles) text = text.replace(articles, ' ');
  return (language === 'zh' ? mixedSegmentation(text) : splitWords(text)).join(' ');
}

/** SQuAD token F1 of one prediction against one gold answer (0–1), on normalised tokens. */
function tokenF1(prediction: string, gold: string, options: AnswerMetricOptions): number {
  const p = splitWords(normalizeAnswer(prediction, options));
  const g = splitWords(normalizeAnswer(gold, options));
  const counts = new Map<string, number>();
  for (const t of g) counts.set(t, (counts.get(t) ?? 0) + 1);
  let same = 0;
  for (const t of p) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      same++;
      counts.set(t, c - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / p.length;
  const recall = same / g.length;
  return (2 * precision * recall) / (precision + recall);
}

/** Mean over examples of the best score against any gold answer, ×100. */
function averaged(predictions: readonly string[], golds: readonly (readonly string[])[], score: (p: string, g: string) => number): number {
  if (predictions.length !== golds.length) throw new RangeError(`${predictions.length} predictions for ${golds.length} gold answer lists`);
  if (golds.length === 0) throw new RangeError('a metric over no examples');
  let total = 0;
  predictions.forEach((p, i) => {
    const answers = golds[i]!;
    if (answers.length === 0) throw new RangeError(`example ${i} has no gold answer to score against`);
    total += Math.max(...answers.map((g) => score(p, g)));
  });
  return (100 * total) / golds.length;
}

/**
 * SQuAD exact match ×100: the share of predictions equal, after
 * normalisation, to at least one of their gold answers (`golds[i]` lists
 * prediction i's answers). MLQA's normalisation with `language`. Throws on
 * mismatched lengths, no examples, or an example without gold answers.
 */
export function exactMatch(predictions: readonly string[], golds: readonly (readonly string[])[], options: AnswerMetricOptions = {}): number {
  return averaged(predictions, golds, (p, g) => (normalizeAnswer(p, options) === normalizeAnswer(g, options) ? 1 : 0));
}

/**
 * SQuAD token F1 ×100: for each prediction the best F1 against its gold
 * answers, averaged. Tokens are the normalised answer's whitespace tokens
 * (MLQA's, with zh's character segmentation, with `language`). As in v1.1, a
 * pair sharing no token scores 0, even two empty answers. Same errors as
 * `exactMatch`.
 */
export function f1(predictions: readonly string[], golds: readonly (readonly string[])[], options: AnswerMetricOptions = {}): number {
  return averaged(predictions, golds, (p, g) => tokenF1(p, g, options));
}
