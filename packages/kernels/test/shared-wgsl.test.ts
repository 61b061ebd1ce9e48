// WGSL has no includes, so a kernel that fuses another's work carries a copy
// of its functions: the matmul epilogue the activations of elementwise.wgsl,
// the fused layernorm the dropout mask of dropout.wgsl. The copies must stay
// the same text, or the fused and the separate passes stop giving the same
// bits (which the kernel tests check on this adapter only). No GPU needed.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const source = (file: string) => readFileSync(new URL(`../src/wgsl/${file}`, import.meta.url), 'utf8');

/** The text of `fn name(…) { … }` (up to its closing brace at column 0), or of `const name … ;`. */
function definition(text: string, name: string): string {
  const fn = new RegExp(`^fn ${name}\\(.*?^}`, 'ms').exec(text);
  if (fn) return fn[0];
  const constant = new RegExp(`^const ${name}\\b.*?;`, 'ms').exec(text);
  if (constant) return constant[0];
  throw new Error(`no definition of ${name}`);
}

const SHARED: [string, string[], string[]][] = [
  ['elementwise.wgsl', ['matmul.wgsl', 'matmul_subgroups.wgsl'], ['INV_SQRT2', 'SQRT_2_OVER_PI', 'GELU_CUBIC', 'erfcPositive', 'phi', 'tanhStable', 'sigmoid']],
  ['dropout.wgsl', ['layernorm.wgsl'], ['lowbias32']],
];

describe('functions copied between kernel files', () => {
  for (const [original, copies, names] of SHARED) {
    for (const copy of copies) {
      it(`${copy} has ${original}'s ${names.join(', ')} unchanged`, () => {
        for (const name of names) expect(definition(source(copy), name), name).toBe(definition(source(original), name));
      });
    }
  }

  it('the epilogue applies each activation with the expression of its elementwise entry point', () => {
    const elementwise = source('elementwise.wgsl');
    // entry point → the expression its `out[i] = …` computes, written for v.
    const expressions: [string, string][] = [
      ['gelu', 'x[i] * phi(x[i])'], ['geluTanh', '0.5 * v * (1.0 + tanhStable(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v)))'],
      ['relu', 'max(x[i], 0.0)'], ['swish', 'x[i] * sigmoid(x[i])'], ['tanh', 'tanhStable(x[i])'],
    ];
    for (const [entry, expression] of expressions) {
      expect(definition(elementwise, entry), entry).toContain(`out[i] = ${expression};`);
      const asV = expression.replace(/x\[i\]/g, 'v');
      for (const copy of ['matmul.wgsl', 'matmul_subgroups.wgsl']) expect(definition(source(copy), 'activate'), `${copy}: ${entry}`).toContain(`return ${asV}; }`);
    }
  });

  it('the fused dropout keeps an element exactly when dropout.wgsl does', () => {
    // dropout.wgsl: keep(i) from params.seed/stream/p and out = x / (1 − p).
    expect(definition(source('dropout.wgsl'), 'keep')).toContain('let h = lowbias32(lowbias32(lowbias32(params.seed) ^ params.stream) ^ i);\n  return f32(h >> 8u) * (1.0 / 16777216.0) >= params.p;');
    expect(source('dropout.wgsl')).toContain('select(0.0, x[i] / (1.0 - params.p), keep(i))');
    // layernorm.wgsl: the same hash with its (seed, stream) part computed once per thread.
    const layernorm = source('layernorm.wgsl');
    expect(definition(layernorm, 'streamKey')).toContain('return lowbias32(lowbias32(seed) ^ stream);');
    expect(definition(layernorm, 'keepWith')).toContain('let h = lowbias32(key ^ i);\n  return f32(h >> 8u) * (1.0 / 16777216.0) >= p;');
    expect(definition(layernorm, 'dropWith')).toContain('select(0.0, v / (1.0 - p), keepWith(key, p, i))');
  });
});
