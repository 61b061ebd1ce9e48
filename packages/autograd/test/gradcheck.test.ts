// Every op: GPU forward and gradients against the float64 reference, and the
// reference's gradients against central finite differences. One line per op
// and shape; shapes include 1 and odd sizes.
import { describe, expect, it } from 'vitest';
import {
  add, addReference, crossEntropy, crossEntropyReference, gelu, geluReferenceOp, gradcheck, layerNorm, layerNormReference,
  linear, linearReference, mean, meanReference, relu, reluReferenceOp, scale, scaleReference, type GradcheckCase,
} from '../src/index.js';
import { randomInput, rng, useGraph } from './helpers.js';

/** fp32 GPU results against float64: forward and gradients. */
const GPU_TOLERANCE = 1e-4;
/** Analytic float64 gradients against central differences with h = 1e-6. */
const FD_TOLERANCE = 1e-6;

type Case = Omit<GradcheckCase, 'inputs'> & { inputs: Float64Array[] };

const cases: [string, (random: () => number) => Case][] = [];
const add_ = (name: string, make: (random: () => number) => Case) => cases.push([name, make]);

for (const [rows, inF, outF] of [[1, 1, 1], [3, 5, 7], [17, 33, 9], [64, 48, 96]] as const) {
  add_(`linear ${rows}×${inF} → ${outF} with bias`, (r) => ({
    inputs: [randomInput(rows * inF, r), randomInput(outF * inF, r), randomInput(outF, r)],
    shapes: [[rows, inF], [outF, inF], [outF]],
    run: ([x, w, b]) => linear(x!, w!, b!),
    reference: linearReference(rows, inF, outF),
  }));
  add_(`linear ${rows}×${inF} → ${outF}, frozen weight`, (r) => ({
    inputs: [randomInput(rows * inF, r), randomInput(outF * inF, r)],
    shapes: [[rows, inF], [outF, inF]],
    differentiable: [true, false],
    run: ([x, w]) => linear(x!, w!),
    reference: linearReference(rows, inF, outF),
  }));
}
for (const n of [1, 7, 300]) {
  add_(`add ${n}`, (r) => ({ inputs: [randomInput(n, r), randomInput(n, r)], shapes: [[n], [n]], run: ([a, b]) => add(a!, b!), reference: addReference }));
  add_(`scale ${n}`, (r) => ({ inputs: [randomInput(n, r)], shapes: [[n]], run: ([x]) => scale(x!, -0.37), reference: scaleReference(-0.37) }));
  add_(`gelu ${n}`, (r) => ({ inputs: [randomInput(n, r, 3)], shapes: [[n]], run: ([x]) => gelu(x!), reference: geluReferenceOp }));
  add_(`relu ${n}`, (r) => ({ inputs: [randomInput(n, r, 3)], shapes: [[n]], run: ([x]) => relu(x!), reference: reluReferenceOp }));
  add_(`mean ${n}`, (r) => ({ inputs: [randomInput(n, r)], shapes: [[n]], run: ([x]) => mean(x!), reference: meanReference() }));
}
// D ≥ 3: with D = 2 every row normalizes to ±1 whatever x is, so dx is pure
// rounding noise and no relative comparison means anything.
for (const [rows, D] of [[1, 3], [3, 13], [9, 64], [4, 130]] as const) {
  add_(`layerNorm ${rows}×${D}`, (r) => ({
    inputs: [randomInput(rows * D, r, 2), randomInput(D, r), randomInput(D, r)],
    shapes: [[rows, D], [D], [D]],
    run: ([x, g, b]) => layerNorm(x!, g!, b!),
    reference: layerNormReference(rows, D),
  }));
}
for (const [rows, C] of [[1, 2], [5, 3], [12, 10]] as const) {
  add_(`crossEntropy ${rows}×${C} with an ignored row`, (r) => {
    const labels = Int32Array.from({ length: rows }, (_, i) => (i === 1 ? -100 : Math.floor(r() * C)));
    return {
      inputs: [randomInput(rows * C, r, 3)],
      shapes: [[rows, C]],
      run: ([z]) => crossEntropy(z!, labels),
      reference: crossEntropyReference(labels, rows, C),
    };
  });
}

describe('gradcheck', () => {
  const graph = useGraph();
  cases.forEach(([name, make], index) => {
    it(name, async () => {
      const c = make(rng(1000 + index));
      const report = await gradcheck(graph(), c);
      expect(report.forward).toBeLessThan(GPU_TOLERANCE);
      report.gpuVsReference.forEach((e, i) => {
        if (c.differentiable?.[i] === false) expect(e).toBeNaN();
        else expect(e).toBeLessThan(GPU_TOLERANCE);
      });
      report.referenceVsFiniteDifferences.forEach((e, i) => {
        if (c.differentiable?.[i] !== false) expect(e).toBeLessThan(FD_TOLERANCE);
      });
    });
  });
});
