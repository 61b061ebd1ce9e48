/**
 * Readers for the real NLI files: XNLI's evaluation sets and the MNLI
 * training data (English, or XNLI-MT's machine translations) that
 * zero-shot / translate-train cross-lingual transfer trains on.
 *
 * Layouts (docs/formats.md §7):
 *   - `XNLI-1.0/xnli.{dev,test}.tsv`: one TSV with a header row (the full
 *     MNLI-style header: language, gold_label, the binary parses and parses,
 *     sentence1, sentence2, promptID, pairID, genre, label1..5, ...), the
 *     rows of all 15 languages interleaved.
 *   - `XNLI-MT-1.0/multinli/multinli.train.{lang}.tsv`: header
 *     `premise\thypo\tlabel`, with the label spelled `contradictory` where
 *     MNLI says `contradiction`.
 *   - GLUE/MNLI `train.tsv`: the MNLI header (index, promptID, pairID, genre,
 *     the parses, sentence1, sentence2, label1, gold_label).
 *
 * Columns are found by name in the header, never by position, so the three
 * layouts (and dev files with label1..label5) need no per-file code. The
 * files are read the way the reference scripts read them with Python's
 * `csv.QUOTE_NONE`: a field is everything between tabs, quotes included
 * (MNLI sentences contain unbalanced quotes, which a quoting reader would
 * use to swallow following rows). Labels get Hugging Face's ids:
 * entailment 0, neutral 1, contradiction 2.
 *
 * Every problem is an `InputFileError` naming the file and, where there is
 * one, the line (1-based, the header is line 1). Blank lines are skipped; a
 * row with more fields than it needs is accepted (only the named columns are
 * read).
 */
import { InputFileError } from '../errors/input-error.js';
import { readText } from '../formats/input-file.js';
import { lines } from './text-file.js';

/** One premise/hypothesis pair of a real NLI file. */
export interface TextNliExample {
  premise: string;
  hypothesis: string;
  /** Hugging Face's label ids: entailment 0, neutral 1, contradiction 2. */
  label: 0 | 1 | 2;
  /** The file's `pairID` where it has one (XNLI, MNLI; not XNLI-MT). XNLI repeats a pairID across languages. */
  id?: string;
}

/** Label spellings the readers accept, with their Hugging Face ids. `contradictory` is XNLI-MT's spelling. */
export const NLI_LABEL_IDS: Readonly<Record<string, 0 | 1 | 2>> = {
  entailment: 0,
  neutral: 1,
  contradiction: 2,
  contradictory: 2,
};

/** A parsed TSV: the header's column names and the data rows with their 1-based line numbers. */
interface Tsv {
  header: string[];
  rows: { line: number; fields: string[] }[];
}

/** Splits `text` into a header and rows, QUOTE_NONE style (tab-separated, quotes literal). */
function parseTsv(path: string, text: string): Tsv {
  const all = lines(text);
  const first = all.findIndex((l) => l.trim() !== '');
  if (first < 0) throw new InputFileError(path, 'empty file (expected a TSV header row and examples)');
  const header = all[first]!.split('\t').map((h) => h.trim());
  const rows: Tsv['rows'] = [];
  for (let i = first + 1; i < all.length; i++) {
    if (all[i]!.trim() === '') continue;
    rows.push({ line: i + 1, fields: all[i]!.split('\t') });
  }
  if (rows.length === 0) throw new InputFileError(path, `line ${first + 1}: a header row but no examples`);
  return { header, rows };
}

/** The header position of each column in `names`; throws naming the missing ones and what the header has. */
function columns<K extends string>(path: string, tsv: Tsv, names: readonly K[], layout: string): Record<K, number> {
  const missing = names.filter((n) => !tsv.header.includes(n));
  if (missing.length > 0) {
    throw new InputFileError(path, `line 1: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (${layout} needs ${names.join(', ')}); the header has: ${tsv.header.join(', ')}`);
  }
  return Object.fromEntries(names.map((n) => [n, tsv.header.indexOf(n)])) as Record<K, number>;
}

/** The row's field in column `name` at `index`; throws if the row is too short to have it. */
function field(path: string, row: Tsv['rows'][number], index: number, name: string, headerLength: number): string {
  const value = row.fields[index];
  if (value === undefined) {
    throw new InputFileError(path, `line ${row.line}: ${row.fields.length} field${row.fields.length === 1 ? '' : 's'}, too few to reach column ${name} (column ${index + 1} of the header's ${headerLength}); is a tab missing?`);
  }
  return value;
}

/** The label id of a spelling; throws naming the label and the accepted spellings. */
function labelId(path: string, line: number, raw: string): 0 | 1 | 2 {
  const label = raw.trim();
  const id = Object.hasOwn(NLI_LABEL_IDS, label) ? NLI_LABEL_IDS[label] : undefined;
  if (id === undefined) {
    throw new InputFileError(path, `line ${line}: unknown label '${label}' (accepted: ${Object.keys(NLI_LABEL_IDS).join(', ')})`);
  }
  return id;
}

/**
 * Reads `XNLI-1.0/xnli.dev.tsv` or `xnli.test.tsv` (header row; columns
 * `gold_label`, `sentence1`, `sentence2`, `language`, optional `pairID`,
 * found by name), keeping only `language`'s rows when given (an XNLI code:
 * `en`, `de`, `zh`, ...). The `language` column is needed only to filter, so
 * an MNLI dev file (no `language`) reads too when no language is asked for.
 * Throws `InputFileError` for an empty file, missing columns, a row too short
 * to have a needed column, an unknown label, or a language with no rows (the
 * message lists the languages the file has).
 */
export async function readXnli(path: string, language?: string): Promise<TextNliExample[]> {
  const tsv = parseTsv(path, await readText(path));
  const needed = language === undefined ? (['gold_label', 'sentence1', 'sentence2'] as const) : (['language', 'gold_label', 'sentence1', 'sentence2'] as const);
  const cols = columns(path, tsv, needed, 'an XNLI file');
  const languageCol = tsv.header.indexOf('language');
  const pairCol = tsv.header.indexOf('pairID');
  const width = tsv.header.length;
  const present = new Set<string>();
  const out: TextNliExample[] = [];
  for (const row of tsv.rows) {
    if (language !== undefined) {
      const lang = field(path, row, languageCol, 'language', width).trim();
      present.add(lang);
      if (lang !== language) continue;
    }
    const label = labelId(path, row.line, field(path, row, cols.gold_label, 'gold_label', width));
    const example: TextNliExample = {
      premise: field(path, row, cols.sentence1, 'sentence1', width),
      hypothesis: field(path, row, cols.sentence2, 'sentence2', width),
      label,
    };
    const id = pairCol >= 0 ? row.fields[pairCol] : undefined;
    if (id !== undefined && id !== '') example.id = id;
    out.push(example);
  }
  if (out.length === 0) {
    throw new InputFileError(path, `no rows for language '${language}'; the file has ${[...present].sort().join(', ')}`);
  }
  return out;
}

/**
 * Reads NLI training data in either layout, told apart by the header:
 * XNLI-MT's `multinli.train.{lang}.tsv` (`premise`, `hypo`, `label`; the
 * label `contradictory` means contradiction) or GLUE MNLI's `train.tsv`
 * (`sentence1`, `sentence2`, `gold_label`, with `pairID` kept as the id).
 * Same errors as `readXnli` (no language filter here).
 */
export async function readMnliTrain(path: string): Promise<TextNliExample[]> {
  const tsv = parseTsv(path, await readText(path));
  const width = tsv.header.length;
  const xnliMt = tsv.header.includes('premise') || tsv.header.includes('hypo');
  if (xnliMt) {
    const cols = columns(path, tsv, ['premise', 'hypo', 'label'] as const, 'the XNLI-MT layout');
    return tsv.rows.map((row) => ({
      premise: field(path, row, cols.premise, 'premise', width),
      hypothesis: field(path, row, cols.hypo, 'hypo', width),
      label: labelId(path, row.line, field(path, row, cols.label, 'label', width)),
    }));
  }
  const cols = columns(path, tsv, ['sentence1', 'sentence2', 'gold_label'] as const, 'the MNLI layout (or premise, hypo, label for XNLI-MT)');
  const pairCol = tsv.header.indexOf('pairID');
  return tsv.rows.map((row) => {
    const example: TextNliExample = {
      premise: field(path, row, cols.sentence1, 'sentence1', width),
      hypothesis: field(path, row, cols.sentence2, 'sentence2', width),
      label: labelId(path, row.line, field(path, row, cols.gold_label, 'gold_label', width)),
    };
    const id = pairCol >= 0 ? row.fields[pairCol] : undefined;
    if (id !== undefined && id !== '') example.id = id;
    return example;
  });
}
