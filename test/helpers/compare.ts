// Comparing numeric results in tests.
import { expect } from 'vitest';

/**
 * The largest |a[i] − b[i]| (the lengths must agree); a NaN on either side counts as Infinity,
 * so a bound `< tol` fails on it.
 */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; ++i) {
    const d = Math.abs(Number(a[i]) - Number(b[i]));
    m = Number.isNaN(d) ? Infinity : Math.max(m, d);
  }
  return m;
}
