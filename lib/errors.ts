// Errors thrown by cellstate, and the one shape of every shape message.
//
// Bad input is a TypeError (wrong kind of value) or a RangeError (wrong shape, size or value);
// other refusals are an Error. Every error cellstate throws carries a stable `code`; the
// native addon sets the same codes on the errors it throws (cpp/binding/status.h).
//
// `e instanceof CellstateError` is true for all of them, the TypeErrors and RangeErrors and the
// addon's errors included: CellstateError's Symbol.hasInstance recognises an error by its brand
// (set by every error class here) or by an `ERR_CELLSTATE_` code (set by the addon).

/** The stable `code` of every error cellstate throws. */
export const ErrorCode = {
  /** A constructor option of the wrong type or out of range (TypeError / RangeError). */
  INVALID_OPTION: 'ERR_CELLSTATE_INVALID_OPTION',
  /** A method argument of the wrong type, or an unknown name (TypeError / RangeError). */
  INVALID_ARG: 'ERR_CELLSTATE_INVALID_ARG',
  /** A tensor of the wrong rank, shape or size (RangeError). */
  SHAPE: 'ERR_CELLSTATE_SHAPE',
  /** A value outside its range, such as a sequence length (RangeError). */
  OUT_OF_RANGE: 'ERR_CELLSTATE_OUT_OF_RANGE',
  /** backward without a pending training forward (RangeError). */
  NO_FORWARD: 'ERR_CELLSTATE_NO_FORWARD',
  /** The layer is running forwardAsync / backwardAsync, or the model or layer is held by a fit that has not settled (Error). */
  BUSY: 'ERR_CELLSTATE_BUSY',
  /** A call on a layer, model, stream, pool, session, snapshot or worker after its dispose() (Error). */
  DISPOSED: 'ERR_CELLSTATE_DISPOSED',
  /** An operation this layer cannot do (Error). */
  UNSUPPORTED: 'ERR_CELLSTATE_UNSUPPORTED',
  /** An allocation failed (Error; from the native kernel). */
  OOM: 'ERR_CELLSTATE_OOM',
  /** Training met a NaN or infinite loss or gradient (Error; names the step and the layer). */
  NON_FINITE: 'ERR_CELLSTATE_NON_FINITE',
  /** A StreamWorker's thread has exited (closed, terminated or crashed) (Error). */
  WORKER_EXITED: 'ERR_CELLSTATE_WORKER_EXITED',
  // Files (lib/io): each a CellstateError naming the tensor, offset or field that is wrong.
  /** The path names a FIFO, a device, a directory or a socket: models are read from regular files only. */
  FILE_NOT_REGULAR: 'ERR_CELLSTATE_FILE_NOT_REGULAR',
  /** The file is larger than MAX_FILE_BYTES (8 GiB). */
  FILE_TOO_LARGE: 'ERR_CELLSTATE_FILE_TOO_LARGE',
  /** The file or buffer ends before its header or a tensor's data does. */
  FILE_TRUNCATED: 'ERR_CELLSTATE_FILE_TRUNCATED',
  /** The 8-byte header length is impossible (longer than the file, or than 100 MB). */
  FILE_HEADER_LENGTH: 'ERR_CELLSTATE_FILE_HEADER_LENGTH',
  /** The header is not valid JSON, or an entry lacks or mistypes dtype, shape or data_offsets. */
  FILE_HEADER: 'ERR_CELLSTATE_FILE_HEADER',
  /** data_offsets out of range, overlapping, leaving a gap, or not covering the data. */
  FILE_OFFSETS: 'ERR_CELLSTATE_FILE_OFFSETS',
  /** A dtype cellstate cannot read (it reads F32, F64, F16, BF16, and I8 in quantized cellstate files). */
  FILE_DTYPE: 'ERR_CELLSTATE_FILE_DTYPE',
  /** A tensor's shape disagrees with its byte size or with the model's parameter. */
  FILE_SHAPE: 'ERR_CELLSTATE_FILE_SHAPE',
  /** A parameter the model needs is not in the file. */
  FILE_MISSING_TENSOR: 'ERR_CELLSTATE_FILE_MISSING_TENSOR',
  /** The file holds a tensor the model has no parameter for. */
  FILE_UNKNOWN_TENSOR: 'ERR_CELLSTATE_FILE_UNKNOWN_TENSOR',
  /** The file's format version is one this cellstate does not read (a newer major version). */
  FILE_VERSION: 'ERR_CELLSTATE_FILE_VERSION',
  /** The stored or given configuration is broken, invalid, or cannot be inferred. */
  FILE_CONFIG: 'ERR_CELLSTATE_FILE_CONFIG',
  /** The file's bytes do not match the checksum recorded when it was saved, or it has none. */
  FILE_CHECKSUM: 'ERR_CELLSTATE_FILE_CHECKSUM',
  /** A stored value out of its range: a NaN, infinite or negative optimizer moment, a step count past MAX_OPTIMIZER_STEP. */
  FILE_VALUE: 'ERR_CELLSTATE_FILE_VALUE',
  /** An ONNX file that does not decode, or whose graph is malformed. */
  ONNX_INVALID: 'ERR_CELLSTATE_ONNX_INVALID',
  /** An ONNX node, attribute or model option that has no counterpart on the other side. */
  ONNX_UNSUPPORTED: 'ERR_CELLSTATE_ONNX_UNSUPPORTED',
  /** A TF.js model (model.json, weight shards) that is malformed or whose weights do not fit its layers. */
  TFJS_INVALID: 'ERR_CELLSTATE_TFJS_INVALID',
  /** A TF.js layer, option or activation that cellstate cannot compute, named with its layer. */
  TFJS_UNSUPPORTED: 'ERR_CELLSTATE_TFJS_UNSUPPORTED',
  /**
   * The native addon cannot be loaded: no prebuilt binary for this platform, architecture or
   * libc, and no build from source (Error; the message names the prebuilds present and how to
   * build one).
   */
  NO_BINARY: 'ERR_CELLSTATE_NO_BINARY',
  /** fit was stopped by its AbortSignal (AbortError; Node's own code for an aborted operation). */
  ABORTED: 'ABORT_ERR',
} as const;

/** One of the values of {@link ErrorCode}. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

// The brand of every error cellstate creates in JavaScript (shared by every copy of the package
// loaded in one realm, so an error of one copy is recognised by another).
const BRAND: unique symbol = Symbol.for('cellstate.error') as never;
const CODE_PREFIX = 'ERR_CELLSTATE_';

function brand(error: Error): void {
  Object.defineProperty(error, BRAND, { value: true });
}

/**
 * Whether `value` is an error cellstate threw: one of its error classes (TypeError and RangeError
 * kinds included), an AbortError of fit, or an error of the native addon (code `ERR_CELLSTATE_*`).
 */
export function isCellstateError(value: unknown): value is CellstateError {
  if (!(value instanceof Error)) return false;
  if ((value as { [BRAND]?: unknown })[BRAND] === true) return true;
  const code = (value as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith(CODE_PREFIX);
}

/**
 * The base of cellstate's errors, and the test for all of them: `e instanceof CellstateError` is
 * true for every error cellstate throws, including its TypeErrors and RangeErrors (which stay
 * `instanceof TypeError` / `RangeError`) and the native addon's errors. Its own instances are
 * refusals that are not about the input: a busy layer, an unsupported operation, a bad file.
 * Subclasses (BusyError, ...) test by their prototype, as usual.
 */
export class CellstateError extends Error {
  /** The stable code, one of {@link ErrorCode}. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    brand(this);
  }

  static override [Symbol.hasInstance]<T>(
    this: abstract new (...args: never[]) => T,
    value: unknown,
  ): value is T {
    if ((this as unknown) !== CellstateError)
      return Function.prototype[Symbol.hasInstance].call(this, value);
    return isCellstateError(value);
  }
}

/** A value of the wrong kind: not a Tensor, not a number, an unknown option or name. Also `instanceof CellstateError`. */
export class CellstateTypeError extends TypeError {
  /** The stable code, one of {@link ErrorCode}. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    brand(this);
  }
}

/** A value of the right kind but the wrong shape, size or range. Also `instanceof CellstateError`. */
export class CellstateRangeError extends RangeError {
  /** The stable code, one of {@link ErrorCode}. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    brand(this);
  }
}

/** Marks an error created elsewhere (AbortError) as one cellstate throws. @internal */
export function brandError(error: Error): void {
  brand(error);
}

/** The layer has forwardAsync / backwardAsync in flight, or a fit holds it; await it first. */
export class BusyError extends CellstateError {
  constructor(message: string) {
    super(ErrorCode.BUSY, message);
  }
}

/** A call on an object after its dispose(): create a new one. */
export class DisposedError extends CellstateError {
  constructor(message: string) {
    super(ErrorCode.DISPOSED, message);
  }
}

/** The DisposedError of a call `where` on a disposed `what` ('layer', 'stream', ...). */
export function disposedError(where: string, what: string): DisposedError {
  return new DisposedError(`${where}: the ${what} was disposed; create a new one`);
}

/**
 * `Symbol.dispose` (for `using`), or on Node versions without it the symbol Node's own
 * polyfill uses (`Symbol.for('nodejs.dispose')`), so `[disposeSymbol]()` is the method `using`
 * calls wherever it exists.
 */
export const disposeSymbol: typeof Symbol.dispose =
  (Symbol as { dispose?: typeof Symbol.dispose }).dispose ??
  (Symbol.for('nodejs.dispose') as typeof Symbol.dispose);

/**
 * backward without a pending training forward. A RangeError, as API.md counts it among the bad
 * inputs, with its own code.
 */
export class NoForwardError extends CellstateRangeError {
  constructor(message: string) {
    super(ErrorCode.NO_FORWARD, message);
  }
}

/** An operation this layer cannot do (for example streaming a bidirectional layer). */
export class UnsupportedError extends CellstateError {
  constructor(message: string) {
    super(ErrorCode.UNSUPPORTED, message);
  }
}

/** A dimension in an expected shape: a number, or a symbol such as `'T'` or `'B=3'`. */
export type Dim = number | string;

/**
 * The one message shape for shape errors:
 * `forward: x must have shape [T, B, I=4], got [6, 2, 3]`; `detail` adds a condition in
 * parentheses after the expected shape.
 */
export function shapeMessage(
  method: string,
  arg: string,
  expected: readonly Dim[],
  actual: readonly number[],
  detail?: string,
): string {
  const cond = detail ? ` (${detail})` : '';
  return `${method}: ${arg} must have shape [${expected.join(', ')}]${cond}, got [${actual.join(', ')}]`;
}

/** A RangeError with the shape message and code ERR_CELLSTATE_SHAPE. */
export function shapeError(
  method: string,
  arg: string,
  expected: readonly Dim[],
  actual: readonly number[],
  detail?: string,
): CellstateRangeError {
  return new CellstateRangeError(
    ErrorCode.SHAPE,
    shapeMessage(method, arg, expected, actual, detail),
  );
}

/** A short description of a value's kind for messages: `string "5"`, `Float64Array`, `null`. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string': {
      const s = value.length > 20 ? `${value.slice(0, 20)}…` : value;
      return `string ${JSON.stringify(s)}`;
    }
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${typeof value} ${String(value)}`;
    case 'undefined':
      return 'undefined';
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    default: {
      const name = (value as object).constructor?.name;
      return name && name !== 'Object' ? `a ${name}` : 'an object';
    }
  }
}

/**
 * Gives an error from asynchronous native work the caller's stack (the native rejection has
 * none): `caller` is an Error created when the async method was called.
 */
export function withCallerStack(error: unknown, caller: Error): unknown {
  if (error instanceof Error && caller.stack) {
    const frames = caller.stack.split('\n').slice(1).join('\n');
    error.stack = `${error.name}: ${error.message}\n${frames}`;
  }
  return error;
}
