/**
 * The meaning space shared by every language of the built-in suite: who does
 * what to whom, with which attributes, affirmed or negated. Languages differ
 * only in how they realize a meaning (languages.ts); the statistics of the
 * meanings are the same for all of them (one generator, Zipf-weighted
 * choices, selectional preferences).
 */
import { mulberry32 } from '@thaw/kernels';

export type EntityClass = 'person' | 'animal' | 'food' | 'thing';

/** A noun phrase: a shared name or common noun, optionally with an adjective. */
export interface Entity {
  /** Concept id, e.g. `n:ana` (a name) or `c:dog` (a common noun). */
  noun: string;
  cls: EntityClass;
  /** Adjective concept id (`a:red`), if any. */
  adjective?: string;
}

/** One clause: subject verb object, affirmed or negated. */
export interface Meaning {
  subject: Entity;
  verb: string;
  object: Entity;
  negated: boolean;
}

/** Concepts with their classes. Names are shared verbatim by every language. */
export const NAMES = ['ana', 'bela', 'kemo', 'dima', 'ezra', 'fumi', 'goran', 'hana', 'ilja', 'juno', 'kai', 'lena'];
export const NOUNS: Record<string, EntityClass> = {
  farmer: 'person', child: 'person', teacher: 'person', doctor: 'person', singer: 'person', baker: 'person',
  dog: 'animal', cat: 'animal', horse: 'animal', bird: 'animal', fox: 'animal', goat: 'animal',
  bread: 'food', apple: 'food', soup: 'food', cheese: 'food', fish: 'food', rice: 'food',
  book: 'thing', box: 'thing', lamp: 'thing', rope: 'thing', cup: 'thing', key: 'thing',
};
export const ADJECTIVES = ['red', 'big', 'small', 'old', 'young', 'green', 'heavy', 'quick'];

/** Verbs with the classes they accept as subject and object (selectional preferences). */
export const VERBS: Record<string, { subject: EntityClass[]; object: EntityClass[] }> = {
  sees: { subject: ['person', 'animal'], object: ['person', 'animal', 'food', 'thing'] },
  eats: { subject: ['person', 'animal'], object: ['food'] },
  carries: { subject: ['person', 'animal'], object: ['food', 'thing', 'animal'] },
  chases: { subject: ['person', 'animal'], object: ['animal', 'person'] },
  buys: { subject: ['person'], object: ['food', 'thing', 'animal'] },
  cooks: { subject: ['person'], object: ['food'] },
  finds: { subject: ['person', 'animal'], object: ['food', 'thing', 'person', 'animal'] },
  helps: { subject: ['person', 'animal'], object: ['person', 'animal'] },
  paints: { subject: ['person'], object: ['thing', 'animal'] },
  drops: { subject: ['person', 'animal'], object: ['thing', 'food'] },
};

/** Draws index i with probability ∝ 1/(i+1) (Zipf), so frequent concepts stay frequent in every language. */
export function zipf<T>(items: readonly T[], random: () => number): T {
  const weights = items.map((_, i) => 1 / (i + 1));
  let u = random() * weights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < items.length; i++) if ((u -= weights[i]!) < 0) return items[i]!;
  return items[items.length - 1]!;
}

const allNouns = Object.keys(NOUNS);

/** A random entity of one of `classes` (persons are names half of the time). */
export function entity(classes: readonly EntityClass[], random: () => number, adjectiveRate = 0.5): Entity {
  const cls = classes[Math.floor(random() * classes.length)]!;
  const noun = cls === 'person' && random() < 0.5 ? `n:${zipf(NAMES, random)}` : `c:${zipf(allNouns.filter((n) => NOUNS[n] === cls), random)}`;
  const e: Entity = { noun, cls };
  if (random() < adjectiveRate) e.adjective = `a:${zipf(ADJECTIVES, random)}`;
  return e;
}

/** A random meaning under the selectional preferences. */
export function meaning(random: () => number): Meaning {
  const verb = zipf(Object.keys(VERBS), random);
  const prefs = VERBS[verb]!;
  const subject = entity(prefs.subject, random);
  // A clause about one entity doing something to itself reads oddly: redraw the object.
  let object = entity(prefs.object, random);
  while (object.noun === subject.noun) object = entity(prefs.object, random);
  return { subject, verb, object, negated: random() < 0.5 };
}

/** A seeded stream of meanings. */
export function meanings(seed: number): () => Meaning {
  const random = mulberry32(seed);
  return () => meaning(random);
}
