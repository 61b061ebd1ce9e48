/**
 * NLI on the suite (like XNLI): a premise and a hypothesis, labelled
 * entailment (0), neutral (1) or contradiction (2) by their meanings.
 *
 * Following what made the prototype learnable without shortcuts
 * (docs/suite.md, "The prototype's findings"): the hypothesis drops the premise's adjectives at
 * random, the same way for every label, so length says nothing; an
 * entailment keeps the meaning; a contradiction flips the polarity; a
 * neutral hypothesis changes one content element (the verb, the subject,
 * the object, swaps them, or changes an adjective) and flips the polarity
 * half of the time, so "polarity differs" does not imply contradiction.
 * Every language realizes the same meanings for a given seed, so dev and
 * test sets are parallel across languages, like XNLI's translations.
 */
import { mulberry32 } from '@thaw/kernels';
import { ADJECTIVES, VERBS, entity, meaning, type Entity, type Meaning } from './meanings.js';
import type { Language } from './languages.js';

export const NLI_LABELS = ['entailment', 'neutral', 'contradiction'] as const;

/** A pair of meanings with its label. */
export interface NliMeaning {
  premise: Meaning;
  hypothesis: Meaning;
  label: 0 | 1 | 2;
}

/** An NLI pair of meanings rendered as words of one suite language (the file readers' counterpart is TextNliExample). */
export interface SuiteNliExample {
  premise: string[];
  hypothesis: string[];
  label: 0 | 1 | 2;
}

const withoutAdjective = (e: Entity): Entity => ({ noun: e.noun, cls: e.cls });

/**
 * One content change that keeps the sentence well-formed and its length
 * unchanged; `keep` names the role whose adjective was changed (it must not
 * be dropped afterwards, or the change would vanish).
 */
function changeOneElement(m: Meaning, random: () => number): { meaning: Meaning; keep?: 'subject' | 'object' } {
  for (;;) {
    const kind = Math.floor(random() * 5);
    if (kind === 0) {
      const verbs = Object.keys(VERBS).filter((v) => v !== m.verb && VERBS[v]!.subject.includes(m.subject.cls) && VERBS[v]!.object.includes(m.object.cls));
      if (verbs.length) return { meaning: { ...m, verb: verbs[Math.floor(random() * verbs.length)]! } };
    } else if (kind === 1 || kind === 2) {
      const role = kind === 1 ? 'subject' : 'object';
      const e = m[role];
      const other = entity([e.cls], random, 0);
      // Same kind (name for name, common noun for common noun): articles, and so lengths, stay the same.
      const sameKind = other.noun.slice(0, 2) === e.noun.slice(0, 2);
      if (sameKind && other.noun !== e.noun && other.noun !== m[role === 'subject' ? 'object' : 'subject'].noun) {
        return { meaning: { ...m, [role]: { ...other, ...(e.adjective ? { adjective: e.adjective } : {}) } } };
      }
    } else if (kind === 3) {
      const prefs = VERBS[m.verb]!;
      if (m.subject.noun !== m.object.noun && prefs.subject.includes(m.object.cls) && prefs.object.includes(m.subject.cls)) {
        return { meaning: { ...m, subject: m.object, object: m.subject } };
      }
    } else {
      const role = random() < 0.5 ? 'subject' : 'object';
      const e = m[role];
      if (e.adjective) {
        const others = ADJECTIVES.map((a) => `a:${a}`).filter((a) => a !== e.adjective);
        return { meaning: { ...m, [role]: { ...e, adjective: others[Math.floor(random() * others.length)]! } }, keep: role };
      }
    }
  }
}

/** `n` labelled meaning pairs, balanced over the labels, reproducible from the seed. */
export function nliMeanings(seed: number, n: number): NliMeaning[] {
  const random = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => {
    const premise = meaning(random);
    const label = (i % 3) as 0 | 1 | 2;
    const change = label === 1 ? changeOneElement(premise, random) : undefined;
    let hypothesis: Meaning = change ? change.meaning : label === 2 ? { ...premise, negated: !premise.negated } : { ...premise };
    if (label === 1 && random() < 0.5) hypothesis = { ...hypothesis, negated: !hypothesis.negated };
    // Adjectives drop at random, independently of the label (the draws happen
    // for every label; a changed adjective is kept, or the change would vanish).
    const dropSubject = random() < 0.5 && change?.keep !== 'subject';
    const dropObject = random() < 0.5 && change?.keep !== 'object';
    hypothesis = {
      ...hypothesis,
      subject: dropSubject ? withoutAdjective(hypothesis.subject) : hypothesis.subject,
      object: dropObject ? withoutAdjective(hypothesis.object) : hypothesis.object,
    };
    return { premise, hypothesis, label };
  });
}

/** The pairs realized in one language. */
export function nliExamples(language: Language, pairs: readonly NliMeaning[]): SuiteNliExample[] {
  return pairs.map((p) => ({ premise: language.realize(p.premise), hypothesis: language.realize(p.hypothesis), label: p.label }));
}
