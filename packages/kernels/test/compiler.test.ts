// The kernel compiler needs no GPU: reflection is pure and Tint runs on Dawn's null backend.
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileKernels, KernelCompileError, loadManifest, reflectKernelFile } from '../src/index.js';

const HEADER = '// test.wgsl — a test kernel.\n// MATH: y = x.\n// LAYOUT: flat f32.\n';
const GOOD = `${HEADER}
struct Params { n: u32, scale: f32, offset: vec2<f32> }
override WG: u32 = 64u;
override FLAG: bool = true;
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> params: Params;
fn flagged(v: f32) -> f32 { if (FLAG) { return v * params.scale; } return v; }
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x < params.n) { y[gid.x >> 2u][gid.x & 3u] = flagged(x[gid.x]) + params.offset.x; }
}
@compute @workgroup_size(4, 2)
fn other(@builtin(global_invocation_id) gid: vec3<u32>) { y[gid.x] = vec4<f32>(x[gid.y]); }
`;

function compileError(source: string): KernelCompileError {
  try {
    reflectKernelFile('test.wgsl', source);
  } catch (e) {
    expect(e).toBeInstanceOf(KernelCompileError);
    return e as KernelCompileError;
  }
  throw new Error('expected a KernelCompileError');
}

describe('reflectKernelFile', () => {
  it('reflects entry points, bindings, uniform layout, workgroup sizes and overrides', () => {
    const k = reflectKernelFile('test.wgsl', GOOD);
    expect(k.name).toBe('test');
    expect(k.header).toContain('MATH: y = x.');
    expect(k.overrides).toEqual([
      { name: 'WG', type: 'u32', default: 64 },
      { name: 'FLAG', type: 'bool', default: true },
    ]);
    const [main, other] = k.entryPoints;
    expect(main!.workgroupSize).toEqual(['WG', 1, 1]);
    expect(other!.workgroupSize).toEqual([4, 2, 1]);
    // FLAG is read only inside a called function: found through the call graph.
    expect(main!.overrides.sort()).toEqual(['FLAG', 'WG']);
    expect(other!.overrides).toEqual([]);
    expect(main!.bindings).toEqual([
      { name: 'x', group: 0, binding: 0, type: 'array<f32>', resource: 'storage', access: 'read' },
      { name: 'y', group: 0, binding: 1, type: 'array<vec4<f32>>', resource: 'storage', access: 'read_write' },
      { name: 'params', group: 0, binding: 2, type: 'Params', resource: 'uniform', access: 'read' },
    ]);
    expect(other!.bindings.map((b) => b.name)).toEqual(['x', 'y']);
    expect(main!.uniform).toEqual({
      binding: 'params',
      struct: 'Params',
      size: 16,
      members: [
        { name: 'n', type: 'u32', offset: 0, size: 4 },
        { name: 'scale', type: 'f32', offset: 4, size: 4 },
        { name: 'offset', type: 'vec2<f32>', offset: 8, size: 8 },
      ],
    });
  });

  it('rejects a file without an explanatory header', () => {
    expect(compileError(GOOD.replace(HEADER, '')).message).toMatch(/^test\.wgsl:1: the header comment .* MATH, LAYOUT/);
  });

  it('rejects WGSL that does not parse, with the line', () => {
    const e = compileError(`${HEADER}fn broken( {`);
    expect(e.message).toMatch(/^test\.wgsl:4: cannot parse WGSL/);
  });

  it('rejects bindings outside group 0', () => {
    expect(compileError(GOOD.replace('@group(0) @binding(0)', '@group(1) @binding(0)')).message).toMatch(/binding 'x' is in @group\(1\)/);
  });

  it('rejects an entry point with two uniform buffers', () => {
    const source = `${HEADER}
struct A { n: u32 }
@group(0) @binding(0) var<uniform> p: A;
@group(0) @binding(1) var<uniform> q: A;
@group(0) @binding(2) var<storage, read_write> y: array<u32>;
@compute @workgroup_size(1) fn main() { y[0] = p.n + q.n; }`;
    expect(compileError(source).message).toMatch(/entry point 'main' reads 2 uniform buffers \(p, q\)/);
  });

  it('rejects a workgroup size that is neither a number nor a u32 override', () => {
    const source = `${HEADER}
override F: f32 = 1.0;
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(SIZE) fn main() { y[0] = F; }`;
    expect(compileError(source).message).toMatch(/workgroup size 'SIZE' must be an integer or a u32 override/);
  });

  it('rejects uniform fields of unsupported types', () => {
    const source = `${HEADER}
struct P { m: mat2x2<f32> }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(1) fn main() { y[0] = p.m[0][0]; }`;
    expect(compileError(source).message).toMatch(/uniform field 'P\.m' has type mat2x2<f32>/);
  });

  it('rejects a file without a compute entry point', () => {
    expect(compileError(`${HEADER}fn helper() -> f32 { return 1.0; }`).message).toMatch(/no @compute entry point/);
  });
});

describe('compileKernels (Tint on the null backend)', () => {
  it('reports type errors that reflection cannot see, with file and line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'thaw-kernels-'));
    await writeFile(join(dir, 'good.wgsl'), GOOD);
    await writeFile(join(dir, 'bad.wgsl'), `${HEADER}@group(0) @binding(0) var<storage, read_write> y: array<u32>;\n@compute @workgroup_size(1) fn main() { y[0] = 1.5; }\n`);
    await expect(compileKernels(dir)).rejects.toThrow(/^bad\.wgsl:5: .*'abstract-float'/);
  });

  it('compiles a valid folder into a manifest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'thaw-kernels-'));
    await writeFile(join(dir, 'good.wgsl'), GOOD);
    const manifest = await compileKernels(dir);
    expect(manifest.kernels.map((k) => k.file)).toEqual(['good.wgsl']);
  });

  it('appends an imported library after the kernel, once, and validates it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'thaw-kernels-'));
    await mkdir(join(dir, 'lib'));
    await writeFile(join(dir, 'lib', 'twice.wgsl'), '// lib/twice.wgsl — doubles.\nfn twice(v: f32) -> f32 { return 2.0 * v; }\n');
    const kernel = `${HEADER}// import: lib/twice.wgsl\n// import: lib/twice.wgsl\n@group(0) @binding(0) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(1) fn main() { y[0] = twice(y[0]); }\n`;
    await writeFile(join(dir, 'uses.wgsl'), kernel);
    const [info] = (await compileKernels(dir)).kernels;
    expect(info!.source.startsWith(kernel)).toBe(true);
    expect(info!.source.split('fn twice(').length).toBe(2);
    await writeFile(join(dir, 'lib', 'twice.wgsl'), 'fn twice(v: f32) -> f32 { return 2 * v + true; }\n');
    await expect(compileKernels(dir)).rejects.toThrow(/^lib\/twice\.wgsl:1: /);
  });

  it('names the kernel file and line of an import whose library is missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'thaw-kernels-'));
    await writeFile(join(dir, 'uses.wgsl'), `${HEADER}// import: lib/absent.wgsl\n@compute @workgroup_size(1) fn main() {}\n`);
    await expect(compileKernels(dir)).rejects.toThrow(/^uses\.wgsl:4: imports lib\/absent\.wgsl, which is not in /);
  });

  it("keeps shared functions in lib/ only: no kernel file defines a library's function", async () => {
    const wgsl = new URL('../src/wgsl/', import.meta.url);
    const functionsOf = (text: string) => [...text.matchAll(/^fn (\w+)\(/gm)].map((m) => m[1]!);
    const shared = new Set<string>();
    for (const library of await readdir(new URL('lib/', wgsl))) functionsOf(await readFile(new URL(`lib/${library}`, wgsl), 'utf8')).forEach((f) => shared.add(f));
    expect(shared).toEqual(new Set(['lowbias32', 'dropoutKey', 'keepWith', 'dropWith', 'erfcPositive', 'phi', 'tanhStable', 'sigmoid', 'activation', 'activationGrad']));
    for (const file of (await readdir(wgsl)).filter((f) => f.endsWith('.wgsl'))) {
      const redefined = functionsOf(await readFile(new URL(file, wgsl), 'utf8')).filter((f) => shared.has(f));
      expect(redefined, file).toEqual([]);
    }
  });

  it('built the project manifest with every kernel family', () => {
    const names = loadManifest().kernels.map((k) => k.name);
    expect(names).toEqual(expect.arrayContaining(['fisher', 'layernorm', 'matmul']));
  });
});
