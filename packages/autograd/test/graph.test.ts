// The tape, scopes, noGrad, views and gradient accumulation.
import { describe, expect, it } from 'vitest';
import { embeddingBackwardReference, relativeError } from '@thaw/kernels/reference';
import { add, embedding, embeddingSum, gelu, Graph, layerNorm, linear, mean, reshape, residualLayerNorm, scale, scaleColumns, sum, tanh } from '../src/index.js';
import { randomInput, rng, useGraph } from './helpers.js';

describe('graph', () => {
  const graph = useGraph();

  it('accumulates the gradient of a tensor used twice, and across backward calls', async () => {
    const g = graph();
    const x = g.parameter(new Float32Array([1, -2, 3]), [3], 'x');
    g.scope(() => g.backward(sum(add(scale(x, 2), x)))); // d/dx (2x + x) = 3
    expect([...(await x.grad!.read())]).toEqual([3, 3, 3]);
    g.scope(() => g.backward(mean(x))); // + 1/3 each
    expect([...(await x.grad!.read())].map((v) => v.toFixed(5))).toEqual(['3.33333', '3.33333', '3.33333']);
    g.zeroGrad([x]);
    expect(x.grad).toBeUndefined();
    x.dispose();
  });

  it('records nothing under noGrad, and frees intermediates when a scope ends', async () => {
    const g = graph();
    const w = g.parameter(new Float32Array([1, 2, 3, 4]), [2, 2], 'w');
    const input = g.tensor(new Float32Array([1, 1]), [1, 2], 'input');
    const live = () => g.gpu.pool.snapshot().liveBuffers;
    const before = live();
    const y = g.noGrad(() => g.scope(() => scale(linear(input, w), 2)));
    expect(g.tapeLength).toBe(0);
    expect(y.requiresGrad).toBe(false);
    expect([...(await y.read())]).toEqual([6, 14]);
    // Only the returned tensor survives the scope.
    expect(live()).toBe(before + 1);
    y.dispose();
    expect(live()).toBe(before);
    input.dispose();
    w.dispose();
  });

  it('keeps what the tape needs alive past its scope, and frees it after backward', async () => {
    const g = graph();
    const w = g.parameter(new Float32Array([0.5, -1, 2, 0.25]), [2, 2], 'w');
    const before = g.gpu.pool.snapshot().liveBuffers;
    const loss = g.scope(() => sum(linear(g.tensor(new Float32Array([1, 2]), [1, 2]), w)));
    expect(g.tapeLength).toBeGreaterThan(0);
    g.backward(loss);
    expect(g.tapeLength).toBe(0);
    expect([...(await w.grad!.read())]).toEqual([1, 2, 1, 2]);
    loss.dispose();
    g.zeroGrad([w]);
    expect(g.gpu.pool.snapshot().liveBuffers).toBe(before);
    w.dispose();
  });

  it('reshape is a view: no copy, and the storage lives until its last view is disposed', async () => {
    const g = graph();
    const x = g.tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    const v = g.noGrad(() => reshape(x, [3, 2]));
    expect(v.buffer).toBe(x.buffer);
    x.dispose();
    expect([...(await v.read())]).toEqual([1, 2, 3, 4, 5, 6]);
    v.dispose();
    expect(() => g.view(v, [6])).toThrow();
  });

  it('explains a backward that cannot run', () => {
    const g = graph();
    const c = g.tensor(new Float32Array([1, 2]), [2], 'c');
    expect(() => g.backward(c)).toThrow(/does not depend on any tensor that requires a gradient/);
    const p = g.parameter(new Float32Array([1, 2]), [2], 'p');
    const y = scale(p, 2);
    expect(() => g.backward(y)).toThrow(/has 2 elements; pass a seed gradient/);
    g.clearTape();
    for (const t of [c, p, y]) t.dispose();
  });

  it('frees each node\'s gradient and saved tensors as backward passes it', async () => {
    const g = graph();
    const pool = g.gpu.pool;
    const x = g.parameter(new Float32Array(64).fill(0.5), [64], 'x');
    const peakDuring = (layers: number) => {
      let peak = 0;
      const acquire = pool.acquire.bind(pool);
      pool.acquire = (...args: Parameters<typeof pool.acquire>) => {
        const b = acquire(...args);
        peak = Math.max(peak, pool.snapshot().liveBuffers);
        return b;
      };
      try {
        g.scope(() => {
          let h = x;
          for (let i = 0; i < layers; i++) h = gelu(h);
          const afterForward = pool.snapshot().liveBuffers;
          peak = afterForward;
          g.backward(sum(h));
          return afterForward;
        });
      } finally {
        pool.acquire = acquire;
      }
      g.zeroGrad([x]);
      return peak;
    };
    // Backward adds a bounded number of buffers over the forward's, whatever the depth.
    const [p10, p40] = [peakDuring(10), peakDuring(40)];
    expect(p40 - p10).toBeLessThanOrEqual(30 + 2);
    x.dispose();
  });

  it('releases a throwing scope\'s tensors, and keeps only tensors a result holds directly', () => {
    const g = graph();
    const live = () => g.gpu.pool.snapshot().liveBuffers;
    const before = live();
    expect(() => g.scope(() => {
      g.tensor(new Float32Array([1, 2]), [2]);
      throw new Error('boom');
    })).toThrow('boom');
    expect(live()).toBe(before);
    class Holder {
      constructor(readonly inner: unknown) {}
    }
    const kept = g.scope(() => {
      const t = g.tensor(new Float32Array([1]), [1]);
      return { t, holder: new Holder(g.tensor(new Float32Array([2]), [1])) };
    });
    // The plain object's tensor is kept; one inside a class instance is not.
    expect(live()).toBe(before + 1);
    kept.t.dispose();
    expect(live()).toBe(before);
  });

  it('disposing a parameter releases its gradient too; a reused output is not a leaf', () => {
    const g = graph();
    const live = () => g.gpu.pool.snapshot().liveBuffers;
    const before = live();
    const p = g.parameter(new Float32Array([1, 2, 3]), [3], 'p');
    const cached = g.scope(() => scale(p, 2));
    g.scope(() => g.backward(sum(cached)));
    expect(p.grad).toBeDefined();
    // After backward the cached output no longer requires a gradient.
    expect(cached.requiresGrad).toBe(false);
    p.dispose();
    cached.dispose();
    expect(live()).toBe(before);
  });

  it('skips the layernorm input gradient when its input leads to nothing trainable', () => {
    const g = graph();
    const gamma = g.parameter(new Float32Array([1, 1, 1]), [3], 'gamma');
    const beta = g.parameter(new Float32Array([0, 0, 0]), [3], 'beta');
    // The kernels each backward records (the forward's are the same either way).
    const backwardKernels = (x: ReturnType<typeof g.tensor>) => {
      const names: string[] = [];
      const record = g.gpu.record.bind(g.gpu);
      g.scope(() => {
        const loss = sum(layerNorm(x, gamma, beta));
        g.gpu.record = (kernel, ...rest) => {
          names.push(kernel);
          record(kernel, ...rest);
        };
        try {
          g.backward(loss);
        } finally {
          g.gpu.record = record;
        }
      });
      g.zeroGrad([gamma, beta]);
      return names.filter((k) => k.startsWith('layernorm.'));
    };
    const x = g.tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3], 'x');
    const xp = g.parameter(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3], 'xp');
    const frozen = backwardKernels(x);
    const trainable = backwardKernels(xp);
    // One backward dispatch and the parameter reduction either way; dx is written only when needed.
    expect(frozen.map((k) => k.replace(/\{.*\}/, ''))).toEqual(['layernorm.backward', 'layernorm.reduceParams']);
    expect(trainable.map((k) => k.replace(/\{.*\}/, ''))).toEqual(['layernorm.backward', 'layernorm.reduceParams']);
    expect(frozen[0]).toContain('WRITE_DS=0');
    expect(trainable[0]).toContain('WRITE_DS=1');
    for (const t of [x, xp, gamma, beta]) t.dispose();
  });

  it('adds a gradient in the kernel of the next contribution (linear\'s dx matmul) with the bits of a separate pass', async () => {
    const g = graph();
    const random = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 1.3));
    const [rows, D] = [5, 12];
    // h = tanh(p) feeds a residual norm and three projections, as a layer's input feeds
    // the attention output norm and Q, K, V.
    const run = async (graphUsed: Graph) => {
      const p = graphUsed.parameter(random(rows * D, 1), [rows, D], 'p');
      const ws = [2, 3, 4].map((s) => graphUsed.parameter(random(D * D, s), [D, D], `w${s}`));
      const [gamma, beta] = [graphUsed.parameter(random(D, 5), [D], 'gamma'), graphUsed.parameter(random(D, 6), [D], 'beta')];
      const before = graphUsed.gpu.stats.dispatches;
      const axpbys: string[] = [];
      const record = graphUsed.gpu.record.bind(graphUsed.gpu);
      graphUsed.gpu.record = (kernel, ...rest) => {
        if (kernel.startsWith('elementwise.axpby')) axpbys.push(kernel);
        record(kernel, ...rest);
      };
      try {
        graphUsed.scope(() => {
          const h = tanh(p);
          const [q, k, v] = ws.map((w) => linear(h, w));
          graphUsed.backward(sum(residualLayerNorm(add(add(q!, k!), v!), h, gamma, beta)));
        });
      } finally {
        graphUsed.gpu.record = record;
      }
      const dispatches = graphUsed.gpu.stats.dispatches - before;
      const grads = await Promise.all([p, ...ws, gamma, beta].map((t) => t.grad!.read()));
      for (const t of [p, ...ws, gamma, beta]) t.dispose();
      return { grads, dispatches, axpbys: axpbys.length };
    };
    const inKernels = await run(g);
    const separate = await run(new Graph(g.gpu, { accumulateInKernels: false }));
    inKernels.grads.forEach((v, i) => expect(Buffer.from(v.buffer).equals(Buffer.from(separate.grads[i]!.buffer)), `gradient ${i}`).toBe(true));
    // h's four contributions: three additions, each in a dx matmul instead of an axpby.
    expect(separate.axpbys - inKernels.axpbys).toBe(3);
    expect(separate.dispatches - inKernels.dispatches).toBe(3);
  });

  it('scaleColumns runs only the gradient kernels its trainable inputs need', async () => {
    const g = graph();
    const run = (xTrainable: boolean, sTrainable: boolean) => {
      const x = g.parameter(new Float32Array([1, -2, 3, 4, 5, -6]), [2, 3], 'x', xTrainable);
      const s = g.parameter(new Float32Array([0.5, 2, -1]), [3], 's', sTrainable);
      const before = g.gpu.stats.dispatches;
      g.scope(() => g.backward(sum(scaleColumns(x, s))));
      const kernels = g.gpu.stats.dispatches - before;
      const grads = [x.grad !== undefined, s.grad !== undefined];
      g.zeroGrad([x, s]);
      x.dispose();
      s.dispose();
      return { kernels, grads };
    };
    const both = run(true, true);
    const onlyX = run(true, false);
    const onlyS = run(false, true);
    expect(both.grads).toEqual([true, true]);
    expect(onlyX.grads).toEqual([true, false]);
    expect(onlyS.grads).toEqual([false, true]);
    // Each frozen input saves exactly its one backward kernel.
    expect(onlyX.kernels).toBe(both.kernels - 1);
    expect(onlyS.kernels).toBe(both.kernels - 1);
  });

  it('scaleColumns names both tensors when their shapes do not match', () => {
    const g = graph();
    const x = g.parameter(new Float32Array(6), [2, 3], 'x');
    const s = g.parameter(new Float32Array(4), [4], 's');
    const m = g.parameter(new Float32Array(6), [2, 3], 'm');
    expect(() => scaleColumns(x, s)).toThrow('scaleColumns: input x [2,3] does not end in 4 (scale s is [4])');
    expect(() => scaleColumns(x, m)).toThrow('scaleColumns: scale m must be 1-D [C], got [2,3]');
    for (const t of [x, s, m]) t.dispose();
  });
});

describe('a parameter larger than a binding, used twice', () => {
  // A 1500×17 table is 102 KB: with 64 KB bindings its gather, its
  // scatter-add and every accumulation of its gradient (axpby over the whole
  // table) run in chunks. The chunked graph must give the default graph's bits.
  const [vocab, D, tokens] = [1500, 17, 300];
  const chunked = useGraph({ maxStorageBindingBytes: 65536 });
  const whole = useGraph();
  const random = rng(71);
  const table = Float32Array.from(randomInput(vocab * D, random));
  const ids = [0, 1].map(() => Uint32Array.from({ length: tokens }, (_, t) => (t % 4 === 0 ? vocab - 1 - (t % 3) : Math.floor(random() * vocab))));
  ids[0]!.set([0, vocab - 1]);
  const seed = Float32Array.from(randomInput(tokens * D, random));
  const seed2 = Float32Array.from(randomInput(vocab * D, random));

  /** dE of Σ seed·(E[ids0] + ½·E[ids1]), then + dE of Σ seed2·2E, as accumulated by `g`. */
  async function gradient(g: Graph): Promise<Float32Array> {
    const E = g.parameter(table, [vocab, D], 'word_embeddings');
    g.scope(() => g.backward(add(embedding(E, ids[0]!), scale(embedding(E, ids[1]!), 0.5)), g.tensor(seed, [tokens, D], 'seed')));
    g.scope(() => g.backward(scale(E, 2), g.tensor(seed2, [vocab, D], 'seed2')));
    const grad = await E.grad!.read();
    E.dispose();
    return grad;
  }

  it('accumulates its gradient in chunks, with the bits of one binding', async () => {
    expect(chunked().gpu.rowChunks(vocab, 4 * D).length).toBeGreaterThan(1);
    const [plain, split] = [await gradient(whole()), await gradient(chunked())];
    const want = embeddingBackwardReference(seed, ids[0]!, vocab, D);
    const half = embeddingBackwardReference(seed, ids[1]!, vocab, D);
    want.forEach((v, i) => (want[i] = v + 0.5 * half[i]! + 2 * seed2[i]!));
    expect(relativeError(split, want)).toBeLessThan(1e-6);
    const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
    expect(bits(split).findIndex((v, i) => v !== bits(plain)[i]), 'first element whose bits differ').toBe(-1);
  });
});

describe('embeddingSum', () => {
  // Word + position + token-type embeddings in one gather launch against the
  // composed ops, add(add(embedding, embedding), embedding): the same output
  // bits and the same gradient bits for every table, with the word table in
  // one binding and (64 KB bindings) in chunks.
  const [vocab, D, tokens] = [1500, 17, 300];
  const whole = useGraph();
  const chunked = useGraph({ maxStorageBindingBytes: 65536 });
  const random = rng(72);
  const vocabs = [vocab, tokens + 2, 2];
  const tables = vocabs.map((n) => Float32Array.from(randomInput(n * D, random)));
  const ids = vocabs.map((n) => Int32Array.from({ length: tokens }, () => Math.floor(random() * n)));
  const seed = Float32Array.from(randomInput(tokens * D, random));
  const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

  /** The output, every trainable table's gradient, and the forward's dispatches. */
  async function run(g: Graph, fused: boolean, trainable: readonly boolean[]): Promise<{ out: Float32Array; grads: (Float32Array | undefined)[]; dispatches: number }> {
    const params = tables.map((t, k) => g.parameter(t, [vocabs[k]!, D], `table${k}`, trainable[k]));
    const before = g.gpu.stats.dispatches;
    const y = g.scope(() => (fused
      ? embeddingSum(params.map((table, k) => ({ table, ids: ids[k]! })), [tokens])
      : add(add(embedding(params[0]!, ids[0]!), embedding(params[1]!, ids[1]!)), embedding(params[2]!, ids[2]!))));
    const dispatches = g.gpu.stats.dispatches - before;
    const out = await y.read();
    g.scope(() => g.backward(y, g.tensor(seed, [tokens, D], 'seed')));
    y.dispose();
    const grads = await Promise.all(params.map((p) => p.grad?.read()));
    for (const p of params) p.dispose();
    return { out, grads, dispatches };
  }

  for (const trainable of [[true, true, true], [false, true, true]]) {
    it(`gives the composed ops' bits, forward and backward (word table ${trainable[0] ? 'trainable' : 'frozen'})`, async () => {
      for (const graph of [whole, chunked]) {
        const g = graph();
        const chunks = g.gpu.rowChunks(vocab, 4 * D).length;
        const [composed, fused] = [await run(g, false, trainable), await run(g, true, trainable)];
        expect(composed.dispatches, 'word table per chunk, 2 small gathers, 2 adds').toBe(chunks + 4);
        expect(fused.dispatches, 'one gather per chunk of the word table').toBe(chunks);
        expect(bits(fused.out)).toEqual(bits(composed.out));
        fused.grads.forEach((grad, k) => {
          expect(grad === undefined, `table ${k} has a gradient`).toBe(!trainable[k]);
          if (grad) expect(bits(grad), `table ${k}`).toEqual(bits(composed.grads[k]!));
        });
      }
      expect(chunked().gpu.rowChunks(vocab, 4 * D).length).toBeGreaterThan(1);
    });
  }

  it('checks ids and widths on the host', () => {
    const g = whole();
    const [a, b] = [g.parameter(new Float32Array(6), [3, 2], 'a'), g.parameter(new Float32Array(6), [2, 3], 'b')];
    expect(() => embeddingSum([{ table: a, ids: [0, 1] as unknown as Int32Array }, { table: a, ids: Int32Array.from([2, 3]) }])).toThrow('embedding: token 1 has id 3, outside 0…2 of a');
    expect(() => embeddingSum([{ table: a, ids: Int32Array.from([0]) }, { table: b, ids: Int32Array.from([0]) }])).toThrow('embeddingSum: table 1 (b) has width 3, table 0 has 2');
    expect(() => embeddingSum([{ table: a, ids: Int32Array.from([0]) }, { table: a, ids: Int32Array.from([0, 1]) }])).toThrow('embeddingSum: lookup 1 has 2 ids, lookup 0 has 1');
    expect(() => embeddingSum([])).toThrow('embeddingSum: sums 1 to 3 lookups, got 0');
    a.dispose();
    b.dispose();
  });
});
