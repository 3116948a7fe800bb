// A model that is fitting holds itself and every one of its layers until fit settles (resolves,
// rejects or is aborted). While held, the calls that run a forward or a backward, or change the
// weights or the gradients, refuse with ERR_CELLSTATE_BUSY — from any caller, fit's callbacks
// included — so that nothing can change what fit computes: a training forward would consume
// the layer's dropout stream and replace its pending backward, an inference forward (predict,
// evaluate) would discard it. Read-only calls stay allowed: `config`, the sizes, `layers`,
// `parameters()` (the weights of the latest update), `save` / `toBuffer` / ONNX export (which
// read those), and streams (opening and stepping them reads the weights of the latest update
// and changes nothing of fit's).
//
// predictAsync and evaluateAsync hold the model the same way while they run (between their
// batches the model must not change under them either), with their own name in the messages.
//
// fit's own calls run inside `hold.run(...)`: JavaScript runs one call at a time, so while fit
// is inside a synchronous call of its own no other caller can be; every time fit awaits, it is
// outside again.
import { BusyError } from './errors';

/** @internal A running fit's hold on a model and its layers. */
export class Hold {
  /** The objects held. */
  readonly objects: readonly object[];
  /** The call holding them, for messages: 'fit', 'predictAsync' or 'evaluateAsync'. */
  readonly owner: string;
  private depth = 0;

  constructor(objects: readonly object[], owner = 'fit') {
    this.objects = objects;
    this.owner = owner;
  }

  /** Runs `f` as the holder: the held objects' guarded methods work inside it. */
  run<T>(f: () => T): T {
    ++this.depth;
    try {
      return f();
    } finally {
      --this.depth;
    }
  }

  /** Whether the holder is inside one of its own calls. */
  get inside(): boolean {
    return this.depth > 0;
  }
}

const holds = new WeakMap<object, Hold>();

/**
 * @internal Holds `objects` (a model and its layers) for a fit (or a predictAsync /
 * evaluateAsync: `owner`); a BusyError when one of them is already held (`name(i)` names object
 * i in the message).
 */
export function acquire(
  where: string,
  objects: readonly object[],
  name: (i: number) => string,
  owner = 'fit',
): Hold {
  objects.forEach((o, i) => {
    const other = holds.get(o);
    if (other)
      throw new BusyError(
        other.owner === 'fit'
          ? `${where}: ${name(i)} is already training (in a fit that has not settled); await that fit first`
          : `${where}: ${name(i)} is in use by a ${other.owner}() that has not settled; await it first`,
      );
  });
  const hold = new Hold(Object.freeze([...objects]), owner);
  for (const o of objects) holds.set(o, hold);
  return hold;
}

/** @internal Ends a hold (fit settled). */
export function release(hold: Hold): void {
  for (const o of hold.objects) if (holds.get(o) === hold) holds.delete(o);
}

/**
 * @internal Throws ERR_CELLSTATE_BUSY when `object` (a layer or model) is held by a running fit
 * and this is not that fit's own call. `what`: 'layer' or 'model'.
 */
export function checkNotHeld(object: object, where: string, what: string): void {
  const hold = holds.get(object);
  if (hold && !hold.inside)
    throw new BusyError(
      hold.owner === 'fit'
        ? `${where}: the ${what} is in use by a fit() that has not settled; await fit (or abort it with its signal) before running or changing the ${what}. parameters(), config and streams stay available during fit`
        : `${where}: the ${what} is in use by a ${hold.owner}() that has not settled; await it (or abort it with its signal) before running or changing the ${what}. parameters(), config and streams stay available meanwhile`,
    );
}

/** @internal Whether `object` is held by a running fit. */
export function isHeld(object: object): boolean {
  return holds.has(object);
}
