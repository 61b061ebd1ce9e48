/**
 * Two-choice causal reasoning on the suite (like XCOPA): a premise event,
 * a question (what was the cause? what was the effect?) and two alternative
 * events, one of which is causally linked to the premise.
 *
 * Causal knowledge is a fixed table of event types, the same for every
 * language: an event is a meaning whose verb is the event type (someone
 * drops a thing → the thing breaks is not expressible with these verbs, so
 * links are between verb types: chases → finds, buys → carries, cooks →
 * eats, drops → finds, sees → chases, paints → buys, helps → carries). The
 * wrong alternative shares the participants but follows a verb type the
 * premise does not link to, so names alone never decide. Answers are
 * balanced between the two positions.
 */
import { mulberry32 } from '@thaw/kernels/reference';
import { VERBS, entity, type Meaning } from './meanings.js';
import type { Language } from './languages.js';

/** cause → effect between verb types. */
export const CAUSES: Record<string, string> = {
  chases: 'finds', buys: 'carries', cooks: 'eats', drops: 'finds', sees: 'chases', paints: 'buys', helps: 'carries',
};

export interface CopaMeaning {
  premise: Meaning;
  question: 'cause' | 'effect';
  choices: [Meaning, Meaning];
  /** Index of the right choice. */
  label: 0 | 1;
}

export interface CopaExample {
  premise: string[];
  question: 'cause' | 'effect';
  choices: [string[], string[]];
  label: 0 | 1;
}

/** A meaning with verb `verb` whose subject is `subject` when the verb allows it, affirmed. */
function event(verb: string, subject: Meaning['subject'], random: () => number): Meaning {
  const prefs = VERBS[verb]!;
  const s = prefs.subject.includes(subject.cls) ? subject : entity(prefs.subject, random, 0);
  let object = entity(prefs.object, random, 0);
  while (object.noun === s.noun) object = entity(prefs.object, random, 0);
  return { subject: s, verb, object, negated: false };
}

/** `n` examples, reproducible from the seed, with both questions and both answer positions balanced. */
export function copaMeanings(seed: number, n: number): CopaMeaning[] {
  const random = mulberry32(seed);
  const links = Object.entries(CAUSES);
  return Array.from({ length: n }, (_, i) => {
    const [cause, effect] = links[Math.floor(random() * links.length)]!;
    const question = i % 2 === 0 ? 'effect' : 'cause';
    const premiseVerb = question === 'effect' ? cause : effect;
    const rightVerb = question === 'effect' ? effect : cause;
    // A verb the premise is not linked to in the asked direction.
    const wrongVerbs = Object.keys(VERBS).filter((v) => v !== rightVerb && v !== premiseVerb &&
      (question === 'effect' ? CAUSES[premiseVerb] !== v : CAUSES[v] !== premiseVerb));
    const subject = entity(VERBS[premiseVerb]!.subject, random, 0);
    const premise = event(premiseVerb, subject, random);
    const right = event(rightVerb, subject, random);
    const wrong = event(wrongVerbs[Math.floor(random() * wrongVerbs.length)]!, subject, random);
    const label = (Math.floor(i / 2) % 2) as 0 | 1;
    return { premise, question, choices: label === 0 ? [right, wrong] : [wrong, right], label };
  });
}

/** The examples realized in one language. */
export function copaExamples(language: Language, items: readonly CopaMeaning[]): CopaExample[] {
  return items.map((c) => ({
    premise: language.realize(c.premise),
    question: c.question,
    choices: [language.realize(c.choices[0]), language.realize(c.choices[1])],
    label: c.label,
  }));
}
