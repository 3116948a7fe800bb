// What the kernel runs on, and how many threads it may use.
import { native, type RuntimeInfo } from './binding';
import { CellstateRangeError, CellstateTypeError, ErrorCode, describe } from './errors';

export type { RuntimeInfo };

/** Largest thread count setNumThreads accepts. */
export const MAX_THREADS = 1024;

/** The kernel's instruction set, thread count, OpenMP support, version and usable ISAs. */
export function info(): RuntimeInfo {
  return native().info();
}

/**
 * Threads each call of this thread's (or worker's) layers may use, from the next call on.
 * Default: OMP_NUM_THREADS when set, else the number of cores. Results do not depend on it.
 * @param n an integer in [1, 1024]
 */
export function setNumThreads(n: number): void {
  const what = `an integer in [1, ${MAX_THREADS}]`;
  if (typeof n !== 'number')
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `setNumThreads: n must be ${what}, got ${describe(n)}`,
    );
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS)
    throw new CellstateRangeError(
      ErrorCode.INVALID_ARG,
      `setNumThreads: n must be ${what}, got ${n}`,
    );
  native().setNumThreads(n);
}
