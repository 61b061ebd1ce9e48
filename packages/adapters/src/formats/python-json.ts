/**
 * JSON for loaders written in Python, where `1` and `1.0` are different
 * types: JSON.stringify writes the float 1.0 as `1`, which Python's json
 * reads back as an int, and some loaders check the type (AdapterHub's
 * bottleneck accepts only a float `scaling`: `"scaling": 1` fails with
 * "Unknown scaling type: 1"). Here the caller names the keys whose numbers
 * are floats in the loader's config class, and those are written with a
 * decimal point. The layout is json.dump(…, indent=2, sort_keys=True), as
 * AdapterHub and PEFT write their configs.
 */
import { writeFileAtomic } from './atomic-file.js';

/**
 * A finite number as JSON, with `.0` added to an integral value under a float
 * key so that Python's json reads it back as a float (`1.0`; `0.0001` and
 * `1e-5` already read as floats).
 */
function pythonNumber(key: string, value: number, float: boolean): string {
  if (!Number.isFinite(value)) throw new Error(`pythonJson: '${key}' is ${value}, which JSON cannot hold`);
  const text = String(value);
  return float && !/[.e]/.test(text) ? `${text}.0` : text;
}

/**
 * `value` as Python's json.dumps(value, indent=2, sort_keys=True) writes it,
 * numbers under a key in `floats` (at any depth) as floats and every other
 * number as JSON.stringify writes it.
 */
export function pythonJson(value: unknown, floats: ReadonlySet<string>): string {
  const write = (v: unknown, indent: string, key: string): string => {
    if (typeof v === 'number') return pythonNumber(key, v, floats.has(key));
    const inner = `${indent}  `;
    if (Array.isArray(v)) return v.length ? `[\n${v.map((x) => inner + write(x, inner, key)).join(',\n')}\n${indent}]` : '[]';
    if (typeof v === 'object' && v !== null) {
      // Keys whose value is undefined are left out, as JSON.stringify does.
      const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort();
      return keys.length ? `{\n${keys.map((k) => `${inner}${JSON.stringify(k)}: ${write((v as Record<string, unknown>)[k], inner, k)}`).join(',\n')}\n${indent}}` : '{}';
    }
    return JSON.stringify(v ?? null);
  };
  return write(value, '', '');
}

/** Writes {@link pythonJson} of `value` to `path` atomically (temporary file, then rename), with a final newline. */
export async function writePythonJsonAtomic(path: string, value: unknown, floats: ReadonlySet<string>): Promise<void> {
  const text = `${pythonJson(value, floats)}\n`;
  await writeFileAtomic(path, (handle) => handle.writeFile(text));
}
