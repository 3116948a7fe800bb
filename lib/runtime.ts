// What the kernel runs on, and how many threads it may use.
import { availableParallelism, cpus } from 'node:os';

import { native, type RuntimeInfo } from './binding';
import { CellstateRangeError, CellstateTypeError, ErrorCode, describe } from './errors';

export type { RuntimeInfo };

/** The most threads setNumThreads ever accepts, whatever the machine. */
export const MAX_THREADS = 256;
/** setNumThreads accepts up to this many threads per hardware thread (and MAX_THREADS at most). */
export const THREADS_PER_HARDWARE_THREAD = 8;

/** The kernel's instruction set, thread count, OpenMP support, version and usable ISAs. */
export function info(): RuntimeInfo {
  return native().info();
}

/**
 * The largest n setNumThreads accepts on this machine: 8 per hardware thread, at most 256
 * (`info().maxThreads`, computed by the addon). More threads than hardware threads never make
 * a call faster — each call splits its work over the threads and meets them at barriers, so
 * extra threads only wait (1024 threads on 2 cores made a forward 42× slower); 8× leaves room
 * for containers whose hardware count understates what they may use.
 */
export function maxThreads(): number {
  const fromAddon = native().info().maxThreads;
  if (typeof fromAddon === 'number') return fromAddon;
  const hardware =
    typeof availableParallelism === 'function' ? availableParallelism() : cpus().length;
  return Math.min(MAX_THREADS, THREADS_PER_HARDWARE_THREAD * Math.max(1, hardware));
}

/**
 * Threads each call of this thread's (or worker's) layers may use, from the next call on.
 * Default: OMP_NUM_THREADS when set, else the number of cores (capped as n). Results do not
 * depend on it.
 * @param n an integer in [1, maxThreads()]: 8 per hardware thread, at most 256. Above it a
 *   RangeError with code ERR_CELLSTATE_INVALID_ARG.
 */
export function setNumThreads(n: number): void {
  const max = maxThreads();
  const what = `an integer in [1, ${max}] (8 per hardware thread, at most ${MAX_THREADS})`;
  if (typeof n !== 'number')
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `setNumThreads: n must be ${what}, got ${describe(n)}`,
    );
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new CellstateRangeError(
      ErrorCode.INVALID_ARG,
      `setNumThreads: n must be ${what}, got ${n}`,
    );
  native().setNumThreads(n);
}
