// The native GEMM entries of Dense layers (cpp/binding/matmul.h), typed. Callers validate sizes
// first; the binding re-checks only element counts.
import { native } from '../binding';

/** A weight matrix packed once for repeated small products (streaming Dense steps). */
export interface NativePackedMatrix {
  /** Frees the packed weights now; apply is then ERR_CELLSTATE_DISPOSED. */
  dispose(): void;
  /** K */
  readonly rows: number;
  /** N */
  readonly cols: number;
  /** C[M,N] = bias + X[M,K] · op(W); one thread, allocates nothing. */
  apply(M: number, X: Float32Array, C: Float32Array): void;
}

interface MatmulAddon {
  matmul(
    M: number,
    N: number,
    K: number,
    A: Float32Array,
    aTrans: boolean,
    B: Float32Array,
    bTrans: boolean,
    bias: Float32Array | null,
    C: Float32Array,
    accumulate: boolean,
  ): void;
  PackedMatrix: new (
    K: number,
    N: number,
    W: Float32Array,
    trans: boolean,
    bias: Float32Array | null,
  ) => NativePackedMatrix;
}

function addon(): MatmulAddon {
  return native() as unknown as MatmulAddon;
}

/**
 * C[M,N] = (accumulate ? C : 0) + bias[n] + op(A)[M,K] · op(B)[K,N] on the native engine.
 * op(A) = A [M,K] or, with aTrans, Aᵀ of A [K,M]; op(B) = B [K,N] or, with bTrans, Bᵀ of B [N,K].
 */
export function matmul(
  M: number,
  N: number,
  K: number,
  A: Float32Array,
  aTrans: boolean,
  B: Float32Array,
  bTrans: boolean,
  bias: Float32Array | null,
  C: Float32Array,
  accumulate: boolean,
): void {
  addon().matmul(M, N, K, A, aTrans, B, bTrans, bias, C, accumulate);
}

/** W [K,N] (or [N,K] with trans) packed for `apply`; bias [N] copied. */
export function packMatrix(
  K: number,
  N: number,
  W: Float32Array,
  trans: boolean,
  bias: Float32Array | null,
): NativePackedMatrix {
  return new (addon().PackedMatrix)(K, N, W, trans, bias);
}
