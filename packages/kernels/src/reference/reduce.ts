/** float64 references of reduce.wgsl. */

/** out[j] = Σ_i x[i, j] (columnSums). */
export function columnSumsReference(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j] = out[j]! + x[i * cols + j]!;
  return out;
}

/** out[j] = Σ_i x[i, j] · y[i, j] (columnDots). */
export function columnDotsReference(x: ArrayLike<number>, y: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j] = out[j]! + x[i * cols + j]! * y[i * cols + j]!;
  return out;
}
