// Reading option objects: known keys only, strict types, documented ranges. Every refusal is a
// TypeError (wrong kind) or RangeError (out of range) with code ERR_CELLSTATE_INVALID_OPTION
// (constructor options) or ERR_CELLSTATE_INVALID_ARG (method options), naming the option.
import { CellstateRangeError, CellstateTypeError, ErrorCode, describe } from './errors';

/** Reads the options of one call or constructor, named `where` in messages. */
export class OptionReader {
  private readonly obj: Record<string, unknown>;

  /**
   * @param value the options object (undefined means `{}`)
   * @param known every accepted key; any other key is refused (a typo must not pass silently)
   */
  constructor(
    value: unknown,
    private readonly where: string,
    known: readonly string[],
    private readonly code: ErrorCode = ErrorCode.INVALID_OPTION,
  ) {
    if (value === undefined) value = {};
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new CellstateTypeError(
        code,
        `${where}: options must be an object, got ${describe(value)}`,
      );
    this.obj = value as Record<string, unknown>;
    const unknown = Object.keys(this.obj).filter((k) => !known.includes(k));
    if (unknown.length > 0)
      throw new CellstateTypeError(
        code,
        `${where}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (known: ${known.join(', ')})`,
      );
  }

  /** The raw value; undefined when absent. */
  raw(key: string): unknown {
    return this.obj[key];
  }

  private typeError(key: string, what: string, value: unknown): CellstateTypeError {
    return new CellstateTypeError(
      this.code,
      `${this.where}: ${key} must be ${what}, got ${describe(value)}`,
    );
  }

  private rangeError(key: string, what: string, value: unknown): CellstateRangeError {
    return new CellstateRangeError(
      this.code,
      `${this.where}: ${key} must be ${what}, got ${describe(value)}`,
    );
  }

  /** An integer in [min, max]; `fallback` when absent (undefined fallback: required). */
  int(key: string, min: number, max: number, fallback?: number): number {
    const v = this.obj[key];
    const what = `an integer in [${min}, ${max}]`;
    if (v === undefined) {
      if (fallback === undefined)
        throw new CellstateTypeError(this.code, `${this.where}: ${key} is required (${what})`);
      return fallback;
    }
    if (typeof v !== 'number') throw this.typeError(key, what, v);
    if (!Number.isInteger(v) || v < min || v > max) throw this.rangeError(key, what, v);
    return v;
  }

  /** A finite number in [min, max) (or [min, max] with `closed`); `fallback` when absent. */
  number(key: string, min: number, max: number, fallback: number, closed = false): number {
    const v = this.obj[key];
    if (v === undefined) return fallback;
    const what = `a number in [${min}, ${max}${closed ? ']' : ')'}`;
    if (typeof v !== 'number') throw this.typeError(key, what, v);
    if (!(v >= min && (closed ? v <= max : v < max))) throw this.rangeError(key, what, v);
    return v;
  }

  /** A finite number; `fallback` when absent. */
  finite(key: string, fallback: number): number {
    const v = this.obj[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'number') throw this.typeError(key, 'a finite number', v);
    if (!Number.isFinite(v)) throw this.rangeError(key, 'a finite number', v);
    return v;
  }

  /** A boolean (true or false, nothing truthy); `fallback` when absent. */
  bool(key: string, fallback: boolean): boolean {
    const v = this.obj[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') throw this.typeError(key, 'a boolean', v);
    return v;
  }

  /** One of `choices`; `fallback` when absent. */
  choice<T extends string>(key: string, choices: readonly T[], fallback: T): T {
    const v = this.obj[key];
    if (v === undefined) return fallback;
    const what = `one of ${choices.map((c) => `'${c}'`).join(', ')}`;
    if (typeof v !== 'string' || !(choices as readonly string[]).includes(v))
      throw this.typeError(key, what, v);
    return v as T;
  }
}
