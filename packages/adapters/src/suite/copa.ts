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
 * subject is a person (every verb accepts one) shared by the premise and
 * both alternatives, so participants never decide. The wrong alternative's
 * verb comes from the same pool as right ones (effects for an "effect"
 * question, causes for a "cause" question) but is not linked to the
 * premise, so the alternatives' verbs alone do not give the answer away.
 * Answers are balanced between the two positions.
 */
import { mulberry32 } from '@thaw/kernels';
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

/** A COPA item rendered as words of one suite language (the file readers' counterpart is TextCopaExample). */
export interface SuiteCopaExample {
  premise: string[];
  question: 'cause' | 'effect';
  choices: [string[], string[]];
  label: 0 | 1;
}

/** An affirmed event with verb `verb` and subject `subject` (a person: every verb takes one). */
function event(verb: string, subject: Meaning['subject'], random: () => number): Meaning {
  let object = entity(VERBS[verb]!.object, random, 0);
  while (object.noun === subject.noun) object = entity(VERBS[verb]!.object, random, 0);
  return { subject, verb, object, negated: false };
}

const EFFECTS = [...new Set(Object.values(CAUSES))];
const CAUSE_VERBS = Object.keys(CAUSES);

/** `n` examples, reproducible from the seed, with both questions and both answer positions balanced. */
export function copaMeanings(seed: number, n: number): CopaMeaning[] {
  const random = mulberry32(seed);
  const links = Object.entries(CAUSES);
  return Array.from({ length: n }, (_, i) => {
    const [cause, effect] = links[Math.floor(random() * links.length)]!;
    const question = i % 2 === 0 ? 'effect' : 'cause';
    const premiseVerb = question === 'effect' ? cause : effect;
    const rightVerb = question === 'effect' ? effect : cause;
    // From the same pool as right answers, but not linked to the premise in the asked direction.
    const pool = question === 'effect' ? EFFECTS : CAUSE_VERBS;
    const wrongVerbs = pool.filter((v) => v !== rightVerb && v !== premiseVerb &&
      (question === 'effect' ? CAUSES[premiseVerb] !== v : CAUSES[v] !== premiseVerb));
    const subject = entity(['person'], random, 0);
    const premise = event(premiseVerb, subject, random);
    const right = event(rightVerb, subject, random);
    const wrong = event(wrongVerbs[Math.floor(random() * wrongVerbs.length)]!, subject, random);
    const label = (Math.floor(i / 2) % 2) as 0 | 1;
    return { premise, question, choices: label === 0 ? [right, wrong] : [wrong, right], label };
  });
}

/** The examples realized in one language. */
export function copaExamples(language: Language, items: readonly CopaMeaning[]): SuiteCopaExample[] {
  return items.map((c) => ({
    premise: language.realize(c.premise),
    question: c.question,
    choices: [language.realize(c.choices[0]), language.realize(c.choices[1])],
    label: c.label,
  }));
}
