/**
 * Small dataset files in the real layouts (XNLI TSVs, COPA JSONL, SQuAD
 * JSON) for three languages that share a few meanings, for the end-to-end
 * tests on real formats. Deterministic: the same files every run.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Three languages with their own words for the same few meanings; names are shared, as in real text. */
export const LEXICON = {
  en: { sees: 'sees', helps: 'helps', not: 'not', dog: 'dog', cat: 'cat', because: 'because', rain: 'rain', sun: 'sun', who: 'who', came: 'came' },
  de: { sees: 'sieht', helps: 'hilft', not: 'nicht', dog: 'hund', cat: 'katze', because: 'weil', rain: 'regen', sun: 'sonne', who: 'wer', came: 'kam' },
  sw: { sees: 'anaona', helps: 'anasaidia', not: 'hapana', dog: 'mbwa', cat: 'paka', because: 'kwa', rain: 'mvua', sun: 'jua', who: 'nani', came: 'alikuja' },
} as const;
export type Lang = keyof typeof LEXICON;
export const NAMES = ['anna', 'ben', 'carla', 'dmitri'];

/** A deterministic sentence: name verb [not] animal. */
function sentence(lang: Lang, i: number, negate: boolean, verb: 'sees' | 'helps' = i % 2 ? 'sees' : 'helps'): string {
  const w = LEXICON[lang];
  return [NAMES[i % NAMES.length], negate ? w.not : '', w[verb], i % 3 ? w.dog : w.cat].filter(Boolean).join(' ');
}

const LABELS = ['entailment', 'neutral', 'contradiction'] as const;

/** XNLI-layout files: the XNLI-MT training TSV, and dev/test TSVs with the MNLI-style header and languages interleaved. */
export async function writeXnli(dir: string): Promise<void> {
  const pair = (lang: Lang, i: number) => {
    const label = i % 3;
    const hypothesis = label === 0 ? sentence(lang, i, false) : label === 2 ? sentence(lang, i, true) : sentence(lang, i, false, i % 2 ? 'helps' : 'sees');
    return { premise: sentence(lang, i, false), hypothesis, label };
  };
  const train = ['premise\thypo\tlabel', ...Array.from({ length: 48 }, (_, i) => {
    const p = pair('en', i);
    return `${p.premise}\t${p.hypothesis}\t${p.label === 2 ? 'contradictory' : LABELS[p.label]}`;
  })];
  await writeFile(join(dir, 'multinli.train.en.tsv'), `${train.join('\n')}\n`);
  const header = 'language\tgold_label\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tpromptID\tpairID\tgenre\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tsentence1_tokenized\tsentence2_tokenized\tmatch';
  for (const split of ['dev', 'test']) {
    const rows = [header];
    for (let i = 0; i < 12; i++) {
      for (const lang of Object.keys(LEXICON) as Lang[]) {
        const p = pair(lang, i + (split === 'test' ? 100 : 50));
        rows.push([lang, LABELS[p.label], '', '', '', '', p.premise, p.hypothesis, String(i), String(i), 'fiction', LABELS[p.label], '', '', '', '', '', '', 'True'].join('\t'));
      }
    }
    await writeFile(join(dir, `xnli.${split}.tsv`), `${rows.join('\n')}\n`);
  }
}

/** COPA-layout files: train.jsonl and val.jsonl (English), and <lang>/test.<lang>.jsonl per language. */
export async function writeXcopa(dir: string): Promise<void> {
  const item = (lang: Lang, i: number) => {
    const w = LEXICON[lang];
    const question = i % 2 ? 'cause' : 'effect';
    const right = `${NAMES[i % 4]} ${w.sees} ${w.rain}`;
    const wrong = `${NAMES[(i + 1) % 4]} ${w.helps} ${w.sun}`;
    const label = i % 3 === 0 ? 1 : 0;
    return JSON.stringify({ premise: sentence(lang, i, false), choice1: label ? wrong : right, choice2: label ? right : wrong, question, label, idx: i, changed: false });
  };
  await writeFile(join(dir, 'train.jsonl'), `${Array.from({ length: 24 }, (_, i) => item('en', i)).join('\n')}\n`);
  await writeFile(join(dir, 'val.jsonl'), `${Array.from({ length: 8 }, (_, i) => item('en', i + 40)).join('\n')}\n`);
  for (const lang of Object.keys(LEXICON) as Lang[]) {
    await mkdir(join(dir, lang), { recursive: true });
    await writeFile(join(dir, lang, `test.${lang}.jsonl`), `${Array.from({ length: 8 }, (_, i) => item(lang, i + 60)).join('\n')}\n`);
  }
}

/** SQuAD v1.1 JSON: train-v1.1.json, dev-v1.1.json (English) and xquad.<lang>.json per language. */
export async function writeSquad(dir: string): Promise<void> {
  const file = (lang: Lang, from: number, n: number) => {
    const w = LEXICON[lang];
    const paragraphs = Array.from({ length: n }, (_, k) => {
      const i = from + k;
      const answer = NAMES[i % 4]!;
      const context = `${sentence(lang, i + 1, false)} . ${answer} ${w.came} ${w.because} ${w.rain} . ${sentence(lang, i + 2, true)}`;
      return { context, qas: [{ id: `${lang}-${i}`, question: `${w.who} ${w.came}`, answers: [{ text: answer, answer_start: context.indexOf(` ${answer} ${w.came}`) + 1 }] }] };
    });
    return JSON.stringify({ version: '1.1', data: [{ title: `t-${lang}`, paragraphs }] });
  };
  await writeFile(join(dir, 'train-v1.1.json'), file('en', 0, 24));
  await writeFile(join(dir, 'dev-v1.1.json'), file('en', 40, 6));
  for (const lang of Object.keys(LEXICON) as Lang[]) await writeFile(join(dir, `xquad.${lang}.json`), file(lang, 60, 6));
}

