/**
 * Reader for the real two-choice causal reasoning files: XCOPA's
 * `data/{lang}/{val,test}.{lang}.jsonl` (and `data-gmt/`, the English
 * translations) and SuperGLUE COPA's `train/val.jsonl`, the English
 * training data (docs/formats.md §7; cambridgeltl/xcopa). One JSON object a line:
 * `{"premise", "choice1", "choice2", "question": "cause"|"effect",
 * "label": 0|1, "idx", "changed"?}`.
 *
 * `copaPairs` turns an example into the two (first, second) text pairs a
 * multiple-choice head scores, one per alternative, with the premise joined
 * to an English question phrase (see its TSDoc for the rule).
 *
 * Every problem is an `InputFileError` naming the file and line (1-based).
 * Blank lines are skipped. SuperGLUE's `test.jsonl` has no labels and is
 * rejected as missing `label`: there is nothing to evaluate against.
 */
import { InputFileError } from '../errors/input-error.js';
import { readText } from '../formats/input-file.js';
import { lines } from './text-file.js';

/** One COPA / XCOPA example as the file has it. */
export interface TextCopaExample {
  premise: string;
  choice1: string;
  choice2: string;
  /** Whether the right alternative is the premise's cause or its effect. */
  question: 'cause' | 'effect';
  /** 0 when `choice1` is the right alternative, 1 for `choice2`. */
  label: 0 | 1;
  /** The file's example index (`idx`). */
  idx: number;
  /** XCOPA's flag for examples whose translation was adapted to the culture, where the file has it. */
  changed?: boolean;
}

/** The English question phrase appended to the premise, per question type. */
export const COPA_QUESTIONS = { cause: 'What was the cause?', effect: 'What happened as a result?' } as const;

const REQUIRED = ['premise', 'choice1', 'choice2', 'question', 'label', 'idx'] as const;

/** A JSON value's type in words, for messages. */
function typeOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
}

/**
 * Reads a COPA / XCOPA JSONL file. Throws `InputFileError` naming the file
 * and line for: an empty file (no non-blank line), a line that is not valid
 * JSON or not an object, missing fields, a field of the wrong type, a label
 * other than 0 or 1, a question other than `cause` or `effect`.
 */
export async function readCopa(path: string): Promise<TextCopaExample[]> {
  const out: TextCopaExample[] = [];
  const all = lines(await readText(path));
  for (let i = 0; i < all.length; i++) {
    const text = all[i]!.trim();
    if (text === '') continue;
    const at = `line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new InputFileError(path, `${at}: invalid JSON (${(e as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new InputFileError(path, `${at}: expected a JSON object, got ${typeOf(value)}`);
    }
    const o = value as Record<string, unknown>;
    const missing = REQUIRED.filter((k) => !Object.hasOwn(o, k));
    if (missing.length > 0) {
      throw new InputFileError(path, `${at}: missing field${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (a COPA line has ${REQUIRED.join(', ')})`);
    }
    for (const k of ['premise', 'choice1', 'choice2'] as const) {
      if (typeof o[k] !== 'string') throw new InputFileError(path, `${at}: field ${k} must be a string, got ${typeOf(o[k])}`);
    }
    if (o.question !== 'cause' && o.question !== 'effect') {
      throw new InputFileError(path, `${at}: question must be 'cause' or 'effect', got ${JSON.stringify(o.question)}`);
    }
    if (o.label !== 0 && o.label !== 1) {
      throw new InputFileError(path, `${at}: label must be 0 or 1, got ${JSON.stringify(o.label)}`);
    }
    if (typeof o.idx !== 'number' || !Number.isInteger(o.idx)) {
      throw new InputFileError(path, `${at}: idx must be an integer, got ${JSON.stringify(o.idx)}`);
    }
    const example: TextCopaExample = {
      premise: o.premise as string,
      choice1: o.choice1 as string,
      choice2: o.choice2 as string,
      question: o.question,
      label: o.label,
      idx: o.idx,
    };
    if (Object.hasOwn(o, 'changed')) {
      if (typeof o.changed !== 'boolean') throw new InputFileError(path, `${at}: changed must be true or false, got ${JSON.stringify(o.changed)}`);
      example.changed = o.changed;
    }
    out.push(example);
  }
  if (out.length === 0) throw new InputFileError(path, 'empty file (expected one JSON object per line)');
  return out;
}

/**
 * The two (first, second) sequence pairs a multiple-choice head scores for
 * `example`, alternative 1 then alternative 2. Rule (the usual encoding of
 * COPA for multiple choice in XCOPA / MAD-X-style fine-tuning): the first
 * sequence is the premise followed by a space and the English question
 * phrase, `premise + " What was the cause?"` for a `cause` question and
 * `premise + " What happened as a result?"` for an `effect` question (see
 * `COPA_QUESTIONS`); the second sequence is the alternative, unchanged. The
 * phrase stays English for every XCOPA language: the head is trained on
 * English COPA and the phrase is part of what it learned to read.
 */
export function copaPairs(example: TextCopaExample): [[string, string], [string, string]] {
  const first = `${example.premise} ${COPA_QUESTIONS[example.question]}`;
  return [
    [first, example.choice1],
    [first, example.choice2],
  ];
}
