/**
 * The languages of the built-in suite: one meaning, many realizations.
 *
 * Shared by every language (the anchors that make transfer possible, as in
 * real multilingual text): names, common nouns and function tokens (the
 * polarity markers `ja`/`ne`, the article `ti`, case markers `ka` (subject)
 * and `ro` (object), the agreement marker `sa`). Language-specific: the
 * words for verbs and adjectives, word order, adjective position, articles,
 * case marking, verb agreement and where the polarity marker goes.
 *
 *   code  order  adjective  article  case  agreement  polarity      distance
 *   src   SVO    before     –        –     –          before verb   (source)
 *   l1    SVO    before     –        –     –          before verb   lexicon only
 *   l2    SVO    after      ti       –     –          before verb   + modifiers, articles
 *   l3    SOV    before     –        ka/ro –          before verb   + order, case
 *   l4    VSO    after      –        ka/ro sa         before verb
 *   l5    OVS    after      –        ka/ro –          before verb
 *   l6    VOS    after      –        ka/ro sa         sentence-final
 *   l7    SOV    after      ti       ka/ro sa         after verb    farthest
 */
import { OptionError } from '../errors/option-error.js';
import { mulberry32 } from '@thaw/kernels';
import { ADJECTIVES, NAMES, NOUNS, VERBS, type Entity, type Meaning } from './meanings.js';

export interface LanguageSpec {
  code: string;
  order: 'SVO' | 'SOV' | 'VSO' | 'OVS' | 'VOS';
  adjective: 'before' | 'after';
  article: boolean;
  caseMarkers: boolean;
  agreement: boolean;
  polarity: 'before-verb' | 'after-verb' | 'final';
  /** Seed of the language's own words for verbs and adjectives. */
  lexiconSeed: number;
}

export const LANGUAGES: readonly LanguageSpec[] = [
  { code: 'src', order: 'SVO', adjective: 'before', article: false, caseMarkers: false, agreement: false, polarity: 'before-verb', lexiconSeed: 100 },
  { code: 'l1', order: 'SVO', adjective: 'before', article: false, caseMarkers: false, agreement: false, polarity: 'before-verb', lexiconSeed: 101 },
  { code: 'l2', order: 'SVO', adjective: 'after', article: true, caseMarkers: false, agreement: false, polarity: 'before-verb', lexiconSeed: 102 },
  { code: 'l3', order: 'SOV', adjective: 'before', article: false, caseMarkers: true, agreement: false, polarity: 'before-verb', lexiconSeed: 103 },
  { code: 'l4', order: 'VSO', adjective: 'after', article: false, caseMarkers: true, agreement: true, polarity: 'before-verb', lexiconSeed: 104 },
  { code: 'l5', order: 'OVS', adjective: 'after', article: false, caseMarkers: true, agreement: false, polarity: 'before-verb', lexiconSeed: 105 },
  { code: 'l6', order: 'VOS', adjective: 'after', article: false, caseMarkers: true, agreement: true, polarity: 'final', lexiconSeed: 106 },
  { code: 'l7', order: 'SOV', adjective: 'after', article: true, caseMarkers: true, agreement: true, polarity: 'after-verb', lexiconSeed: 107 },
];

/** Function tokens every language shares (the question words are QA's). */
export const FUNCTION_TOKENS = { affirmative: 'ja', negative: 'ne', article: 'ti', subject: 'ka', object: 'ro', agreement: 'sa', who: 'who', what: 'what' } as const;

/** Words no language may coin for its verbs and adjectives. */
const RESERVED = new Set<string>([...NAMES, ...Object.keys(NOUNS), ...Object.values(FUNCTION_TOKENS)]);

/** A language's words for verbs and adjectives: two- or three-syllable forms from its own syllables. */
function lexicon(spec: LanguageSpec, taken: Set<string>): Map<string, string> {
  const random = mulberry32(spec.lexiconSeed);
  const consonants = 'bdfgklmnprstvz';
  const vowels = 'aeiou';
  const words = new Map<string, string>();
  const concepts = [...Object.keys(VERBS).map((v) => `v:${v}`), ...ADJECTIVES.map((a) => `a:${a}`)];
  for (const concept of concepts) {
    let word = '';
    do {
      const syllables = 2 + Math.floor(random() * 2);
      word = Array.from({ length: syllables }, () => consonants[Math.floor(random() * consonants.length)]! + vowels[Math.floor(random() * vowels.length)]!).join('');
    } while (RESERVED.has(word) || taken.has(word));
    taken.add(word);
    words.set(concept, word);
  }
  return words;
}

export class Language {
  readonly words: Map<string, string>;

  constructor(readonly spec: LanguageSpec, taken: Set<string>) {
    this.words = lexicon(spec, taken);
  }

  get code(): string {
    return this.spec.code;
  }

  /** Every word this language can produce. */
  vocabulary(): string[] {
    return [...new Set([...NAMES, ...Object.keys(NOUNS), ...Object.values(FUNCTION_TOKENS), ...this.words.values()])];
  }

  /** The tokens of one noun phrase in a role. */
  private nounPhrase(e: Entity, role: 'subject' | 'object'): string[] {
    const s = this.spec;
    const noun = e.noun.slice(2);
    const adjective = e.adjective ? [this.words.get(e.adjective)!] : [];
    const phrase = [
      ...(s.article && e.noun.startsWith('c:') ? [FUNCTION_TOKENS.article] : []),
      ...(s.adjective === 'before' ? adjective : []),
      noun,
      ...(s.adjective === 'after' ? adjective : []),
    ];
    if (s.caseMarkers) phrase.push(role === 'subject' ? FUNCTION_TOKENS.subject : FUNCTION_TOKENS.object);
    return phrase;
  }

  /** The sentence expressing a meaning, as tokens. */
  realize(m: Meaning): string[] {
    const s = this.spec;
    const polarity = m.negated ? FUNCTION_TOKENS.negative : FUNCTION_TOKENS.affirmative;
    const verb = [this.words.get(`v:${m.verb}`)!, ...(s.agreement ? [FUNCTION_TOKENS.agreement] : [])];
    const verbPhrase = s.polarity === 'before-verb' ? [polarity, ...verb] : s.polarity === 'after-verb' ? [...verb, polarity] : verb;
    const parts: Record<'S' | 'V' | 'O', string[]> = { S: this.nounPhrase(m.subject, 'subject'), V: verbPhrase, O: this.nounPhrase(m.object, 'object') };
    const tokens = [...s.order].flatMap((slot) => parts[slot as 'S' | 'V' | 'O']);
    if (s.polarity === 'final') tokens.push(polarity);
    return tokens;
  }
}

/**
 * Languages of the suite (all by default), with disjoint verb and adjective
 * lexicons. Lexicons are always coined for the whole suite in its fixed
 * order, so a language's words do not depend on which others are asked for.
 */
export function suiteLanguages(codes?: readonly string[]): Language[] {
  const taken = new Set<string>();
  const all = LANGUAGES.map((spec) => new Language(spec, taken));
  if (!codes) return all;
  return codes.map((code) => {
    const language = all.find((l) => l.code === code);
    if (!language) throw new OptionError(`unknown language '${code}'; the suite has ${LANGUAGES.map((l) => l.code).join(', ')}`);
    return language;
  });
}
