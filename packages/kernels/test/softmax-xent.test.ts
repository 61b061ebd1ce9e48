import { describe, expect, it } from 'vitest';
import { softmaxCrossEntropy } from '../src/index.js';
import { softmaxCrossEntropyReference } from '../src/reference/index.js';
import { firstNonFinite, poisoned, randomArray, rng, useGpu } from './helpers.js';

const TOLERANCE = 1e-5;

describe('softmax cross-entropy vs float64 reference', () => {
  const gpu = useGpu();

  for (const [rows, C] of [[1, 1], [1, 2], [5, 3], [17, 100], [8, 1000]] as const) {
    it(`${rows}×${C}, with ignored rows`, async () => {
      const g = gpu();
      const random = rng(rows * 31 + C);
      // Large logits (±20) check the max-subtraction.
      const logits = randomArray(rows * C, random).map((v) => 20 * v);
      const labels = Int32Array.from({ length: rows }, (_, r) => (r % 4 === 3 ? -100 : Math.floor(random() * C)));
      const counted = labels.filter((l) => l >= 0).length;
      const scale = 1 / Math.max(1, counted);
      const [gl, glab, gloss, gd] = [g.upload(logits), g.upload(labels), poisoned(g, rows), poisoned(g, rows * C)];
      softmaxCrossEntropy(g, { logits: gl, labels: glab, losses: gloss, dlogits: gd, rows, C, scale });
      const [losses, dlogits] = [await g.read(gloss), await g.read(gd)];
      expect(firstNonFinite(losses)).toBe(-1);
      expect(firstNonFinite(dlogits)).toBe(-1);
      const want = softmaxCrossEntropyReference(logits, labels, rows, C, scale);
      if (C === 1) {
        // One class: loss and gradient are exactly zero.
        expect([...losses, ...dlogits].every((v) => v === 0)).toBe(true);
      } else {
        // A loss near 0 (the label dominates) comes from log(s) with s ≈ 1, good
        // to fp32's absolute resolution only: relative 1e-5 plus 1e-6 absolute.
        losses.forEach((l, r) => expect(Math.abs(l - want.losses[r]!)).toBeLessThanOrEqual(TOLERANCE * want.losses[r]! + 1e-6));
        // Elementwise: p − 1 for a dominant label is resolved to fp32's
        // absolute precision (6e-8), so allow that much times the scale.
        dlogits.forEach((d, i) => expect(Math.abs(d - want.dlogits[i]!)).toBeLessThanOrEqual(TOLERANCE * Math.abs(want.dlogits[i]!) + 1e-7 * scale));
      }
      labels.forEach((l, r) => {
        if (l < 0) expect(losses[r]).toBe(0);
      });
      for (const b of [gl, glab, gloss, gd]) g.release(b);
    });
  }
});
