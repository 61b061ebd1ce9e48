/**
 * gradcheck: an op's GPU gradients against its float64 reference, and the
 * reference's analytic gradients against central finite differences.
 *
 * With a fixed random R of the output's shape, the scalar L = ⟨op(inputs), R⟩
 * has dL/d input = the op's vector-Jacobian product with R. The GPU side runs
 * the op and backward seeded with R; the reference side evaluates its
 * backward with R; finite differences perturb each input element of the
 * reference by ±h.
 */
import { mulberry32 } from '@thaw/kernels';
import { relativeError } from '@thaw/kernels/reference';
import type { Graph } from './graph.js';
import type { ReferenceOp } from './reference.js';
import type { Tensor } from './tensor.js';

/** What gradcheck needs to know about one op application. */
export interface GradcheckCase {
  /** Input values (float64, also uploaded as fp32). */
  inputs: Float64Array[];
  shapes: number[][];
  /** Which inputs are differentiable (default: all). */
  differentiable?: boolean[];
  /** The op on GPU tensors. */
  run(tensors: Tensor[]): Tensor;
  reference: ReferenceOp;
  /** Seed for R. */
  seed?: number;
  /** Step of the finite differences (default 1e-6). */
  h?: number;
  /** At most this many elements per input are checked by finite differences (default 64). */
  samples?: number;
}

/** Relative errors per input (Frobenius over the checked elements). */
export interface GradcheckReport {
  /** ‖GPU output − reference output‖ / ‖reference output‖. */
  forward: number;
  /**
   * ‖GPU gradient − reference gradient‖ / ‖reference gradient‖, per input
   * (NaN for non-differentiable ones). For a reference without a backward,
   * the reference gradient is the finite differences, on the sampled elements.
   */
  gpuVsReference: number[];
  /** ‖reference gradient − finite differences‖ / ‖finite differences‖ over sampled elements, per input (NaN without a reference backward). */
  referenceVsFiniteDifferences: number[];
}

/** Runs the checks; the caller asserts on the report with its tolerances. */
export async function gradcheck(graph: Graph, c: GradcheckCase): Promise<GradcheckReport> {
  const rand = mulberry32(c.seed ?? 1234);
  const differentiable = c.differentiable ?? c.inputs.map(() => true);
  const refOut = c.reference.forward(c.inputs);
  const R = Float64Array.from(refOut, () => rand() * 2 - 1);
  const loss = (inputs: Float64Array[]) => c.reference.forward(inputs).reduce((s, v, i) => s + v * R[i]!, 0);

  // GPU: forward, then backward seeded with R.
  const params = c.inputs.map((x, i) => graph.parameter(Float32Array.from(x), c.shapes[i]!, `input${i}`, differentiable[i]));
  let forward = NaN;
  const gpuGrads: (Float32Array | undefined)[] = [];
  try {
    const out = graph.scope(() => c.run(params));
    const seed = graph.tensor(Float32Array.from(R), out.shape, 'R');
    forward = relativeError(await out.read(), refOut);
    graph.backward(out, seed);
    out.dispose();
    seed.dispose();
    for (const p of params) gpuGrads.push(p.grad ? await p.grad.read() : undefined);
  } finally {
    graph.zeroGrad(params);
    for (const p of params) p.dispose();
  }

  const refGrads = c.reference.backward?.(c.inputs, R);
  const h = c.h ?? 1e-6;
  const gpuVsReference: number[] = [];
  const referenceVsFiniteDifferences: number[] = [];
  c.inputs.forEach((x, k) => {
    const ref = refGrads ? refGrads[k] : undefined;
    if (!differentiable[k] || (refGrads && !ref)) {
      gpuVsReference.push(NaN);
      referenceVsFiniteDifferences.push(NaN);
      return;
    }
    const gpu = gpuGrads[k];
    const count = Math.min(x.length, c.samples ?? 64);
    const indices = count === x.length ? Array.from({ length: count }, (_, i) => i) : Array.from({ length: count }, () => Math.floor(rand() * x.length));
    const fd = new Float64Array(x.length);
    for (const i of indices) {
      const keep = x[i]!;
      x[i] = keep + h;
      const up = loss(c.inputs);
      x[i] = keep - h;
      const down = loss(c.inputs);
      x[i] = keep;
      fd[i] = (up - down) / (2 * h);
    }
    if (ref) {
      gpuVsReference.push(gpu ? relativeError(gpu, ref) : Infinity);
      referenceVsFiniteDifferences.push(relativeError(ref, fd, indices));
    } else {
      gpuVsReference.push(gpu ? relativeError(gpu, fd, indices) : Infinity);
      referenceVsFiniteDifferences.push(NaN);
    }
  });
  return { forward, gpuVsReference, referenceVsFiniteDifferences };
}
