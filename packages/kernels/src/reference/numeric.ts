/** Numeric helpers shared by the references, their tests and the gradient checks. */

/**
 * ‖got − want‖ / ‖want‖ (Frobenius) over `indices` (default: all); the
 * absolute ‖got − want‖ when want is zero there.
 */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>, indices?: Iterable<number>): number {
  let num = 0;
  let den = 0;
  for (const i of indices ?? Array.from({ length: want.length }, (_, k) => k)) {
    num += (got[i]! - want[i]!) ** 2;
    den += want[i]! ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}
