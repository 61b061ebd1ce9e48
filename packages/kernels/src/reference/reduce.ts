/** float64 reference of reduce.wgsl. */
export function columnSumsReference(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j] = out[j]! + x[i * cols + j]!;
  return out;
}
