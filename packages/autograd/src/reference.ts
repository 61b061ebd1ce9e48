/**
 * The float64 twin of an op, for gradcheck: forward on plain arrays and the
 * analytic backward (vector-Jacobian product) written independently of the
 * GPU code.
 */
export interface ReferenceOp {
  /** The output, from the inputs (same order as the GPU op's tensors). */
  forward(inputs: Float64Array[]): Float64Array;
  /**
   * d⟨output, gradOut⟩/d input for every input (undefined where an input is
   * not differentiable). Composite references (a whole attention block or
   * encoder layer) leave it out: gradcheck then compares the GPU gradients
   * with finite differences of `forward` directly.
   */
  backward?(inputs: Float64Array[], gradOut: Float64Array): (Float64Array | undefined)[];
}
