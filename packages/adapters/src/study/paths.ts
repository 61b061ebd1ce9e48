/**
 * The paths in study.json, made portable so that any machine that sees the
 * study folder can run any of its runs: the base and language adapters
 * shipped with Thaw are named as shipped (`shipped:base`,
 * `shipped:adapters`), each checkout resolving them to its own copy; an
 * absolute path stays as given; a relative path (given relative to the
 * folder the study was started from) is stored relative to the study
 * folder and resolved against it.
 */
import { isAbsolute, join, relative, resolve } from 'node:path';
import { SHIPPED_SUITE } from '../spec/defaults.js';

/** The shipped files by the name study.json gives them. */
const SHIPPED: Readonly<Record<string, string>> = { 'shipped:base': SHIPPED_SUITE.base, 'shipped:adapters': SHIPPED_SUITE.languageAdapters };

/** The options of a run that hold a path (langAdapters: a mapping of language codes to paths). */
const PATH_OPTIONS = ['base', 'languageAdapters', 'model', 'tokenizer', 'data'] as const;

function mapPaths<T extends object>(spec: T, convert: (path: string) => string): T {
  const out = { ...spec } as Record<string, unknown>;
  for (const key of PATH_OPTIONS) if (typeof out[key] === 'string') out[key] = convert(out[key] as string);
  const folders = out.langAdapters;
  if (folders && typeof folders === 'object') out.langAdapters = Object.fromEntries(Object.entries(folders as Record<string, string>).map(([code, dir]) => [code, convert(dir)]));
  return out as T;
}

/** A run's options with their paths as study.json stores them, for the study folder `studyDir`. */
export function portablePaths<T extends object>(spec: T, studyDir: string): T {
  return mapPaths(spec, (path) => {
    const absolute = resolve(path);
    const shipped = Object.entries(SHIPPED).find(([, dir]) => resolve(dir) === absolute);
    if (shipped) return shipped[0];
    return isAbsolute(path) ? path : relative(resolve(studyDir), absolute) || '.';
  });
}

/** A run's options from study.json with their paths resolved on this machine, for the study folder `studyDir`. */
export function resolvedPaths<T extends object>(spec: T, studyDir: string): T {
  return mapPaths(spec, (path) => SHIPPED[path] ?? (isAbsolute(path) ? path : join(resolve(studyDir), path)));
}
