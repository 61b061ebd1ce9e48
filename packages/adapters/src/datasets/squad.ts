/**
 * Extractive QA from real files: a reader for SQuAD v1.1 JSON (the
 * format of SQuAD, MLQA, XQuAD and TyDiQA-GoldP; docs/formats.md
 * §7), Hugging Face `run_qa.py`-style sliding-window features for a model,
 * and the post-processing that turns start/end logits back into answer text.
 *
 * Character offsets. SQuAD files are written by Python, whose string
 * indices count code points; JavaScript strings (and the `HfTokenizer`
 * offsets) count UTF-16 units. The two differ after a character outside the
 * Basic Multilingual Plane (emoji, rare CJK), so `readSquad` converts each
 * `answer_start` to a UTF-16 index, and every offset in this module is one.
 * Contexts and answers are kept exactly as in the file (no stripping, unlike
 * the HF TyDiQA script's `.strip()`, which shifts offsets when applied to
 * only one side).
 */
import { InputFileError } from '../errors/input-error.js';
import { OptionError } from '../errors/option-error.js';
import type { HfTokenizer } from '../formats/hf-tokenizer.js';
import { readText } from '../formats/input-file.js';

/** One gold answer: its text and where it starts in the context (UTF-16 index). */
export interface QaAnswer {
  text: string;
  start: number;
}

/** One question about a context, with its gold answers (none in test files stripped of answers). */
export interface TextQaExample {
  id: string;
  question: string;
  context: string;
  answers: QaAnswer[];
}

/** A JSON value's type in words, for messages. */
function typeOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The UTF-16 index of code point `cp` in `s`, or -1 past its end. */
function codePointToUtf16(s: string, cp: number): number {
  let u = 0;
  for (let c = 0; c < cp; c++) {
    if (u >= s.length) return -1;
    u += (s.codePointAt(u)! > 0xffff) ? 2 : 1;
  }
  return u <= s.length ? u : -1;
}

/** The number of code points in `s` (Python's `len`). */
const codePoints = (s: string): number => [...s].length;

/**
 * Reads a SQuAD v1.1 JSON file (MLQA, XQuAD, TyDiQA-GoldP use the same
 * format): `{"data": [{"title", "paragraphs": [{"context", "qas": [{"id",
 * "question", "answers": [{"text", "answer_start"}]}]}]}]}`, one example per
 * question in file order. An empty `answers` list is allowed (XTREME strips
 * test answers); such an example trains toward the CLS position and cannot
 * be scored. Each `answer_start` is read as a Python (code point) index and
 * converted to UTF-16; a file written with UTF-16 indices is accepted too
 * when that is the reading under which the text matches.
 *
 * Throws `InputFileError` naming the file and the place (`data[i].
 * paragraphs[j].qas[k]`, with the question id where there is one) for: an
 * empty file, invalid JSON, no top-level `data` array, a paragraph or
 * question lacking a field or with one of the wrong type, and an answer that
 * lies outside its context or whose text differs from the context there.
 */
export async function readSquad(path: string): Promise<TextQaExample[]> {
  const text = await readText(path);
  if (text.trim() === '') throw new InputFileError(path, 'empty file (expected SQuAD v1.1 JSON)');
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (e) {
    throw new InputFileError(path, `invalid JSON (${(e as Error).message})`);
  }
  if (!isObject(root) || !Array.isArray(root.data)) {
    const found = isObject(root) ? `top-level keys: ${Object.keys(root).join(', ') || 'none'}` : `top level is ${typeOf(root)}`;
    throw new InputFileError(path, `not SQuAD v1.1 JSON: no top-level "data" array (${found})`);
  }
  const out: TextQaExample[] = [];
  root.data.forEach((article, i) => {
    const where = `data[${i}]`;
    if (!isObject(article) || !Array.isArray(article.paragraphs)) {
      throw new InputFileError(path, `${where}: expected an object with a "paragraphs" array, got ${isObject(article) ? `keys ${Object.keys(article).join(', ')}` : typeOf(article)}`);
    }
    article.paragraphs.forEach((paragraph, j) => {
      const at = `${where}.paragraphs[${j}]`;
      if (!isObject(paragraph)) throw new InputFileError(path, `${at}: expected an object, got ${typeOf(paragraph)}`);
      if (typeof paragraph.context !== 'string') throw new InputFileError(path, `${at}: "context" must be a string, got ${typeOf(paragraph.context)}`);
      if (!Array.isArray(paragraph.qas)) throw new InputFileError(path, `${at}: "qas" must be an array, got ${typeOf(paragraph.qas)}`);
      const context = paragraph.context;
      const contextPoints = codePoints(context);
      paragraph.qas.forEach((qa, k) => {
        let place = `${at}.qas[${k}]`;
        if (!isObject(qa)) throw new InputFileError(path, `${place}: expected an object, got ${typeOf(qa)}`);
        if (typeof qa.id !== 'string' && typeof qa.id !== 'number') throw new InputFileError(path, `${place}: "id" must be a string, got ${typeOf(qa.id)}`);
        const id = String(qa.id);
        place += ` (question id '${id}')`;
        if (typeof qa.question !== 'string') throw new InputFileError(path, `${place}: "question" must be a string, got ${typeOf(qa.question)}`);
        if (!Array.isArray(qa.answers)) throw new InputFileError(path, `${place}: "answers" must be an array, got ${typeOf(qa.answers)}`);
        const answers = qa.answers.map((answer, a): QaAnswer => {
          const ans = `${place}: answer ${a}`;
          if (!isObject(answer)) throw new InputFileError(path, `${ans} must be an object, got ${typeOf(answer)}`);
          if (typeof answer.text !== 'string') throw new InputFileError(path, `${ans}: "text" must be a string, got ${typeOf(answer.text)}`);
          const start = answer.answer_start;
          if (typeof start !== 'number' || !Number.isInteger(start) || start < 0) {
            throw new InputFileError(path, `${ans}: "answer_start" must be a non-negative integer, got ${JSON.stringify(start)}`);
          }
          const u = codePointToUtf16(context, start);
          if (u >= 0 && context.slice(u, u + answer.text.length) === answer.text) return { text: answer.text, start: u };
          if (context.slice(start, start + answer.text.length) === answer.text) return { text: answer.text, start };
          if (start + codePoints(answer.text) > contextPoints) {
            throw new InputFileError(path, `${ans} ${JSON.stringify(answer.text)} at answer_start ${start} runs past the end of the context (${contextPoints} characters)`);
          }
          const there = u >= 0 ? context.slice(u, u + answer.text.length) : '';
          throw new InputFileError(path, `${ans} ${JSON.stringify(answer.text)} at answer_start ${start} does not match the context, which has ${JSON.stringify(there)} there`);
        });
        out.push({ id, question: qa.question, context, answers });
      });
    });
  });
  return out;
}

/** `qaFeatures` options (Hugging Face `run_qa.py` names and defaults). */
export interface QaFeatureOptions {
  /** Length of every feature, special tokens and padding included (HF `max_seq_length`). Default 384. */
  maxLength?: number;
  /**
   * Overlap, in context tokens, between consecutive windows of one context
   * (HF `doc_stride`, passed to the tokenizer as `stride`: it is the overlap,
   * not the step). Consecutive windows start `room - docStride` tokens apart,
   * where `room` is the context tokens a window holds. Default 128.
   */
  docStride?: number;
}

/** One model input: a window of one example's context after its question, padded to `maxLength`. */
export interface QaFeature {
  ids: number[];
  tokenTypes: number[];
  /** 1 for real tokens, 0 for padding. */
  attentionMask: number[];
  /** For each position, the context token's [begin, end) UTF-16 span in the example's context; null for question, special and padding positions. */
  offsets: ([number, number] | null)[];
  /** The example (index into the `examples` passed to `qaFeatures`) the window comes from. */
  exampleIndex: number;
  /**
   * Training target: the positions of the first gold answer's first and last
   * tokens, or both the position of the first special token (CLS, position
   * 0 in XLM-R's and BERT's templates) when the answer is not entirely
   * inside the window or the example has no answer.
   */
  start: number;
  end: number;
}

/**
 * Sliding-window features for extractive QA, as Hugging Face `run_qa.py`
 * prepares them (`truncation="only_second"`, `stride=doc_stride`,
 * `return_overflowing_tokens`, `padding="max_length"`):
 *
 *   - the question is left-stripped and kept whole (run_qa.py has no
 *     `max_query_length`);
 *   - the windows are the tokenizer's (`HfTokenizer.encodeWindows`):
 *     consecutive windows share `docStride` context tokens, the last is the
 *     first that reaches the context's end, each is padded to `maxLength`;
 *   - targets follow run_qa.py: when the first answer's characters
 *     [start, start + length) lie within the window's first and last context
 *     tokens, `start` is the last context token beginning at or before the
 *     answer's first character and `end` the first context token ending at or
 *     after its last; otherwise both are the CLS position.
 *
 * Throws `OptionError` when a window would hold no more than `docStride`
 * context tokens (HF refuses that too: the windows would not advance).
 */
export async function qaFeatures(examples: readonly TextQaExample[], tokenizer: HfTokenizer, options: QaFeatureOptions = {}): Promise<QaFeature[]> {
  const { maxLength = 384, docStride = 128 } = options;
  for (const [name, v] of Object.entries({ maxLength, docStride })) {
    if (!Number.isInteger(v) || v < 0) throw new OptionError(`${name} must be a non-negative integer, got ${v}`);
  }
  const features: QaFeature[] = [];
  for (const [exampleIndex, example] of examples.entries()) {
    let windows;
    try {
      windows = await tokenizer.encodeWindows(example.question.trimStart(), example.context, { maxLength, stride: docStride, pad: true });
    } catch (e) {
      if (e instanceof RangeError) throw new OptionError(`example '${example.id}': ${e.message}`);
      throw e;
    }
    const answer = example.answers[0];
    for (const t of windows) {
      // Only the context's spans: the question's are not positions an answer can take.
      const offsets = t.offsets.map((o, i) => (t.sequenceIds[i] === 1 ? o : null));
      const cls = Math.max(0, t.sequenceIds.indexOf(null));
      let start = cls;
      let end = cls;
      const first = t.sequenceIds.indexOf(1);
      const last = t.sequenceIds.lastIndexOf(1);
      if (answer !== undefined && first >= 0) {
        const [startChar, endChar] = [answer.start, answer.start + answer.text.length];
        if (offsets[first]![0] <= startChar && offsets[last]![1] >= endChar) {
          start = first;
          while (start + 1 <= last && offsets[start + 1]![0] <= startChar) start++;
          end = last;
          while (end - 1 >= first && offsets[end - 1]![1] >= endChar) end--;
        }
      }
      features.push({ ids: t.ids, tokenTypes: t.tokenTypes, attentionMask: t.attentionMask, offsets, exampleIndex, start, end });
    }
  }
  return features;
}

/** `decodeBestSpan` options (Hugging Face `postprocess_qa_predictions` names and defaults). */
export interface DecodeOptions {
  /** Longest answer considered, in tokens (end − start + 1). Default 30. */
  maxAnswerLength?: number;
  /** How many of a window's highest start logits, and of its highest end logits, are combined. Default 20. */
  nBest?: number;
}

/** The `n` highest-scoring positions of `logits`, best first (ties: lower position first). */
function topPositions(logits: ArrayLike<number>, length: number, n: number): number[] {
  const positions = Array.from({ length }, (_, i) => i);
  positions.sort((a, b) => logits[b]! - logits[a]! || a - b);
  return positions.slice(0, n);
}

/**
 * Each example's predicted answer text from per-feature start and end
 * logits (`startLogits[f]` and `endLogits[f]` over feature `f`'s positions),
 * as HF `postprocess_qa_predictions` does: in every window of the example,
 * the `nBest` highest start positions are paired with the `nBest` highest
 * end positions; a pair counts when both are context tokens (non-null
 * offsets), start ≤ end and end − start + 1 ≤ `maxAnswerLength`; its score is
 * start logit + end logit; the best pair over all the example's windows
 * gives `context.slice(offsets[start][0], offsets[end][1])`. An example with
 * no valid pair (or no feature) gets the empty string.
 */
export function decodeBestSpan(
  startLogits: readonly ArrayLike<number>[],
  endLogits: readonly ArrayLike<number>[],
  features: readonly QaFeature[],
  examples: readonly TextQaExample[],
  options: DecodeOptions = {},
): string[] {
  const { maxAnswerLength = 30, nBest = 20 } = options;
  if (startLogits.length !== features.length || endLogits.length !== features.length) {
    throw new RangeError(`${features.length} features but ${startLogits.length} start and ${endLogits.length} end logit rows`);
  }
  const best = examples.map(() => ({ score: -Infinity, text: '' }));
  features.forEach((feature, f) => {
    const example = examples[feature.exampleIndex];
    if (example === undefined) throw new RangeError(`feature ${f} refers to example ${feature.exampleIndex}, but there are ${examples.length}`);
    const length = feature.offsets.length;
    const [s, e] = [startLogits[f]!, endLogits[f]!];
    if (s.length < length || e.length < length) throw new RangeError(`feature ${f} has ${length} positions but ${s.length} start and ${e.length} end logits`);
    for (const start of topPositions(s, length, nBest)) {
      const a = feature.offsets[start];
      if (!a) continue;
      for (const end of topPositions(e, length, nBest)) {
        const b = feature.offsets[end];
        if (!b || end < start || end - start + 1 > maxAnswerLength) continue;
        const score = s[start]! + e[end]!;
        if (score > best[feature.exampleIndex]!.score) best[feature.exampleIndex] = { score, text: example.context.slice(a[0], b[1]) };
      }
    }
  });
  return best.map((b) => b.text);
}
