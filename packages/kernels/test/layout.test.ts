// Data movement and the attention softmax: permute, column copies, masked softmax, embedding, dropout.
import { describe, expect, it } from 'vitest';
import {
  copyColumns, dropout, dropoutKeepMask, embeddingGather, embeddingIndex, embeddingScatterAdd, permute, softmaxBackward, softmaxForward,
} from '../src/index.js';
import { embeddingBackwardReference, embeddingReference, permuteReference, softmaxBackwardReference, softmaxReference } from '../src/reference/index.js';
import { firstNonFinite, poisoned, randomArray, relativeError, rng, useGpu } from './helpers.js';

describe('layout, softmax, embedding and dropout kernels', () => {
  const gpu = useGpu();

  it('permute matches the reference exactly (it only moves values)', async () => {
    const g = gpu();
    const random = rng(1);
    const cases: [number[], number[]][] = [[[7], [0]], [[3, 5], [1, 0]], [[2, 3, 4], [2, 0, 1]], [[2, 5, 3, 7], [0, 2, 1, 3]], [[1, 4, 1, 3], [3, 2, 1, 0]]];
    for (const [shape, perm] of cases) {
      const n = shape.reduce((a, b) => a * b, 1);
      const x = randomArray(n, random);
      const [gx, gy] = [g.upload(x), poisoned(g, n)];
      permute(g, { src: gx, dst: gy, shape, perm });
      expect([...(await g.read(gy))]).toEqual([...permuteReference(x, shape, perm)]);
      g.release(gx);
      g.release(gy);
    }
  });

  it('copyColumns writes a block of columns and nothing else', async () => {
    const g = gpu();
    const random = rng(2);
    const [rows, inCols, outCols] = [5, 7, 11];
    const x = randomArray(rows * inCols, random);
    const sentinel = 42.5;
    const [gx, gy] = [g.upload(x), g.upload(new Float32Array(rows * outCols).fill(sentinel))];
    copyColumns(g, { src: gx, dst: gy, rows, width: 3, inCols, outCols, srcOffset: 2, dstOffset: 6 });
    const y = await g.read(gy);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < outCols; j++) {
        expect(y[r * outCols + j]).toBe(j >= 6 && j < 9 ? x[r * inCols + 2 + j - 6] : sentinel);
      }
    }
    g.release(gx);
    g.release(gy);
  });

  it('masked softmax forward and backward, including a fully masked batch', async () => {
    const g = gpu();
    const random = rng(3);
    for (const [batches, rowsPerBatch, C] of [[1, 1, 1], [2, 3, 5], [3, 8, 64], [2, 2, 130]] as const) {
      const rows = batches * rowsPerBatch;
      const x = randomArray(rows * C, random).map((v) => 5 * v);
      const mask = Float32Array.from({ length: batches * C }, (_, i) => (Math.floor(i / C) === 1 ? 0 : i % C === C - 1 && C > 1 ? 0 : 1));
      const dy = randomArray(rows * C, random);
      const scale = 0.35;
      const [gx, gm, gdy, gyOut, gdx] = [g.upload(x), g.upload(mask), g.upload(dy), poisoned(g, rows * C), poisoned(g, rows * C)];
      softmaxForward(g, { x: gx, y: gyOut, rows, C, scale, mask: gm, rowsPerBatch });
      softmaxBackward(g, { y: gyOut, dy: gdy, dx: gdx, rows, C, scale });
      const [y, dx] = [await g.read(gyOut), await g.read(gdx)];
      expect(firstNonFinite(y)).toBe(-1);
      expect(firstNonFinite(dx)).toBe(-1);
      const wantY = softmaxReference(x, rows, C, scale, mask, rowsPerBatch);
      expect(relativeError(y, wantY)).toBeLessThan(1e-5);
      const wantDx = softmaxBackwardReference(wantY, dy, rows, C, scale);
      // Rows of a fully masked batch are exactly zero, forward and backward.
      if (batches > 1) for (let i = rowsPerBatch * C; i < 2 * rowsPerBatch * C; i++) expect(y[i]).toBe(0);
      if (wantDx.some((v) => v !== 0)) expect(relativeError(dx, wantDx)).toBeLessThan(1e-5);
      else expect(dx.every((v) => v === 0)).toBe(true);
      for (const b of [gx, gm, gdy, gyOut, gdx]) g.release(b);
    }
  });

  it('softmax backward agrees with finite differences of the reference', () => {
    const random = rng(4);
    const [rows, C, scale] = [2, 5, 0.7];
    const x = Float64Array.from(randomArray(rows * C, random));
    const dy = Float64Array.from(randomArray(rows * C, random));
    const loss = () => softmaxReference(x, rows, C, scale).reduce((s, v, i) => s + v * dy[i]!, 0);
    const analytic = softmaxBackwardReference(softmaxReference(x, rows, C, scale), dy, rows, C, scale);
    const fd = Float64Array.from(x, (_, i) => {
      const keep = x[i]!;
      x[i] = keep + 1e-6;
      const up = loss();
      x[i] = keep - 1e-6;
      const down = loss();
      x[i] = keep;
      return (up - down) / 2e-6;
    });
    expect(relativeError(analytic, fd)).toBeLessThan(1e-7);
  });

  it('embedding gather and deterministic scatter-add, with repeated and unused ids', async () => {
    const g = gpu();
    const random = rng(5);
    for (const [vocab, D, tokens] of [[1, 1, 1], [7, 5, 13], [50, 33, 200]] as const) {
      const table = randomArray(vocab * D, random);
      const ids = Uint32Array.from({ length: tokens }, () => Math.floor(random() * Math.max(1, vocab - 1)));
      const dOut = randomArray(tokens * D, random);
      const { offsets, positions } = embeddingIndex(ids, vocab);
      const [gt, gi, go, gd, gof, gp, gdt] = [g.upload(table), g.upload(ids), poisoned(g, tokens * D), g.upload(dOut), g.upload(offsets), g.upload(positions), poisoned(g, vocab * D)];
      embeddingGather(g, { table: gt, ids: gi, out: go, tokens, vocab, D });
      embeddingScatterAdd(g, { dOut: gd, offsets: gof, positions: gp, dTable: gdt, tokens, vocab, D });
      expect([...(await g.read(go))]).toEqual([...embeddingReference(table, ids, D)]);
      const dTable = await g.read(gdt);
      expect(firstNonFinite(dTable)).toBe(-1);
      expect(relativeError(dTable, embeddingBackwardReference(dOut, ids, vocab, D))).toBeLessThan(1e-6);
      for (const b of [gt, gi, go, gd, gof, gp, gdt]) g.release(b);
    }
    expect(() => embeddingIndex([0, 3], 3)).toThrow(/token 1 has id 3, outside 0…2/);
  });

  it('dropout keeps exactly the elements of the CPU mask, scaled by 1/(1 − p)', async () => {
    const g = gpu();
    const random = rng(6);
    const n = 5000;
    const x = randomArray(n, random);
    const [gx, gy] = [g.upload(x), poisoned(g, n)];
    for (const [p, seed, stream] of [[0.1, 7, 0], [0.5, 7, 1], [0, 9, 3]] as const) {
      dropout(g, { x: gx, out: gy, n, p, seed, stream });
      const y = await g.read(gy);
      const keep = dropoutKeepMask(n, p, seed, stream);
      const kept = keep.reduce((a, b) => a + b, 0);
      y.forEach((v, i) => expect(v).toBe(keep[i] ? Math.fround(x[i]! / Math.fround(1 - p)) : 0));
      // The keep rate is 1 − p within 4 standard deviations.
      expect(Math.abs(kept / n - (1 - p))).toBeLessThanOrEqual(4 * Math.sqrt((p * (1 - p)) / n) + 1e-12);
    }
    // Another stream gives another mask.
    expect(dropoutKeepMask(n, 0.5, 7, 1)).not.toEqual(dropoutKeepMask(n, 0.5, 7, 2));
    g.release(gx);
    g.release(gy);
  });
});
