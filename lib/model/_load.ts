/**
 * State-dict validation shared by the network's loader.
 *
 * @module
 */
import { type RawTensor, type StateDict, toFloat32 } from "../io/raw_tensor.ts";
import type { StateEntrySpec } from "../net/state_dict.ts";

/** Where validated values go. */
export interface LoadTarget {
  /** Receives a float parameter or buffer in PyTorch layout. */
  setParam(spec: StateEntrySpec, tensor: RawTensor, values: Float32Array): void;
  /** Receives a batch counter. */
  setCounter(key: string, value: bigint): void;
}

const fmt = (shape: readonly number[]) => `[${shape.join(", ")}]`;

/** Checks keys and shapes, then hands each value to `target`. */
export function loadStateDictInto(
  specs: readonly StateEntrySpec[],
  stateDict: StateDict,
  strict: boolean,
  target: LoadTarget,
): void {
  const known = new Set(specs.map((s) => s.key));
  if (strict) {
    const unexpected = [...stateDict.keys()].filter((k) => !known.has(k));
    if (unexpected.length) {
      throw new RangeError(
        `Cannot load state dict: current value has unexpected keys ${
          unexpected.slice(0, 5).join(", ")
        }${unexpected.length > 5 ? ` (+${unexpected.length - 5} more)` : ""}`,
      );
    }
    const missing = specs.filter((s) => s.role !== "counter" && !stateDict.has(s.key));
    if (missing.length) {
      throw new RangeError(
        `Cannot load state dict: current value lacks keys ${
          missing.slice(0, 5).map((s) => s.key).join(", ")
        }${missing.length > 5 ? ` (+${missing.length - 5} more)` : ""}`,
      );
    }
  }
  for (const spec of specs) {
    const t = stateDict.get(spec.key);
    if (!t) {
      if (spec.role === "counter") target.setCounter(spec.key, 0n);
      continue;
    }
    const same = t.shape.length === spec.shape.length &&
      t.shape.every((d, i) => d === spec.shape[i]);
    const scalarCounter = spec.role === "counter" && t.data.length === 1;
    if (!same && !scalarCounter) {
      throw new RangeError(
        `Cannot load "${spec.key}": current shape is ${fmt(t.shape)}, expected ${fmt(spec.shape)}`,
      );
    }
    if (spec.role === "counter") target.setCounter(spec.key, BigInt(t.data[0]));
    else target.setParam(spec, t, toFloat32(t));
  }
}
