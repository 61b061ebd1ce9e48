// Every op: GPU forward and gradients against the float64 reference, and the
// reference's gradients against central finite differences. One line per op
// and shape; shapes include 1 and odd sizes.
import { describe, expect, it } from 'vitest';
import {
  add, addReference, crossEntropy, crossEntropyReference, gelu, geluReferenceOp, geluTanh, geluTanhReferenceOp, swish, swishReferenceOp, gradcheck, layerNorm, layerNormReference,
  linear, linearReference, mean, reduceReference, sum, relu, reluReferenceOp, scale, scaleReference, type GradcheckCase,
  attention, attentionReferenceOp, bmm, bmmReference, concat, concatReference, dropout, dropoutReference, embedding, embeddingReferenceOp, embeddingSum, embeddingSumReferenceOp, multiHeadAttention,
  multiHeadAttentionReference, permute, permuteReferenceOp, reshape, softmax, softmaxReferenceOp, sliceColumns, sliceColumnsReference, tanh, tanhReferenceOp,
  maxPool, maxPoolReferenceOp, meanPool, scaleColumns, scaleColumnsReferenceOp, residualLayerNorm, residualLayerNormReference,
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
// Bias + activation in the matmul's epilogue: every activation, all inputs
// trainable and with the weight frozen (dx and db only).
for (const [rows, inF, outF] of [[1, 1, 1], [5, 7, 13], [9, 16, 130]] as const) {
  for (const activation of ['gelu', 'geluTanh', 'relu', 'swish', 'tanh'] as const) {
    for (const [label, differentiable] of [['', [true, true, true]], [', frozen weight', [true, false, true]]] as const) {
      add_(`linear ${rows}×${inF} → ${outF} with bias and ${activation} in the epilogue${label}`, (r) => ({
        inputs: [randomInput(rows * inF, r), randomInput(outF * inF, r), randomInput(outF, r)],
        shapes: [[rows, inF], [outF, inF], [outF]],
        differentiable: [...differentiable],
        run: ([x, w, b]) => linear(x!, w!, b!, { activation }),
        reference: linearReference(rows, inF, outF, activation),
      }));
    }
  }
}
for (const n of [1, 7, 300]) {
  add_(`add ${n}`, (r) => ({ inputs: [randomInput(n, r), randomInput(n, r)], shapes: [[n], [n]], run: ([a, b]) => add(a!, b!), reference: addReference }));
  add_(`scale ${n}`, (r) => ({ inputs: [randomInput(n, r)], shapes: [[n]], run: ([x]) => scale(x!, -0.37), reference: scaleReference(-0.37) }));
  add_(`gelu ${n}`, (r) => ({ inputs: [randomInput(n, r, 3)], shapes: [[n]], run: ([x]) => gelu(x!), reference: geluReferenceOp }));
  add_(`relu ${n}`, (r) => ({ inputs: [randomInput(n, r, 3)], shapes: [[n]], run: ([x]) => relu(x!), reference: reluReferenceOp }));
  add_(`tanh ${n}`, (r) => ({ inputs: [randomInput(n, r, 3)], shapes: [[n]], run: ([x]) => tanh(x!), reference: tanhReferenceOp }));
  add_(`geluTanh ${n}`, (r) => ({ inputs: [randomInput(n, r, 3)], shapes: [[n]], run: ([x]) => geluTanh(x!), reference: geluTanhReferenceOp }));
  add_(`swish ${n}`, (r) => ({ inputs: [randomInput(n, r, 3)], shapes: [[n]], run: ([x]) => swish(x!), reference: swishReferenceOp }));
  add_(`mean ${n}`, (r) => ({ inputs: [randomInput(n, r)], shapes: [[n]], run: ([x]) => mean(x!), reference: reduceReference(true) }));
  add_(`sum ${n}`, (r) => ({ inputs: [randomInput(n, r)], shapes: [[n]], run: ([x]) => sum(x!), reference: reduceReference(false) }));
}
// (IA)³'s column scale: leading axes flattened into rows; both inputs
// trainable, then only s (a frozen activation) and only x (a frozen scale).
for (const shape of [[1, 1], [5, 7], [2, 3, 7], [129, 300]]) {
  const C = shape.at(-1)!;
  const n = shape.reduce((a, b) => a * b, 1);
  for (const [label, differentiable] of [['', [true, true]], [', only s trainable', [false, true]], [', only x trainable', [true, false]]] as const) {
    add_(`scaleColumns [${shape}]${label}`, (r) => ({
      inputs: [randomInput(n, r), randomInput(C, r, 2)],
      shapes: [shape, [C]],
      differentiable: [...differentiable],
      run: ([x, s]) => scaleColumns(x!, s!),
      reference: scaleColumnsReferenceOp(n / C, C),
    }));
  }
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
// The fused norms: LN(Dropout(y) + r) and the embeddings' LN then Dropout,
// with every input trainable, only γ and β (a frozen encoder under a trainable
// norm) and only y and r (a frozen norm).
for (const [rows, D] of [[1, 7], [5, 13], [9, 128], [3, 300]] as const) {
  for (const p of [0, 0.3]) {
    const options = { dropout: p, random: { seed: 21, stream: rows * D } };
    for (const [label, differentiable] of [['', [true, true, true, true]], [', only γ and β trainable', [false, false, true, true]], [', only y and r trainable', [true, true, false, false]], [', only y trainable', [true, false, false, false]]] as const) {
      add_(`residualLayerNorm ${rows}×${D}, dropout ${p}${label}`, (r) => ({
        inputs: [randomInput(rows * D, r, 2), randomInput(rows * D, r), randomInput(D, r), randomInput(D, r)],
        shapes: [[rows, D], [rows, D], [D], [D]],
        differentiable: [...differentiable],
        run: ([y, res, g, b]) => residualLayerNorm(y!, res!, g!, b!, 1e-5, options),
        reference: residualLayerNormReference(rows, D, 1e-5, options),
      }));
    }
  }
  add_(`layerNorm ${rows}×${D} then dropout 0.2 in the same kernel`, (r) => ({
    inputs: [randomInput(rows * D, r, 2), randomInput(D, r), randomInput(D, r)],
    shapes: [[rows, D], [D], [D]],
    run: ([x, g, b]) => layerNorm(x!, g!, b!, 1e-5, { dropout: 0.2, random: { seed: 8, stream: D } }),
    reference: layerNormReference(rows, D, 1e-5, { dropout: 0.2, random: { seed: 8, stream: D } }),
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

for (const [shape, perm] of [[[5], [0]], [[3, 4], [1, 0]], [[2, 3, 5], [1, 2, 0]], [[2, 3, 2, 5], [0, 2, 1, 3]]] as [number[], number[]][]) {
  const n = shape.reduce((a, b) => a * b, 1);
  add_(`permute [${shape}] by [${perm}] (after a reshape)`, (r) => ({
    inputs: [randomInput(n, r)],
    shapes: [[n]],
    run: ([x]) => permute(reshape(x!, shape), perm),
    reference: permuteReferenceOp(shape, perm),
  }));
}
for (const [rows, widths] of [[1, [1, 1]], [3, [2, 5, 1]], [7, [16, 3]]] as [number, number[]][]) {
  add_(`concat ${rows}×[${widths}]`, (r) => ({
    inputs: widths.map((w) => randomInput(rows * w, r)),
    shapes: widths.map((w) => [rows, w]),
    run: (xs) => concat(xs),
    reference: concatReference(rows, widths),
  }));
}
for (const [rows, cols, offset, width] of [[1, 1, 0, 1], [3, 7, 2, 4], [5, 12, 0, 6], [4, 12, 6, 6]] as const) {
  add_(`sliceColumns ${rows}×${cols} [${offset}, ${offset + width})`, (r) => ({
    inputs: [randomInput(rows * cols, r)],
    shapes: [[rows, cols]],
    run: ([x]) => sliceColumns(x!, offset, width),
    reference: sliceColumnsReference(rows, cols, offset, width),
  }));
}
for (const [B, T, D] of [[1, 1, 1], [2, 5, 3], [3, 7, 16]] as const) {
  const mask = Float64Array.from({ length: B * T }, (_, i) => (i % T === T - 1 && T > 1 ? 0 : 1));
  add_(`maxPool ${B}×${T}×${D}, padded`, (r) => ({
    inputs: [randomInput(B * T * D, r), mask],
    shapes: [[B, T, D], [B, T]],
    differentiable: [true, false],
    run: ([x, m]) => maxPool(x!, m!),
    reference: maxPoolReferenceOp(mask, B, T, D),
  }));
  add_(`meanPool ${B}×${T}×${D}, padded (composite: GPU vs finite differences)`, (r) => ({
    inputs: [randomInput(B * T * D, r)],
    shapes: [[B, T, D]],
    run: ([x]) => meanPool(x!, Float32Array.from(mask)),
    reference: {
      forward: ([x]) => Float64Array.from({ length: B * D }, (_, e) => {
        const [b, d] = [Math.floor(e / D), e % D];
        let s = 0;
        let n = 0;
        for (let t = 0; t < T; t++) if (mask[b * T + t]) { s += x![(b * T + t) * D + d]!; n++; }
        return s / n;
      }),
    },
  }));
}
for (const [batch, M, K, N] of [[1, 1, 1, 1], [3, 5, 7, 4], [8, 13, 16, 13]] as const) {
  for (const transB of [false, true]) {
    add_(`bmm ${batch}×(${M}×${K})·(${K}×${N})${transB ? ' with B transposed' : ''}`, (r) => ({
      inputs: [randomInput(batch * M * K, r), randomInput(batch * K * N, r)],
      shapes: [[batch, M, K], transB ? [batch, N, K] : [batch, K, N]],
      run: ([a, b]) => bmm(a!, b!, transB),
      reference: bmmReference(batch, M, K, N, transB),
    }));
  }
}
for (const [batches, perBatch, C] of [[1, 1, 3], [2, 3, 7], [2, 4, 70]] as const) {
  const rows = batches * perBatch;
  const mask = Float64Array.from({ length: batches * C }, (_, i) => (i % C === 0 ? 0 : 1));
  add_(`softmax ${rows}×${C}, scaled, with a padding mask`, (r) => ({
    inputs: [randomInput(rows * C, r, 2), mask],
    shapes: [[rows, C], [batches, C]],
    differentiable: [true, false],
    run: ([x, m]) => softmax(x!, { scale: 0.6, mask: m!, rowsPerBatch: perBatch }),
    reference: { forward: ([x]) => softmaxReferenceOp(rows, C, 0.6, mask, perBatch).forward([x!]), backward: ([x], dy) => [softmaxReferenceOp(rows, C, 0.6, mask, perBatch).backward!([x!], dy)[0], undefined] },
  }));
}
for (const [vocab, D, tokens] of [[1, 1, 1], [9, 5, 12], [40, 16, 64]] as const) {
  add_(`embedding ${tokens} ids into ${vocab}×${D}`, (r) => {
    const ids = Uint32Array.from({ length: tokens }, () => Math.floor(r() * vocab));
    return { inputs: [randomInput(vocab * D, r)], shapes: [[vocab, D]], run: ([t]) => embedding(t!, ids), reference: embeddingReferenceOp(ids, vocab, D) };
  });
}
// Sums of lookups (word + position + token type), every table trainable and
// with the first frozen (a frozen base under an adapter never needs it).
for (const [vocabs, D, tokens] of [[[1, 1], 1, 1], [[9, 12, 2], 5, 12], [[40, 64, 3], 16, 64]] as const) {
  for (const [label, frozenFirst] of [['', false], [', first frozen', true]] as const) {
    add_(`embeddingSum of ${vocabs.length} lookups, ${tokens} ids into ${vocabs.join(', ')} × ${D}${label}`, (r) => {
      const lookups = vocabs.map((vocab) => ({ vocab, ids: Uint32Array.from({ length: tokens }, () => Math.floor(r() * vocab)) }));
      return {
        inputs: vocabs.map((vocab) => randomInput(vocab * D, r)),
        shapes: vocabs.map((vocab) => [vocab, D]),
        differentiable: vocabs.map((_, k) => k > 0 || !frozenFirst),
        run: (tables) => embeddingSum(lookups.map(({ ids }, k) => ({ table: tables[k]!, ids }))),
        reference: embeddingSumReferenceOp(lookups, D),
      };
    });
  }
}
for (const n of [1, 50, 999]) {
  const random = { seed: 11, stream: n };
  add_(`dropout p=0.3 over ${n}`, (r) => ({
    inputs: [randomInput(n, r)],
    shapes: [[n]],
    run: ([x]) => dropout(x!, 0.3, random),
    reference: dropoutReference(n, 0.3, random),
  }));
}
// The fused attention core (attention.wgsl) on q, k, v: heads 1, 2, 4, head dims 4, 8, 12;
// padding, a sequence with no token at all, and dropout on the probabilities.
for (const [B, T, D, heads, p] of [[1, 1, 4, 1, 0], [2, 5, 8, 2, 0], [2, 5, 8, 2, 0.3], [3, 6, 16, 4, 0.2], [2, 7, 24, 2, 0.3]] as const) {
  const mask = Float64Array.from({ length: B * T }, (_, i) => (B === 3 && i >= 2 * T ? 0 : T > 1 && i % T === T - 1 ? 0 : 1));
  const random = { seed: 21, stream: T };
  add_(`attention (fused) B=${B} T=${T} D=${D} heads=${heads}, padded${B === 3 ? ', one sequence all padding' : ''}, dropout ${p}`, (r) => ({
    inputs: [randomInput(B * T * D, r), randomInput(B * T * D, r), randomInput(B * T * D, r), mask],
    shapes: [[B, T, D], [B, T, D], [B, T, D], [B, T]],
    differentiable: [true, true, true, false],
    run: ([q, k, v, m]) => attention(q!, k!, v!, { heads, mask: m!, ...(p ? { dropout: p, random } : {}) }),
    reference: attentionReferenceOp({ B, T, D, heads }, mask, p, random),
  }));
}
for (const [B, T, D, heads] of [[1, 1, 4, 1], [2, 5, 8, 2], [2, 7, 12, 3]] as const) for (const fused of [true, false]) {
  add_(`multi-head attention B=${B} T=${T} D=${D} heads=${heads}, padded, ${fused ? 'fused' : 'composed'} (composite: GPU vs finite differences)`, (r) => {
    const mask = Float64Array.from({ length: B * T }, (_, i) => (T > 1 && i % T === T - 1 ? 0 : 1));
    const w = () => randomInput(D * D, r, 0.5);
    const b = () => randomInput(D, r, 0.1);
    return {
      inputs: [randomInput(B * T * D, r), w(), b(), w(), b(), w(), b(), mask],
      shapes: [[B, T, D], [D, D], [D], [D, D], [D], [D, D], [D], [B, T]],
      // The key bias shifts every score of a query row by the same q·bk, which
      // softmax ignores: its gradient is exactly zero, so a relative check is
      // meaningless (tested on its own below).
      differentiable: [true, true, true, true, false, true, true, false],
      run: ([x, wq, bq, wk, bk, wv, bv, m]) => multiHeadAttention(x!, { query: { weight: wq!, bias: bq! }, key: { weight: wk!, bias: bk! }, value: { weight: wv!, bias: bv! } }, { heads, mask: m!, fused }),
      reference: { forward: ([x, wq, bq, wk, bk, wv, bv]) => multiHeadAttentionReference(x!, wq!, bq!, wk!, bk!, wv!, bv!, { B, T, D, heads }, mask) },
      samples: 24,
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
        // Composite references have no analytic backward: their GPU gradients
        // were compared with finite differences above.
        if (c.differentiable?.[i] !== false && c.reference.backward) expect(e).toBeLessThan(FD_TOLERANCE);
      });
    });
  });
});

describe('attention', () => {
  const graph = useGraph();
  for (const fused of [true, false]) it(`gives the key bias a zero gradient (softmax is shift-invariant per row), ${fused ? 'fused' : 'composed'}`, async () => {
    const g = graph();
    const r = rng(77);
    const [B, T, D, heads] = [2, 5, 8, 2];
    const param = (n: number, shape: number[], name: string, s = 0.5) => g.parameter(Float32Array.from(randomInput(n, r, s)), shape, name);
    const x = param(B * T * D, [B, T, D], 'x', 1);
    const [wq, wk, wv] = [param(D * D, [D, D], 'wq'), param(D * D, [D, D], 'wk'), param(D * D, [D, D], 'wv')];
    const [bq, bk, bv] = [param(D, [D], 'bq'), param(D, [D], 'bk'), param(D, [D], 'bv')];
    g.scope(() => {
      const out = multiHeadAttention(x, { query: { weight: wq, bias: bq }, key: { weight: wk, bias: bk }, value: { weight: wv, bias: bv } }, { heads, fused });
      g.backward(sum(out));
    });
    const dbk = await bk.grad!.read();
    const dbq = await bq.grad!.read();
    expect(Math.max(...dbk.map(Math.abs))).toBeLessThan(1e-6);
    expect(Math.max(...dbq.map(Math.abs))).toBeGreaterThan(1e-3);
    const params = [x, wq, wk, wv, bq, bk, bv];
    g.zeroGrad(params);
    for (const p of params) p.dispose();
  });
});
