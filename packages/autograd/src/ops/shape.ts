/**
 * Shape ops: reshape (a view, no copy), permute (transpose, split and merge of
 * attention heads), concatenation and slicing along the last axis.
 *   reshape:  dx = dy viewed in x's shape
 *   permute:  dx = dy permuted by the inverse permutation
 *   concat:   dx_k = the columns of dy that came from x_k
 *   slice:    dx = dy in the sliced columns, 0 elsewhere
 */
import { copyColumns, fillWith, permute as permuteKernel, permutedShape } from '@thaw/kernels';
import { permuteReference } from '@thaw/kernels/reference';
import type { ReferenceOp } from '../reference.js';
import type { Tensor } from '../tensor.js';

/** x viewed with another shape of the same size (shares storage). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const graph = x.graph;
  return graph.record({
    op: 'reshape',
    inputs: [x],
    saved: [],
    backward: (dy) => [graph.view(dy, x.shape, 'reshape.dx')],
  }, graph.view(x, shape, 'reshape'));
}

/** Axes permuted: output axis k is input axis perm[k] (up to 4 axes). */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const graph = x.graph;
  const y = graph.empty(permutedShape(x.shape, perm), 'permute');
  permuteKernel(graph.gpu, { src: x.buffer, dst: y.buffer, shape: x.shape, perm });
  const inverse = perm.map((_, k) => perm.indexOf(k));
  return graph.record({
    op: 'permute',
    inputs: [x],
    saved: [],
    backward(dy) {
      const dx = graph.empty(x.shape, 'permute.dx');
      permuteKernel(graph.gpu, { src: dy.buffer, dst: dx.buffer, shape: dy.shape, perm: inverse });
      return [dx];
    },
  }, y);
}

/** [B, T, H·d] → [B, H, T, d]: one attention head per slice. */
export function splitHeads(x: Tensor, heads: number): Tensor {
  const [B, T, D] = x.shape as [number, number, number];
  if (x.shape.length !== 3 || D % heads !== 0) throw new Error(`splitHeads: [${x.shape}] is not [B, T, D] with D divisible by ${heads}`);
  return permute(reshape(x, [B, T, heads, D / heads]), [0, 2, 1, 3]);
}

/** [B, H, T, d] → [B, T, H·d]: the inverse of {@link splitHeads}. */
export function mergeHeads(x: Tensor): Tensor {
  const [B, H, T, d] = x.shape as [number, number, number, number];
  return reshape(permute(x, [0, 2, 1, 3]), [B, T, H * d]);
}

/** Concatenation along the last axis (all other axes equal). */
export function concat(xs: readonly Tensor[]): Tensor {
  if (xs.length < 1) throw new Error('concat: no tensors');
  const graph = xs[0]!.graph;
  const lead = xs[0]!.shape.slice(0, -1);
  for (const x of xs) {
    if (x.shape.length !== lead.length + 1 || x.shape.slice(0, -1).some((d, i) => d !== lead[i])) {
      throw new Error(`concat: [${x.shape}] does not match [${lead},…]`);
    }
  }
  const widths = xs.map((x) => x.shape.at(-1)!);
  const total = widths.reduce((a, b) => a + b, 0);
  const rows = xs[0]!.size / widths[0]!;
  const offsets = widths.map((_, k) => widths.slice(0, k).reduce((a, b) => a + b, 0));
  const y = graph.empty([...lead, total], 'concat');
  xs.forEach((x, k) => copyColumns(graph.gpu, { src: x.buffer, dst: y.buffer, rows, width: widths[k]!, inCols: widths[k]!, outCols: total, srcOffset: 0, dstOffset: offsets[k]! }));
  return graph.record({
    op: 'concat',
    inputs: xs,
    saved: [],
    backward: (dy) => xs.map((x, k) => {
      if (!x.requiresGrad) return undefined;
      const dx = graph.empty(x.shape, 'concat.dx');
      copyColumns(graph.gpu, { src: dy.buffer, dst: dx.buffer, rows, width: widths[k]!, inCols: total, outCols: widths[k]!, srcOffset: offsets[k]!, dstOffset: 0 });
      return dx;
    }),
  }, y);
}

/** Columns offset … offset + width − 1 of the last axis (e.g. token 0 of [B, T·D] rows, or half a hidden vector). */
export function sliceColumns(x: Tensor, offset: number, width: number): Tensor {
  const graph = x.graph;
  const cols = x.shape.at(-1)!;
  if (!Number.isInteger(offset) || !Number.isInteger(width) || offset < 0 || width < 1 || offset + width > cols) {
    throw new Error(`sliceColumns: columns ${offset}…${offset + width - 1} are outside the ${cols} of [${x.shape}]`);
  }
  const rows = x.size / cols;
  const y = graph.empty([...x.shape.slice(0, -1), width], 'slice');
  copyColumns(graph.gpu, { src: x.buffer, dst: y.buffer, rows, width, inCols: cols, outCols: width, srcOffset: offset, dstOffset: 0 });
  return graph.record({
    op: 'sliceColumns',
    inputs: [x],
    saved: [],
    backward(dy) {
      const dx = graph.empty(x.shape, 'slice.dx');
      const zero = graph.tensor(new Float32Array([0]), [1], 'zero');
      fillWith(graph.gpu, { scalar: zero.buffer, out: dx.buffer, n: x.size, alpha: 1 });
      copyColumns(graph.gpu, { src: dy.buffer, dst: dx.buffer, rows, width, inCols: width, outCols: cols, srcOffset: 0, dstOffset: offset });
      return [dx];
    },
  }, y);
}

/** float64 twins. */
export function sliceColumnsReference(rows: number, cols: number, offset: number, width: number): ReferenceOp {
  return {
    forward: ([x]) => Float64Array.from({ length: rows * width }, (_, e) => x![Math.floor(e / width) * cols + offset + (e % width)]!),
    backward: (_, dy) => {
      const dx = new Float64Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let j = 0; j < width; j++) dx[r * cols + offset + j] = dy[r * width + j]!;
      return [dx];
    },
  };
}

export function permuteReferenceOp(shape: readonly number[], perm: readonly number[]): ReferenceOp {
  const inverse = perm.map((_, k) => perm.indexOf(k));
  return {
    forward: ([x]) => permuteReference(x!, shape, perm),
    backward: (_, dy) => [permuteReference(dy, permutedShape(shape, perm), inverse)],
  };
}

export function concatReference(rows: number, widths: readonly number[]): ReferenceOp {
  const total = widths.reduce((a, b) => a + b, 0);
  const offsets = widths.map((_, k) => widths.slice(0, k).reduce((a, b) => a + b, 0));
  return {
    forward: (xs) => {
      const y = new Float64Array(rows * total);
      xs.forEach((x, k) => {
        for (let r = 0; r < rows; r++) for (let j = 0; j < widths[k]!; j++) y[r * total + offsets[k]! + j] = x[r * widths[k]! + j]!;
      });
      return y;
    },
    backward: (_, dy) => widths.map((w, k) => Float64Array.from({ length: rows * w }, (_, e) => dy[Math.floor(e / w) * total + offsets[k]! + (e % w)]!)),
  };
}
