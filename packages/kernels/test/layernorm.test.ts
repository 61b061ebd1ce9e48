import { describe, expect, it } from 'vitest';
import { axpby, dropout, dropoutKeepMask, layerNormBackward, layerNormForward, type Gpu, type GpuBuffer, type LayerNormDropout } from '../src/index.js';
import {
  fusedLayerNormBackwardReference, fusedLayerNormForwardReference, layerNormBackwardReference, layerNormForwardReference, type FusedLayerNormReferenceArgs,
} from '../src/reference/index.js';
import { firstNonFinite, poisoned, randomArray, relativeError, rng, useGpu } from './helpers.js';

// fp32 against float64, relative Frobenius error. Rows are summed in order by
// one thread (or by a tree of 8 with threadsPerRow 8), dgamma and dbeta over
// row blocks then over blocks; observed errors: y ≤ 3e-7, ds ≤ 2.4e-7,
// dgamma ≤ 4.3e-7, dbeta ≤ 1.1e-7 over these shapes and both layouts.
const TOLERANCE = 1e-5;
const SHAPES: [number, number][] = [[1, 1], [1, 7], [3, 13], [17, 64], [5, 127], [33, 768], [2, 1000]];
/** Rows around a block of 16 (the CPU layout) and 8 (the tree layout), widths around 8, 128 and the vec sizes. */
const FUSED_SHAPES: [number, number][] = [[1, 7], [1, 128], [1, 300], [5, 7], [5, 128], [5, 300], [129, 7], [129, 128], [129, 300]];
/** The adapter's own layout (one thread per row on lavapipe), and 8 threads per row with the tree reduction. */
const LAYOUTS: (number | undefined)[] = [undefined, 8];

const numeric = (vec: Float64Array, i: number, f: () => number) => {
  const h = 1e-6;
  const keep = vec[i]!;
  vec[i] = keep + h;
  const up = f();
  vec[i] = keep - h;
  const down = f();
  vec[i] = keep;
  return (up - down) / (2 * h);
};

describe('layernorm reference', () => {
  it('backward agrees with central finite differences of the forward (float64)', () => {
    const random = rng(11);
    const [rows, D, eps] = [3, 6, 1e-5];
    const x = Float64Array.from(randomArray(rows * D, random));
    const gamma = Float64Array.from(randomArray(D, random));
    const beta = Float64Array.from(randomArray(D, random));
    const dy = Float64Array.from(randomArray(rows * D, random));
    // Scalar objective L = Σ dy · y, so ∂L/∂θ is what backward returns.
    const loss = (xs: Float64Array, g: Float64Array, b: Float64Array) =>
      layerNormForwardReference(xs, g, b, rows, D, eps).y.reduce((s, yi, i) => s + yi * dy[i]!, 0);
    const { dx, dgamma, dbeta } = layerNormBackwardReference(x, gamma, dy, rows, D, eps);
    const f = () => loss(x, gamma, beta);
    const fdx = Float64Array.from(x, (_, i) => numeric(x, i, f));
    const fdg = Float64Array.from(gamma, (_, i) => numeric(gamma, i, f));
    const fdb = Float64Array.from(beta, (_, i) => numeric(beta, i, f));
    expect(relativeError(dx, fdx)).toBeLessThan(1e-7);
    expect(relativeError(dgamma, fdg)).toBeLessThan(1e-7);
    expect(relativeError(dbeta, fdb)).toBeLessThan(1e-7);
  });

  for (const at of ['input', 'output'] as const) {
    it(`fused backward (residual, dropout at the ${at}) agrees with central finite differences (float64)`, () => {
      const random = rng(at === 'input' ? 12 : 13);
      const [rows, D] = [3, 7];
      const x = Float64Array.from(randomArray(rows * D, random));
      const residual = Float64Array.from(randomArray(rows * D, random));
      const gamma = Float64Array.from(randomArray(D, random));
      const beta = Float64Array.from(randomArray(D, random));
      const dy = Float64Array.from(randomArray(rows * D, random));
      const args = { x, residual, gamma, beta, rows, D, dropout: { p: 0.3, seed: 5, stream: 9, at } };
      const f = () => fusedLayerNormForwardReference(args).y.reduce((s, yi, i) => s + yi * dy[i]!, 0);
      const { ds, dInput, dgamma, dbeta } = fusedLayerNormBackwardReference(args, dy);
      expect(relativeError(dInput, Float64Array.from(x, (_, i) => numeric(x, i, f)))).toBeLessThan(1e-7);
      expect(relativeError(ds, Float64Array.from(residual, (_, i) => numeric(residual, i, f)))).toBeLessThan(1e-7);
      expect(relativeError(dgamma, Float64Array.from(gamma, (_, i) => numeric(gamma, i, f)))).toBeLessThan(1e-7);
      expect(relativeError(dbeta, Float64Array.from(beta, (_, i) => numeric(beta, i, f)))).toBeLessThan(1e-7);
    });
  }
});

describe('layernorm kernels vs float64 reference', () => {
  const gpu = useGpu();
  for (const threadsPerRow of LAYOUTS) {
    for (const [rows, D] of SHAPES) {
      it(`forward and backward, ${rows}×${D}, ${threadsPerRow ?? 'default'} threads per row`, async () => {
        const g = gpu();
        const random = rng(rows * 7919 + D);
        // An offset mean (+3) checks that the variance is computed centered.
        const x = randomArray(rows * D, random).map((v) => v + 3);
        const gamma = randomArray(D, random);
        const beta = randomArray(D, random);
        const dy = randomArray(rows * D, random);
        const eps = 1e-5;
        const [gx, ggamma, gbeta, gdy] = [g.upload(x), g.upload(gamma), g.upload(beta), g.upload(dy)];
        const [gy, gmean, grstd] = [poisoned(g, rows * D), poisoned(g, rows), poisoned(g, rows)];
        const [gdx, gdgamma, gdbeta] = [poisoned(g, rows * D), poisoned(g, D), poisoned(g, D)];
        layerNormForward(g, { x: gx, gamma: ggamma, beta: gbeta, y: gy, mean: gmean, rstd: grstd, rows, D, eps, ...(threadsPerRow ? { threadsPerRow } : {}) });
        layerNormBackward(g, { x: gx, gamma: ggamma, mean: gmean, rstd: grstd, dy: gdy, dx: gdx, dgamma: gdgamma, dbeta: gdbeta, rows, D, ...(threadsPerRow ? { threadsPerRow } : {}) });
        const [y, mean, rstd, dx, dgamma, dbeta] = await Promise.all([gy, gmean, grstd, gdx, gdgamma, gdbeta].map((b) => g.read(b)));
        for (const out of [y, mean, rstd, dx, dgamma, dbeta]) expect(firstNonFinite(out!)).toBe(-1);

        const fwd = layerNormForwardReference(x, gamma, beta, rows, D, eps);
        expect(relativeError(y!, fwd.y)).toBeLessThan(TOLERANCE);
        expect(relativeError(mean!, fwd.mean)).toBeLessThan(TOLERANCE);
        expect(relativeError(rstd!, fwd.rstd)).toBeLessThan(TOLERANCE);
        const bwd = layerNormBackwardReference(x, gamma, dy, rows, D, eps);
        if (D === 1) {
          // A single column normalizes to x̂ ≡ 0, so dx and dgamma are exactly 0.
          expect([...dx!, ...dgamma!].every((v) => v === 0)).toBe(true);
        } else {
          expect(relativeError(dx!, bwd.dx)).toBeLessThan(TOLERANCE);
          expect(relativeError(dgamma!, bwd.dgamma)).toBeLessThan(TOLERANCE);
        }
        expect(relativeError(dbeta!, bwd.dbeta)).toBeLessThan(TOLERANCE);
        for (const b of [gx, ggamma, gbeta, gdy, gy, gmean, grstd, gdx, gdgamma, gdbeta]) g.release(b);
      });
    }
  }
});

/** What one fused case fuses: a residual, a dropout and where. */
interface Fusion {
  name: string;
  residual: boolean;
  dropout?: LayerNormDropout;
}
const FUSIONS: Fusion[] = [
  { name: 'residual', residual: true },
  { name: 'residual, dropout at the input', residual: true, dropout: { p: 0.25, seed: 17, stream: 3, at: 'input' } },
  { name: 'dropout at the input, no residual', residual: false, dropout: { p: 0.5, seed: 4, stream: 77, at: 'input' } },
  { name: 'dropout at the output (the embeddings\' norm)', residual: false, dropout: { p: 0.1, seed: 2 ** 32 - 1, stream: 1025, at: 'output' } },
];

/** Every output of one fused forward and backward, read back. */
async function runFused(g: Gpu, f: Fusion, rows: number, D: number, data: { x: Float32Array; r: Float32Array; gamma: Float32Array; beta: Float32Array; dy: Float32Array }, threadsPerRow?: number) {
  const n = rows * D;
  const saves = f.residual || f.dropout?.at === 'input';
  const inputs = [g.upload(data.x), g.upload(data.r), g.upload(data.gamma), g.upload(data.beta), g.upload(data.dy)];
  const [gx, gr, ggamma, gbeta, gdy] = inputs as [GpuBuffer, GpuBuffer, GpuBuffer, GpuBuffer, GpuBuffer];
  const outs = {
    y: poisoned(g, n), sum: poisoned(g, n), mean: poisoned(g, rows), rstd: poisoned(g, rows),
    ds: poisoned(g, n), dInput: poisoned(g, n), dgamma: poisoned(g, D), dbeta: poisoned(g, D),
  };
  const layout = threadsPerRow ? { threadsPerRow } : {};
  const dropoutArg = f.dropout ? { dropout: f.dropout } : {};
  layerNormForward(g, {
    x: gx, gamma: ggamma, beta: gbeta, y: outs.y, mean: outs.mean, rstd: outs.rstd, rows, D, ...layout, ...dropoutArg,
    ...(f.residual ? { residual: gr } : {}), ...(saves ? { sum: outs.sum } : {}),
  });
  layerNormBackward(g, {
    x: saves ? outs.sum : gx, gamma: ggamma, mean: outs.mean, rstd: outs.rstd, dy: gdy, dx: outs.ds, dgamma: outs.dgamma, dbeta: outs.dbeta, rows, D, ...layout, ...dropoutArg,
    ...(f.dropout?.at === 'input' ? { dInput: outs.dInput } : {}),
  });
  const read = Object.fromEntries(await Promise.all(Object.entries(outs).map(async ([k, b]) => [k, await g.read(b)] as const))) as Record<keyof typeof outs, Float32Array>;
  for (const b of [...inputs, ...Object.values(outs)]) g.release(b);
  return read;
}

function fusedData(rows: number, D: number, seed: number) {
  const random = rng(seed);
  return {
    x: randomArray(rows * D, random).map((v) => 2 * v + 1), r: randomArray(rows * D, random), gamma: randomArray(D, random),
    beta: randomArray(D, random), dy: randomArray(rows * D, random),
  };
}

describe('fused layernorm (residual add, dropout) vs float64 reference', () => {
  const gpu = useGpu();
  for (const f of FUSIONS) {
    for (const threadsPerRow of LAYOUTS) {
      it(`${f.name}, ${threadsPerRow ?? 'default'} threads per row`, async () => {
        const g = gpu();
        for (const [rows, D] of FUSED_SHAPES) {
          const data = fusedData(rows, D, rows * 31 + D + f.name.length);
          const got = await runFused(g, f, rows, D, data, threadsPerRow);
          const args: FusedLayerNormReferenceArgs = { x: data.x, gamma: data.gamma, beta: data.beta, rows, D, ...(f.residual ? { residual: data.r } : {}), ...(f.dropout ? { dropout: f.dropout } : {}) };
          const fwd = fusedLayerNormForwardReference(args);
          const bwd = fusedLayerNormBackwardReference(args, data.dy);
          const saves = f.residual || f.dropout?.at === 'input';
          const checked: [string, Float32Array, ArrayLike<number>][] = [
            ['y', got.y, fwd.y], ['mean', got.mean, fwd.mean], ['rstd', got.rstd, fwd.rstd], ['ds', got.ds, bwd.ds],
            ['dgamma', got.dgamma, bwd.dgamma], ['dbeta', got.dbeta, bwd.dbeta],
            ...(saves ? [['sum', got.sum, fwd.sum] as [string, Float32Array, ArrayLike<number>]] : []),
            ...(f.dropout?.at === 'input' ? [['dInput', got.dInput, bwd.dInput] as [string, Float32Array, ArrayLike<number>]] : []),
          ];
          for (const [name, value, want] of checked) {
            expect(firstNonFinite(value), `${rows}×${D} ${name}`).toBe(-1);
            expect(relativeError(value, want), `${rows}×${D} ${name}`).toBeLessThan(TOLERANCE);
          }
          if (f.dropout) {
            // Exactly the elements dropout.wgsl would drop are zero.
            const keep = dropoutKeepMask(rows * D, f.dropout.p, f.dropout.seed, f.dropout.stream);
            const zeroed = f.dropout.at === 'output' ? got.y : got.dInput;
            expect(keep.findIndex((k, i) => (k === 0) !== (zeroed[i] === 0)), `${rows}×${D}: first element kept or dropped unlike dropout.wgsl`).toBe(-1);
          }
        }
      });
    }
  }
});

describe('fused layernorm against the unfused passes', () => {
  const gpu = useGpu();

  it('LN(dropout(x) + r) in one pass gives the bits of dropout, add and layernorm as three', async () => {
    const g = gpu();
    const f = FUSIONS[1]!;
    const d = f.dropout!;
    for (const [rows, D] of FUSED_SHAPES) {
      const data = fusedData(rows, D, rows + 7 * D);
      const fused = await runFused(g, f, rows, D, data);
      const n = rows * D;
      const [gx, gr, ggamma, gbeta, gdy] = [g.upload(data.x), g.upload(data.r), g.upload(data.gamma), g.upload(data.beta), g.upload(data.dy)];
      const [dropped, sum, y, mean, rstd, ds, dInput, dgamma, dbeta] = [n, n, n, rows, rows, n, n, D, D].map((k) => poisoned(g, k)) as GpuBuffer[];
      dropout(g, { x: gx, out: dropped!, n, p: d.p, seed: d.seed, stream: d.stream });
      axpby(g, { x: dropped!, y: gr, out: sum!, n, alpha: 1, beta: 1 });
      layerNormForward(g, { x: sum!, gamma: ggamma, beta: gbeta, y: y!, mean: mean!, rstd: rstd!, rows, D });
      layerNormBackward(g, { x: sum!, gamma: ggamma, mean: mean!, rstd: rstd!, dy: gdy, dx: ds!, dgamma: dgamma!, dbeta: dbeta!, rows, D });
      dropout(g, { x: ds!, out: dInput!, n, p: d.p, seed: d.seed, stream: d.stream });
      const unfused = { sum, y, mean, rstd, ds, dInput, dgamma, dbeta };
      for (const [k, b] of Object.entries(unfused)) {
        const want = await g.read(b!);
        expect(Buffer.from(fused[k as keyof typeof fused].buffer).equals(Buffer.from(want.buffer)), `${rows}×${D} ${k}`).toBe(true);
      }
      for (const b of [gx, gr, ggamma, gbeta, gdy, dropped, ...Object.values(unfused)]) g.release(b!);
    }
  });

  it('is bitwise deterministic, and each backward output is the same bits when computed alone', async () => {
    const g = gpu();
    const [rows, D] = [129, 300];
    const f = FUSIONS[1]!;
    const data = fusedData(rows, D, 99);
    const [first, second] = [await runFused(g, f, rows, D, data), await runFused(g, f, rows, D, data)];
    for (const k of Object.keys(first) as (keyof typeof first)[]) {
      expect(Buffer.from(first[k].buffer).equals(Buffer.from(second[k].buffer)), k).toBe(true);
    }
    // The frozen cases: only the parameters' gradients, or only the inputs'.
    const [gs, ggamma, gdy, gmean, grstd] = [g.upload(first.sum), g.upload(data.gamma), g.upload(data.dy), g.upload(first.mean), g.upload(first.rstd)];
    const [dInput, dgamma, dbeta] = [poisoned(g, rows * D), poisoned(g, D), poisoned(g, D)];
    const common = { x: gs, gamma: ggamma, mean: gmean, rstd: grstd, dy: gdy, rows, D, dropout: f.dropout! };
    layerNormBackward(g, { ...common, dgamma, dbeta });
    layerNormBackward(g, { ...common, dInput });
    expect([...(await g.read(dgamma))]).toEqual([...first.dgamma]);
    expect([...(await g.read(dbeta))]).toEqual([...first.dbeta]);
    expect([...(await g.read(dInput))]).toEqual([...first.dInput]);
    for (const b of [gs, ggamma, gdy, gmean, grstd, dInput, dgamma, dbeta]) g.release(b);
  });

  it('refuses inconsistent arguments', () => {
    const g = gpu();
    const [b, out] = [g.upload(new Float32Array(8)), g.alloc(32)];
    const common = { gamma: b, mean: b, rstd: b, rows: 2, D: 4 };
    expect(() => layerNormForward(g, { ...common, x: b, beta: b, y: out, sum: out })).toThrow(/sum is saved only with a residual or an input dropout/);
    expect(() => layerNormForward(g, { ...common, x: b, beta: b, y: out, dropout: { p: 1, seed: 0, stream: 0, at: 'input' } })).toThrow(/p must be in \[0, 1\)/);
    expect(() => layerNormForward(g, { ...common, x: b, beta: b, y: out, threadsPerRow: 3 })).toThrow(/power of two/);
    expect(() => layerNormBackward(g, { ...common, x: b, dy: b, dInput: out })).toThrow(/dInput is the gradient through an input dropout/);
    expect(() => layerNormBackward(g, { ...common, x: b, dy: b, dgamma: out })).toThrow(/give both dgamma and dbeta/);
    g.release(b);
    g.release(out);
  });
});
