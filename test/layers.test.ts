// The layers of docs/layers.md, enforced: every relative import of every
// packages/*/src file must go to its own folder or to a lower layer (or be a
// type-only import the table allows). No build and no GPU needed.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('..', import.meta.url));

/** One package's table: the layer of each folder (`name/`) or file, and the edges allowed for types only. */
interface Layers {
  layer: Map<string, number>;
  typesOnly: Set<string>;
}

/** The tables of docs/layers.md, by package folder name. */
function readLayers(markdown: string): Map<string, Layers> {
  const packages = new Map<string, Layers>();
  let current: Layers | undefined;
  for (const line of markdown.split('\n')) {
    const heading = /^## packages\/(\S+)/.exec(line);
    if (heading) packages.set(heading[1]!, (current = { layer: new Map(), typesOnly: new Set() }));
    const row = /^\| (\d+) \| `([^`]+)` \|/.exec(line);
    if (row && current) current.layer.set(row[2]!, Number(row[1]));
    const types = /^Types only: (.*)\.$/.exec(line);
    if (types && current) for (const edge of types[1]!.matchAll(/`([^`]+)` → `([^`]+)`/g)) current.typesOnly.add(`${edge[1]} → ${edge[2]}`);
  }
  return packages;
}

/** A relative import of a source file: what it names, and whether it is `import type`. */
interface Import {
  file: string;
  spec: string;
  typeOnly: boolean;
}

/** Every relative `import … from`, `export … from`, `import '…'` and `import(…)` of the .ts files under `dir`. */
function imports(dir: string): Import[] {
  const files = (d: string): string[] => readdirSync(d).flatMap((n) => {
    const p = join(d, n);
    return statSync(p).isDirectory() ? files(p) : n.endsWith('.ts') && !n.endsWith('.d.ts') ? [p] : [];
  });
  return files(dir).flatMap((file) => {
    const text = readFileSync(file, 'utf8');
    const found: Import[] = [];
    for (const m of text.matchAll(/^\s*(import|export)(\s+type)?\s[^'";]*?from\s+['"](\.[^'"]+)['"]/gm)) found.push({ file, spec: m[3]!, typeOnly: m[1] === 'import' && !!m[2] });
    for (const m of text.matchAll(/\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g)) found.push({ file, spec: m[1]!, typeOnly: false });
    // Side-effect imports (`import './x.js';`) run the module too.
    for (const m of text.matchAll(/^\s*import\s+['"](\.[^'"]+)['"]/gm)) found.push({ file, spec: m[1]!, typeOnly: false });
    return found;
  });
}

/** The node of a path under src/: its first folder (`train/`) or, directly in src/, its file name. */
function node(src: string, path: string): string {
  const parts = relative(src, path).split('/');
  return parts.length > 1 ? `${parts[0]}/` : parts[0]!;
}

/** Every import the layers forbid, as one line each: file, import, and why. */
function violations(src: string, table: Layers): string[] {
  const found: string[] = [];
  for (const { file, spec, typeOnly } of imports(src)) {
    const from = node(src, file);
    const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
    if (!target.startsWith(src)) continue;
    const to = node(src, target);
    const where = `${relative(repo, file)} imports '${spec}'`;
    if (!table.layer.has(from)) found.push(`${where}: ${from} has no row in docs/layers.md`);
    else if (!table.layer.has(to)) found.push(`${where}: ${to} has no row in docs/layers.md`);
    else if (from !== to && table.layer.get(to)! >= table.layer.get(from)! && !(typeOnly && table.typesOnly.has(`${from} → ${to}`))) {
      found.push(`${where}: ${from} (layer ${table.layer.get(from)}) may not import ${to} (layer ${table.layer.get(to)})`);
    }
  }
  return found;
}

const tables = readLayers(readFileSync(join(repo, 'docs/layers.md'), 'utf8'));
const packages = readdirSync(join(repo, 'packages')).filter((p) => statSync(join(repo, 'packages', p, 'src'), { throwIfNoEntry: false })?.isDirectory());

describe('layers (docs/layers.md)', () => {
  it('has a table for every package', () => {
    expect([...tables.keys()].sort()).toEqual([...packages].sort());
  });

  it.each(packages)('packages/%s/src imports only downwards', (pkg) => {
    const src = join(repo, 'packages', pkg, 'src');
    const table = tables.get(pkg)!;
    // Every folder and top-level file of src/ (WGSL-only folders aside) has a row.
    const entries = readdirSync(src).filter((n) => n.endsWith('.ts') || (statSync(join(src, n)).isDirectory() && readdirSync(join(src, n), { recursive: true }).some((f) => String(f).endsWith('.ts'))));
    expect(entries.map((n) => (n.endsWith('.ts') ? n : `${n}/`)).filter((n) => !table.layer.has(n)), `rows missing in docs/layers.md for packages/${pkg}/src`).toEqual([]);
    expect(violations(src, table)).toEqual([]);
  });

  it('names the file and the edge of an import against the layers, such as one closing a cycle', () => {
    // The real adapters source against a table with suite/ moved below train/: each suite → train
    // import is then one that closes a cycle, and must be reported with its file and edge.
    const real = tables.get('adapters')!;
    const swapped: Layers = { layer: new Map(real.layer), typesOnly: real.typesOnly };
    swapped.layer.set('suite/', real.layer.get('train/')! - 1);
    const found = violations(join(repo, 'packages/adapters/src'), swapped);
    expect(found.length).toBeGreaterThan(0);
    expect(found).toContain("packages/adapters/src/suite/run.ts imports '../train/trainer.js': suite/ (layer 3) may not import train/ (layer 4)");
  });
});
