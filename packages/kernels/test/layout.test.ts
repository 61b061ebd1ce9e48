// Data movement and the attention softmax: permute, column copies, masked softmax, embedding, dropout.
import { describe, expect, it } from 'vitest';
import {
  axpby, copyColumns, dropout, dropoutKeepMask, embeddingGather, embeddingIndex, embeddingScatterAdd, permute, softmaxBackward, softmaxForward, type Gpu,
} from '../src/index.js';
import { embeddingBackwardReference, embeddingReference, embeddingSumReference, permuteReference, softmaxBackwardReference, softmaxReference } from '../src/reference/index.js';
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

  it('gather sums one or two extra tables in one dispatch, with the bits of separate gathers and adds', async () => {
    const g = gpu();
    const random = rng(7);
    for (const [vocab, D, tokens] of [[1, 1, 1], [7, 5, 13], [50, 33, 200]] as const) {
      // A word, a position and a token-type table, as an encoder's embeddings.
      const vocabs = [vocab, tokens + 3, 2];
      const tables = vocabs.map((n) => randomArray(n * D, random));
      const ids = vocabs.map((n) => Uint32Array.from({ length: tokens }, () => Math.floor(random() * n)));
      const [gt, gi] = [tables.map((t) => g.upload(t)), ids.map((i) => g.upload(i))];
      const lookup = (k: number) => ({ table: gt[k]!, ids: gi[k]!, vocab: vocabs[k]! });
      // Composed: three gathers, then (word + position) + type with axpby (α = β = 1).
      const rows = [0, 1, 2].map((k) => {
        const out = poisoned(g, tokens * D);
        embeddingGather(g, { table: gt[k]!, ids: gi[k]!, out, tokens, vocab: vocabs[k]!, D });
        return out;
      });
      const [pair, triple] = [poisoned(g, tokens * D), poisoned(g, tokens * D)];
      axpby(g, { x: rows[0]!, y: rows[1]!, out: pair, n: tokens * D, alpha: 1, beta: 1 });
      axpby(g, { x: pair, y: rows[2]!, out: triple, n: tokens * D, alpha: 1, beta: 1 });
      const [two, three] = [poisoned(g, tokens * D), poisoned(g, tokens * D)];
      const before = g.stats.dispatches;
      embeddingGather(g, { table: gt[0]!, ids: gi[0]!, out: two, tokens, vocab, D, extra: [lookup(1)] });
      embeddingGather(g, { table: gt[0]!, ids: gi[0]!, out: three, tokens, vocab, D, extra: [lookup(1), lookup(2)] });
      expect(g.stats.dispatches - before).toBe(2);
      for (const [fused, composed, k] of [[two, pair, 2], [three, triple, 3]] as const) {
        const got = await g.read(fused);
        expect(firstNonFinite(got)).toBe(-1);
        expect(bits(got), `${vocab}×${D}, ${k} tables`).toEqual(bits(await g.read(composed)));
        // Also fp32 additions in that order on the host, and the float64 sum.
        const lookups = [0, 1, 2].slice(0, k).map((j) => ({ table: tables[j]!, ids: ids[j]! }));
        const rowsOf = lookups.map((l) => embeddingReference(l.table, l.ids, D));
        expect([...got]).toEqual([...got].map((_, i) => rowsOf.reduce((s, r) => Math.fround(s + r[i]!), 0)));
        expect(relativeError(got, embeddingSumReference(lookups, D))).toBeLessThan(1e-6);
      }
      for (const b of [...gt, ...gi, ...rows, pair, triple, two, three]) g.release(b);
    }
  });

  it('gather writes NaN rows for extra ids past their tables', async () => {
    const g = gpu();
    const D = 6;
    const random = rng(8);
    const [word, position, type] = [randomArray(9 * D, random), randomArray(4 * D, random), randomArray(2 * D, random)];
    const wordIds = Uint32Array.from([1, 2, 3, 4, 5]);
    const positionIds = Uint32Array.from([0, 4, 3, 0xffffffff, 1]);
    const typeIds = Uint32Array.from([0, 1, 2, 1, 0]);
    const buffers = [word, wordIds, position, positionIds, type, typeIds].map((a) => g.upload(a));
    const out = poisoned(g, 5 * D);
    embeddingGather(g, {
      table: buffers[0]!, ids: buffers[1]!, out, tokens: 5, vocab: 9, D,
      extra: [{ table: buffers[2]!, ids: buffers[3]!, vocab: 4 }, { table: buffers[4]!, ids: buffers[5]!, vocab: 2 }],
    });
    const got = await g.read(out);
    const want = embeddingSumReference([{ table: word, ids: wordIds }, { table: position, ids: positionIds }, { table: type, ids: typeIds }], D);
    for (let t = 0; t < 5; t++) {
      const row = got.subarray(t * D, (t + 1) * D);
      expect(row.every(Number.isNaN), `row ${t}`).toBe([1, 2, 3].includes(t));
      expect(relativeError(row.filter((x) => !Number.isNaN(x)), want.subarray(t * D, (t + 1) * D).filter((x) => !Number.isNaN(x)))).toBeLessThan(1e-6);
    }
    for (const b of [...buffers, out]) g.release(b);
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

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe('embedding tables larger than a binding', () => {
  // With 64 KB bindings these tables take 2 to 8 chunks of rows (row counts
  // that are not multiples of the chunk); 20001×6 also has 80 KB of CSR
  // offsets, bound from aligned words below each chunk's first row.
  // Activations (ids, out, dOut) must fit one binding: tokens·D ≤ 16384.
  const LIMIT = 65536;
  const chunked = useGpu({ maxStorageBindingBytes: LIMIT });
  const whole = useGpu();
  const SHAPES = [[700, 40, 257], [1500, 17, 900], [20_001, 6, 300]] as const;

  /** Random ids with the first and last rows (twice each) and a few ids repeated many times. */
  function idsFor(vocab: number, tokens: number, random: () => number): Uint32Array {
    const hot = [Math.floor(random() * vocab), Math.floor(random() * vocab)];
    const ids = Uint32Array.from({ length: tokens }, (_, t) => (t % 5 === 0 ? hot[t % 2]! : Math.floor(random() * vocab)));
    ids.set([0, vocab - 1], 3);
    ids.set([vocab - 1, 0], tokens - 2);
    return ids;
  }

  /** The gather of `ids` in `table`, plus the rows of `extra` (small tables, bound whole) when given. */
  async function gatherOn(g: Gpu, table: Float32Array, ids: Uint32Array, vocab: number, D: number, extra: readonly { table: Float32Array; ids: Uint32Array }[] = []): Promise<Float32Array> {
    const [gt, gi, go] = [g.upload(table), g.upload(ids), poisoned(g, ids.length * D)];
    const ge = extra.map((x) => ({ table: g.upload(x.table), ids: g.upload(x.ids), vocab: x.table.length / D }));
    embeddingGather(g, { table: gt, ids: gi, out: go, tokens: ids.length, vocab, D, extra: ge });
    const out = await g.read(go);
    for (const b of [gt, gi, go, ...ge.flatMap((x) => [x.table, x.ids])]) g.release(b);
    return out;
  }

  async function scatterOn(g: Gpu, dOut: Float32Array, ids: Uint32Array, vocab: number, D: number): Promise<Float32Array> {
    const { offsets, positions } = embeddingIndex(ids, vocab);
    const [gd, gof, gp, gdt] = [g.upload(dOut), g.upload(offsets), g.upload(positions), poisoned(g, vocab * D)];
    embeddingScatterAdd(g, { dOut: gd, offsets: gof, positions: gp, dTable: gdt, tokens: ids.length, vocab, D });
    const dTable = await g.read(gdt);
    for (const b of [gd, gof, gp, gdt]) g.release(b);
    return dTable;
  }

  it('are split into several chunks, with offsets views that start below a chunk', () => {
    for (const [vocab, D] of SHAPES) {
      expect(chunked().rowChunks(vocab, 4 * D).length, `${vocab}×${D}`).toBeGreaterThan(1);
      expect(whole().rowChunks(vocab, 4 * D)).toHaveLength(1);
    }
    // 20001×6: the offsets exceed a binding, and some chunk starts off an aligned word.
    expect(4 * 20_002).toBeGreaterThan(LIMIT);
    const align = chunked().device.limits.minStorageBufferOffsetAlignment / 4;
    expect(chunked().rowChunks(20_001, 24).some((c) => c.first % align !== 0)).toBe(true);
  });

  it('gather copies each row exactly, with the bits of one launch', async () => {
    const random = rng(51);
    for (const [vocab, D, tokens] of SHAPES) {
      const table = randomArray(vocab * D, random);
      const ids = idsFor(vocab, tokens, random);
      const [plain, split] = [await gatherOn(whole(), table, ids, vocab, D), await gatherOn(chunked(), table, ids, vocab, D)];
      expect(firstNonFinite(split)).toBe(-1);
      expect([...split], `${vocab}×${D}`).toEqual([...embeddingReference(table, ids, D)]);
      expect(bits(split)).toEqual(bits(plain));
    }
  });

  it('gather sums small extra tables into every chunk\'s rows, with the bits of one launch', async () => {
    const random = rng(54);
    for (const [vocab, D, tokens] of SHAPES) {
      const table = randomArray(vocab * D, random);
      const ids = idsFor(vocab, tokens, random);
      const extra = [tokens, 2].map((n) => ({ table: randomArray(n * D, random), ids: Uint32Array.from({ length: tokens }, () => Math.floor(random() * n)) }));
      const [plain, split] = [await gatherOn(whole(), table, ids, vocab, D, extra), await gatherOn(chunked(), table, ids, vocab, D, extra)];
      expect(firstNonFinite(split)).toBe(-1);
      expect(bits(split), `${vocab}×${D}`).toEqual(bits(plain));
      expect(relativeError(split, embeddingSumReference([{ table, ids }, ...extra], D))).toBeLessThan(1e-6);
    }
  });

  it('gather writes NaN rows for ids past the table, chunked or not', async () => {
    const [vocab, D] = [700, 40];
    const table = randomArray(vocab * D, rng(52));
    const ids = Uint32Array.from([5, vocab, 699, 0xffffffff, 0, vocab + 1000]);
    const want = embeddingReference(table, ids, D);
    for (const g of [whole(), chunked()]) {
      const out = await gatherOn(g, table, ids, vocab, D);
      expect([...out]).toEqual([...want]);
      for (const t of [1, 3, 5]) expect(out.subarray(t * D, (t + 1) * D).every(Number.isNaN), `row ${t}`).toBe(true);
    }
  });

  it('scatter-add sums every row in the order of one launch', async () => {
    const random = rng(53);
    for (const [vocab, D, tokens] of SHAPES) {
      const dOut = randomArray(tokens * D, random);
      const ids = idsFor(vocab, tokens, random);
      const [plain, split] = [await scatterOn(whole(), dOut, ids, vocab, D), await scatterOn(chunked(), dOut, ids, vocab, D)];
      expect(firstNonFinite(split)).toBe(-1);
      expect(relativeError(split, embeddingBackwardReference(dOut, ids, vocab, D)), `${vocab}×${D}`).toBeLessThan(1e-6);
      expect(bits(split)).toEqual(bits(plain));
    }
  });
});
