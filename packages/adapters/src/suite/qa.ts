/**
 * Extractive QA on the suite (like XQuAD/MLQA): a context of a few clauses,
 * a question about one clause, and the answer as a token span of the
 * context. The question is the asked clause with the asked role replaced by
 * a question word: `who` for the subject, `what` for the object (shared
 * question tokens, placed where the role would stand). The answer is the
 * asked noun phrase's head noun or name, whose position in the context
 * moves with each language's word order.
 */
import { mulberry32 } from '@thaw/kernels';
import { meaning, type Meaning } from './meanings.js';
import { FUNCTION_TOKENS, type Language } from './languages.js';

/** The question words (shared function tokens of every language). */
export const QUESTION_WORDS = { subject: FUNCTION_TOKENS.who, object: FUNCTION_TOKENS.what } as const;

export interface QaMeaning {
  context: Meaning[];
  /** Which clause is asked about, and which role. */
  clause: number;
  role: 'subject' | 'object';
}

/** A QA item rendered as words of one suite language, with its answer's token span (the file readers' counterpart is TextQaExample). */
export interface SuiteQaExample {
  context: string[];
  question: string[];
  /** Inclusive token span of the answer in the context. */
  start: number;
  end: number;
}

/** `n` items with `clauses` clauses each; the asked nouns are unique within their context. */
export function qaMeanings(seed: number, n: number, clauses = 3): QaMeaning[] {
  const random = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => {
    for (;;) {
      const context = Array.from({ length: clauses }, () => meaning(random));
      const clause = Math.floor(random() * clauses);
      const role = i % 2 === 0 ? 'subject' : 'object';
      const answer = context[clause]![role].noun;
      // The answer must be unambiguous: its noun appears once in the context,
      // and no other clause fits the question (same verb, polarity and other participant).
      const uses = context.flatMap((m) => [m.subject.noun, m.object.noun]).filter((noun) => noun === answer).length;
      const other = role === 'subject' ? 'object' : 'subject';
      const asked = context[clause]!;
      const fits = context.filter((m) => m.verb === asked.verb && m.negated === asked.negated && m[other].noun === asked[other].noun).length;
      if (uses === 1 && fits === 1) return { context, clause, role };
    }
  });
}

/** The items realized in one language, with the answer span located in the context. */
export function qaExamples(language: Language, items: readonly QaMeaning[]): SuiteQaExample[] {
  return items.map((item) => {
    const sentences = item.context.map((m) => language.realize(m));
    const asked = item.context[item.clause]!;
    const answer = asked[item.role].noun.slice(2);
    const offset = sentences.slice(0, item.clause).reduce((s, t) => s + t.length, 0);
    const local = sentences[item.clause]!.indexOf(answer);
    // The question: the clause without adjectives on the asked role, the noun replaced by the question word.
    const marker = `__${item.role}__`;
    const blanked: Meaning = { ...asked, [item.role]: { noun: `q:${marker}`, cls: asked[item.role].cls } };
    const question = language.realize(blanked).map((t) => (t === marker ? QUESTION_WORDS[item.role] : t));
    return { context: sentences.flat(), question, start: offset + local, end: offset + local };
  });
}
