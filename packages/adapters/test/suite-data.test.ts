// The built-in suite's languages and NLI data: deterministic, parallel
// across languages, label-balanced, without length shortcuts, and sharing
// exactly the vocabulary it is designed to share.
import { describe, expect, it } from 'vitest';
import { CAUSES, FUNCTION_TOKENS, LANGUAGES, NAMES, NOUNS, QUESTION_WORDS, SPECIALS, WordTokenizer, copaExamples, copaMeanings, meanings, mlmPairs, nliExamples, nliMeanings, qaExamples, qaMeanings, suiteLanguages } from '../src/index.js';

describe('suite languages', () => {
  const languages = suiteLanguages();
  const [src, l1, l2, l3, , , l6] = languages;

  it('realize one meaning with each language\'s order, modifiers, markers and polarity', () => {
    const next = meanings(4);
    let m = next();
    while (!(m.subject.noun.startsWith('c:') && m.subject.adjective && m.object.adjective && m.negated)) m = next();
    const [s, o] = [m.subject.noun.slice(2), m.object.noun.slice(2)];
    const sentence = (i: number) => languages[i]!.realize(m);
    const words = (i: number, concept: string) => languages[i]!.words.get(concept)!;
    // src: SVO, adjective first, polarity before the verb.
    expect(sentence(0)).toEqual([words(0, m.subject.adjective!), s, 'ne', words(0, `v:${m.verb}`), words(0, m.object.adjective!), o]);
    // l1: the same grammar with other words for verbs and adjectives.
    expect(sentence(1).length).toBe(sentence(0).length);
    expect(sentence(1)).not.toEqual(sentence(0));
    // l2: adjective after the noun, articles on common nouns.
    expect(sentence(2).slice(0, 3)).toEqual([FUNCTION_TOKENS.article, s, words(2, m.subject.adjective!)]);
    // l3: SOV with case markers: the verb is last.
    expect(sentence(3).at(-1)).toBe(words(3, `v:${m.verb}`));
    expect(sentence(3)).toContain(FUNCTION_TOKENS.subject);
    // l6: VOS, polarity at the very end.
    expect(sentence(6)[0]).toBe(words(6, `v:${m.verb}`));
    expect(sentence(6).at(-1)).toBe('ne');
    expect([src, l1, l2, l3, l6].every(Boolean)).toBe(true);
  });

  it('share names, nouns and function tokens, and nothing else', () => {
    const shared = new Set([...NAMES, ...Object.keys(NOUNS), ...Object.values(FUNCTION_TOKENS)]);
    const own = languages.map((l) => new Set([...l.words.values()]));
    for (let i = 0; i < own.length; i++) {
      for (const w of own[i]!) expect(shared.has(w)).toBe(false);
      for (let j = i + 1; j < own.length; j++) for (const w of own[i]!) expect(own[j]!.has(w)).toBe(false);
    }
    expect(languages.map((l) => l.code)).toEqual(LANGUAGES.map((s) => s.code));
  });

  it('are deterministic', () => {
    const again = suiteLanguages();
    languages.forEach((l, i) => expect([...again[i]!.words]).toEqual([...l.words]));
  });
});

describe('suite NLI', () => {
  const languages = suiteLanguages();

  it('is balanced, reproducible, parallel across languages, and has no length shortcut', () => {
    const pairs = nliMeanings(11, 3000);
    expect(nliMeanings(11, 50)).toEqual(pairs.slice(0, 50));
    const counts = [0, 0, 0];
    for (const p of pairs) counts[p.label]!++;
    expect(counts).toEqual([1000, 1000, 1000]);
    for (const language of languages) {
      const examples = nliExamples(language, pairs);
      // Mean length difference premise − hypothesis per label: equal within noise.
      const diffs = [0, 1, 2].map((label) => {
        const rows = examples.filter((e) => e.label === label);
        return rows.reduce((s, e) => s + e.premise.length - e.hypothesis.length, 0) / rows.length;
      });
      expect(Math.max(...diffs) - Math.min(...diffs), language.code).toBeLessThan(0.15);
      // Polarity differs in every contradiction, in none of the entailments, and in about half of the neutrals.
      const differs = (e: (typeof examples)[number]) => (e.premise.includes('ne') ? 1 : 0) !== (e.hypothesis.includes('ne') ? 1 : 0);
      const rate = (label: number) => examples.filter((e) => e.label === label && differs(e)).length / 1000;
      expect([rate(0), rate(2)]).toEqual([0, 1]);
      expect(Math.abs(rate(1) - 0.5)).toBeLessThan(0.06);
    }
  });

  it('encodes pairs with the shared tokenizer in RoBERTa\'s format', () => {
    const tokenizer = new WordTokenizer(languages.flatMap((l) => l.vocabulary()));
    const [example] = nliExamples(languages[3]!, nliMeanings(1, 1));
    const ids = tokenizer.encode(example!.premise, example!.hypothesis, 32);
    expect(ids[0]).toBe(SPECIALS.bos);
    expect(tokenizer.decode(ids)).toEqual(['<s>', ...example!.premise, '</s>', '</s>', ...example!.hypothesis, '</s>']);
    expect([...ids].includes(SPECIALS.unk)).toBe(false);
    expect(() => tokenizer.encode(example!.premise, example!.hypothesis, 5)).toThrow(/does not fit in 5/);
  });
});

describe('suite MLM corpora', () => {
  const languages = suiteLanguages();

  it('are monolingual, not parallel, reproducible, with about a third edited restatements', () => {
    const a = mlmPairs(languages[0]!, 1, 900);
    const b = mlmPairs(languages[1]!, 1, 900);
    expect(mlmPairs(languages[0]!, 1, 900)).toEqual(a);
    const own = (i: number) => new Set(languages[i]!.words.values());
    // Every word of a language's corpus is its own or shared; none is another language's.
    for (const [x, y] of a) for (const w of [...x, ...y]) expect(own(1).has(w)).toBe(false);
    // Different meanings, not translations: the names used differ from pair to pair.
    const names = (pairs: typeof a) => pairs.map(([x]) => x.filter((w) => NAMES.includes(w)).join(' '));
    expect(names(a)).not.toEqual(names(b));
    // A restatement shares its nouns with the first sentence.
    const related = a.filter(([x, y]) => {
      const nouns = (s: string[]) => s.filter((w) => w in NOUNS || NAMES.includes(w)).sort().join(' ');
      return nouns(x) === nouns(y);
    }).length / a.length;
    expect(related).toBeGreaterThan(0.25);
    expect(related).toBeLessThan(0.45);
  });
});

describe('suite COPA and QA', () => {
  const languages = suiteLanguages();

  it('COPA: the right choice is causally linked, answers and questions are balanced', () => {
    const items = copaMeanings(5, 400);
    expect(copaMeanings(5, 10)).toEqual(items.slice(0, 10));
    expect(items.filter((c) => c.label === 0).length).toBe(200);
    expect(items.filter((c) => c.question === 'cause').length).toBe(200);
    for (const c of items) {
      const right = c.choices[c.label];
      const wrong = c.choices[1 - c.label]!;
      // Participants never decide: one subject for the premise and both alternatives.
      expect(right.subject).toEqual(c.premise.subject);
      expect(wrong.subject).toEqual(c.premise.subject);
      // Verbs alone never decide: both alternatives come from the pool of possible answers.
      const pool = c.question === 'effect' ? new Set(Object.values(CAUSES)) : new Set(Object.keys(CAUSES));
      expect(pool.has(right.verb) && pool.has(wrong.verb)).toBe(true);
      if (c.question === 'effect') {
        expect(CAUSES[c.premise.verb]).toBe(right.verb);
        expect(CAUSES[c.premise.verb]).not.toBe(wrong.verb);
      } else {
        expect(CAUSES[right.verb]).toBe(c.premise.verb);
        expect(CAUSES[wrong.verb]).not.toBe(c.premise.verb);
      }
    }
    for (const l of languages) expect(copaExamples(l, items.slice(0, 3)).every((e) => e.choices.every((ch) => ch.length > 0))).toBe(true);
  });

  it('QA: the answer span is the asked noun, in every language, and the question has its question word', () => {
    const items = qaMeanings(6, 200);
    for (const l of languages) {
      const examples = qaExamples(l, items);
      examples.forEach((e, i) => {
        const item = items[i]!;
        expect(e.context[e.start]).toBe(item.context[item.clause]![item.role].noun.slice(2));
        expect(e.end).toBe(e.start);
        expect(e.question).toContain(QUESTION_WORDS[item.role]);
      });
    }
    // Word order moves the answer: SVO and VSO put a subject at different offsets.
    const svo = qaExamples(languages[0]!, items.slice(0, 1))[0]!;
    const vso = qaExamples(languages[4]!, items.slice(0, 1))[0]!;
    expect(svo.context[svo.start]).toBe(vso.context[vso.start]);
  });
});
