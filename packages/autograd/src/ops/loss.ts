/**
 * Reductions to a scalar: sum, mean, and the fused softmax cross-entropy
 * with an ignore index (mean over the rows that count).
 *   sum:           y = Σ x                  dx_i = dy
 *   mean:          y = (1/n) Σ x            dx_i = dy / n
 *   crossEntropy:  y = (1/m) Σ_{rows with a label} −log softmax(z_r)[t_r]
 *                  dz = dy · (softmax(z) − onehot(t)) / m, 0 on ignored rows
 * The gradient of the cross-entropy is produced by the forward kernel and
 * saved, so backward is one scaling by the incoming gradient (a GPU scalar:
 * nothing is read back).
 */
import { axpby, fillWith, scaleBy, segmentTraces, softmaxCrossEntropy } from '@thaw/kernels';
import { softmaxCrossEntropyReference } from '@thaw/kernels/reference';
import type { ReferenceOp } from '../reference.js';
import type { Tensor } from '../tensor.js';

/** sum(x)·factor as a new scalar tensor (deterministic tree sum). */
function scaledSum(x: Tensor, factor: number, name: string): Tensor {
  const graph = x.graph;
  const total = graph.empty([1], `${name}.sum`);
  segmentTraces(graph.gpu, { values: x.buffer, traces: total.buffer, segments: [{ offset: 0, length: x.size }] });
  const out = graph.empty([1], name);
  axpby(graph.gpu, { x: total.buffer, y: total.buffer, out: out.buffer, n: 1, alpha: factor, beta: 0 });
  total.dispose();
  return out;
}

/** factor·Σx as a scalar tensor; dx_i = factor·dy. */
function reduceTo(x: Tensor, factor: number, op: string): Tensor {
  const graph = x.graph;
  return graph.record({
    op,
    inputs: [x],
    saved: [],
    backward(dy) {
      const dx = graph.empty(x.shape, `${op}.dx`);
      fillWith(graph.gpu, { scalar: dy.buffer, out: dx.buffer, n: x.size, alpha: factor });
      return [dx];
    },
  }, scaledSum(x, factor, op));
}

/** The sum of all elements, as a scalar tensor. */
export const sum = (x: Tensor): Tensor => reduceTo(x, 1, 'sum');

/** The mean of all elements, as a scalar tensor. */
export const mean = (x: Tensor): Tensor => reduceTo(x, 1 / x.size, 'mean');

/** Options of {@link crossEntropy}. */
export interface CrossEntropyOptions {
  /** Rows with this label do not count (default −100, as PyTorch). */
  ignoreIndex?: number;
}

/**
 * Mean cross-entropy of softmax(logits) against integer labels. `logits` is
 * [..., C]; `labels` has one entry per row, in 0…C−1 or the ignore index.
 */
export function crossEntropy(logits: Tensor, labels: Int32Array, options: CrossEntropyOptions = {}): Tensor {
  const ignoreIndex = options.ignoreIndex ?? -100;
  const C = logits.shape.at(-1)!;
  const rows = logits.size / C;
  if (labels.length !== rows) throw new Error(`crossEntropy: ${labels.length} labels for ${rows} rows of logits [${logits.shape}]`);
  const kernelLabels = new Int32Array(rows);
  let counted = 0;
  labels.forEach((label, r) => {
    if (label === ignoreIndex) {
      kernelLabels[r] = -1;
      return;
    }
    if (!Number.isInteger(label) || label < 0 || label >= C) throw new Error(`crossEntropy: label ${label} at row ${r} is outside 0…${C - 1} (ignore index ${ignoreIndex})`);
    kernelLabels[r] = label;
    counted++;
  });
  const graph = logits.graph;
  const gpu = graph.gpu;
  const labelBuffer = gpu.upload(kernelLabels, 'labels');
  const losses = graph.empty([rows], 'crossEntropy.rows');
  const dlogits = graph.empty(logits.shape, 'crossEntropy.dlogits');
  const scale = counted ? 1 / counted : 0;
  softmaxCrossEntropy(gpu, { logits: logits.buffer, labels: labelBuffer, losses: losses.buffer, dlogits: dlogits.buffer, rows, C, scale });
  gpu.release(labelBuffer);
  const loss = scaledSum(losses, scale, 'crossEntropy');
  losses.dispose();
  return graph.record({
    op: 'crossEntropy',
    inputs: [logits],
    saved: [dlogits],
    backward(dy) {
      const dx = graph.empty(logits.shape, 'crossEntropy.dx');
      scaleBy(gpu, { x: dlogits.buffer, scalar: dy.buffer, out: dx.buffer, n: logits.size, alpha: 1 });
      return [dx];
    },
  }, loss);
}

/** float64 twins of sum (mean = false) and mean. */
export function reduceReference(meanOf = true): ReferenceOp {
  const factor = (n: number) => (meanOf ? 1 / n : 1);
  return {
    forward: ([x]) => Float64Array.of(x!.reduce((s, v) => s + v, 0) * factor(x!.length)),
    backward: ([x], dy) => [new Float64Array(x!.length).fill(dy[0]! * factor(x!.length))],
  };
}

export function crossEntropyReference(labels: Int32Array, rows: number, C: number, ignoreIndex = -100): ReferenceOp {
  const kernelLabels = labels.map((l) => (l === ignoreIndex ? -1 : l));
  const counted = kernelLabels.filter((l) => l >= 0).length;
  const scale = counted ? 1 / counted : 0;
  return {
    forward: ([z]) => Float64Array.of(softmaxCrossEntropyReference(z!, kernelLabels, rows, C, scale).losses.reduce((s, v) => s + v, 0) * scale),
    backward: ([z], dy) => [softmaxCrossEntropyReference(z!, kernelLabels, rows, C, scale).dlogits.map((v) => v * dy[0]!)],
  };
}
