/** float64 references of elementwise.wgsl. */

/**
 * erf to about 1e-15: the Maclaurin series below |x| = 3, the continued
 * fraction of erfc (evaluated by Lentz's method) above.
 */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a < 3) {
    let term = a;
    let sum = a;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(a) = exp(−a²)/√π · 1/(a + 1/2/(a + 1/(a + 3/2/(a + …)))).
  const tiny = 1e-300;
  let f = a;
  let C = a;
  let D = 0;
  for (let n = 1; n < 500; n++) {
    const an = n / 2;
    D = a + an * D;
    D = 1 / (Math.abs(D) < tiny ? tiny : D);
    C = a + an / C;
    if (Math.abs(C) < tiny) C = tiny;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

const phi = (x: number) => 0.5 * (1 + erf(x / Math.SQRT2));

export const geluReference = (x: number): number => x * phi(x);
export const geluDerivativeReference = (x: number): number => phi(x) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
export const reluReference = (x: number): number => Math.max(x, 0);
export const reluDerivativeReference = (x: number): number => (x > 0 ? 1 : 0);
export const tanhReference = (x: number): number => Math.tanh(x);
export const tanhDerivativeReference = (x: number): number => 1 - Math.tanh(x) ** 2;
const GELU_CUBIC = 0.044715;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
export const geluTanhReference = (x: number): number => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x ** 3)));
export const geluTanhDerivativeReference = (x: number): number => {
  const t = Math.tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x ** 3));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * GELU_CUBIC * x * x);
};
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
export const swishReference = (x: number): number => x * sigmoid(x);
export const swishDerivativeReference = (x: number): number => sigmoid(x) * (1 + x * (1 - sigmoid(x)));

/** out[r, c] = x[r, c] · s[c] for a rows×cols row-major x (scaleColumns). */
export function scaleColumnsReference(x: ArrayLike<number>, s: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = x[r * cols + c]! * s[c]!;
  return out;
}
