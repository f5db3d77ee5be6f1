/**
 * A safe unpickler for PyTorch checkpoints. It executes nothing: globals are
 * looked up in a fixed allowlist ({@linkcode PICKLE_ALLOWED_GLOBALS}) and any
 * other one (`os.system`, `builtins.eval`, …) is refused with a TypeError as
 * soon as the pickle names it.
 *
 * Python values become: `None` → `null`, bool → boolean, int → number (bigint
 * beyond 2^53), float → number, str → string, bytes → Uint8Array, list and
 * tuple → array, dict and OrderedDict → Map, set → Set; tensors rebuilt by
 * `torch._utils._rebuild_tensor_v2` → {@linkcode PickleTensor}; harmless
 * objects (argparse.Namespace, torch.device, …) → inert {@linkcode PickleObject}s.
 *
 * @module
 */
import { createOpcodes } from "./_pickle_ops.ts";
import { PickleMachine } from "./_pickle_machine.ts";
import { PickleGlobal } from "./_pickle_globals.ts";

export { PICKLE_ALLOWED_GLOBALS, PickleGlobal } from "./_pickle_globals.ts";
export type { PickleObject, PickleTensor } from "./_pickle_globals.ts";

/** Options for {@linkcode unpickle} and {@linkcode unpickleAt}. */
export interface UnpickleOptions {
  /**
   * Resolves a persistent id (BINPERSID / PERSID). PyTorch uses it for storages.
   * @default {undefined} (persistent ids are refused)
   */
  persistentLoad?: (pid: unknown) => unknown;
}

/** What {@linkcode unpickleAt} returns. */
export interface UnpickleResult {
  /** The unpickled value. */
  value: unknown;
  /** Byte index just after the STOP opcode. */
  end: number;
}

/**
 * Unpickles one pickle starting at `offset` (several pickles may follow each
 * other, as in PyTorch's legacy format).
 *
 * @example
 * ```ts
 * import { unpickleAt } from "./pickle.ts";
 * const bytes = new Uint8Array([0x80, 2, 0x4b, 7, 0x2e, 0x80, 2, 0x4e, 0x2e]);
 * const a = unpickleAt(bytes, 0); // { value: 7, end: 5 }
 * unpickleAt(bytes, a.end).value; // null
 * ```
 */
export function unpickleAt(
  bytes: Uint8Array,
  offset: number,
  options: UnpickleOptions = {},
): UnpickleResult {
  const m = new PickleMachine(bytes, offset, options.persistentLoad);
  const ops = createOpcodes(m);
  while (true) {
    if (m.pos >= bytes.byteLength) {
      throw new RangeError(`Cannot load pickle: current data ends at byte ${m.pos} before STOP`);
    }
    const at = m.pos;
    const code = bytes[m.pos++];
    if (code === 0x2e) { // STOP
      const value = m.pop(at);
      return { value, end: m.pos };
    }
    const op = ops[code];
    if (!op) {
      throw new TypeError(
        `Cannot load pickle: current opcode 0x${code.toString(16).padStart(2, "0")} ` +
          `at byte ${at} is not supported`,
      );
    }
    op(at);
  }
}

/**
 * Unpickles a whole buffer (one pickle).
 *
 * @example
 * ```ts
 * import { unpickle } from "./pickle.ts";
 * // \x80\x02 ] q\x00 ( K\x01 K\x02 e .  ==  [1, 2]
 * unpickle(new Uint8Array([0x80, 2, 0x5d, 0x71, 0, 0x28, 0x4b, 1, 0x4b, 2, 0x65, 0x2e])); // [1, 2]
 * // A pickle naming os.system throws: Cannot load pickle: global "os.system" is not allowed
 * ```
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): unknown {
  return unpickleAt(bytes, 0, options).value;
}

/**
 * True when `v` is a reference to the allowed global `module.name`.
 *
 * @example
 * ```ts
 * import { isPickleGlobal, unpickle } from "./pickle.ts";
 * const v = unpickle(new TextEncoder().encode("ctorch\nFloatStorage\n."));
 * isPickleGlobal(v, "torch.FloatStorage"); // true
 * ```
 */
export function isPickleGlobal(v: unknown, qualifiedName: string): v is PickleGlobal {
  return v instanceof PickleGlobal && v.qualifiedName === qualifiedName;
}
